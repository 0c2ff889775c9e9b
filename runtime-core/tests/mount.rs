//! Mounting packages on the host kernel (root, real loop devices and squashfs; no
//! device-mapper here, so the dm-verity path ends at its clear error).
//!
//! Every test runs in a private mount namespace of its own thread: its mounts are not
//! propagated to (or copied by) other processes, so a device is released as soon as the
//! test unmounts it, and whatever a failed test leaves mounted goes with the thread.

use npk::{key::SecretKey, manifest::Manifest, pack, package::Npk, squashfs::Compression};
use runtime_core::{
    config::Devices,
    mount::{self, loop_device::LoopDevice, mount_development, mount_verified, verity, Error},
};
use std::{
    fs,
    os::unix::fs::{symlink, PermissionsExt},
    path::{Path, PathBuf},
    sync::{Arc, Barrier},
};

/// Move the calling thread (and threads it starts later) into a private mount namespace.
fn private_mounts() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).unwrap();
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .unwrap();
}

/// A source tree: text, binary, nested, empty directory, symlink, executable.
fn tree(root: &Path, seed: u8) {
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("share/deep/er")).unwrap();
    fs::create_dir_all(root.join("empty")).unwrap();
    fs::write(root.join("bin/tool"), format!("#!/bin/sh\necho {seed}\n")).unwrap();
    fs::set_permissions(root.join("bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(seed);
    let big: Vec<u8> = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    fs::write(root.join("share/big.bin"), big).unwrap();
    fs::write(root.join("share/deep/er/text"), "text ".repeat(999)).unwrap();
    symlink("../bin/tool", root.join("share/link")).unwrap();
}

/// Pack a package `name` of `tree(seed)` into `dir`, signed when `key` is given.
fn package(dir: &Path, name: &str, seed: u8, key: Option<&SecretKey>) -> (PathBuf, PathBuf) {
    let root = dir.join(format!("{name}-root"));
    tree(&root, seed);
    let manifest = Manifest::from_yaml_str(&format!(
        "name: {name}\nversion: 0.0.{seed}\nuid: 1000\ngid: 1000\n"
    ))
    .unwrap();
    let options = pack::Options {
        compression: Compression::Zstd,
        key,
        ..Default::default()
    };
    let npk = pack::pack_manifest(&manifest, &root, dir, &options, &mut |_| ()).unwrap();
    (npk, root)
}

/// Every entry of `source` is in `mounted` with the same content, link target, mode.
fn same_tree(source: &Path, mounted: &Path) {
    let mut names: Vec<_> = fs::read_dir(source)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let mut found: Vec<_> = fs::read_dir(mounted)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    found.sort();
    assert_eq!(names, found, "{}", mounted.display());
    for name in names {
        let (a, b) = (source.join(&name), mounted.join(&name));
        let (ma, mb) = (
            fs::symlink_metadata(&a).unwrap(),
            fs::symlink_metadata(&b).unwrap(),
        );
        assert_eq!(ma.file_type(), mb.file_type(), "{}", b.display());
        if ma.file_type().is_symlink() {
            assert_eq!(fs::read_link(&a).unwrap(), fs::read_link(&b).unwrap());
        } else if ma.is_dir() {
            same_tree(&a, &b);
        } else {
            assert_eq!(
                ma.permissions().mode() & 0o777,
                mb.permissions().mode() & 0o777
            );
            assert!(
                fs::read(&a).unwrap() == fs::read(&b).unwrap(),
                "{}",
                b.display()
            );
        }
    }
}

/// Loop devices (`loopN`) whose backing file is `file` (or anything below `file`).
fn loops_backed_by(file: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/sys/block").unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !name.starts_with("loop") {
            continue;
        }
        let backing = format!("/sys/block/{name}/loop/backing_file");
        if let Ok(text) = fs::read_to_string(backing) {
            if Path::new(text.trim()).starts_with(file) {
                found.push(name);
            }
        }
    }
    found
}

/// Whether `target` is a mount point in this thread's mount namespace.
fn mounted_at(target: &Path) -> Option<String> {
    let text = fs::read_to_string("/proc/thread-self/mountinfo").unwrap();
    let target = target.to_str().unwrap();
    text.lines()
        .find(|line| line.split(' ').nth(4) == Some(target))
        .map(str::to_string)
}

fn sysfs(device: &Path, attribute: &str) -> String {
    let name = device.file_name().unwrap().to_str().unwrap();
    fs::read_to_string(format!("/sys/block/{name}/{attribute}"))
        .unwrap_or_else(|e| panic!("{name}/{attribute}: {e}"))
        .trim()
        .to_string()
}

/// Devices of this host, with direct I/O as given.
fn devices(direct_io: bool) -> Devices {
    Devices {
        loop_direct_io: direct_io,
        ..Devices::default()
    }
}

#[test]
fn development_mount_shows_the_tree_and_cleans_up() {
    private_mounts();
    let dir = tempfile::tempdir().unwrap();
    let (path, root) = package(dir.path(), "plain", 1, None);
    let npk = Npk::open(&path).unwrap().parse_unverified().unwrap();
    let target = dir.path().join("mnt/plain");
    let mounted = mount_development(&npk, &target, &devices(true)).unwrap();
    assert_eq!(mounted.target(), target);
    assert!(mounted.dm_name().is_none());
    same_tree(&root, &target);

    // Mounted read-only, nosuid, nodev, squashfs from our loop device.
    let line = mounted_at(&target).expect("mounted");
    let options = line.split(' ').nth(5).unwrap();
    for option in ["ro", "nosuid", "nodev"] {
        assert!(
            options.split(',').any(|o| o == option),
            "{option} in {line}"
        );
    }
    assert!(line.contains(" - squashfs "), "{line}");
    assert!(
        line.contains(mounted.loop_device().to_str().unwrap()),
        "{line}"
    );
    assert_eq!(loops_backed_by(&path).len(), 1);

    let device = mounted.loop_device().to_owned();
    mounted.umount().unwrap();
    assert_eq!(mounted_at(&target), None);
    assert_eq!(loops_backed_by(&path), Vec::<String>::new());
    assert!(
        fs::metadata(
            device
                .file_name()
                .map(|n| Path::new("/sys/block").join(n).join("loop"))
                .unwrap()
        )
        .is_err(),
        "{} unbound",
        device.display()
    );
}

#[test]
fn loop_device_settings() {
    private_mounts();
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = package(dir.path(), "settings", 2, None);
    let npk = Npk::open(&path).unwrap().parse_unverified().unwrap();
    let region = npk.fs_img();
    let size = region.end - region.start;
    assert_eq!(region.start % 4096, 0);

    for direct_io in [true, false] {
        let device = LoopDevice::attach(
            &devices(direct_io),
            npk.file(),
            region.start,
            size,
            direct_io,
        )
        .unwrap();
        let p = device.path().to_owned();
        assert_eq!(sysfs(&p, "ro"), "1");
        assert_eq!(sysfs(&p, "loop/offset"), region.start.to_string());
        assert_eq!(sysfs(&p, "loop/sizelimit"), size.to_string());
        assert_eq!(sysfs(&p, "loop/autoclear"), "1");
        assert_eq!(sysfs(&p, "queue/logical_block_size"), "4096");
        assert_eq!(
            sysfs(&p, "size"),
            (size / 512).to_string(),
            "512-byte sectors"
        );
        let dio = if device.direct_io() == northstar_sys::loopdev::DirectIo::On {
            "1"
        } else {
            "0"
        };
        assert_eq!(sysfs(&p, "loop/dio"), dio, "direct I/O as reported");
        if !direct_io {
            assert_eq!(
                device.direct_io(),
                northstar_sys::loopdev::DirectIo::NotRequested
            );
        }
        let status = device.status().unwrap();
        assert_eq!((status.offset, status.sizelimit), (region.start, size));
        let flags =
            northstar_sys::loopdev::LO_FLAGS_READ_ONLY | northstar_sys::loopdev::LO_FLAGS_AUTOCLEAR;
        assert_eq!(status.flags & flags, flags);
        assert_eq!(loops_backed_by(&path).len(), 1);
        // Dropped without mounting: unbound at once.
        drop(device);
        assert_eq!(loops_backed_by(&path), Vec::<String>::new());
    }
}

#[test]
fn eight_concurrent_mounts() {
    private_mounts();
    let dir = tempfile::tempdir().unwrap();
    let packages: Vec<_> = (0..8u8)
        .map(|i| package(dir.path(), &format!("parallel{i}"), 10 + i, None))
        .collect();
    let barrier = Arc::new(Barrier::new(packages.len()));
    let threads: Vec<_> = packages
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, (path, root))| {
            let barrier = barrier.clone();
            let target = dir.path().join(format!("mnt/{i}"));
            std::thread::spawn(move || {
                let npk = Npk::open(&path).unwrap().parse_unverified().unwrap();
                barrier.wait();
                let mounted = mount_development(&npk, &target, &devices(true))?;
                same_tree(&root, &target);
                let device = mounted.loop_device().to_owned();
                mounted.umount()?;
                Ok::<_, Error>(device)
            })
        })
        .collect();
    let mut used = Vec::new();
    for thread in threads {
        used.push(thread.join().unwrap().unwrap());
    }
    used.sort();
    used.dedup();
    assert!(!used.is_empty());
    for (path, _) in &packages {
        assert_eq!(
            loops_backed_by(path),
            Vec::<String>::new(),
            "{}",
            path.display()
        );
    }
    assert_eq!(loops_backed_by(dir.path()), Vec::<String>::new());
}

#[test]
fn corrupted_squashfs_leaks_nothing() {
    private_mounts();
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = package(dir.path(), "corrupt", 3, None);
    let start = Npk::open(&path).unwrap().fs_img().start as usize;
    let mut bytes = fs::read(&path).unwrap();
    assert_eq!(&bytes[start..start + 4], b"hsqs", "squashfs magic");
    bytes[start..start + 4].copy_from_slice(b"xxxx");
    let copy = dir.path().join("corrupt-copy.npk");
    fs::write(&copy, bytes).unwrap();

    let npk = Npk::open(&copy).unwrap().parse_unverified().unwrap();
    let target = dir.path().join("mnt/corrupt");
    let e = mount_development(&npk, &target, &devices(true)).unwrap_err();
    match &e {
        Error::Mount {
            package, device, ..
        } => {
            assert_eq!(package, &copy);
            assert!(device.to_str().unwrap().starts_with("/dev/loop"), "{e}");
        }
        other => panic!("expected a mount error, got {other}"),
    }
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("{}: cannot mount /dev/loop", copy.display())),
        "{text}"
    );
    assert_eq!(loops_backed_by(&copy), Vec::<String>::new());
    assert_eq!(mounted_at(&target), None);
}

#[test]
fn verified_mount_needs_device_mapper() {
    private_mounts();
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::from_seed(&[7; 32]);
    let (path, _) = package(dir.path(), "signed", 4, Some(&key));
    let npk = Npk::open(&path).unwrap().verify(&key.public()).unwrap();
    // This host has no device-mapper; should one appear, point at a path that is missing.
    let mut devices = devices(true);
    if devices.device_mapper.exists() {
        devices.device_mapper = dir.path().join("mapper/control");
    }
    let target = dir.path().join("mnt/signed");
    let e = mount_verified(&npk, &target, &devices).unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Verity {
                source: verity::Error::Unavailable { .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "{}: device-mapper is not available ({} missing): keyed repositories need dm-verity",
            path.display(),
            devices.device_mapper.display()
        )
    );
    assert_eq!(loops_backed_by(&path), Vec::<String>::new());
    assert_eq!(mounted_at(&target), None);
    assert!(!target.exists(), "nothing created");
}

#[test]
fn fifty_cycles_leave_no_loop_device() {
    private_mounts();
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = package(dir.path(), "cycles", 5, None);
    let npk = Npk::open(&path).unwrap().parse_unverified().unwrap();
    let target = dir.path().join("mnt/cycles");
    let before = loops_backed_by(dir.path()).len();
    assert_eq!(before, 0);
    for i in 0..50 {
        let mounted = mount_development(&npk, &target, &devices(i % 2 == 0)).unwrap();
        assert_eq!(loops_backed_by(&path).len(), 1, "cycle {i}");
        assert!(target.join("share/deep/er/text").is_file(), "cycle {i}");
        mounted.umount().unwrap();
        assert_eq!(loops_backed_by(&path), Vec::<String>::new(), "cycle {i}");
        assert_eq!(mounted_at(&target), None, "cycle {i}");
    }
    assert_eq!(loops_backed_by(dir.path()).len(), before);
}

#[test]
fn busy_mount_is_reported_and_released_later() {
    private_mounts();
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = package(dir.path(), "busy", 6, None);
    let npk = Npk::open(&path).unwrap().parse_unverified().unwrap();
    let target = dir.path().join("mnt/busy");
    let mounted = mount_development(&npk, &target, &devices(true)).unwrap();
    let open = fs::File::open(target.join("share/big.bin")).unwrap();
    let e = mounted.umount().unwrap_err();
    assert!(matches!(e, Error::Lingering { .. }), "{e:?}");
    assert!(e.to_string().contains("busy"), "{e}");
    assert_eq!(mounted_at(&target), None, "detached from the namespace");
    assert_eq!(loops_backed_by(&path).len(), 1, "held by the open file");
    drop(open);
    assert_eq!(
        loops_backed_by(&path),
        Vec::<String>::new(),
        "autoclear at the last close"
    );
}

#[test]
fn node_path_follows_the_configured_prefix() {
    let devices = Devices {
        loop_dev: PathBuf::from("/dev/block/loop"),
        ..Devices::default()
    };
    assert_eq!(
        mount::loop_device::device_path(&devices, 12),
        Path::new("/dev/block/loop12")
    );
}
