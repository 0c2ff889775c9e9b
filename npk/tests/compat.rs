//! Our packages have the layout Northstar 0.9's packer writes, byte for byte where the
//! content is the same: what its loader accepts from its own packer it accepts from ours.

mod common;

use common::*;
use npk::{archive::Archive, key::SecretKey, pack, verity::Salt};
use std::{fs, path::Path};

/// (name, local header offset, the header's fixed fields 4..14, extra field length).
fn layout(path: &Path) -> Vec<(String, Vec<u8>, usize)> {
    let bytes = fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut at = 0usize;
    while bytes[at..at + 4] == [0x50, 0x4b, 0x03, 0x04] {
        let name_len = u16::from_le_bytes([bytes[at + 26], bytes[at + 27]]) as usize;
        let extra_len = u16::from_le_bytes([bytes[at + 28], bytes[at + 29]]) as usize;
        let size = u32::from_le_bytes(bytes[at + 22..at + 26].try_into().unwrap()) as usize;
        let name = String::from_utf8(bytes[at + 30..at + 30 + name_len].to_vec()).unwrap();
        let extra = &bytes[at + 30 + name_len..at + 30 + name_len + extra_len];
        if extra_len > 0 {
            assert_eq!(&extra[..2], &[0x1e, 0xa1], "{name}: padding extra field id");
        }
        out.push((
            name,
            bytes[at + 4..at + 14].to_vec(),
            at + 30 + name_len + extra_len,
        ));
        at += 30 + name_len + extra_len + size;
    }
    out
}

#[test]
fn same_layout_as_northstar_0_9() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::write(root.join("bin/hello"), b"\x7fELF not really").unwrap();
    let key = SecretKey::from_seed(&[8; 32]);
    let options = pack::Options {
        salt: Some(Salt::from_hex(SALT).unwrap()),
        key: Some(&key),
        ..pack::Options::default()
    };
    let ours = pack::pack(
        &vector("manifests/hello.yaml"),
        &root,
        dir.path(),
        &options,
        &mut |_| (),
    )
    .unwrap();
    let theirs = vector("hello-0.0.1.npk");

    let (a, b) = (layout(&ours), layout(&theirs));
    let names: Vec<_> = a.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names, ["manifest.yaml", "signature.yaml", "fs.img"]);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.0, y.0);
        assert_eq!(x.1, y.1, "{}: version, flags, method, time and date", x.0);
    }
    assert_eq!(a[2].2, 4096, "fs.img data offset");
    assert_eq!(b[2].2, 4096);

    let ours = Archive::read(&fs::File::open(&ours).unwrap()).unwrap();
    let theirs = Archive::read(&fs::File::open(&theirs).unwrap()).unwrap();
    assert_eq!(ours.comment, theirs.comment, "format version comment");
    assert_eq!(
        String::from_utf8(ours.manifest).unwrap(),
        String::from_utf8(theirs.manifest).unwrap(),
        "the stored manifest is serialized as Northstar 0.9 serializes it"
    );
    // The signature file has the same shape: the same lines with other values.
    let shape = |s: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(s)
            .lines()
            .map(|l| l.split(':').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        shape(&ours.signature.unwrap()),
        shape(&theirs.signature.unwrap())
    );
}
