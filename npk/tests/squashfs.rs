//! Integration tests of the squashfs module against the real tools and kernel: unsquashfs
//! lists our images, the kernel mounts them (as root), builds are reproducible.

use std::{
    collections::BTreeMap,
    fs::{self, File},
    io::Cursor,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::Command,
};

use npk::squashfs::{self, Compression, EntryKind, Error, Options};

#[path = "squashfs_tree.rs"]
mod tree;
use tree::*;

#[test]
fn unsquashfs_lists_exactly_the_tree_with_forced_owner() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    make_tree(&root, false);
    let image = write_image(tmp.path(), &build(&root, &opts(Compression::Xz)));
    let out = Command::new("unsquashfs")
        .arg("-lln")
        .arg(&image)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut listed = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        // drwxr-xr-x 1000/1001  0 1970-01-01 00:00 squashfs-root/bin
        // crw-rw-rw- 1000/1001  1,  3 1970-01-01 00:00 squashfs-root/dev/null
        // lrwxrwxrwx 1000/1001  4 1970-01-01 00:00 squashfs-root/bin/sh -> tool
        let name = line.split(" -> ").next().unwrap_or(line);
        let Some(path) = name.split_whitespace().last() else {
            continue;
        };
        let Some(path) = path.strip_prefix("squashfs-root") else {
            continue;
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[1], format!("{UID}/{GID}"), "{line}");
        assert!(line.contains("1970-01-01 00:00"), "{line}");
        let path = if path.is_empty() { "/" } else { path };
        listed.insert(path.to_string(), fields[0].chars().next().unwrap());
    }
    assert_eq!(listed, expected_paths());
}

#[test]
fn list_reports_the_tree_and_extract_restores_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    make_tree(&root, false);
    let image = build(&root, &opts(Compression::Zstd));
    // Embedded at an offset with other bytes around it, as in an .npk.
    let mut package = vec![0xa5; 4096];
    package.extend_from_slice(&image);
    package.extend_from_slice(&[0x5a; 777]);
    let path = write_image(tmp.path(), &package);
    let file = File::open(&path).unwrap();

    let entries = squashfs::list(&file, 4096, image.len() as u64).unwrap();
    let listed: BTreeMap<String, EntryKind> =
        entries.iter().map(|e| (e.path.clone(), e.kind)).collect();
    let expected: BTreeMap<String, EntryKind> = expected_paths()
        .into_iter()
        .map(|(p, k)| {
            let kind = match k {
                'd' => EntryKind::Dir,
                '-' => EntryKind::File,
                'l' => EntryKind::Symlink,
                _ => EntryKind::CharDevice,
            };
            (p, kind)
        })
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(entries[0].path, "/");
    assert!(entries.iter().all(|e| e.uid == UID && e.gid == GID));
    let by_path: BTreeMap<&str, _> = entries.iter().map(|e| (e.path.as_str(), e)).collect();
    assert_eq!(by_path["/bin/tool"].mode, 0o4755);
    assert_eq!(by_path["/bin/tool"].size, 300_000);
    assert_eq!(by_path["/etc"].mode, 0o750);
    assert_eq!(
        by_path["/etc/dangling"].target.as_deref(),
        Some("../../nowhere")
    );

    let dest = tmp.path().join("out");
    let skipped = squashfs::extract(&file, 4096, image.len() as u64, &dest).unwrap();
    let mut devs: Vec<String> = ["full", "null", "random", "tty", "urandom", "zero"]
        .iter()
        .map(|d| format!("/dev/{d}"))
        .collect();
    devs.sort();
    assert_eq!(skipped, devs);
    for (path, item) in spec() {
        let full = dest.join(path);
        let meta = fs::symlink_metadata(&full).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (UID, GID), "{path}");
        match item {
            Spec::Dir(mode) => assert_eq!(meta.mode() & 0o7777, mode, "{path}"),
            Spec::File(mode, bytes) => {
                assert_eq!(fs::read(&full).unwrap(), bytes, "{path}");
                assert_eq!(
                    meta.mode() & 0o7777,
                    mode & 0o1777,
                    "{path}: setuid dropped"
                );
            }
            Spec::Link(target) => assert_eq!(fs::read_link(&full).unwrap(), Path::new(target)),
        }
    }
    assert!(dest.join("data/db/state").is_dir());

    // The destination must be new or empty.
    let err = squashfs::extract(&file, 4096, image.len() as u64, &dest).unwrap_err();
    assert!(matches!(err, Error::DestinationNotEmpty(_)), "{err}");
    // A range that is not an image, or past the end of the file.
    assert!(squashfs::list(&file, 0, 4096).is_err());
    assert!(squashfs::list(&file, 4096, package.len() as u64).is_err());
}

#[test]
fn builds_are_byte_identical_for_every_compression() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    make_tree(&a, false);
    make_tree(&b, true);
    // Different times on the second tree.
    let past = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    for (path, item) in spec() {
        if let Spec::File(..) = item {
            File::options()
                .write(true)
                .open(b.join(path))
                .unwrap()
                .set_modified(past)
                .unwrap();
        }
    }
    for compression in Compression::ALL {
        let opts = Options {
            block_size: 64 * 1024,
            ..opts(compression)
        };
        let first = build(&a, &opts);
        assert_eq!(first, build(&a, &opts), "{compression}: same tree twice");
        assert_eq!(
            first,
            build(&b, &opts),
            "{compression}: tree made in another order"
        );
    }
}

#[test]
fn progress_counts_every_source_byte() {
    let tmp = tempfile::tempdir().unwrap();
    make_tree(tmp.path(), false);
    let total: u64 = spec()
        .into_iter()
        .map(|(_, item)| match item {
            Spec::File(_, bytes) => bytes.len() as u64,
            _ => 0,
        })
        .sum();
    let mut last = 0;
    let mut calls = 0;
    let mut out = Cursor::new(Vec::new());
    squashfs::build(tmp.path(), &Options::default(), &mut out, &mut |done| {
        assert!(done >= last);
        last = done;
        calls += 1;
    })
    .unwrap();
    assert_eq!(last, total);
    assert!(calls > 1);
}

#[test]
fn invalid_block_sizes_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    for block_size in [0, 2048, 100_000, 2 << 20] {
        let opts = Options {
            block_size,
            ..Options::default()
        };
        let err = squashfs::build(tmp.path(), &opts, &mut Cursor::new(Vec::new()), &mut |_| {})
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidBlockSize(b) if b == block_size),
            "{err}"
        );
    }
}

#[test]
fn a_file_where_a_mount_point_goes_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("data"), b"not a dir").unwrap();
    let opts = Options {
        mount_points: vec!["/data/db".into()],
        ..Options::default()
    };
    let err =
        squashfs::build(tmp.path(), &opts, &mut Cursor::new(Vec::new()), &mut |_| {}).unwrap_err();
    assert!(matches!(&err, Error::NotADirectory { path, .. } if path == Path::new("/data")));
    assert!(err.to_string().contains("/data"), "{err}");
}

#[test]
fn a_fifo_in_the_tree_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("sub/pipe");
    fs::create_dir(tmp.path().join("sub")).unwrap();
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let err = squashfs::build(
        tmp.path(),
        &Options::default(),
        &mut Cursor::new(Vec::new()),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(&err, Error::UnsupportedFileType { path, kind: "fifo" } if *path == fifo));
    assert!(err.to_string().contains("pipe"), "{err}");
}

#[test]
fn an_image_with_a_dotdot_name_is_not_extracted() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(root.join("sub/zq"), b"escaped").unwrap();
    let opts = Options {
        compression: Compression::None,
        ..Options::default()
    };
    let mut image = build(&root, &opts);
    // Uncompressed metadata: rename the entry "zq" to ".." in the directory table.
    let at: Vec<usize> = image
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w == b"zq")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1);
    image[at[0]..at[0] + 2].copy_from_slice(b"..");
    let path = write_image(tmp.path(), &image);
    let file = File::open(&path).unwrap();
    let dest = tmp.path().join("x/y");
    assert!(squashfs::list(&file, 0, image.len() as u64).is_err());
    assert!(squashfs::extract(&file, 0, image.len() as u64, &dest).is_err());
    assert!(!tmp.path().join("x/..").join("escaped").exists());
    let files: Vec<_> = walk(tmp.path());
    assert!(!files.iter().any(|p| fs::read(p).map(|b| b == b"escaped").unwrap_or(false) && !p.starts_with(&root)), "{files:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

#[test]
fn an_empty_tree_builds() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    let image = build(&root, &Options::default());
    let path = write_image(tmp.path(), &image);
    let entries = squashfs::list(&File::open(path).unwrap(), 0, image.len() as u64).unwrap();
    assert_eq!(entries.len(), 1);
    let opts = Options {
        uid: 5,
        ..Options::default()
    };
    let err = squashfs::build(&root, &opts, &mut Cursor::new(Vec::new()), &mut |_| {}).unwrap_err();
    assert!(matches!(err, Error::EmptyTree { uid: 5, gid: 0 }));
}
