//! Structure layout against the kernel's `<linux/loop.h>`, and both ways of binding on
//! the running kernel (needs root and `/dev/loop-control`).

use super::*;
use std::{
    fs::{File, OpenOptions},
    io::Write,
    mem::offset_of,
    os::{fd::AsFd, unix::fs::MetadataExt},
};

#[test]
fn loop_info64_layout() {
    assert_eq!(offset_of!(LoopInfo64, offset), 24);
    assert_eq!(offset_of!(LoopInfo64, sizelimit), 32);
    assert_eq!(offset_of!(LoopInfo64, number), 40);
    assert_eq!(offset_of!(LoopInfo64, flags), 52);
    assert_eq!(offset_of!(LoopInfo64, file_name), 56);
    assert_eq!(offset_of!(LoopInfo64, encrypt_key), 184);
    assert_eq!(offset_of!(LoopInfo64, init), 216);
    assert_eq!(offset_of!(LoopConfig, info), 8);
    assert_eq!(offset_of!(LoopConfig, reserved), 240);
}

#[test]
fn settings_flags() {
    let s = Settings {
        offset: 4096,
        size_limit: 8192,
        block_size: 4096,
        read_only: true,
        autoclear: true,
        direct_io: true,
    };
    let info = s.info(true);
    assert_eq!(info.flags, 1 | 4 | 16);
    assert_eq!((info.offset, info.sizelimit), (4096, 8192));
    assert_eq!(s.info(false).flags, 1 | 4);
}

/// A 64 KiB file whose second 16 KiB differ from the rest.
fn backing() -> (tempfile::NamedTempFile, File) {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let mut data = vec![0u8; 65536];
    data[16384..32768].fill(0xa5);
    file.write_all(&data).unwrap();
    let read_only = File::open(file.path()).unwrap();
    (file, read_only)
}

/// Bind with `bind` to a free device, retrying while other processes take them first.
fn bind_free(
    backing: &File,
    settings: &Settings,
    bind: fn(BorrowedFd<'_>, BorrowedFd<'_>, &Settings) -> Result<Attached, Error>,
) -> (u32, File, Attached) {
    let control = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/loop-control")
        .unwrap();
    for _ in 0..64 {
        let n = ctl_get_free(control.as_fd()).unwrap();
        let device = File::open(format!("/dev/loop{n}")).unwrap();
        match bind(device.as_fd(), backing.as_fd(), settings) {
            Ok(attached) => return (n, device, attached),
            Err(e) if e.errno() == Some(libc::EBUSY) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("no free loop device");
}

fn check_bound(bind: fn(BorrowedFd<'_>, BorrowedFd<'_>, &Settings) -> Result<Attached, Error>) {
    let (_keep, file) = backing();
    let settings = Settings {
        offset: 16384,
        size_limit: 16384,
        block_size: 4096,
        read_only: true,
        autoclear: true,
        direct_io: false,
    };
    let (n, device, attached) = bind_free(&file, &settings, bind);
    assert_eq!(attached.direct_io, DirectIo::NotRequested);
    let status = get_status64(device.as_fd()).unwrap();
    let meta = file.metadata().unwrap();
    assert_eq!((status.device, status.inode), (meta.dev(), meta.ino()));
    assert_eq!(
        (status.offset, status.sizelimit, status.number),
        (16384, 16384, n)
    );
    assert_eq!(status.flags & (LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR), 5);
    let sys = |attr: &str| {
        std::fs::read_to_string(format!("/sys/block/loop{n}/{attr}"))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(sys("queue/logical_block_size"), "4096");
    assert_eq!(sys("ro"), "1");
    let content = std::fs::read(format!("/dev/loop{n}")).unwrap();
    assert_eq!(content.len(), 16384);
    assert!(
        content.iter().all(|b| *b == 0xa5),
        "the region, not the file start"
    );
    clr_fd(device.as_fd()).unwrap();
    drop(device);
    let device = File::open(format!("/dev/loop{n}")).unwrap();
    let e = get_status64(device.as_fd()).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENXIO), "unbound: {e}");
}

#[test]
fn configure_binds_a_region() {
    let (_keep, file) = backing();
    let settings = Settings {
        offset: 0,
        size_limit: 0,
        block_size: 4096,
        read_only: true,
        autoclear: true,
        direct_io: false,
    };
    let (_, _device, attached) = bind_free(&file, &settings, attach);
    assert_eq!(
        attached.method,
        Method::Configure,
        "this kernel has LOOP_CONFIGURE"
    );
    drop(_device);
    check_bound(attach);
}

#[test]
fn legacy_sequence_binds_a_region() {
    check_bound(attach_legacy);
}

#[test]
fn busy_device_is_reported_and_left_alone() {
    let (_keep, file) = backing();
    let settings = Settings {
        offset: 0,
        size_limit: 0,
        block_size: 4096,
        read_only: true,
        autoclear: false,
        direct_io: false,
    };
    let (n, device, _) = bind_free(&file, &settings, attach);
    let again = File::open(format!("/dev/loop{n}")).unwrap();
    for bind in [attach, attach_legacy] {
        let e = bind(again.as_fd(), file.as_fd(), &settings).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EBUSY), "{e}");
        // Still bound: a refused attach never unbinds someone else's device.
        assert!(get_status64(device.as_fd()).is_ok());
    }
    clr_fd(device.as_fd()).unwrap();
}
