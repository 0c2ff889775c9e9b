use super::slots::{self, Booted, Bootloader};
use super::*;
use crate::pid1::cmdline::Cmdline;

const AB: &str = r#"
name = "ab"
[root]
device = "/dev/unused"
[slots]
bootloader = "uboot"
healthy_after = "30s"
[[slots.slot]]
name = "A"
root = "PARTLABEL=rootfs_a"
boot = "PARTLABEL=boot_a"
[[slots.slot]]
name = "B"
root = "PARTUUID=6d1c7a4e-1f0b-4c55-9a51-0a0b0c0d0e02"
[slots.uboot]
device = "/dev/mmcblk0"
offset = 0x3f8000
size = 0x4000
redundant_offset = 0x3fc000
"#;

fn parse(text: &str, params: &[Param]) -> Result<Board, Error> {
    Board::parse(text, Path::new("/etc/northstar/board.toml"), params)
}

fn param(key: &str, value: &str) -> Param {
    Param {
        key: key.to_string(),
        value: Some(value.to_string()),
    }
}

fn booted(name: &str, origin: &'static str) -> Booted {
    Booted {
        name: name.to_string(),
        origin,
    }
}

#[test]
fn an_ab_board_parses_with_its_defaults() {
    let b = parse(AB, &[]).unwrap();
    let s = b.slots.as_ref().unwrap();
    assert_eq!(s.bootloader, Bootloader::Uboot);
    assert_eq!(s.healthy_after, Duration::from_secs(30));
    assert_eq!(s.attempts, 3);
    assert_eq!(s.slots.len(), 2);
    assert_eq!(s.slots[0].boot, Some(PathBuf::from("PARTLABEL=boot_a")));
    let env = s.uboot.as_ref().unwrap();
    assert_eq!((env.offset, env.size), (0x3f8000, 0x4000));
    assert_eq!(env.redundant_offset, Some(0x3fc000));
    assert!(!b.lockdown);
}

#[test]
fn the_booted_slot_gives_the_root_device() {
    let mut b = parse(AB, &[]).unwrap();
    b.select_slot(Some(&booted("B", slots::RAUC_SLOT))).unwrap();
    assert_eq!(
        b.root.device,
        Path::new("PARTUUID=6d1c7a4e-1f0b-4c55-9a51-0a0b0c0d0e02")
    );
    let e = b
        .select_slot(Some(&booted("C", slots::NORTHSTAR_SLOT)))
        .unwrap_err();
    assert_eq!(e.key(), Some("northstar.slot"));
    assert!(
        e.to_string()
            .contains("\"C\" is not a slot of this board (A, B)"),
        "{e}"
    );
    let e = b.select_slot(None).unwrap_err();
    assert_eq!(e.key(), Some("rauc.slot"));
    // Without [slots] a named slot changes nothing.
    let mut single = parse("name = \"x\"\n[root]\ndevice = \"/dev/vda\"\n", &[]).unwrap();
    single
        .select_slot(Some(&booted("A", slots::RAUC_SLOT)))
        .unwrap();
    assert_eq!(single.root.device, Path::new("/dev/vda"));
}

#[test]
fn rauc_slot_wins_and_lockdown_ignores_ours() {
    let both = Cmdline::parse("rauc.slot=A northstar.slot=B");
    assert_eq!(slots::booted(&both, false), Some(booted("A", "rauc.slot")));
    let ours = Cmdline::parse("console=ttyS0 northstar.slot=B");
    assert_eq!(
        slots::booted(&ours, false),
        Some(booted("B", "northstar.slot"))
    );
    assert_eq!(slots::booted(&ours, true), None);
    assert_eq!(
        slots::booted(&Cmdline::parse("rauc.slot=B"), true),
        Some(booted("B", "rauc.slot"))
    );
    assert_eq!(slots::booted(&Cmdline::parse("quiet"), false), None);
}

#[test]
fn lockdown_ignores_root_runtime_and_slot_keys() {
    let text = format!("lockdown = true\n{AB}");
    let params = [
        param("root.device", "/dev/sdb1"),
        param("root.hash", &"0".repeat(64)),
        param("runtime.config", "/tmp/evil.toml"),
        param("slot", "B"),
        param("reaction", "hold"),
    ];
    let b = parse(&text, &params).unwrap();
    assert!(b.lockdown);
    assert_eq!(b.root.device, Path::new("/dev/unused"));
    assert_eq!(b.root.hash, None);
    assert_eq!(b.runtime.config, Path::new("/etc/northstar/runtime.toml"));
    // Keys outside the root's trust are still applied.
    assert_eq!(b.reaction, Reaction::Hold);
    assert_eq!(
        b.ignored,
        [
            "northstar.root.device",
            "northstar.root.hash",
            "northstar.runtime.config",
            "northstar.slot"
        ]
    );
    // Without lockdown the same keys apply (and `slot` is no board key).
    let open = parse(AB, &params[..3]).unwrap_err();
    assert_eq!(open.key(), Some("northstar.root.hash"), "{open}");
    let b = parse(AB, &[param("root.device", "/dev/sdb1"), param("slot", "B")]).unwrap();
    assert_eq!(b.root.device, Path::new("/dev/sdb1"));
    assert!(b.ignored.is_empty());
}

#[test]
fn the_slot_rules() {
    let broken = |from: &str, to: &str| {
        assert!(AB.contains(from), "{from}");
        parse(&AB.replace(from, to), &[]).unwrap_err()
    };
    let e = broken("name = \"B\"", "name = \"A\"");
    assert_eq!(e.key(), Some("slots.slot[1].name"));
    let e = broken("name = \"B\"", "name = \"B-1\"");
    assert_eq!(e.key(), Some("slots.slot[1].name"));
    let e = broken("root = \"PARTLABEL=rootfs_a\"", "root = \"rootfs_a\"");
    assert_eq!(e.key(), Some("slots.slot[0].root"));
    let e = broken(
        "PARTUUID=6d1c7a4e-1f0b-4c55-9a51-0a0b0c0d0e02",
        "PARTLABEL=rootfs_a",
    );
    assert!(e.to_string().contains("is the root of another slot"), "{e}");
    let e = broken("PARTUUID=6d1c7a4e", "PARTUUID=zz");
    assert_eq!(e.key(), Some("slots.slot[1].root"));
    let e = broken("redundant_offset = 0x3fc000", "redundant_offset = 0x3f9000");
    assert!(e.to_string().contains("overlaps the environment"), "{e}");
    let e = broken("bootloader = \"uboot\"", "bootloader = \"grub\"");
    assert_eq!(e.key(), Some("slots.bootloader"));
    let e = broken("bootloader = \"uboot\"", "bootloader = \"lilo\"");
    assert!(e.to_string().contains("lilo"), "{e}");
    let one = AB
        .split("[[slots.slot]]\nname = \"B\"")
        .next()
        .unwrap()
        .to_string();
    let e = parse(&one, &[]).unwrap_err();
    assert!(e.to_string().contains("A/B needs 2"), "{e}");
    let grub = AB.replace("bootloader = \"uboot\"", "bootloader = \"grub\"").replace(
        "[slots.uboot]\ndevice = \"/dev/mmcblk0\"\noffset = 0x3f8000\nsize = 0x4000\nredundant_offset = 0x3fc000\n",
        "[slots.grub]\ndevice = \"PARTLABEL=efi\"\nfile = \"../grubenv\"\n",
    );
    let e = parse(&grub, &[]).unwrap_err();
    assert_eq!(e.key(), Some("slots.grub.file"));
    let grub = grub.replace("../grubenv", "EFI/BOOT/grubenv");
    let b = parse(&grub, &[]).unwrap();
    let env = b.slots.unwrap().grub.unwrap();
    assert_eq!(
        (env.fs.as_str(), env.file.as_path()),
        ("vfat", Path::new("EFI/BOOT/grubenv"))
    );
}

#[test]
fn devices_may_be_partition_names() {
    let b = parse(
        "name = \"x\"\n[root]\ndevice = \"PARTLABEL=root\"\n[data]\ndevice = \"PARTUUID=0a1b2c3d-03\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(b.root.device, Path::new("PARTLABEL=root"));
    let e = parse("name = \"x\"\n[root]\ndevice = \"vda\"\n", &[]).unwrap_err();
    assert_eq!(e.key(), Some("root.device"));
}
