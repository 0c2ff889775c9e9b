//! `ab-uboot` (aarch64): A/B slot selection by a real boot loader. Debian's U-Boot for
//! `virt` boots from flash, runs the boot script of [`crate::uboot::script`] from the
//! A/B disk's `boot` partition, which counts the attempts in the slots' state (U-Boot's
//! environment format, in the boot partition's `uboot.env`: QEMU 7.2's flash does not
//! take U-Boot's `saveenv`, see [`crate::uboot::script`]) and names the slot on the
//! kernel command line (`rauc.slot=`); the init mounts that slot's root.
//!
//! Boots, each a machine of its own on the same disk and flash (`-no-reboot`: the end
//! of each boot is QEMU's exit), the state copied out of the disk after each and read
//! with `fw_printenv`, the reference reader:
//! 1. `BOOT_ORDER="A B"`, 3 attempts each: slot A boots (`slot: A` in the report; U-Boot
//!    leaves `BOOT_A_LEFT` 2), a container powers the machine off after the board's
//!    `healthy_after`, by when the init has marked A good in the boot partition's
//!    `uboot.env`: `BOOT_A_LEFT` 3 again, and `state=good` in the data partition's
//!    `northstar/slot-boot`.
//! 2. Slot A's verity superblock is overwritten on the disk. Boots 2 to 4 take slot A
//!    (its attempts 2, 1, then 0), the init's root step fails, the board's reaction
//!    reboots.
//! 3. Boot 5: A has no attempt left, U-Boot boots B (`slot: B`), whose report says that
//!    the boot loader booted B instead of A, the last good one; B is marked good
//!    (`BOOT_B_LEFT` 3, `slot=B`, `state=good`) before it powers off; `BOOT_A_LEFT` 0.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use npk::key::SecretKey;

use super::{Error, Options, Outcome, Scenario, Shared};
use crate::boot::{self, report::BootReport, REPOSITORY};
use crate::image::{root::RootDescriptor, set};
use crate::qemu::{Drive, Qemu, QemuConfig};
use crate::uboot::{self, disk, env::Env, script};

/// The slots and their root partitions (GPT names).
const SLOTS: [(&str, &str); 2] = [("A", "rootfs_a"), ("B", "rootfs_b")];
/// Attempts per slot (RAUC's default).
const ATTEMPTS: u32 = 3;
/// The stand-in's modules: its virtio disk, the root's and data's file systems, and the
/// boot partition's FAT with the character sets Debian's kernel mounts it with
/// (`CONFIG_FAT_DEFAULT_CODEPAGE` 437, `CONFIG_FAT_DEFAULT_IOCHARSET` "ascii"; with no
/// `modprobe` in the machine nothing loads them on demand). (Debian's arm64 kernel has
/// no CFI flash driver, `CONFIG_MTD_PHYSMAP` and `CONFIG_MTD_CFI` are off: Linux cannot
/// see the flash holding U-Boot's own environment.)
const MODULES: [&str; 10] = [
    "virtio_pci",
    "virtio_blk",
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
/// The board's `slots.healthy_after`, counted from the runtime's start.
const HEALTHY_AFTER: &str = "2s";
/// How long `poweroff` runs before it asks for the power-off, in seconds: past
/// [`HEALTHY_AFTER`], with room for the mark's FAT mount and write on a loaded host.
const POWEROFF_AFTER: &str = "8";
/// The init's record of the boot, in the data partition.
const RECORD: &str = "/northstar/slot-boot";
/// How the report of B's boot begins its line on the previous boot.
const FELL_BACK: &str = "the boot loader booted slot B instead of A, the last good one";
/// U-Boot's addresses on `virt` (RAM from 0x40000000, 512 MiB): the script, the kernel
/// (32 MiB here), the initramfs above it, the slots' state above that.
const SCRIPT_ADDR: &str = "0x40200000";
const KERNEL_ADDR: &str = "0x40400000";
const RAMDISK_ADDR: &str = "0x48000000";
const STATE_ADDR: &str = "0x4c000000";
/// The file of the boot partition holding the slots' variables ([`script`]).
const STATE: &str = "uboot.env";
/// The kernel's line of a power-off.
const POWER_DOWN: &str = "reboot: Power down";
/// U-Boot's line once it runs.
const U_BOOT_STARTED: &str = "U-Boot 20";

/// The scenario's files.
struct Images {
    disk: disk::Disk,
    flash: uboot::Flash,
    descriptor: RootDescriptor,
}

/// What one boot showed.
struct Booted {
    report: Option<BootReport>,
    /// The data partition's [`RECORD`] after a healthy boot.
    record: Option<String>,
    failed: Option<String>,
    exit: Option<i32>,
    env: Env,
    machine: Duration,
}

/// Runs the scenario in `dir`.
pub(super) fn run(shared: &Shared, dir: &Path, options: &Options) -> Result<Outcome, Error> {
    let images = build(shared, dir, options)?;
    let mut notes = Vec::new();
    let mut problems = Vec::new();
    let mut machine = Duration::ZERO;
    let mut last_log = PathBuf::new();

    // U-Boot takes one of A's attempts, the init gives them back when it marks A good.
    let booted = boot(shared, &images, dir, 1, true, options)?;
    machine += booted.machine;
    check(
        1,
        &booted,
        "A",
        true,
        [ATTEMPTS; 2],
        &mut notes,
        &mut problems,
    );

    // Slot A goes bad: its verity superblock is zeroed on the disk.
    let a = images
        .disk
        .partition(SLOTS[0].1)
        .map_err(uboot::Error::from)?;
    let at = a.start + images.descriptor.hash_offset();
    disk::overwrite(&images.disk.path, at, &[0u8; 512]).map_err(uboot::Error::from)?;
    notes.push(format!(
        "slot A's verity superblock zeroed at byte {at} of the disk"
    ));
    // Each failed boot of A costs one of its attempts; none reaches the data partition.
    let mut n = 1;
    for left in (0..ATTEMPTS).rev() {
        n += 1;
        let booted = boot(shared, &images, dir, n, false, options)?;
        machine += booted.machine;
        check(
            n,
            &booted,
            "A",
            false,
            [left, ATTEMPTS],
            &mut notes,
            &mut problems,
        );
    }
    n += 1;
    let booted = boot(shared, &images, dir, n, true, options)?;
    machine += booted.machine;
    check(
        n,
        &booted,
        "B",
        true,
        [0, ATTEMPTS],
        &mut notes,
        &mut problems,
    );
    let previous = booted.report.as_ref().and_then(|r| r.previous_slot.clone());
    notes.push(format!(
        "boot {n}: previous boot: {}",
        previous.as_deref().unwrap_or("-")
    ));
    if !previous
        .as_deref()
        .is_some_and(|p| p.starts_with(FELL_BACK))
    {
        problems.push(format!(
            "boot {n}: the report's previous boot is {previous:?}, not \"{FELL_BACK}: …\""
        ));
    }
    last_log.push(dir.join(format!("console-{n}.log")));
    Ok(Outcome {
        scenario: Scenario::AbUboot,
        notes,
        problems,
        machine,
        log: last_log,
    })
}

/// Checks boot `n`: the slot shown, no boot failure when `healthy`, else the root
/// refused, QEMU's exit, the attempts `left` of A and B in the state, and after a
/// healthy boot the data partition's record of it: the slot, marked good.
fn check(
    n: u32,
    booted: &Booted,
    slot: &str,
    healthy: bool,
    left: [u32; 2],
    notes: &mut Vec<String>,
    problems: &mut Vec<String>,
) {
    let prefix = format!("boot {n}");
    let shown = booted.report.as_ref().and_then(|r| r.slot.clone());
    notes.push(format!(
        "{prefix}: slot {} in the report, {}, QEMU exit {:?}, {:.1} s; environment after: \
         BOOT_ORDER={:?} BOOT_A_LEFT={:?} BOOT_B_LEFT={:?}",
        shown.as_deref().unwrap_or("-"),
        booted.failed.as_deref().unwrap_or("no boot failure"),
        booted.exit,
        booted.machine.as_secs_f64(),
        booted.env.get("BOOT_ORDER"),
        booted.env.get("BOOT_A_LEFT"),
        booted.env.get("BOOT_B_LEFT"),
    ));
    // The init shows the slot U-Boot named, in the report of a failed boot too.
    if shown.as_deref() != Some(slot) {
        problems.push(format!(
            "{prefix}: the report shows slot {shown:?}, not {slot}"
        ));
    }
    match (&booted.failed, healthy) {
        (Some(line), true) => problems.push(format!("{prefix}: {line}")),
        (None, false) => problems.push(format!("{prefix}: slot {slot}'s bad root was not refused")),
        (Some(line), false) if !line.contains("root file system") => problems.push(format!(
            "{prefix}: failed elsewhere than at the root: {line}"
        )),
        _ => {}
    }
    if booted.exit != Some(0) {
        problems.push(format!(
            "{prefix}: QEMU exited with {:?}, not 0",
            booted.exit
        ));
    }
    if booted.env.get("BOOT_ORDER") != Some("A B") {
        problems.push(format!(
            "{prefix}: BOOT_ORDER is {:?}, not \"A B\"",
            booted.env.get("BOOT_ORDER")
        ));
    }
    for ((name, _), want) in SLOTS.iter().zip(left) {
        let var = format!("BOOT_{name}_LEFT");
        let found = booted.env.get(&var);
        if found != Some(want.to_string().as_str()) {
            problems.push(format!("{prefix}: {var} is {found:?}, not {want}"));
        }
    }
    if healthy {
        let record = booted.record.as_deref().unwrap_or_default();
        notes.push(format!(
            "{prefix}: {RECORD}: {}",
            record.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
        let lines: Vec<&str> = record.lines().collect();
        if !lines.contains(&format!("slot={slot}").as_str()) || !lines.contains(&"state=good") {
            problems.push(format!(
                "{prefix}: {RECORD} is {:?}, not slot={slot} and state=good",
                booted.record
            ));
        }
    }
}

/// The board configuration: the stand-in's devices on the A/B disk and `[slots]`.
fn board_toml() -> String {
    let modules: Vec<String> = MODULES.iter().map(|m| format!("{m:?}")).collect();
    let mut s = format!(
        "# The aarch64 board on QEMU's virt with U-Boot and A/B root slots (ab-uboot).\n\
         name = \"renesas-aarch64-ab\"\nmodules = [{}]\nreaction = \"reboot\"\nlog = \"info\"\n\n\
         [root]\n# Replaced by the booted slot's root.\ndevice = \"/dev/vda2\"\n\
         descriptor = \"/etc/northstar/root.verity\"\nkey = \"/etc/northstar/root.pub\"\n\
         wait = \"20s\"\n\n[data]\ndevice = \"/dev/vda4\"\nfs = \"ext4\"\nwait = \"20s\"\n\n\
         [runtime]\nconfig = \"/etc/northstar/runtime.toml\"\n\n\
         [slots]\nbootloader = \"uboot\"\nhealthy_after = \"{HEALTHY_AFTER}\"\n\
         attempts = {ATTEMPTS}\n",
        modules.join(", ")
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

/// The images: root, data and initramfs as every boot builds them (one root image in
/// both slots, checked against the one signed descriptor), the poweroff container, the
/// boot partition, the disk and the flash.
fn build(shared: &Shared, dir: &Path, options: &Options) -> Result<Images, Error> {
    let board_path = dir.join("board.toml");
    std::fs::write(&board_path, board_toml()).map_err(Error::io("write", &board_path))?;
    let mut files = shared.files.clone();
    files.board_toml = board_path;
    files.modules = MODULES.iter().map(|m| (*m).to_owned()).collect();
    files.watchdog = false;
    files.root_device = "/dev/vda2".into();
    files.data_device = Some("/dev/vda4".into());
    let package_key = SecretKey::generate().map_err(Error::key("generate"))?;
    let spec = set::Spec {
        kernel: &shared.kernel,
        files: &files,
        init: &shared.init,
        runtime_config: &files.runtime_toml,
        package_key: &package_key,
        repository: REPOSITORY,
    };
    let (set, ()) = set::build(&spec, dir, |stage| {
        pack_poweroff(shared, stage, &package_key)
    })?;

    let script_text = script::text(&script::Boot {
        slots: SLOTS.iter().map(|(n, _)| (*n).to_owned()).collect(),
        attempts: ATTEMPTS,
        device: "virtio 0:1".into(),
        kernel: "Image".into(),
        initramfs: "initramfs.cpio".into(),
        state: STATE.into(),
        state_size: uboot::ENV_SIZE,
        state_addr: STATE_ADDR.into(),
    });
    let state_path = dir.join(STATE);
    let state = initial_state().encode().map_err(uboot::Error::from)?;
    std::fs::write(&state_path, state).map_err(Error::io("write", &state_path))?;
    let script_path = dir.join("boot.scr");
    let image = script::image("Northstar A/B", &script_text);
    std::fs::write(&script_path, image).map_err(Error::io("write", &script_path))?;
    std::fs::write(dir.join("boot.cmd"), &script_text)
        .map_err(Error::io("write", &dir.join("boot.cmd")))?;
    let size = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.len())
            .map_err(Error::io("read", p))
    };
    let payload = size(&shared.kernel.vmlinuz)? + size(&set.initrd)?;
    let boot_img = dir.join("boot.img");
    disk::fat(
        &boot_img,
        payload / (1 << 20) + 8,
        &[
            (&shared.kernel.vmlinuz, "Image"),
            (&set.initrd, "initramfs.cpio"),
            (&script_path, "boot.scr"),
            (&state_path, STATE),
        ],
    )
    .map_err(uboot::Error::from)?;
    let disk = disk::build(
        &dir.join("disk.img"),
        &[
            (disk::BOOT, &boot_img),
            (SLOTS[0].1, &set.root.path),
            (SLOTS[1].1, &set.root.path),
            (disk::DATA, &set.data),
        ],
    )
    .map_err(uboot::Error::from)?;
    let flash = uboot::flash(Path::new(uboot::U_BOOT_BIN), &initial_env(options), dir)?;
    Ok(Images {
        disk,
        flash,
        descriptor: set.root.descriptor,
    })
}

/// Packs `poweroff`: test-container asking for a power-off through its console
/// connection [`POWEROFF_AFTER`] seconds after it started.
fn pack_poweroff(shared: &Shared, stage: &set::Stage<'_>, key: &SecretKey) -> Result<(), Error> {
    let root = stage.scratch.join(POWEROFF);
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).map_err(Error::io("create", &bin))?;
    let program = bin.join("test-container");
    std::fs::copy(&shared.test_container, &program).map_err(Error::io("copy", &program))?;
    let yaml = stage.scratch.join(format!("{POWEROFF}.yaml"));
    let manifest = format!(
        "name: {POWEROFF}\nversion: 0.0.1\ninit: /bin/test-container\n\
         args: [\"print:1,ready\", \"sleep:{POWEROFF_AFTER}\", \"console:shutdown\", \"sleep-forever\"]\n\
         uid: 1000\ngid: 1000\nautostart: relaxed\n\
         console:\n  permissions: [shutdown]\nio:\n  stdout: pipe\n  stderr: pipe\n"
    );
    std::fs::write(&yaml, manifest).map_err(Error::io("write", &yaml))?;
    let manifest = npk::pack::read_manifest(&yaml).map_err(Error::pack(POWEROFF))?;
    let options = npk::pack::Options {
        key: Some(key),
        ..npk::pack::Options::default()
    };
    npk::pack::pack_manifest(&manifest, &root, stage.repository, &options, &mut |_| ())
        .map_err(Error::pack(POWEROFF))?;
    Ok(())
}

/// Boot `n`: U-Boot from flash, the disk read-write; a healthy boot must power off, a
/// failing one reboot (QEMU's exit either way). The environment is read back after.
fn boot(
    shared: &Shared,
    images: &Images,
    dir: &Path,
    n: u32,
    healthy: bool,
    options: &Options,
) -> Result<Booted, Error> {
    let log = dir.join(format!("console-{n}.log"));
    let mut config = QemuConfig::new(&shared.kernel, &shared.kernel.vmlinuz, &log);
    config.firmware = images.flash.qemu_args();
    config.drives = vec![Drive {
        path: images.disk.path.clone(),
        read_only: false,
    }];
    config.hard_timeout = options.boot_timeout + 2 * options.exit_timeout + Duration::from_secs(60);
    let mut qemu = Qemu::spawn(&config)?;
    let result = drive(&mut qemu, healthy, options);
    let killed = qemu.kill();
    let transcript = qemu.transcript();
    let machine = qemu.elapsed();
    let exit = result?;
    killed?;
    let env = read_state(images, dir)?;
    let record = if healthy {
        read_record(images, dir)?
    } else {
        None
    };
    Ok(Booted {
        report: BootReport::parse(&transcript),
        record,
        failed: transcript
            .lines()
            .find(|l| l.contains(boot::BOOT_FAILED))
            .map(|l| l.trim().to_owned()),
        exit,
        env,
        machine,
    })
}

/// The slots' state as `fw_printenv` reads it from [`STATE`] copied out of the disk.
fn read_state(images: &Images, dir: &Path) -> Result<Env, Error> {
    let copy = dir.join(format!("{STATE}.after"));
    let _ = std::fs::remove_file(&copy);
    let boot = images
        .disk
        .partition(disk::BOOT)
        .map_err(uboot::Error::from)?;
    disk::fat_file(&images.disk.path, boot, STATE, &copy).map_err(uboot::Error::from)?;
    let config = format!("{} 0x0 {:#x}\n", copy.display(), uboot::ENV_SIZE);
    let env =
        uboot::env::read_back(&dir.join("fw_env.config"), &config).map_err(uboot::Error::from)?;
    Ok(env)
}

/// The data partition's [`RECORD`], read from a copy of the partition.
fn read_record(images: &Images, dir: &Path) -> Result<Option<String>, Error> {
    let data = images
        .disk
        .partition(disk::DATA)
        .map_err(uboot::Error::from)?;
    let copy = dir.join("data.after");
    let bytes =
        disk::ext4_file(&images.disk.path, data, RECORD, &copy).map_err(uboot::Error::from)?;
    let _ = std::fs::remove_file(&copy);
    Ok(bytes.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

fn drive(qemu: &mut Qemu, healthy: bool, options: &Options) -> Result<Option<i32>, Error> {
    let deadline = Instant::now() + options.boot_timeout;
    qemu.expect_until(U_BOOT_STARTED, deadline)?;
    qemu.expect_until(boot::STARTED, deadline)?;
    if healthy {
        qemu.expect_until(boot::report::FIRST_LINE, deadline)?;
        qemu.expect(POWER_DOWN, options.exit_timeout)?;
    } else {
        qemu.expect_until(boot::BOOT_FAILED, deadline)?;
        qemu.expect(boot::RESTARTING, options.exit_timeout)?;
    }
    Ok(qemu.wait_exit(options.exit_timeout)?.code())
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
}
