//! Unit tests of the manifest module (the integration tests are in npk/tests/manifest*.rs).

use super::*;

const MINIMAL: &str = "name: a\nversion: 0.1.0\nuid: 1\ngid: 1\n";

#[test]
fn minimal_resource_container() {
    let m = Manifest::from_yaml_str(MINIMAL).unwrap();
    assert!(m.is_resource());
    assert!(!m.needs_dev());
    assert_eq!(m.to_yaml().unwrap(), MINIMAL);
    assert_eq!(MINIMAL.parse::<Manifest>().unwrap(), m);
}

#[test]
fn needs_dev_and_mount_points() {
    let text =
        format!("{MINIMAL}init: /x\nmounts:\n  /dev:\n    type: dev\n  /a/b/:\n    type: proc\n");
    let m = Manifest::from_yaml_str(&text).unwrap();
    assert!(m.needs_dev());
    let points: Vec<_> = m.mount_points().collect();
    assert_eq!(points, [Path::new("/a/b"), Path::new("/dev")]);
}

#[test]
fn newtypes_validate_on_construction() {
    assert!(Name::new("a-b.c_1").is_ok());
    assert!(Name::new("a b").is_err());
    assert!(Name::new(&"a".repeat(MAX_NAME_LEN + 1)).is_err());
    assert_eq!(Version::new_from_str("1.2.3").unwrap().to_string(), "1.2.3");
    assert!(Version::new_from_str("1.2.3+build").is_err());
    assert_eq!(MountPoint::new("/a/b/").unwrap().to_string(), "/a/b");
    assert!(MountPoint::new("/a//b").is_err());
    assert!(MountPoint::new("/a\0").is_err());
    assert_eq!(AbsPath::new("/").unwrap().to_string(), "/");
    assert!(Capability::new("CAP_SYS_ADMIN").is_ok());
    assert!(Capability::new("CAP_SYS_MKNOD").is_err());
    assert!(SyscallName::new("openat").is_ok());
    assert!(SyscallName::new("OPENAT").is_err());
}

#[test]
fn data_lists_are_complete() {
    assert_eq!(known_capabilities().len(), 41);
    assert!(known_capabilities().contains("CAP_CHECKPOINT_RESTORE"));
    // x86_64-only, arm-only and common names.
    for name in [
        "arch_prctl",
        "_llseek",
        "openat",
        "clone3",
        "io_uring_setup",
    ] {
        assert!(known_syscalls().contains(name), "{name}");
    }
    assert!(known_syscalls().len() > 400);
}

#[test]
fn permissions_full_is_written_as_full() {
    let text = format!("{MINIMAL}init: /x\nconsole:\n  permissions: full\n");
    let yaml = Manifest::from_yaml_str(&text).unwrap().to_yaml().unwrap();
    assert!(yaml.contains("console:\n  permissions: full\n"), "{yaml}");
}

#[test]
fn blkio_device_lists_are_always_written() {
    let text = format!("{MINIMAL}init: /x\ncgroups:\n  blkio:\n    weight: 100\n");
    let yaml = Manifest::from_yaml_str(&text).unwrap().to_yaml().unwrap();
    assert!(yaml.contains("    weight_device: []\n"), "{yaml}");
}

#[test]
fn custom_takes_plain_yaml_only() {
    let m = Manifest::from_yaml_str(&format!("{MINIMAL}custom: {{ a: [1, x] }}\n")).unwrap();
    assert_eq!(m.custom["a"][1], "x");
    assert!(Manifest::from_yaml_str(&format!("{MINIMAL}custom: !tag 1\n")).is_err());
}

#[test]
fn console_limits_are_bounded() {
    use super::validate::limits::{MAX_NPK_STREAM_TIMEOUT, MAX_REQUESTS_PER_SEC, MAX_REQUEST_SIZE};
    let with = |field: &str, value: u64| {
        Manifest::from_yaml_str(&format!(
            "{MINIMAL}init: /x\nconsole:\n  permissions: [list]\n  {field}: {value}\n"
        ))
    };
    for (field, max) in [
        ("npk_stream_timeout", MAX_NPK_STREAM_TIMEOUT),
        ("max_request_size", MAX_REQUEST_SIZE),
        ("max_requests_per_sec", MAX_REQUESTS_PER_SEC),
    ] {
        assert!(with(field, max).is_ok(), "{field} at {max}");
        let e = with(field, max + 1).unwrap_err();
        assert_eq!(e.field(), Some(format!("console.{field}").as_str()), "{e}");
        assert_eq!(e.line(), Some(8), "{e}");
        assert!(e.to_string().contains(&format!("at most {max}")), "{e}");
        let e = with(field, u64::MAX).unwrap_err();
        assert_eq!(e.field(), Some(format!("console.{field}").as_str()), "{e}");
    }
}

#[test]
fn watchdog_is_bounded_and_needs_a_sockets_mount() {
    use super::validate::limits::{MAX_WATCHDOG_MS, MIN_WATCHDOG_MS};
    let sockets = "mounts:\n  /run/sockets:\n    type: sockets\n";
    let with = |interval: u64, mounts: &str| {
        Manifest::from_yaml_str(&format!(
            "{MINIMAL}init: /x\n{mounts}watchdog:\n  interval_ms: {interval}\n"
        ))
    };
    for ok in [MIN_WATCHDOG_MS, 10_000, MAX_WATCHDOG_MS] {
        let m = with(ok, sockets).unwrap();
        assert_eq!(m.watchdog, Some(Watchdog { interval_ms: ok }));
        assert_eq!(Manifest::from_yaml_str(&m.to_yaml().unwrap()).unwrap(), m);
    }
    for bad in [0, MIN_WATCHDOG_MS - 1, MAX_WATCHDOG_MS + 1, u64::MAX] {
        let e = with(bad, sockets).unwrap_err();
        assert_eq!(e.field(), Some("watchdog.interval_ms"), "{e}");
    }
    let e = with(10_000, "").unwrap_err();
    assert_eq!(e.field(), Some("watchdog"), "{e}");
    assert!(e.to_string().contains("sockets"), "{e}");
    let e =
        Manifest::from_yaml_str(&format!("{MINIMAL}watchdog:\n  interval_ms: 1000\n")).unwrap_err();
    assert_eq!(e.field(), Some("watchdog"), "{e}");
    // A sockets mount without sockets: the directory holds only the notify socket.
    assert!(Manifest::from_yaml_str(&format!("{MINIMAL}init: /x\n{sockets}")).is_ok());
}
