//! `ab-uboot` (aarch64): A/B slot selection by a real boot loader, and a system update
//! through it. Debian's U-Boot for `virt` boots from flash, runs the boot script of
//! [`crate::uboot::script`] from the A/B disk's `boot` partition, which counts the
//! attempts in the slots' state (U-Boot's environment format, in the boot partition's
//! `uboot.env`: QEMU 7.2's flash does not take U-Boot's `saveenv`, see
//! [`crate::uboot::script`]) and names the slot on the kernel command line
//! (`rauc.slot=`); the init mounts that slot's root. The harness talks to the init's
//! management API over the virtio-serial channel ([`session`]) with update bundles signed
//! for the run ([`bundles`]).
//!
//! Boots, each a machine of its own on the same disk and flash (`-no-reboot`: the end
//! of each boot is QEMU's exit), the state copied out of the disk after each and read
//! with `fw_printenv`, the reference reader ([`machine`]):
//! 1. `BOOT_ORDER="A B"`, 3 attempts each: slot A boots (`slot: A` in the report; U-Boot
//!    leaves `BOOT_A_LEFT` 2), a container powers the machine off after the board's
//!    `healthy_after`, by when the init has marked A good: `BOOT_A_LEFT` 3 again, and
//!    `state=good` in the data partition's `northstar/slot-boot`.
//! 2. Slot B's partition is zeroed on the disk first. On A, a bundle for another board
//!    and a tampered one are refused (`system_failed` with the reason), the slots' state
//!    unchanged; after the boot B's partition is still all zeros.
//! 3. On A, the good bundle (version 2.0.0) is installed: slot B, primary. After the
//!    boot B's partition holds the root image, `BOOT_ORDER="B A"`, `BOOT_B_LEFT` 3, the
//!    record says A switched to B and the data partition's `northstar/slot-versions`
//!    `B=2.0.0`.
//! 4. U-Boot boots B, without a `previous boot:` line; a bundle of version 1.0.0 is
//!    refused as a downgrade; B is marked good.
//! 5. to 7. B's verity superblock is zeroed first. Each boot takes B (its attempts 2, 1,
//!    then 0), the init's root step fails, the board's reaction reboots.
//! 8. B has no attempt left, U-Boot boots A, whose report says that the boot loader
//!    booted A instead of B, the last good one; the status shows B bad; A is marked
//!    good.

mod bundles;
mod images;
mod machine;
mod session;

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Error, Options, Outcome, Scenario, Shared};
use crate::image::root::RootDescriptor;
use crate::qemu::channel;
use crate::uboot::{self, disk, env::Env};
use machine::{Ends, Expect};

/// The slots and their root partitions (GPT names).
const SLOTS: [(&str, &str); 2] = [("A", "rootfs_a"), ("B", "rootfs_b")];
/// Attempts per slot (RAUC's default).
const ATTEMPTS: u32 = 3;
/// The stand-in's modules: its virtio disk and the management channel's virtio-serial
/// port, the root's and data's file systems, and the boot partition's FAT with the
/// character sets Debian's kernel mounts it with (`CONFIG_FAT_DEFAULT_CODEPAGE` 437,
/// `CONFIG_FAT_DEFAULT_IOCHARSET` "ascii"; with no `modprobe` in the machine nothing
/// loads them on demand). (Debian's arm64 kernel has no CFI flash driver,
/// `CONFIG_MTD_PHYSMAP` and `CONFIG_MTD_CFI` are off: Linux cannot see the flash holding
/// U-Boot's own environment.)
const MODULES: [&str; 11] = [
    "virtio_pci",
    "virtio_blk",
    "virtio_console",
    "loop",
    "squashfs",
    "dm-verity",
    "crc32c_generic",
    "ext4",
    "vfat",
    "nls_cp437",
    "nls_ascii",
];
/// The container that powers the machine off once the booted slot is marked good.
const POWEROFF: &str = "poweroff";
const POWEROFF_VERSION: &str = "0.0.1";
/// The board's `slots.healthy_after`, counted from the runtime's start.
const HEALTHY_AFTER: &str = "2s";
/// How long `poweroff` runs before it asks for the power-off, in seconds: past
/// [`HEALTHY_AFTER`], with room for the mark's FAT mount and write on a loaded host.
const POWEROFF_AFTER: &str = "8";
/// How the report's line on the previous boot begins after a fall back from `B` to `A`.
const FELL_BACK: &str = "the boot loader booted slot A instead of B, the last good one";
/// What the host's connection over the channel may do (the grant of uid 0, whose
/// connection the init relays): `system_update` is only ever granted by name.
const GRANTS: [&str; 5] = ["list", "stop", "shutdown", "system_status", "system_update"];
/// U-Boot's addresses on `virt` (RAM from 0x40000000, 512 MiB): the script, the kernel
/// (32 MiB here), the initramfs above it, the slots' state above that.
const SCRIPT_ADDR: &str = "0x40200000";
const KERNEL_ADDR: &str = "0x40400000";
const RAMDISK_ADDR: &str = "0x48000000";
const STATE_ADDR: &str = "0x4c000000";
/// The file of the boot partition holding the slots' variables ([`uboot::script`]).
const STATE: &str = "uboot.env";

/// The scenario's files.
struct Images {
    disk: disk::Disk,
    flash: uboot::Flash,
    descriptor: RootDescriptor,
    /// The root image in both slots and in the bundles.
    root: PathBuf,
    bundles: bundles::Bundles,
}

/// Runs the scenario in `dir`.
pub(super) fn run(shared: &Shared, dir: &Path, options: &Options) -> Result<Outcome, Error> {
    let images = images::build(shared, dir, options)?;
    let mut run = Run {
        shared,
        images: &images,
        dir,
        options,
        n: 0,
        notes: Vec::new(),
        problems: Vec::new(),
        machine: Duration::ZERO,
    };
    let good: &[&str] = &["slot=A", "state=good"];
    let a = |left: [u32; 2], order, previous, record: &'static [&'static str], versions| Expect {
        slot: "A",
        healthy: true,
        order,
        left,
        previous,
        record,
        versions,
    };
    let installed = Some(format!("B={}\n", bundles::VERSION));
    let installed = installed.as_deref();

    // U-Boot takes one of A's attempts, the init gives them back when it marks A good.
    run.boot(Ends::Poweroff, &a([3, 3], "A B", None, good, None))?;

    // The update: slot B zeroed first, so that only an install can fill it.
    let b = images
        .disk
        .partition(SLOTS[1].1)
        .map_err(uboot::Error::from)?;
    disk::overwrite(&images.disk.path, b.start, &vec![0u8; b.size as usize])
        .map_err(uboot::Error::from)?;
    run.notes.push(format!(
        "slot B's partition zeroed ({} bytes at byte {} of the disk)",
        b.size, b.start
    ));
    let refusals =
        &mut |c: &mut _, n: &mut _, p: &mut _| session::refusals(c, &images.bundles, n, p);
    run.boot(Ends::Managed(refusals), &a([3, 3], "A B", None, good, None))?;
    run.slot_b("after the refusals", false)?;
    let install = &mut |c: &mut _, n: &mut _, p: &mut _| session::install(c, &images.bundles, n, p);
    let switched: &[&str] = &["slot=A", "state=switched", "to=B"];
    run.boot(
        Ends::Managed(install),
        &a([3, 3], "B A", None, switched, installed),
    )?;
    run.slot_b("after the install", true)?;
    let downgrade =
        &mut |c: &mut _, n: &mut _, p: &mut _| session::downgrade(c, &images.bundles, n, p);
    let b_good: &[&str] = &["slot=B", "state=good"];
    let on_b = |left: [u32; 2], healthy, record: &'static [&'static str]| Expect {
        slot: "B",
        healthy,
        order: "B A",
        left,
        previous: None,
        record,
        versions: if healthy { installed } else { None },
    };
    run.boot(Ends::Managed(downgrade), &on_b([3, 3], true, b_good))?;

    // Slot B goes bad: its verity superblock is zeroed on the disk.
    let at = b.start + images.descriptor.hash_offset();
    disk::overwrite(&images.disk.path, at, &[0u8; 512]).map_err(uboot::Error::from)?;
    run.notes.push(format!(
        "slot B's verity superblock zeroed at byte {at} of the disk"
    ));
    // Each failed boot of B costs one of its attempts; none reaches the data partition.
    for left in (0..ATTEMPTS).rev() {
        run.boot(Ends::RootRefused, &on_b([3, left], false, &[]))?;
    }
    let fell_back = &mut |c: &mut _, n: &mut _, p: &mut _| session::fell_back(c, n, p);
    let on_a = a([3, 0], "B A", Some(FELL_BACK), good, installed);
    run.boot(Ends::Managed(fell_back), &on_a)?;
    Ok(Outcome {
        scenario: Scenario::AbUboot,
        log: dir.join(format!("console-{}.log", run.n)),
        notes: run.notes,
        problems: run.problems,
        machine: run.machine,
    })
}

/// The boots of one run and what they showed.
struct Run<'a> {
    shared: &'a Shared,
    images: &'a Images,
    dir: &'a Path,
    options: &'a Options,
    /// The last boot's number.
    n: u32,
    notes: Vec<String>,
    problems: Vec<String>,
    machine: Duration,
}

impl Run<'_> {
    /// The next boot, ending as `ends` says, checked against `want`.
    fn boot(&mut self, ends: Ends<'_>, want: &Expect<'_>) -> Result<(), Error> {
        self.n += 1;
        let booted = machine::boot(
            self.shared,
            self.images,
            self.dir,
            self.n,
            ends,
            self.options,
        )?;
        self.machine += booted.machine;
        machine::check(self.n, &booted, want, &mut self.notes, &mut self.problems);
        Ok(())
    }

    /// Slot B's partition holds the root image (`installed`) or only zeros.
    fn slot_b(&mut self, when: &str, installed: bool) -> Result<(), Error> {
        let part = self
            .images
            .disk
            .partition(SLOTS[1].1)
            .map_err(uboot::Error::from)?;
        let bytes = disk::read(&self.images.disk.path, part.start, part.size)
            .map_err(uboot::Error::from)?;
        let root =
            std::fs::read(&self.images.root).map_err(Error::io("read", &self.images.root))?;
        let zeros = |b: &[u8]| b.iter().all(|x| *x == 0);
        let (holds, ok) = if zeros(&bytes) {
            ("only zeros", !installed)
        } else if bytes.starts_with(&root) && zeros(&bytes[root.len()..]) {
            ("the root image", installed)
        } else {
            ("other bytes", false)
        };
        self.notes.push(format!(
            "{when}: slot B's partition holds {holds} ({} bytes of root image)",
            root.len()
        ));
        if !ok {
            self.problems.push(format!(
                "{when}: slot B's partition holds {holds}, expected {}",
                if installed {
                    "the root image"
                } else {
                    "only zeros"
                }
            ));
        }
        Ok(())
    }
}

/// The board configuration: the stand-in's devices on the A/B disk, the management
/// channel and `[slots]`, which take bundles for [`bundles::COMPATIBLE`].
fn board_toml() -> String {
    let modules: Vec<String> = MODULES.iter().map(|m| format!("{m:?}")).collect();
    let mut s = format!(
        "# The aarch64 board on QEMU's virt with U-Boot and A/B root slots (ab-uboot).\n\
         name = \"renesas-aarch64-ab\"\nmodules = [{}]\nreaction = \"reboot\"\nlog = \"info\"\n\n\
         [root]\n# Replaced by the booted slot's root.\ndevice = \"/dev/vda2\"\n\
         descriptor = \"/etc/northstar/root.verity\"\nkey = \"/etc/northstar/root.pub\"\n\
         wait = \"20s\"\n\n[data]\ndevice = \"/dev/vda4\"\nfs = \"ext4\"\nwait = \"20s\"\n\n\
         [channel]\nport = \"{}\"\nwait = \"10s\"\n\n\
         [runtime]\nconfig = \"/etc/northstar/runtime.toml\"\n\n\
         [slots]\nbootloader = \"uboot\"\nhealthy_after = \"{HEALTHY_AFTER}\"\n\
         attempts = {ATTEMPTS}\ncompatible = \"{}\"\nkeyring = \"/{}\"\n",
        modules.join(", "),
        channel::PORT,
        bundles::COMPATIBLE,
        bundles::KEYRING,
    );
    for (name, part) in SLOTS {
        s += &format!("\n[[slots.slot]]\nname = \"{name}\"\nroot = \"PARTLABEL={part}\"\n");
    }
    // The slots' state in the boot partition's uboot.env, as the script exports it
    // (crate::uboot::script): the whole file, ENV_SIZE bytes.
    s += &format!(
        "\n[slots.uboot]\ndevice = \"PARTLABEL={}\"\nfs = \"vfat\"\nfile = \"{STATE}\"\n\
         offset = 0\nsize = {:#x}\n",
        disk::BOOT,
        uboot::ENV_SIZE
    );
    s
}

/// The runtime configuration: the board's, with the grant of the host's connection over
/// the channel ([`GRANTS`]).
fn runtime_toml(board: &str) -> String {
    let grants: Vec<String> = GRANTS.iter().map(|g| format!("{g:?}")).collect();
    format!(
        "{board}\n# ab-uboot: the host's clients over the channel, relayed as uid 0.\n\
         [[api.grants]]\nuid = 0\npermissions = [{}]\n",
        grants.join(", ")
    )
}

/// The slots' state before the first boot, in the boot partition's [`STATE`].
fn initial_state() -> Env {
    let mut env = Env::default();
    env.set("BOOT_ORDER", "A B");
    for (name, _) in SLOTS {
        env.set(&format!("BOOT_{name}_LEFT"), &ATTEMPTS.to_string());
    }
    env
}

/// The environment in flash: U-Boot's command and addresses.
fn initial_env(options: &Options) -> Env {
    let mut env = Env::default();
    env.set(
        "bootcmd",
        "virtio scan; if load virtio 0:1 ${scriptaddr} boot.scr; then source ${scriptaddr}; fi",
    );
    env.set("bootdelay", "0");
    env.set("scriptaddr", SCRIPT_ADDR);
    env.set("kernel_addr_r", KERNEL_ADDR);
    env.set("ramdisk_addr_r", RAMDISK_ADDR);
    let mut args = vec!["console=ttyAMA0".to_owned(), "panic=-1".to_owned()];
    args.extend(options.cmdline.iter().cloned());
    env.set("default_bootargs", &args.join(" "));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_has_two_slots_on_the_disk_and_their_state_in_the_boot_partition() {
        let parsed: toml::Table = board_toml().parse().unwrap();
        let slots = parsed["slots"].as_table().unwrap();
        assert_eq!(slots["bootloader"].as_str(), Some("uboot"));
        let list = slots["slot"].as_array().unwrap();
        assert_eq!(list[1]["root"].as_str(), Some("PARTLABEL=rootfs_b"));
        assert_eq!(slots["uboot"]["size"].as_integer(), Some(0x40000));
        assert_eq!(slots["uboot"]["device"].as_str(), Some("PARTLABEL=boot"));
        assert_eq!(slots["uboot"]["file"].as_str(), Some(STATE));
        assert_eq!(slots["healthy_after"].as_str(), Some(HEALTHY_AFTER));
        assert!(parsed["modules"]
            .as_array()
            .unwrap()
            .contains(&toml::Value::from("vfat")));
        let env = initial_env(&Options::default());
        assert!(env.get("bootcmd").unwrap().contains("boot.scr"));
        assert_eq!(initial_state().get("BOOT_A_LEFT"), Some("3"));
    }

    #[test]
    fn the_board_takes_bundles_and_serves_the_channel() {
        let parsed: toml::Table = board_toml().parse().unwrap();
        let slots = parsed["slots"].as_table().unwrap();
        assert_eq!(slots["compatible"].as_str(), Some("northstar-qemu-aarch64"));
        assert_eq!(
            slots["keyring"].as_str(),
            Some("/etc/northstar/bundle-keyring.pem")
        );
        assert_eq!(
            parsed["channel"]["port"].as_str(),
            Some("org.northstar.api")
        );
        assert!(parsed["modules"]
            .as_array()
            .unwrap()
            .contains(&toml::Value::from("virtio_console")));
    }

    #[test]
    fn the_host_connection_is_granted_the_system_update() {
        let board =
            "run_dir = \"/run\"\n[api]\nsocket = \"/run/api.sock\"\n[cgroups]\nname = \"n\"\n";
        let parsed: toml::Table = runtime_toml(board).parse().unwrap();
        assert_eq!(parsed["api"]["socket"].as_str(), Some("/run/api.sock"));
        let grants = parsed["api"]["grants"].as_array().unwrap();
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0]["uid"].as_integer(), Some(0));
        let permissions: Vec<&str> = grants[0]["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        for needed in ["system_update", "system_status", "stop", "shutdown"] {
            assert!(permissions.contains(&needed), "{needed}");
        }
    }
}
