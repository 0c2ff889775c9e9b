use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use proptest::prelude::*;

use super::newc::{self, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG};
use super::reader::{self, Entry};
use super::*;

fn bytes(archive: &Initramfs) -> Vec<u8> {
    let mut out = Vec::new();
    archive.write_to(&mut out, Path::new("test")).unwrap();
    out
}

fn sample(dir: &Path) -> Initramfs {
    let module = dir.join("loop.ko");
    std::fs::write(&module, b"\x7fELF module bytes").unwrap();
    let mut archive = Initramfs::new();
    archive
        .dir("/dev", 0o755)
        .unwrap()
        .device("/dev/console", DeviceKind::Char, 5, 1, 0o600)
        .unwrap()
        .file("/init", b"#!init".to_vec(), 0o755)
        .unwrap()
        .file_from("/lib/modules/6.1/loop.ko", &module, 0o644)
        .unwrap()
        .symlink("/sbin/init", "/init")
        .unwrap();
    archive
}

fn find<'a>(entries: &'a [Entry], name: &str) -> &'a Entry {
    entries.iter().find(|e| e.name == name).unwrap()
}

#[test]
fn round_trip_through_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let entries = reader::parse(&bytes(&sample(dir.path()))).unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "dev",
            "dev/console",
            "init",
            "lib",
            "lib/modules",
            "lib/modules/6.1",
            "lib/modules/6.1/loop.ko",
            "sbin",
            "sbin/init"
        ]
    );
    let console = find(&entries, "dev/console");
    assert_eq!(console.file_type(), S_IFCHR);
    assert_eq!(console.perm(), 0o600);
    assert_eq!(
        (console.header.rdev_major, console.header.rdev_minor),
        (5, 1)
    );
    let init = find(&entries, "init");
    assert_eq!((init.file_type(), init.perm()), (S_IFREG, 0o755));
    assert_eq!(init.data, b"#!init");
    assert_eq!(
        find(&entries, "lib/modules/6.1/loop.ko").data,
        b"\x7fELF module bytes"
    );
    let link = find(&entries, "sbin/init");
    assert_eq!(
        (link.file_type(), link.data.as_slice()),
        (S_IFLNK, &b"/init"[..])
    );
    let parent = find(&entries, "lib/modules");
    assert_eq!((parent.file_type(), parent.perm()), (S_IFDIR, 0o755));
    assert!(entries
        .iter()
        .all(|e| e.header.uid == 0 && e.header.mtime == 0));
}

#[test]
fn archive_is_aligned_deterministic_and_ends_with_the_trailer() {
    let dir = tempfile::tempdir().unwrap();
    let first = bytes(&sample(dir.path()));
    assert_eq!(first, bytes(&sample(dir.path())));
    assert_eq!(first.len() % 4, 0);
    let tail = String::from_utf8_lossy(&first[first.len() - 16..]).into_owned();
    assert!(tail.contains(newc::TRAILER), "{tail:?}");
}

#[test]
fn write_reports_the_size_of_the_file_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("initrd.cpio");
    let size = sample(dir.path()).write(&path).unwrap();
    assert_eq!(size, std::fs::metadata(&path).unwrap().len());
}

#[test]
fn bad_paths_and_duplicates_are_rejected() {
    let mut archive = Initramfs::new();
    for bad in ["", "/", "a/../b", "./a", "a//b", "a/", "TRAILER!!!"] {
        let err = archive.file(bad, Vec::new(), 0o644).unwrap_err();
        assert!(matches!(err, Error::InvalidPath { .. }), "{bad:?}: {err}");
    }
    archive.file("/etc/x", Vec::new(), 0o644).unwrap();
    let err = archive.file("etc/x", Vec::new(), 0o644).unwrap_err();
    assert!(matches!(err, Error::Duplicate { .. }), "{err}");
    let err = archive.file("/etc/x/y", Vec::new(), 0o644).unwrap_err();
    assert!(matches!(err, Error::NotADirectory { .. }), "{err}");
    let err = archive.dir("/etc/x", 0o755).unwrap_err();
    assert!(matches!(err, Error::Duplicate { .. }), "{err}");
    archive.dir("/etc", 0o700).unwrap();
    let entries = reader::parse(&bytes(&archive)).unwrap();
    assert_eq!(find(&entries, "etc").perm(), 0o700);
}

#[test]
fn missing_source_file_is_an_error_naming_it() {
    let mut archive = Initramfs::new();
    archive
        .file_from("/x", Path::new("/nonexistent/file"), 0o644)
        .unwrap();
    let err = archive.write_to(Vec::new(), Path::new("t")).unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/file"), "{err}");
}

#[test]
fn reader_rejects_garbage_and_archives_without_trailer() {
    assert!(matches!(
        reader::parse(b"070707"),
        Err(reader::Error::Truncated { .. })
    ));
    assert!(matches!(
        reader::parse(&[b'x'; 200]),
        Err(reader::Error::Magic { offset: 0 })
    ));
    let mut archive = Initramfs::new();
    archive.file("/a", b"abc".to_vec(), 0o644).unwrap();
    let full = bytes(&archive);
    let first_entry = newc::HEADER_LEN + 2 + newc::pad4(newc::HEADER_LEN + 2) + 4;
    assert!(matches!(
        reader::parse(&full[..first_entry]),
        Err(reader::Error::NoTrailer)
    ));
}

/// GNU cpio, an independent reader, lists and extracts what we wrote.
#[test]
fn gnu_cpio_lists_and_extracts_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let archive_path = dir.path().join("initrd.cpio");
    sample(dir.path()).write(&archive_path).unwrap();

    let list = Command::new("cpio")
        .args(["-t", "--quiet", "-F"])
        .arg(&archive_path)
        .output()
        .expect("cpio is installed by scripts/setup.sh");
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let listed: Vec<String> = String::from_utf8(list.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let ours: Vec<String> = sample(dir.path()).paths().map(str::to_owned).collect();
    assert_eq!(listed, ours);

    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let status = Command::new("cpio")
        .args(["-i", "--quiet", "--no-absolute-filenames", "-d", "-F"])
        .arg(&archive_path)
        .current_dir(&root)
        .stderr(Stdio::inherit())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read(root.join("init")).unwrap(), b"#!init");
    let mode = std::fs::metadata(root.join("init"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(
        std::fs::read(root.join("lib/modules/6.1/loop.ko")).unwrap(),
        b"\x7fELF module bytes"
    );
    assert_eq!(
        std::fs::read_link(root.join("sbin/init")).unwrap(),
        Path::new("/init")
    );
    // Device nodes need CAP_MKNOD: the tests run as root.
    let console = std::fs::symlink_metadata(root.join("dev/console")).unwrap();
    assert!(console.file_type().is_char_device());
    assert_eq!(console.rdev(), nix::sys::stat::makedev(5, 1));
}

proptest! {
    #[test]
    fn any_files_round_trip(
        files in proptest::collection::btree_map(
            "[a-z]{1,6}(/[a-z0-9_.-]{1,12}){0,2}",
            (proptest::collection::vec(any::<u8>(), 0..300), 0u32..0o7777),
            1..12,
        )
    ) {
        let mut archive = Initramfs::new();
        let mut added = Vec::new();
        for (path, (data, mode)) in &files {
            // A path may be a parent of another one; skip the clashes.
            if archive.file(path, data.clone(), *mode).is_ok() {
                added.push((path.clone(), data.clone(), *mode));
            }
        }
        let entries = reader::parse(&bytes(&archive)).unwrap();
        for (path, data, mode) in added {
            let entry = entries.iter().find(|e| e.name == path).unwrap();
            prop_assert_eq!(entry.file_type(), S_IFREG);
            prop_assert_eq!(entry.perm(), mode);
            prop_assert_eq!(&entry.data, &data);
        }
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        let ours: Vec<&str> = archive.paths().collect();
        prop_assert_eq!(names, ours);
    }
}
