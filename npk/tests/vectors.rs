//! Packages written by Northstar 0.9's own packer open, verify, check and mount with our
//! code; the unsigned one opens only as unverified.

mod common;

use common::*;
use npk::{
    key::PublicKey,
    package::{ErrorKind, Npk},
    signature,
};
use std::{fs, process::Command};

fn vectors_key() -> PublicKey {
    PublicKey::load(&vector("vectors.pub")).unwrap()
}

const SIGNED: [(&str, u64, &str); 3] = [
    (
        "hello-0.0.1.npk",
        331776,
        "71ffa043f3340d2a78ec35d7c19b4ecea10503760b8c2009f4673e52e8f15868",
    ),
    (
        "full-example-1.2.3.npk",
        344064,
        "79a9930b2e03f8051fe02558e5a80d322de398a8ac151d9ddfa8f4a72419633a",
    ),
    (
        "message-0.1.2.npk",
        4096,
        "b50d27c1c6774436f7d347743b3e1b8ea75133dc2f17930af49bff0e941e6a37",
    ),
];

#[test]
fn signed_vectors_verify_and_check() {
    for (name, offset, root) in SIGNED {
        let npk = Npk::open(&vector(name)).unwrap();
        assert!(npk.is_signed());
        let npk = npk.verify(&vectors_key()).unwrap();
        assert_eq!(npk.format_version().to_string(), "0.9.3");
        assert_eq!(npk.verity().offset, offset, "{name}");
        assert_eq!(hex::encode(npk.verity().root), root, "{name}");
        assert_eq!(npk.fs_img().start, 4096, "{name}");
        npk.check_fs_img().unwrap();
    }
}

#[test]
fn vector_signatures_cover_the_raw_first_document() {
    for (name, offset, _) in SIGNED {
        let file = fs::File::open(vector(name)).unwrap();
        let sig = npk::archive::Archive::read(&file)
            .unwrap()
            .signature
            .unwrap();
        let hashes = signature::verify(&sig, &vectors_key()).unwrap();
        assert_eq!(hashes.verity_offset, offset);
    }
}

#[test]
fn unsigned_vector_opens_only_unverified() {
    let npk = Npk::open(&vector("unsigned/hello-0.0.1.npk")).unwrap();
    assert!(!npk.is_signed());
    let err = npk.verify(&vectors_key()).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Unsigned), "{err}");
    let npk = Npk::open(&vector("unsigned/hello-0.0.1.npk"))
        .unwrap()
        .parse_unverified()
        .unwrap();
    assert_eq!(npk.manifest().name.to_string(), "hello");
}

#[test]
fn vector_manifests_parse() {
    for name in ["hello.yaml", "full.yaml", "message.yaml"] {
        let text = fs::read_to_string(vector("manifests").join(name)).unwrap();
        npk::manifest::Manifest::from_yaml_str(&text).unwrap();
    }
    let full = Npk::open(&vector("full-example-1.2.3.npk"))
        .unwrap()
        .verify(&vectors_key())
        .unwrap();
    assert_eq!(full.manifest().uid, 1000);
    assert_eq!(full.manifest().gid, 1001);
    assert!(Npk::open(&vector("message-0.1.2.npk"))
        .unwrap()
        .verify(&vectors_key())
        .unwrap()
        .manifest()
        .is_resource());
}

#[test]
fn vector_loop_mounts_from_the_npk() {
    let dir = tempfile::tempdir().unwrap();
    let path = vector("hello-0.0.1.npk");
    let npk = Npk::open(&path).unwrap().verify(&vectors_key()).unwrap();
    let squashfs = npk.squashfs();
    let mnt = dir.path().join("mnt");
    let _mount = Mount::loop_ro(&path, squashfs.start, squashfs.end - squashfs.start, &mnt);
    let hello = fs::metadata(mnt.join("bin/hello")).unwrap();
    assert!(hello.len() > 0);
    use std::os::unix::fs::MetadataExt;
    assert_eq!((hello.uid(), hello.gid()), (1000, 1000));
    let out = Command::new("unsquashfs")
        .arg("-l")
        .arg("-o")
        .arg(squashfs.start.to_string())
        .arg(&path)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("squashfs-root/bin/hello"));
}

#[test]
fn vector_listing_with_our_reader() {
    let path = vector("hello-0.0.1.npk");
    let npk = Npk::open(&path).unwrap().verify(&vectors_key()).unwrap();
    let range = npk.squashfs();
    let entries = npk::squashfs::list(npk.file(), range.start, range.end - range.start).unwrap();
    assert!(
        entries.iter().any(|e| e.path == "/bin/hello"),
        "{entries:?}"
    );
}
