//! The boards of `board-configs/`: each parses and has what the boot needs.

use super::*;
use runtime_core::config::Config;

/// The boards shipped in `board-configs/`: every board configuration parses, names its
/// directory, loads what the boot needs, and its runtime configuration and kernel
/// fragment fit it.
#[test]
fn shipped_boards() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../board-configs");
    let mut boards: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    boards.sort();
    let names: Vec<_> = boards
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["renesas-aarch64", "rpi2", "x86_64"]);
    for path in &boards {
        let name = path.file_name().unwrap().to_string_lossy();
        let b = Board::load(&path.join("board.toml"), &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.name, name);
        let modules: Vec<String> = b.modules.iter().map(|m| m.replace('-', "_")).collect();
        for needed in ["loop", "squashfs", "dm_verity", "ext4", "crc32c_generic"] {
            assert!(
                modules.iter().any(|m| m == needed),
                "{name}: {needed} missing"
            );
        }
        // The boot waits for devices, not for a module list out of order: the disk
        // driver comes before what reads from it.
        assert!(b.root.device.starts_with("/dev"), "{name}");
        let data = b
            .data
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no data partition"));
        assert!(
            data.device.starts_with("/dev") && data.device != b.root.device,
            "{name}"
        );
        assert_eq!(data.fs, "ext4", "{name}");
        let w = b
            .watchdog
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no watchdog"));
        assert_eq!(w.device, Path::new("/dev/watchdog0"), "{name}");
        assert!(
            w.timeout >= Duration::from_secs(10),
            "{name}: feeding needs room"
        );
        let driver = match &*name {
            "x86_64" => "i6300esb",
            "rpi2" => "bcm2835_wdt",
            _ => "renesas_wdt",
        };
        assert!(modules.iter().any(|m| m == driver), "{name}: {driver}");
        assert_eq!(b.runtime.config, Path::new("/etc/northstar/runtime.toml"));
        assert_ne!(
            b.reaction,
            Reaction::Hold,
            "{name}: a device in the field never holds"
        );
        // The runtime configuration: every repository on the data partition, keyed.
        let config = Config::load(&path.join("runtime.toml")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.run_dir, Path::new("/run/northstar"));
        assert_eq!(config.data_dir, Path::new("/data/northstar/persist"));
        assert!(!config.repositories.is_empty());
        for (repo, r) in &config.repositories {
            assert_eq!(r.dir, Path::new("/data/northstar/repositories").join(repo));
            assert_eq!(
                r.key.as_deref(),
                Some(Path::new("/etc/northstar/packages.pub"))
            );
        }
        // The kernel fragment has what the init, the runtime and the board's drivers need.
        let kconfig = fs::read_to_string(path.join("kernel.config")).unwrap();
        let set = |option: &str| {
            kconfig
                .lines()
                .any(|l| l == format!("{option}=y") || l == format!("{option}=m"))
        };
        for option in [
            "CONFIG_DEVTMPFS",
            "CONFIG_BLK_DEV_INITRD",
            "CONFIG_TMPFS",
            "CONFIG_BLK_DEV_LOOP",
            "CONFIG_BLK_DEV_DM",
            "CONFIG_DM_VERITY",
            "CONFIG_SQUASHFS",
            "CONFIG_SQUASHFS_XZ",
            "CONFIG_SQUASHFS_ZSTD",
            "CONFIG_EXT4_FS",
            "CONFIG_CRYPTO_CRC32C",
            "CONFIG_NAMESPACES",
            "CONFIG_UTS_NS",
            "CONFIG_IPC_NS",
            "CONFIG_PID_NS",
            "CONFIG_NET_NS",
            "CONFIG_CGROUPS",
            "CONFIG_MEMCG",
            "CONFIG_CGROUP_PIDS",
            "CONFIG_CGROUP_SCHED",
            "CONFIG_CFS_BANDWIDTH",
            "CONFIG_SECCOMP",
            "CONFIG_SECCOMP_FILTER",
            "CONFIG_VETH",
            "CONFIG_BRIDGE",
            "CONFIG_WATCHDOG",
            "CONFIG_SIGNALFD",
            "CONFIG_TIMERFD",
            "CONFIG_EVENTFD",
        ] {
            assert!(set(option), "{name}: {option} missing from kernel.config");
        }
        let (disk, watchdog, console) = match &*name {
            "x86_64" => (
                "CONFIG_VIRTIO_BLK",
                "CONFIG_I6300ESB_WDT",
                "CONFIG_SERIAL_8250_CONSOLE",
            ),
            "rpi2" => (
                "CONFIG_MMC_BCM2835",
                "CONFIG_BCM2835_WDT",
                "CONFIG_SERIAL_AMBA_PL011_CONSOLE",
            ),
            _ => (
                "CONFIG_MMC_SDHI",
                "CONFIG_RENESAS_WDT",
                "CONFIG_SERIAL_SH_SCI_CONSOLE",
            ),
        };
        for option in [disk, watchdog, console] {
            assert!(set(option), "{name}: {option} missing from kernel.config");
        }
        // A management channel needs its driver and an API socket to relay to.
        if let Some(port) = b.channel.as_ref().and_then(|c| c.port.as_ref()) {
            assert!(
                modules.iter().any(|m| m == "virtio_console"),
                "{name}: the channel needs virtio_console"
            );
            assert!(
                set("CONFIG_VIRTIO_CONSOLE"),
                "{name}: CONFIG_VIRTIO_CONSOLE"
            );
            assert!(config.api.is_some(), "{name}: a channel but no [api]");
            assert!(readme_mentions(path, port), "{name}: {port}");
        }
        let readme = fs::read_to_string(path.join("README.md")).unwrap();
        for fact in [
            data.device.to_str().unwrap(),
            b.root.device.to_str().unwrap(),
            driver,
        ] {
            assert!(
                readme.contains(fact),
                "{name}: README.md does not mention {fact}"
            );
        }
    }
}

fn readme_mentions(board: &Path, fact: &str) -> bool {
    fs::read_to_string(board.join("README.md")).is_ok_and(|r| r.contains(fact))
}

/// The x86_64 board has the management channel its QEMU machines are given.
#[test]
fn the_x86_64_board_has_a_channel() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../board-configs/x86_64");
    let b = Board::load(&dir.join("board.toml"), &[]).unwrap();
    assert_eq!(
        b.channel.unwrap().port.as_deref(),
        Some("org.northstar.api")
    );
}

/// The QEMU stand-in of the Renesas board: its documented overrides give a valid board.
#[test]
fn renesas_stand_in_overrides() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../board-configs/renesas-aarch64");
    let cmdline = crate::pid1::cmdline::Cmdline::parse(
        "console=ttyAMA0 northstar.modules=virtio_pci,virtio_blk,loop,squashfs,dm-verity,\
         crc32c_generic,ext4,i6300esb northstar.root.device=/dev/vda northstar.data.device=/dev/vdb",
    );
    let b = Board::load(&dir.join("board.toml"), &cmdline.northstar()).unwrap();
    assert_eq!(b.root.device, Path::new("/dev/vda"));
    assert_eq!(b.data.unwrap().device, Path::new("/dev/vdb"));
    assert!(b.modules.contains(&"i6300esb".to_string()));
    let readme = fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(readme.contains("northstar.root.device=/dev/vda"));
}
