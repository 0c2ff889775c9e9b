//! Packing and opening packages, checked against external tools (unzip, veritysetup,
//! unsquashfs, the kernel's squashfs through a loop mount) and against tampering.

mod common;

use common::*;
use npk::{
    archive::Archive,
    key::SecretKey,
    package::{ErrorKind, Npk},
    signature,
};
use std::{fs, os::unix::fs::FileExt, path::Path, process::Command};

fn open_verified(path: &Path) -> Npk<npk::package::Verified> {
    Npk::open(path).unwrap().verify(&key().public()).unwrap()
}

#[test]
fn pack_open_verify() {
    let dir = tempfile::tempdir().unwrap();
    let path = pack_sample(dir.path());
    assert_eq!(path.file_name().unwrap(), "sample-1.2.3.npk");
    let npk = open_verified(&path);
    assert_eq!(npk.manifest().name.to_string(), "sample");
    assert_eq!(npk.format_version(), &npk::FORMAT_VERSION);
    assert_eq!(npk.fs_img().start % 4096, 0);
    npk.check_fs_img().unwrap();
    let table = npk.dm_table("/dev/loop3");
    let blocks = npk.verity().offset / 4096;
    assert!(table.starts_with(&format!(
        "0 {} verity 1 /dev/loop3 /dev/loop3 4096 4096 {blocks} {} sha256 ",
        blocks * 8,
        blocks + 1
    )));
    assert!(table.ends_with(SALT));
    // No partial file left behind.
    assert_eq!(fs::read_dir(dir.path().join("out")).unwrap().count(), 1);
}

#[test]
fn unzip_sees_three_stored_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = pack_sample(dir.path());
    let listing = run(Command::new("unzip").arg("-lv").arg(&path));
    let entries: Vec<&str> = listing
        .lines()
        .filter(|l| l.contains("Stored"))
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    assert_eq!(entries, ["manifest.yaml", "signature.yaml", "fs.img"]);
    assert!(listing.contains("version: 0.9.3"), "{listing}");
    // unzip's integrity test checks every CRC, fs.img included.
    run(Command::new("unzip").arg("-tq").arg(&path));
}

#[test]
fn veritysetup_accepts_fs_img() {
    let dir = tempfile::tempdir().unwrap();
    let path = pack_sample(dir.path());
    let npk = open_verified(&path);
    let fs_img = dir.path().join("fs.img");
    let range = npk.fs_img();
    let mut bytes = vec![0u8; (range.end - range.start) as usize];
    npk.file().read_exact_at(&mut bytes, range.start).unwrap();
    fs::write(&fs_img, &bytes).unwrap();
    let v = npk.verity();
    run(Command::new("veritysetup")
        .arg("verify")
        .arg(&fs_img)
        .arg(&fs_img)
        .arg(hex::encode(v.root))
        .arg(format!("--hash-offset={}", v.offset)));
}

#[test]
fn loop_mount_straight_from_the_npk() {
    let dir = tempfile::tempdir().unwrap();
    let path = pack_sample(dir.path());
    let npk = open_verified(&path);
    let squashfs = npk.squashfs();
    let mnt = dir.path().join("mnt");
    let _mount = Mount::loop_ro(&path, squashfs.start, squashfs.end - squashfs.start, &mnt);
    assert_same_files(&dir.path().join("root"), &mnt);
    // A directory for every mount point, owned by the manifest's uid/gid.
    use std::os::unix::fs::MetadataExt;
    for target in ["proc", "data", "bin/sample"] {
        let meta = fs::symlink_metadata(mnt.join(target)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (1000, 1001), "{target}");
    }
    assert!(mnt.join("data").is_dir());
}

#[test]
fn deterministic_with_fixed_salt() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let first = fs::read(pack_sample(a.path())).unwrap();
    let second = fs::read(pack_sample(b.path())).unwrap();
    assert!(first == second, "two packs of the same input differ");
}

#[test]
fn unsigned_package_opens_only_unverified() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.yaml");
    fs::write(&manifest, MANIFEST).unwrap();
    let root = tree(dir.path());
    let options = npk::pack::Options::default();
    let path = npk::pack::pack(&manifest, &root, dir.path(), &options, &mut |_| ()).unwrap();
    let npk = Npk::open(&path).unwrap();
    assert!(!npk.is_signed());
    let err = npk.verify(&key().public()).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Unsigned), "{err}");
    let listing = run(Command::new("unzip").arg("-l").arg(&path));
    assert!(!listing.contains("signature.yaml"));
}

#[test]
fn wrong_key_rejected_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = pack_sample(dir.path());
    let other = SecretKey::from_seed(&[1; 32]).public();
    let err = Npk::open(&path).unwrap().verify(&other).unwrap_err();
    assert!(matches!(
        err.kind,
        ErrorKind::Signature(signature::Error::BadSignature)
    ));
    assert!(err.to_string().contains("sample-1.2.3.npk"), "{err}");
}

/// Replace bytes of a stored entry and fix up its CRC in both headers, as an attacker who
/// knows zip would: the CRC check must not be what catches the change.
fn patch_entry(path: &Path, entry: usize, at: usize, new: &[u8]) {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let archive = Archive::read(&file).unwrap();
    let mut data = match entry {
        0 => archive.manifest.clone(),
        _ => archive.signature.clone().unwrap(),
    };
    let old_crc = crc32fast::hash(&data);
    data[at..at + new.len()].copy_from_slice(new);
    let new_crc = crc32fast::hash(&data);
    let mut bytes = fs::read(path).unwrap();
    let start = find(
        &bytes,
        &match entry {
            0 => archive.manifest,
            _ => archive.signature.unwrap(),
        },
    );
    bytes[start..start + data.len()].copy_from_slice(&data);
    let (old, new) = (old_crc.to_le_bytes(), new_crc.to_le_bytes());
    let mut patched = 0;
    let mut i = 0;
    while i + 4 <= bytes.len() {
        if bytes[i..i + 4] == old {
            bytes[i..i + 4].copy_from_slice(&new);
            patched += 1;
        }
        i += 1;
    }
    assert_eq!(patched, 2, "crc in local and central header");
    fs::write(path, bytes).unwrap();
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}

fn verify_err(path: &Path) -> ErrorKind {
    Npk::open(path)
        .unwrap()
        .verify(&key().public())
        .unwrap_err()
        .kind
}

#[test]
fn tampered_comment() {
    let dir = tempfile::tempdir().unwrap();
    let path = pack_sample(dir.path());
    let mut bytes = fs::read(&path).unwrap();
    let n = bytes.len();
    assert_eq!(&bytes[n - 2..], b"3\n");
    bytes[n - 2] = b'4'; // version: 0.9.4 still parses, but is not what was signed
    fs::write(&path, bytes).unwrap();
    assert!(matches!(verify_err(&path), ErrorKind::MetaHash));
}

#[test]
fn tampered_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let path = pack_sample(dir.path());
    let manifest = Archive::read(&fs::File::open(&path).unwrap())
        .unwrap()
        .manifest;
    let at = find(&manifest, b"- one");
    patch_entry(&path, 0, at + 2, b"eno");
    assert!(matches!(verify_err(&path), ErrorKind::ManifestHash));
}

#[test]
fn tampered_signature() {
    let dir = tempfile::tempdir().unwrap();
    let path = pack_sample(dir.path());
    let sig = Archive::read(&fs::File::open(&path).unwrap())
        .unwrap()
        .signature
        .unwrap();
    // A signed value changed: the offset digit.
    let at = find(&sig, b"verity-offset: ") + "verity-offset: ".len();
    let digit = if sig[at] == b'1' { b"2" } else { b"1" };
    patch_entry(&path, 1, at, digit);
    assert!(matches!(
        verify_err(&path),
        ErrorKind::Signature(signature::Error::BadSignature)
    ));
}

#[test]
fn tampered_signature_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = pack_sample(dir.path());
    let sig = Archive::read(&fs::File::open(&path).unwrap())
        .unwrap()
        .signature
        .unwrap();
    let at = find(&sig, b"signature: ") + "signature: ".len() + 5;
    let replacement = if sig[at] == b'A' { b"B" } else { b"A" };
    patch_entry(&path, 1, at, replacement);
    assert!(matches!(
        verify_err(&path),
        ErrorKind::Signature(signature::Error::BadSignature)
    ));
}

fn flip(path: &Path, at: u64) {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    file.read_exact_at(&mut b, at).unwrap();
    file.write_all_at(&[b[0] ^ 0x10], at).unwrap();
}

#[test]
fn tampered_superblock() {
    let dir = tempfile::tempdir().unwrap();
    let path = pack_sample(dir.path());
    let (fs_start, offset) = {
        let npk = open_verified(&path);
        (npk.fs_img().start, npk.verity().offset)
    };
    // Field offsets in the superblock: 8 version, 12 hash type, 32 algorithm, 64 data
    // block size, 72 data blocks.
    for (field, at) in [
        ("version", 8),
        ("hash type", 12),
        ("algorithm", 32),
        ("block size", 64),
    ] {
        let copy = dir.path().join(format!("{field}.npk"));
        fs::copy(&path, &copy).unwrap();
        flip(&copy, fs_start + offset + at);
        assert!(
            matches!(verify_err(&copy), ErrorKind::Superblock(_)),
            "{field}"
        );
    }
    flip(&path, fs_start + offset + 72);
    assert!(matches!(
        verify_err(&path),
        ErrorKind::SuperblockBlocks { .. }
    ));
}

#[test]
fn tampered_hash_tree_and_data_found_by_full_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = pack_sample(dir.path());
    let (fs_start, offset) = {
        let npk = open_verified(&path);
        (npk.fs_img().start, npk.verity().offset)
    };
    let tree = dir.path().join("tree.npk");
    fs::copy(&path, &tree).unwrap();
    flip(&tree, fs_start + offset + 4096 + 10);
    let npk = open_verified(&tree); // metadata still fine: found only by reading the tree
    let err = npk.check_fs_img().unwrap_err();
    assert!(matches!(err.kind, ErrorKind::FsImg(_)), "{err}");

    flip(&path, fs_start + 4096 + 100); // second data block
    let npk = open_verified(&path);
    let err = npk.check_fs_img().unwrap_err();
    assert!(matches!(err.kind, ErrorKind::FsImg(_)), "{err}");
    assert!(err.to_string().contains("block 1"), "{err}");
}

/// The manifest replaced by as deep a nesting as fits (invalid YAML, and a stack-hungry
/// input for a parser), its CRC fixed up: nothing of it may be parsed before the signature.
fn nest_manifest(path: &Path) {
    let manifest = Archive::read(&fs::File::open(path).unwrap())
        .unwrap()
        .manifest;
    patch_entry(path, 0, 0, &vec![b'['; manifest.len()]);
}

#[test]
fn a_hostile_manifest_under_a_wrong_signature_is_a_signature_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = pack_sample(dir.path());
    nest_manifest(&path);
    let sig = Archive::read(&fs::File::open(&path).unwrap())
        .unwrap()
        .signature
        .unwrap();
    let at = find(&sig, b"signature: ") + "signature: ".len() + 5;
    let replacement = if sig[at] == b'A' { b"B" } else { b"A" };
    patch_entry(&path, 1, at, replacement);
    let npk = Npk::open(&path).expect("opening parses nothing");
    let err = npk.verify(&key().public()).unwrap_err();
    assert!(
        matches!(
            err.kind,
            ErrorKind::Signature(signature::Error::BadSignature)
        ),
        "{err}"
    );
    // With a key that did not sign it: the same.
    let other = SecretKey::from_seed(&[1; 32]).public();
    let err = Npk::open(&path).unwrap().verify(&other).unwrap_err();
    assert!(
        matches!(
            err.kind,
            ErrorKind::Signature(signature::Error::BadSignature)
        ),
        "{err}"
    );
}

#[test]
fn a_hostile_manifest_under_a_good_signature_is_a_hash_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = pack_sample(dir.path());
    nest_manifest(&path);
    assert!(matches!(verify_err(&path), ErrorKind::ManifestHash));
    // A comment that is no format version: its hash fails before it is parsed.
    let mut bytes = fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 2] = b'x';
    fs::write(&path, bytes).unwrap();
    assert!(matches!(verify_err(&path), ErrorKind::MetaHash));
    // Without a key, parsing is the caller's explicit choice, and it fails as it should.
    let err = Npk::open(&path).unwrap().parse_unverified().unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Comment(_)), "{err}");
}
