use std::path::Path;

use proptest::prelude::*;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Env {
    pairs.iter().copied().collect()
}

fn file_config(dir: &Path, redundant: bool) -> Config {
    let path = dir.join("env.img");
    std::fs::write(&path, vec![0u8; 0x10000]).unwrap();
    Config {
        primary: Location {
            path: path.clone(),
            offset: 0x2000,
            size: 0x1000,
        },
        redundant: redundant.then_some(Location {
            path,
            offset: 0x8000,
            size: 0x1000,
        }),
    }
}

#[test]
fn encodes_with_zero_padding() {
    // CRC32 (zlib's) of b"foo=bar\0\0" and zeros up to 0x2000 - 4 bytes, little endian.
    let image = encode(&env(&[("foo", "bar")]), 0x2000, None, Path::new("x"), 0).unwrap();
    assert_eq!(image.len(), 0x2000);
    assert_eq!(&image[..4], &[0xcf, 0xe4, 0xa2, 0xfd]);
    assert_eq!(&image[4..13], b"foo=bar\0\0");
    assert!(image[13..].iter().all(|&b| b == 0));
}

#[test]
fn encodes_sorted_with_flags() {
    let image = encode(
        &env(&[("b", "2"), ("a", "1")]),
        64,
        Some(7),
        Path::new("x"),
        0,
    )
    .unwrap();
    assert_eq!(image[4], 7);
    assert_eq!(&image[5..14], b"a=1\0b=2\0\0");
    let (stored, computed) = codec::crc(&image, 5);
    assert_eq!(stored, computed);
}

#[test]
fn too_large_and_invalid_names_are_errors() {
    let big = env(&[("a", "0123456789")]);
    // 4 header + "a=0123456789\0\0" (14) = 18 bytes needed.
    assert!(encode(&big, 18, None, Path::new("x"), 0).is_ok());
    let err = encode(&big, 17, None, Path::new("dev"), 0x40).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooLarge {
                needed: 14,
                available: 13,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("dev"));
    assert!(matches!(
        encode(&env(&[("a=b", "1")]), 64, None, Path::new("x"), 0),
        Err(Error::Name { .. })
    ));
    assert!(matches!(
        encode(&env(&[("a", "1\0")]), 64, None, Path::new("x"), 0),
        Err(Error::Value { .. })
    ));
}

#[test]
fn decode_rejects_garbage_with_offset() {
    let p = Path::new("dev");
    let err = decode(b"a=1\0a=2\0\0", p, 100).unwrap_err();
    assert!(matches!(err, Error::Duplicate { offset: 104, .. }), "{err}");
    assert!(err.to_string().contains("0x68"), "{err}");
    let err = decode(b"a=1\0junk\0\0", p, 0).unwrap_err();
    assert!(matches!(err, Error::Entry { offset: 4, .. }), "{err}");
    let err = decode(b"=1\0\0", p, 0).unwrap_err();
    assert!(matches!(err, Error::Entry { offset: 0, .. }), "{err}");
    let err = decode(b"a=1\0b=2", p, 0).unwrap_err();
    assert!(matches!(err, Error::Entry { offset: 4, .. }), "{err}");
    let err = decode(b"a=1\0", p, 0).unwrap_err();
    assert!(matches!(err, Error::Entry { offset: 4, .. }), "{err}");
    let err = decode(b"a=\xff\0\0", p, 0).unwrap_err();
    assert!(matches!(err, Error::Entry { offset: 0, .. }), "{err}");
    // Padding after the terminator is ignored, whatever it holds.
    let ok = decode(b"a=1\0\0\xff\xffgarbage", p, 0).unwrap();
    assert_eq!(ok, env(&[("a", "1")]));
    assert_eq!(decode(b"\0", p, 0).unwrap(), Env::new());
}

#[test]
fn flag_order_wraps_only_from_255_to_0() {
    assert!(newer(1, 0));
    assert!(!newer(0, 1));
    assert!(newer(0, 255));
    assert!(!newer(255, 0));
    assert!(newer(255, 1));
    assert!(!newer(5, 5));
}

#[test]
fn parses_fw_env_config() {
    let text = "# comment\n\n/dev/mmcblk0p2 0x4000 0x4000   # primary\n/dev/mmcblk0p2\t32768 0X4000 0x200 2\n";
    let config = parse_fw_env_config(text).unwrap();
    assert_eq!(config.primary.path, Path::new("/dev/mmcblk0p2"));
    assert_eq!(config.primary.offset, 0x4000);
    assert_eq!(config.primary.size, 0x4000);
    let redundant = config.redundant.unwrap();
    assert_eq!(redundant.offset, 0x8000);
    let single = parse_fw_env_config("/boot/uboot.env 0 0x2000\n").unwrap();
    assert!(single.redundant.is_none());
    let err = parse_fw_env_config("a 0x10\n").unwrap_err();
    assert!(matches!(err, Error::Config { line: 1, .. }), "{err}");
    let err = parse_fw_env_config("\na -1 0x10\n").unwrap_err();
    assert!(matches!(err, Error::Config { line: 2, .. }), "{err}");
    assert!(parse_fw_env_config("# nothing\n").is_err());
    assert!(parse_fw_env_config("a 0 16\na 16 32\n").is_err());
    assert!(parse_fw_env_config("a 0 16\na 16 16\na 32 16\n").is_err());
}

#[test]
fn mtd_is_rejected() {
    let config = Config {
        primary: Location {
            path: "/dev/mtd3".into(),
            offset: 0,
            size: 0x1000,
        },
        redundant: None,
    };
    assert!(matches!(read(&config), Err(Error::Unsupported { .. })));
    assert!(matches!(
        write(&config, &Env::new()),
        Err(Error::Unsupported { .. })
    ));
}

#[test]
fn single_copy_round_trip_and_crc_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = file_config(dir.path(), false);
    assert!(matches!(
        read(&config),
        Err(Error::Crc { offset: 0x2000, .. })
    ));
    let vars = env(&[("bootcmd", "run x"), ("a", "")]);
    write(&config, &vars).unwrap();
    assert_eq!(read(&config).unwrap(), vars.sorted());
    let bytes = std::fs::read(&config.primary.path).unwrap();
    assert!(bytes[..0x2000].iter().all(|&b| b == 0));
    assert!(bytes[0x3000..].iter().all(|&b| b == 0));
    assert_eq!(bytes.len(), 0x10000);
}

#[test]
fn read_is_bounded_by_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = file_config(dir.path(), false);
    config.primary.offset = 0xf800;
    assert!(matches!(read(&config), Err(Error::Read { .. })));
    config.primary.size = MAX_SIZE + 1;
    assert!(matches!(read(&config), Err(Error::Size { .. })));
}

#[test]
fn redundant_writes_alternate_and_survive_interruption() {
    let dir = tempfile::tempdir().unwrap();
    let config = file_config(dir.path(), true);
    assert!(matches!(read(&config), Err(Error::NoValidCopy { .. })));
    // Neither valid: the redundant copy gets the primary's flags + 1.
    write(&config, &env(&[("v", "1")])).unwrap();
    let loaded = load(&config).unwrap();
    assert_eq!((loaded.copy, loaded.flags), (Copy::Redundant, Some(1)));
    write(&config, &env(&[("v", "2")])).unwrap();
    let loaded = load(&config).unwrap();
    assert_eq!((loaded.copy, loaded.flags), (Copy::Primary, Some(2)));
    assert_eq!(loaded.env, env(&[("v", "2")]));
    // A power cut while writing the next copy leaves it with a bad crc: old values stay.
    write(&config, &env(&[("v", "3")])).unwrap();
    let path = &config.primary.path;
    let mut bytes = std::fs::read(path).unwrap();
    bytes[0x8000 + 10] ^= 0xff;
    std::fs::write(path, &bytes).unwrap();
    let loaded = load(&config).unwrap();
    assert_eq!(
        (loaded.copy, loaded.env),
        (Copy::Primary, env(&[("v", "2")]))
    );
    // The next write goes to the broken copy again, not over the good one.
    write(&config, &env(&[("v", "4")])).unwrap();
    let loaded = load(&config).unwrap();
    assert_eq!((loaded.copy, loaded.flags), (Copy::Redundant, Some(3)));
}

#[test]
fn redundant_flags_wrap_around() {
    let dir = tempfile::tempdir().unwrap();
    let config = file_config(dir.path(), true);
    let path = &config.primary.path;
    let mut bytes = std::fs::read(path).unwrap();
    let old = encode(&env(&[("v", "old")]), 0x1000, Some(255), path, 0).unwrap();
    let new = encode(&env(&[("v", "new")]), 0x1000, Some(0), path, 0).unwrap();
    bytes[0x2000..0x3000].copy_from_slice(&old);
    bytes[0x8000..0x9000].copy_from_slice(&new);
    std::fs::write(path, &bytes).unwrap();
    let loaded = load(&config).unwrap();
    assert_eq!(loaded.env.get("v"), Some("new"));
    write(&config, &env(&[("v", "next")])).unwrap();
    let loaded = load(&config).unwrap();
    assert_eq!((loaded.copy, loaded.flags), (Copy::Primary, Some(1)));
    assert_eq!(loaded.env.get("v"), Some("next"));
}

fn arb_env() -> impl Strategy<Value = Env> {
    proptest::collection::btree_map("[A-Za-z0-9_.]{1,12}", "[^\u{0}]{0,24}", 0..12)
        .prop_map(|map| map.into_iter().collect())
}

proptest! {
    #[test]
    fn encode_decode_round_trip(vars in arb_env(), flags in proptest::option::of(any::<u8>())) {
        let image = encode(&vars, 2048, flags, Path::new("x"), 0).unwrap();
        let header = if flags.is_some() { 5 } else { 4 };
        let (stored, computed) = codec::crc(&image, header);
        prop_assert_eq!(stored, computed);
        prop_assert_eq!(decode(&image[header..], Path::new("x"), 0).unwrap(), vars.sorted());
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes, Path::new("x"), 0);
    }
}
