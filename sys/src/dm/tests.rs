//! Byte layout of the device-mapper requests, checked against the numbers of the kernel's
//! `<linux/dm-ioctl.h>` and against a reader that walks a table the way the kernel does.

use super::*;
use proptest::prelude::*;

// Test readers and writers of the buffers: out of bounds is a failed test.
fn get_u32(buf: &[u8], at: usize) -> u32 {
    super::get_u32(buf, at).unwrap()
}

fn get_u64(buf: &[u8], at: usize) -> u64 {
    super::get_u64(buf, at).unwrap()
}

fn put_u32(buf: &mut [u8], at: usize, value: u32) {
    put(buf, &[(at, "test", &value.to_ne_bytes())]).unwrap();
}

fn put_u64(buf: &mut [u8], at: usize, value: u64) {
    put(buf, &[(at, "test", &value.to_ne_bytes())]).unwrap();
}

#[test]
fn header_layout_matches_the_kernel() {
    assert_eq!(HEADER_SIZE, 312);
    assert_eq!(offset_of!(Header, version), 0);
    assert_eq!(offset_of!(Header, data_size), 12);
    assert_eq!(offset_of!(Header, data_start), 16);
    assert_eq!(offset_of!(Header, target_count), 20);
    assert_eq!(offset_of!(Header, open_count), 24);
    assert_eq!(offset_of!(Header, flags), 28);
    assert_eq!(offset_of!(Header, event_nr), 32);
    assert_eq!(offset_of!(Header, padding), 36);
    assert_eq!(offset_of!(Header, dev), 40);
    assert_eq!(offset_of!(Header, name), 48);
    assert_eq!(offset_of!(Header, uuid), 176);
    assert_eq!(offset_of!(Header, data), 305);
}

#[test]
fn target_spec_layout_matches_the_kernel() {
    assert_eq!(SPEC_SIZE, 40);
    assert_eq!(offset_of!(TargetSpec, sector_start), 0);
    assert_eq!(offset_of!(TargetSpec, length), 8);
    assert_eq!(offset_of!(TargetSpec, status), 16);
    assert_eq!(offset_of!(TargetSpec, next), 20);
    assert_eq!(offset_of!(TargetSpec, target_type), 24);
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "arm"))]
#[test]
fn request_numbers() {
    // _IOWR(0xfd, nr, struct dm_ioctl) with the generic ioctl encoding.
    assert_eq!(Command::Version.request() as u32, 0xc138_fd00);
    assert_eq!(Command::DevCreate.request() as u32, 0xc138_fd03);
    assert_eq!(Command::DevRemove.request() as u32, 0xc138_fd04);
    assert_eq!(Command::DevSuspend.request() as u32, 0xc138_fd06);
    assert_eq!(Command::DevStatus.request() as u32, 0xc138_fd07);
    assert_eq!(Command::TableLoad.request() as u32, 0xc138_fd09);
    assert_eq!(Command::TableStatus.request() as u32, 0xc138_fd0c);
}

#[test]
fn plain_request_is_a_bare_header() {
    let buf = Request {
        name: "northstar-hello-0.0.1",
        uuid: "NORTHSTAR-hello",
        flags: DEFERRED_REMOVE,
        targets: &[],
    }
    .encode()
    .unwrap();
    assert_eq!(buf.len(), HEADER_SIZE);
    assert_eq!(get_u32(&buf, 0), 4, "version major");
    assert_eq!((get_u32(&buf, 4), get_u32(&buf, 8)), (0, 0), "minor, patch");
    assert_eq!(get_u32(&buf, 12), 312, "data_size");
    assert_eq!(get_u32(&buf, 16), 312, "data_start");
    assert_eq!(get_u32(&buf, 20), 0, "target_count");
    assert_eq!(get_u32(&buf, 28), 1 << 17, "flags");
    assert_eq!(&buf[48..69], b"northstar-hello-0.0.1");
    assert!(buf[69..176].iter().all(|b| *b == 0), "name NUL-padded");
    assert_eq!(&buf[176..191], b"NORTHSTAR-hello");
    assert!(buf[191..312].iter().all(|b| *b == 0), "uuid NUL-padded");
}

#[test]
fn name_limits() {
    let ok = "n".repeat(127);
    assert!(validate_name(&ok).is_ok());
    let long = "n".repeat(128);
    let e = validate_name(&long).unwrap_err();
    assert!(matches!(e, Error::NameTooLong { len: 128, .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("is 128 bytes, the limit is 127 bytes"),
        "{e}"
    );
    assert!(matches!(validate_name(""), Err(Error::EmptyName)));
    for bad in ["a/b", "a\0b", ".", "..", "control"] {
        assert!(
            matches!(validate_name(bad), Err(Error::InvalidName(_))),
            "{bad:?}"
        );
    }
    let request = Request {
        name: &long,
        ..Request::default()
    };
    assert!(matches!(request.encode(), Err(Error::NameTooLong { .. })));
}

#[test]
fn uuid_limits() {
    let ok = "u".repeat(128);
    let request = Request {
        name: "x",
        uuid: &ok,
        ..Request::default()
    };
    let buf = request.encode().unwrap();
    assert_eq!(buf[176 + 127], b'u');
    assert_eq!(buf[176 + 128], 0, "terminating NUL stays");
    let long = "u".repeat(129);
    let request = Request {
        name: "x",
        uuid: &long,
        ..Request::default()
    };
    let e = request.encode().unwrap_err();
    assert!(matches!(e, Error::UuidTooLong { len: 129, .. }), "{e:?}");
    assert!(e.to_string().contains("the limit is 128 bytes"), "{e}");
}

#[test]
fn target_type_limits() {
    let target = |kind: &str| Target {
        start: 0,
        length: 8,
        kind: kind.into(),
        params: String::new(),
    };
    for bad in ["", "0123456789abcdef", "a\0"] {
        let targets = [target(bad)];
        let request = Request {
            name: "x",
            targets: &targets,
            ..Request::default()
        };
        assert!(
            matches!(request.encode(), Err(Error::TargetType(_))),
            "{bad:?}"
        );
    }
    let targets = [target("0123456789abcde")];
    let request = Request {
        name: "x",
        targets: &targets,
        ..Request::default()
    };
    assert!(request.encode().is_ok(), "15 bytes fit");
}

#[test]
fn verity_table_encoding() {
    let params = "1 /dev/loop3 /dev/loop3 4096 4096 10 11 sha256 \
                  00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff \
                  5ea1ed5a17c0ffee5ea1ed5a17c0ffee5ea1ed5a17c0ffee5ea1ed5a17c0ffee";
    let targets = [Target {
        start: 0,
        length: 80,
        kind: "verity".into(),
        params: params.into(),
    }];
    let buf = Request {
        name: "northstar-x-1.0.0",
        flags: READONLY_FLAG,
        targets: &targets,
        ..Request::default()
    }
    .encode()
    .unwrap();
    let next = (40 + params.len() + 1).div_ceil(8) * 8;
    assert_eq!(buf.len(), 312 + next);
    assert_eq!(get_u32(&buf, 12) as usize, buf.len(), "data_size");
    assert_eq!(get_u32(&buf, 20), 1, "target_count");
    assert_eq!(get_u32(&buf, 28), 1, "read-only flag");
    assert_eq!(get_u64(&buf, 312), 0, "sector_start");
    assert_eq!(get_u64(&buf, 320), 80, "length");
    assert_eq!(get_u32(&buf, 328), 0, "status");
    assert_eq!(get_u32(&buf, 332) as usize, next, "next");
    assert_eq!(&buf[336..342], b"verity");
    assert!(buf[342..352].iter().all(|b| *b == 0));
    assert_eq!(&buf[352..352 + params.len()], params.as_bytes());
    assert!(
        buf[352 + params.len()..].iter().all(|b| *b == 0),
        "NUL and padding"
    );
    assert_eq!(walk(&buf), targets);
}

#[test]
fn next_is_aligned_for_every_parameter_length() {
    for len in 0..24 {
        let targets: Vec<Target> = (0..3)
            .map(|i| Target {
                start: i * 8,
                length: 8,
                kind: "linear".into(),
                params: "p".repeat(len),
            })
            .collect();
        let buf = Request {
            name: "x",
            targets: &targets,
            ..Request::default()
        }
        .encode()
        .unwrap();
        let mut at = 312;
        for _ in 0..3 {
            let next = get_u32(&buf, at + 20) as usize;
            assert_eq!(next % 8, 0, "params of {len} bytes");
            assert!(next > 40 + len, "room for the NUL");
            at += next;
        }
        assert_eq!(at, buf.len());
        assert_eq!(walk(&buf), targets);
    }
}

#[test]
fn reply_decoding() {
    let mut buf = Request {
        name: "x",
        ..Request::default()
    }
    .encode()
    .unwrap();
    put_u32(&mut buf, 4, 48);
    put_u32(&mut buf, 24, 2);
    put_u32(&mut buf, 28, ACTIVE_PRESENT_FLAG);
    // new_encode_dev(253, 300): minor low byte, major, minor high bits above bit 20.
    put_u64(
        &mut buf,
        40,
        (300 & 0xff) | (253 << 8) | ((300 & !0xff) << 12),
    );
    let reply = Reply::decode(&buf).unwrap();
    assert_eq!(reply.version, [4, 48, 0]);
    assert_eq!(reply.open_count, 2);
    assert_eq!(reply.flags, ACTIVE_PRESENT_FLAG);
    assert_eq!(reply.major_minor(), (253, 300));
    assert_eq!(decode_dev(0xfd00), (253, 0));
    assert!(Reply::decode(&buf[..311]).is_none());
}

#[test]
fn calls_validate_before_the_ioctl() {
    // An fd that is not device-mapper: validation errors come first, without an ioctl.
    let file = std::fs::File::open("/dev/null").unwrap();
    use std::os::fd::AsFd;
    let fd = file.as_fd();
    assert!(matches!(create(fd, "", ""), Err(Error::EmptyName)));
    assert!(matches!(
        load_table(fd, "x", &[], true),
        Err(Error::NoTargets)
    ));
    let e = version(fd).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENOTTY), "{e}");
    assert!(e.to_string().starts_with("DM_VERSION: "), "{e}");
}

/// Read the targets of a table-load buffer as the kernel does: the first spec at
/// data_start, each `next` relative to the spec it is in, parameters up to their NUL,
/// nothing beyond data_size.
fn walk(buf: &[u8]) -> Vec<Target> {
    let size = get_u32(buf, 12) as usize;
    assert_eq!(size, buf.len());
    let count = get_u32(buf, 20) as usize;
    let mut at = get_u32(buf, 16) as usize;
    let mut targets = Vec::new();
    for _ in 0..count {
        assert_eq!(at % 8, 0, "spec aligned");
        assert!(at + 40 <= size);
        let kind = &buf[at + 24..at + 40];
        let kind_len = kind.iter().position(|b| *b == 0).unwrap();
        let params = &buf[at + 40..size];
        let params_len = params.iter().position(|b| *b == 0).unwrap();
        targets.push(Target {
            start: get_u64(buf, at),
            length: get_u64(buf, at + 8),
            kind: String::from_utf8(kind[..kind_len].to_vec()).unwrap(),
            params: String::from_utf8(params[..params_len].to_vec()).unwrap(),
        });
        at += get_u32(buf, at + 20) as usize;
    }
    targets
}

proptest! {
    #[test]
    fn tables_round_trip(
        specs in proptest::collection::vec(
            (any::<u64>(), any::<u64>(), "[a-z-]{1,15}", "[ -~]{0,300}"),
            1..6,
        ),
        read_only in any::<bool>(),
    ) {
        let targets: Vec<Target> = specs
            .into_iter()
            .map(|(start, length, kind, params)| Target { start, length, kind, params })
            .collect();
        let buf = Request {
            name: "prop",
            flags: if read_only { READONLY_FLAG } else { 0 },
            targets: &targets,
            ..Request::default()
        }
        .encode()
        .unwrap();
        prop_assert_eq!(walk(&buf), targets.clone());
        prop_assert_eq!(get_u32(&buf, 20) as usize, targets.len());
        prop_assert_eq!(get_u32(&buf, 28) & READONLY_FLAG != 0, read_only);
    }
}
