//! `big`, the package of the cuts.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::{BIG, PAYLOAD_MIB};
use crate::scenario::images::Images;
use crate::scenario::spec::{self, Container};
use crate::scenario::{Error, Shared};

/// `big`: the test program and a payload of random bytes (which no compressor shrinks),
/// signed with the scenario's package key, in `<dir>/big/`.
pub(super) fn pack_big(shared: &Shared, images: &Images, dir: &Path) -> Result<PathBuf, Error> {
    let stage = dir.join("stage").join(BIG);
    crate::image::fresh_dir(&stage).map_err(Error::io("create", &stage))?;
    let bin = stage.join("bin");
    std::fs::create_dir_all(&bin).map_err(Error::io("create", &bin))?;
    let program = stage.join(spec::PROGRAM.trim_start_matches('/'));
    std::fs::copy(&shared.test_container, &program).map_err(Error::io("copy", &program))?;
    let mut payload = vec![0u8; PAYLOAD_MIB << 20];
    getrandom(&mut payload).map_err(Error::io("fill", &stage))?;
    let payload_path = stage.join("payload");
    std::fs::write(&payload_path, &payload).map_err(Error::io("write", &payload_path))?;

    let container = Container {
        name: BIG.to_owned(),
        args: vec!["print:1,ready".into(), "sleep-forever".into()],
        memory_limit: None,
        host_proc: false,
        persist: false,
    };
    let yaml = dir.join("stage").join(format!("{BIG}.yaml"));
    // Not started at boot: installed, listed, verified.
    let manifest_text = container.manifest().replace("autostart: relaxed\n", "");
    std::fs::write(&yaml, manifest_text).map_err(Error::io("write", &yaml))?;
    let manifest = npk::pack::read_manifest(&yaml).map_err(Error::pack(BIG))?;
    let out = dir.join(BIG);
    crate::image::fresh_dir(&out).map_err(Error::io("create", &out))?;
    let options = npk::pack::Options {
        key: Some(&images.package_key),
        compression: npk::squashfs::Compression::None,
        ..npk::pack::Options::default()
    };
    npk::pack::pack_manifest(&manifest, &stage, &out, &options, &mut |_| ())
        .map_err(Error::pack(BIG))
}

/// Random bytes from the kernel.
fn getrandom(buf: &mut [u8]) -> io::Result<()> {
    File::open("/dev/urandom")?.read_exact(buf)
}
