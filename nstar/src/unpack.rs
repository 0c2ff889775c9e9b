//! `nstar unpack`: a package's entries and its file tree into a new directory.
//!
//! Writes `manifest.yaml`, `signature.yaml` (signed packages) and `fs.img` as stored, and
//! extracts the squashfs image into `root/`. The target directory must not exist or be
//! empty; files are created with `create_new`, so nothing existing is ever overwritten.
//! Without `--key` the squashfs image is located by the package's unverified claims.

use crate::{cli::UnpackArgs, probe};
use anyhow::{bail, Context};
use npk::{key::PublicKey, package::Npk};
use std::{
    fs::{self, File, OpenOptions},
    io::{self, Read, Seek, SeekFrom, Write},
    ops::Range,
    path::Path,
};

/// Run `nstar unpack`.
pub fn run(args: &UnpackArgs) -> anyhow::Result<()> {
    let key = match &args.key {
        Some(k) => Some(PublicKey::load(k).context("cannot load the public key")?),
        None => None,
    };
    let npk = Npk::open(&args.npk)?;
    // Everything that can fail about the package fails before the directory is touched.
    let (layout, npk) = match key {
        Some(key) => {
            let npk = npk.verify(&key)?;
            (probe::verified(&npk), Entries::of(&npk))
        }
        None => (
            probe::claimed(&npk).with_context(|| format!("{}", args.npk.display()))?,
            Entries::of(&npk),
        ),
    };
    let npk = npk.with_context(|| format!("{}: cannot read", args.npk.display()))?;
    prepare(&args.dir)?;

    write_new(
        &args.dir.join("manifest.yaml"),
        &mut npk.manifest.as_slice(),
    )?;
    if let Some(signature) = &npk.signature {
        write_new(&args.dir.join("signature.yaml"), &mut signature.as_slice())?;
    }
    let mut file = &npk.file;
    file.seek(SeekFrom::Start(npk.fs_img.start))
        .with_context(|| format!("{}: cannot read", args.npk.display()))?;
    let mut fs_img = file.take(npk.fs_img.end - npk.fs_img.start);
    write_new(&args.dir.join("fs.img"), &mut fs_img)?;

    let root = args.dir.join("root");
    fs::create_dir(&root).with_context(|| format!("{}: cannot create", root.display()))?;
    let squashfs = layout.squashfs;
    let skipped = npk::squashfs::extract(
        &npk.file,
        squashfs.start,
        squashfs.end - squashfs.start,
        &root,
    )
    .with_context(|| format!("{}: cannot extract the squashfs image", args.npk.display()))?;
    for path in &skipped {
        err!("nstar: warning: {path}: not extracted (device node, fifo or socket)");
    }
    out!("{}", args.dir.display())?;
    Ok(())
}

/// What is copied out of the package, taken from it whatever its trust state.
struct Entries {
    file: File,
    manifest: Vec<u8>,
    signature: Option<Vec<u8>>,
    fs_img: Range<u64>,
}

impl Entries {
    fn of<S>(npk: &Npk<S>) -> io::Result<Entries> {
        Ok(Entries {
            file: npk.file().try_clone()?,
            manifest: npk.manifest_bytes().to_vec(),
            signature: npk.signature_bytes().map(<[u8]>::to_vec),
            fs_img: npk.fs_img(),
        })
    }
}

/// Create `dir`, or accept it if it is an empty directory.
fn prepare(dir: &Path) -> anyhow::Result<()> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "{}: directory is not empty, refusing to overwrite",
                    dir.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))
        }
        Err(e) => Err(e).with_context(|| format!("{}: not a usable directory", dir.display())),
    }
}

fn write_new(path: &Path, content: &mut dyn Read) -> anyhow::Result<()> {
    let context = || format!("{}: cannot write", path.display());
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(context)?;
    io::copy(content, &mut file).with_context(context)?;
    file.flush().with_context(context)?;
    Ok(())
}
