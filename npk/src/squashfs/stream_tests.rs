//! Files streamed by [`open_file`] equal the originals, for images of our builder and of
//! `mksquashfs`, stored at an offset of a larger file.

use std::{
    io::{Read, Seek, SeekFrom, Write},
    path::Path,
    process::Command,
};

use super::*;
use crate::squashfs::{build, Compression, Options};

const BLOCK: usize = 4096;
/// Bytes before the image in the file that holds it.
const PREFIX: u64 = 8192;

/// Half incompressible, half compressible, so that images have both stored-compressed and
/// stored-uncompressed blocks.
fn data(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|i| {
            if (i / BLOCK).is_multiple_of(2) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            } else {
                (i % 251) as u8
            }
        })
        .collect()
}

/// name → contents: empty, under a block, exactly n blocks, n blocks and a tail.
fn files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty", Vec::new()),
        ("small", data(1000, 1)),
        ("one-block", data(BLOCK, 2)),
        ("three-blocks", data(3 * BLOCK, 3)),
        ("blocks-and-tail", data(5 * BLOCK + 777, 4)),
        ("dir/nested", data(2 * BLOCK + 1, 5)),
        ("zeros", vec![0; 4 * BLOCK + 10]),
    ]
}

fn tree(root: &Path) {
    std::fs::create_dir_all(root.join("dir")).unwrap();
    for (name, contents) in files() {
        std::fs::write(root.join(name), contents).unwrap();
    }
    std::os::unix::fs::symlink("small", root.join("link")).unwrap();
}

/// `image` stored at [`PREFIX`] of a new file with junk around it; returns the file.
fn embed(image: &[u8]) -> File {
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(&vec![0xa5; PREFIX as usize]).unwrap();
    file.write_all(image).unwrap();
    file.write_all(&[0x5a; 1000]).unwrap();
    file
}

fn check_all(file: &File, len: u64, origin: &str) {
    for (name, contents) in files() {
        let mut reader = open_file(file, PREFIX, len, &format!("/{name}")).unwrap();
        assert_eq!(reader.size(), contents.len() as u64, "{origin} {name}");
        let mut read = Vec::new();
        // Odd-sized reads, so that reads straddle block boundaries.
        let mut buf = [0u8; 1500];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            read.extend_from_slice(&buf[..n]);
        }
        assert!(read == contents, "{origin} {name}: contents differ");
    }
    // Without the leading slash.
    let mut read = Vec::new();
    open_file(file, PREFIX, len, "dir/nested")
        .unwrap()
        .read_to_end(&mut read)
        .unwrap();
    assert_eq!(read, data(2 * BLOCK + 1, 5));
}

fn ours(compression: Compression) -> (File, u64) {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let opts = Options {
        compression,
        block_size: BLOCK as u32,
        ..Options::default()
    };
    let mut image = std::io::Cursor::new(Vec::new());
    let len = build(dir.path(), &opts, &mut image, &mut |_| {}).unwrap();
    let image = image.into_inner();
    (embed(&image[..len as usize]), len)
}

#[test]
fn streams_files_of_our_images() {
    for compression in Compression::ALL {
        let (file, len) = ours(compression);
        check_all(&file, len, &format!("ours {compression}"));
    }
}

#[test]
fn streams_files_of_mksquashfs_images() {
    if Command::new("mksquashfs").arg("-version").output().is_err() {
        eprintln!("skipped: mksquashfs is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    tree(&src);
    let variants: [&[&str]; 5] = [
        &["-comp", "gzip"],
        &["-comp", "xz"],
        &["-comp", "zstd", "-always-use-fragments"],
        &["-comp", "lz4", "-no-fragments"],
        &["-noI", "-noD", "-noF", "-always-use-fragments"],
    ];
    for args in variants {
        let out = dir.path().join("image.sqfs");
        let _ = std::fs::remove_file(&out);
        let status = Command::new("mksquashfs")
            .arg(&src)
            .arg(&out)
            .args(["-b", "4096", "-noappend", "-quiet", "-no-progress"])
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "mksquashfs {args:?}");
        let image = std::fs::read(&out).unwrap();
        let file = embed(&image);
        check_all(&file, image.len() as u64, &format!("mksquashfs {args:?}"));
    }
}

#[test]
fn missing_paths_and_non_files_are_errors() {
    let (file, len) = ours(Compression::Zstd);
    let err = open_file(&file, PREFIX, len, "/no/such").unwrap_err();
    assert!(
        matches!(&err, Error::NotFound(p) if p == "/no/such"),
        "{err}"
    );
    assert!(err.to_string().contains("/no/such"), "{err}");
    for (path, kind) in [
        ("/dir", "directory"),
        ("/", "directory"),
        ("/link", "symlink"),
    ] {
        let err = open_file(&file, PREFIX, len, path).unwrap_err();
        assert!(
            matches!(&err, Error::NotAFile { path: p, kind: k } if p == path && *k == kind),
            "{path}: {err}"
        );
    }
}

#[test]
fn a_corrupt_block_is_a_read_error() {
    let (mut file, len) = ours(Compression::Zstd);
    // Overwrite the image's data (after the 96-byte superblock) with junk: the first
    // file's blocks no longer decompress or no longer have their size.
    file.seek(SeekFrom::Start(PREFIX + 96)).unwrap();
    file.write_all(&[0xff; 2048]).unwrap();
    let failed = files()
        .iter()
        .filter(|(_, c)| !c.is_empty())
        .filter(|(name, contents)| {
            let mut out = Vec::new();
            match open_file(&file, PREFIX, len, name) {
                Ok(mut r) => r.read_to_end(&mut out).is_err() || &out != contents,
                Err(_) => true,
            }
        })
        .count();
    assert!(failed > 0, "no file noticed the corruption");
}
