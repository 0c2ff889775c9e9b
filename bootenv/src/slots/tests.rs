use super::*;
use crate::uboot::{Config, Location};

fn ab() -> Vec<Bootname> {
    vec![Bootname::new("A").unwrap(), Bootname::new("B").unwrap()]
}

fn env(pairs: &[(&str, &str)]) -> Env {
    pairs.iter().copied().collect()
}

fn b(name: &str) -> Bootname {
    Bootname::new(name).unwrap()
}

#[test]
fn bootnames_are_validated() {
    assert!(Bootname::new("A").is_ok());
    assert!(Bootname::new("system0").is_ok());
    for bad in [
        "",
        "A B",
        "A_",
        "a=b",
        "Ä",
        "x".repeat(MAX_BOOTNAME + 1).as_str(),
    ] {
        assert!(
            matches!(Bootname::new(bad), Err(Error::Bootname(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(known(&ab(), "C"), Err(Error::UnknownSlot(_))));
    assert!(matches!(known(&ab(), "A;B"), Err(Error::Bootname(_))));
}

#[test]
fn uboot_primary_skips_slots_without_attempts() {
    let mut e = env(&[
        ("BOOT_ORDER", "A B"),
        ("BOOT_A_LEFT", "3"),
        ("BOOT_B_LEFT", "3"),
    ]);
    assert_eq!(uboot::primary(&e, &ab()).unwrap(), b("A"));
    e.set("BOOT_A_LEFT", "0");
    assert_eq!(uboot::primary(&e, &ab()).unwrap(), b("B"));
    e.set("BOOT_B_LEFT", "0");
    assert!(matches!(
        uboot::primary(&e, &ab()),
        Err(Error::NoPrimary { .. })
    ));
    // Hex as setexpr writes it.
    e.set("BOOT_B_LEFT", "a");
    let status = uboot::status(&e, &ab()).unwrap();
    assert_eq!(status[1].attempts_left, Some(10));
    assert!(status[1].primary && status[1].good);
    assert!(!status[0].good && !status[0].primary);
    e.set("BOOT_B_LEFT", "three");
    assert!(matches!(
        uboot::status(&e, &ab()),
        Err(Error::Invalid { .. })
    ));
}

#[test]
fn uboot_missing_variables_are_errors() {
    assert!(
        matches!(uboot::status(&Env::new(), &ab()), Err(Error::Missing(v)) if v == "BOOT_ORDER")
    );
    let e = env(&[("BOOT_ORDER", "A B"), ("BOOT_A_LEFT", "0")]);
    assert!(matches!(uboot::primary(&e, &ab()), Err(Error::Missing(v)) if v == "BOOT_B_LEFT"));
}

#[test]
fn uboot_marks_follow_rauc() {
    let mut e = env(&[
        ("BOOT_ORDER", "A B"),
        ("BOOT_A_LEFT", "1"),
        ("BOOT_B_LEFT", "3"),
    ]);
    uboot::mark_bad(&mut e, &b("A"));
    assert_eq!(e.get("BOOT_ORDER"), Some("B"));
    assert_eq!(e.get("BOOT_A_LEFT"), Some("0"));
    // Good resets the counter but does not put the slot back into the order.
    uboot::mark_good(&mut e, &b("A"), 12);
    assert_eq!(e.get("BOOT_A_LEFT"), Some("c"));
    let status = uboot::status(&e, &ab()).unwrap();
    assert!(!status[0].good);
    uboot::mark_active(&mut e, &b("A"), &ab(), 3);
    assert_eq!(e.get("BOOT_ORDER"), Some("A B"));
    assert_eq!(e.get("BOOT_A_LEFT"), Some("3"));
    assert_eq!(uboot::primary(&e, &ab()).unwrap(), b("A"));
    uboot::mark_active(&mut e, &b("B"), &ab(), 3);
    assert_eq!(e.get("BOOT_ORDER"), Some("B A"));
    // Without BOOT_ORDER, active builds it from the configured slots.
    let mut fresh = Env::new();
    uboot::mark_active(&mut fresh, &b("B"), &ab(), 3);
    assert_eq!(fresh.get("BOOT_ORDER"), Some("B A"));
    let mut fresh = Env::new();
    uboot::mark_bad(&mut fresh, &b("B"));
    assert_eq!(fresh.get("BOOT_ORDER"), None);
}

#[test]
fn grub_state_follows_rauc() {
    let mut e = env(&[
        ("ORDER", "A B"),
        ("A_OK", "1"),
        ("A_TRY", "1"),
        ("B_OK", "1"),
        ("B_TRY", "0"),
    ]);
    // A was tried and did not mark itself good: B is next.
    assert_eq!(grub::primary(&e, &ab()).unwrap(), b("B"));
    let status = grub::status(&e, &ab()).unwrap();
    assert!(!status[0].good && status[1].good && status[1].primary);
    assert_eq!(status[0].attempts_left, None);
    grub::mark_good(&mut e, &b("A"));
    assert_eq!(grub::primary(&e, &ab()).unwrap(), b("A"));
    grub::mark_bad(&mut e, &b("A"));
    assert_eq!((e.get("A_OK"), e.get("A_TRY")), (Some("0"), Some("0")));
    assert_eq!(e.get("ORDER"), Some("A B"));
    assert_eq!(grub::primary(&e, &ab()).unwrap(), b("B"));
    grub::mark_active(&mut e, &b("A"), &ab());
    assert_eq!(e.get("ORDER"), Some("A B"));
    grub::mark_active(&mut e, &b("B"), &ab());
    assert_eq!(e.get("ORDER"), Some("B A"));
    e.set("B_OK", "0x1");
    assert_eq!(grub::primary(&e, &ab()).unwrap(), b("B"));
    e.set("B_OK", "yes");
    assert!(matches!(
        grub::primary(&e, &ab()),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        grub::status(&Env::new(), &ab()),
        Err(Error::Missing(_))
    ));
}

#[test]
fn none_backend_supports_nothing() {
    let none = Backend::None;
    assert!(matches!(none.status(), Err(Error::NotSupported(_))));
    assert!(matches!(none.primary(), Err(Error::NotSupported(_))));
    assert!(matches!(none.mark_good("A"), Err(Error::NotSupported(_))));
    assert!(matches!(none.mark_bad("A"), Err(Error::NotSupported(_))));
    assert!(matches!(none.mark_active("A"), Err(Error::NotSupported(_))));
}

#[test]
fn uboot_backend_marks_with_one_write_each() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env");
    std::fs::write(&path, vec![0u8; 0x4000]).unwrap();
    let config = Config {
        primary: Location {
            path: path.clone(),
            offset: 0,
            size: 0x1000,
        },
        redundant: Some(Location {
            path,
            offset: 0x1000,
            size: 0x1000,
        }),
    };
    let initial = env(&[
        ("BOOT_ORDER", "A B"),
        ("BOOT_A_LEFT", "3"),
        ("BOOT_B_LEFT", "3"),
    ]);
    crate::uboot::write(&config, &initial).unwrap();
    let backend = Backend::UBoot {
        config: config.clone(),
        slots: ab(),
        attempts: 3,
        attempts_primary: 5,
    };
    assert_eq!(backend.primary().unwrap(), b("A"));
    let flags = |c: &Config| crate::uboot::load(c).unwrap().flags.unwrap();
    let before = flags(&config);
    backend.mark_active("B").unwrap();
    assert_eq!(flags(&config), before.wrapping_add(1));
    assert_eq!(backend.primary().unwrap(), b("B"));
    let status = backend.status().unwrap();
    assert_eq!(status[1].attempts_left, Some(5));
    backend.mark_bad("B").unwrap();
    assert_eq!(flags(&config), before.wrapping_add(2));
    assert_eq!(backend.primary().unwrap(), b("A"));
    assert!(matches!(backend.mark_good("C"), Err(Error::UnknownSlot(_))));
    assert_eq!(flags(&config), before.wrapping_add(2));
}

#[test]
fn grub_backend_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grubenv");
    crate::grub::write(
        &path,
        &env(&[("ORDER", "A B"), ("A_OK", "1"), ("A_TRY", "0")]),
    )
    .unwrap();
    let backend = Backend::Grub { path, slots: ab() };
    assert!(matches!(backend.status(), Err(Error::Missing(v)) if v == "B_OK"));
    backend.mark_active("B").unwrap();
    assert_eq!(backend.primary().unwrap(), b("B"));
    backend.mark_bad("B").unwrap();
    assert_eq!(backend.primary().unwrap(), b("A"));
    let status = backend.status().unwrap();
    assert!(status[0].good && status[0].primary && !status[1].good);
}
