//! One boot of `ab-uboot`: U-Boot from flash, the A/B disk read-write, the management
//! channel's virtio-serial port on QEMU's socket; how the boot ends ([`Ends`]); what the
//! harness reads back afterwards (the slots' state, the init's record and the slots'
//! versions on the data partition) and the checks of it ([`check`]).

use std::path::Path;
use std::time::{Duration, Instant};

use northstar_client::api::ContainerId;
use northstar_client::Client;

use super::{Images, POWEROFF, POWEROFF_VERSION, STATE};
use crate::boot::{self, report::BootReport};
use crate::qemu::{channel, Drive, Qemu, QemuConfig};
use crate::scenario::{Error, Options, Shared};
use crate::uboot::{self, disk, env::Env};

/// The init's record of the boot, in the data partition.
pub(super) const RECORD: &str = "/northstar/slot-boot";
/// The slots' versions the init keeps at every install, in the data partition.
pub(super) const VERSIONS: &str = "/northstar/slot-versions";
/// The kernel's line of a power-off.
const POWER_DOWN: &str = "reboot: Power down";
/// U-Boot's line once it runs.
const U_BOOT_STARTED: &str = "U-Boot 20";
/// The management channel's line once the port is served.
const CHANNEL_UP: &str = "management channel: org.northstar.api at";

/// What the harness does with the machine over the management channel: gets the client,
/// the boot's notes and problems.
pub(super) type Session<'a> =
    &'a mut dyn FnMut(&mut Client, &mut Vec<String>, &mut Vec<String>) -> Result<(), Error>;

/// How a boot ends.
pub(super) enum Ends<'a> {
    /// Healthy: `poweroff` asks for the power-off once the slot is marked good.
    Poweroff,
    /// The init refuses the slot's root; the board's reaction reboots.
    RootRefused,
    /// Healthy, managed: the harness stops `poweroff` over the channel, waits until the
    /// booted slot is marked good, runs the session and shuts the machine down over the
    /// channel.
    Managed(Session<'a>),
}

impl Ends<'_> {
    fn healthy(&self) -> bool {
        !matches!(self, Ends::RootRefused)
    }
}

/// What one boot showed.
pub(super) struct Booted {
    pub report: Option<BootReport>,
    /// The data partition's [`RECORD`] after a healthy boot.
    pub record: Option<String>,
    /// The data partition's [`VERSIONS`] after a healthy boot.
    pub versions: Option<String>,
    pub failed: Option<String>,
    pub exit: Option<i32>,
    pub env: Env,
    pub machine: Duration,
    /// What the session noted and found wrong.
    pub notes: Vec<String>,
    pub problems: Vec<String>,
}

/// What a boot should show.
pub(super) struct Expect<'a> {
    /// The slot U-Boot boots, as the report shows it.
    pub slot: &'a str,
    /// The boot reaches the runtime; else the init refuses the slot's root.
    pub healthy: bool,
    /// `BOOT_ORDER` after the boot.
    pub order: &'a str,
    /// `BOOT_A_LEFT`, `BOOT_B_LEFT` after the boot.
    pub left: [u32; 2],
    /// How the report's `previous boot:` line begins; `None`: no such line.
    pub previous: Option<&'a str>,
    /// After a healthy boot: the lines of [`RECORD`] and the text of [`VERSIONS`].
    pub record: &'a [&'a str],
    pub versions: Option<&'a str>,
}

/// Boot `n` of the scenario's disk, ending as `ends` says (QEMU's exit either way). The
/// slots' state is read back after, and after a healthy boot the data partition's files.
pub(super) fn boot(
    shared: &Shared,
    images: &Images,
    dir: &Path,
    n: u32,
    mut ends: Ends<'_>,
    options: &Options,
) -> Result<Booted, Error> {
    let log = dir.join(format!("console-{n}.log"));
    let mut config = QemuConfig::new(&shared.kernel, &shared.kernel.vmlinuz, &log);
    config.firmware = images.flash.qemu_args();
    config.drives = vec![Drive {
        path: images.disk.path.clone(),
        read_only: false,
    }];
    let socket = dir.join(channel::CHARDEV);
    config.serial_ports = vec![channel::serial_port(&socket)?];
    config.hard_timeout = options.boot_timeout + 2 * options.exit_timeout + Duration::from_secs(60);
    let mut qemu = Qemu::spawn(&config)?;
    let mut notes = Vec::new();
    let mut problems = Vec::new();
    let healthy = ends.healthy();
    let result = drive(
        &mut qemu,
        &socket,
        &mut ends,
        options,
        &mut notes,
        &mut problems,
    );
    let killed = qemu.kill();
    let transcript = qemu.transcript();
    let machine = qemu.elapsed();
    let exit = result?;
    killed?;
    let env = read_state(images, dir)?;
    let (record, versions) = if healthy {
        (
            read_data_file(images, dir, RECORD)?,
            read_data_file(images, dir, VERSIONS)?,
        )
    } else {
        (None, None)
    };
    Ok(Booted {
        report: BootReport::parse(&transcript),
        record,
        versions,
        failed: transcript
            .lines()
            .find(|l| l.contains(boot::BOOT_FAILED))
            .map(|l| l.trim().to_owned()),
        exit,
        env,
        machine,
        notes,
        problems,
    })
}

fn drive(
    qemu: &mut Qemu,
    socket: &Path,
    ends: &mut Ends<'_>,
    options: &Options,
    notes: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> Result<Option<i32>, Error> {
    let deadline = Instant::now() + options.boot_timeout;
    qemu.expect_until(U_BOOT_STARTED, deadline)?;
    qemu.expect_until(boot::STARTED, deadline)?;
    match ends {
        Ends::Poweroff => {
            qemu.expect_until(boot::report::FIRST_LINE, deadline)?;
            qemu.expect(POWER_DOWN, options.exit_timeout)?;
        }
        Ends::RootRefused => {
            qemu.expect_until(boot::BOOT_FAILED, deadline)?;
            qemu.expect(boot::RESTARTING, options.exit_timeout)?;
        }
        Ends::Managed(session) => {
            qemu.expect_until(boot::report::FIRST_LINE, deadline)?;
            managed(qemu, socket, deadline, session, notes, problems)?;
            qemu.expect(POWER_DOWN, options.exit_timeout)?;
        }
    }
    Ok(qemu.wait_exit(options.exit_timeout)?.code())
}

/// A managed boot once the report is out: `poweroff` stopped over the channel once it
/// and the channel are up, the booted slot marked good (so that the mark cannot follow,
/// and overwrite, what the session records), the session, the shutdown.
fn managed(
    qemu: &mut Qemu,
    socket: &Path,
    deadline: Instant,
    session: Session<'_>,
    notes: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> Result<(), Error> {
    let poweroff = format!("{POWEROFF}:{POWEROFF_VERSION}");
    qemu.seen_until(&format!("{poweroff}: ready"), deadline)?;
    qemu.seen_until(CHANNEL_UP, deadline)?;
    // The client library only: no `nstar` binary runs.
    let nstar = channel::Nstar {
        binary: Default::default(),
        socket: socket.to_path_buf(),
        timeout: Duration::from_secs(30),
        direct: true,
    };
    let failed = |what| move |source| Error::Client { what, source };
    let mut client = nstar
        .client(northstar_client::Options::default())
        .map_err(failed("connect"))?;
    let id: ContainerId = poweroff.parse().map_err(|e| Error::Io {
        step: "name the container",
        path: poweroff.clone().into(),
        source: std::io::Error::other(e),
    })?;
    client.stop(&id, None).map_err(failed("stop poweroff"))?;
    let booted = BootReport::parse(&qemu.transcript())
        .and_then(|r| r.slot)
        .unwrap_or_default();
    qemu.seen_until(&format!("slot {booted}: marked good"), deadline)?;
    session(&mut client, notes, problems)?;
    client.shutdown().map_err(failed("shutdown"))
}

/// Checks boot `n` against `want`: the slot shown, no boot failure when healthy, else the
/// root refused, QEMU's exit 0, the report's previous boot, the slots' state, and after
/// a healthy boot the data partition's record and versions.
pub(super) fn check(
    n: u32,
    booted: &Booted,
    want: &Expect<'_>,
    notes: &mut Vec<String>,
    problems: &mut Vec<String>,
) {
    let prefix = format!("boot {n}");
    let (slot, healthy) = (want.slot, want.healthy);
    let report = booted.report.as_ref();
    let shown = report.and_then(|r| r.slot.clone());
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
    notes.extend(booted.notes.iter().map(|s| format!("{prefix}: {s}")));
    problems.extend(booted.problems.iter().map(|s| format!("{prefix}: {s}")));
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
    let previous = report.and_then(|r| r.previous_slot.as_deref());
    if let Some(line) = previous {
        notes.push(format!("{prefix}: previous boot: {line}"));
    }
    let as_wanted = match (previous, want.previous) {
        (None, None) => true,
        (Some(line), Some(start)) => line.starts_with(start),
        _ => false,
    };
    if !as_wanted {
        problems.push(format!(
            "{prefix}: the report's previous boot is {previous:?}, not {:?}",
            want.previous.map(|s| format!("{s}: …"))
        ));
    }
    if booted.env.get("BOOT_ORDER") != Some(want.order) {
        problems.push(format!(
            "{prefix}: BOOT_ORDER is {:?}, not {:?}",
            booted.env.get("BOOT_ORDER"),
            want.order
        ));
    }
    for (name, wanted) in ["A", "B"].iter().zip(want.left) {
        let var = format!("BOOT_{name}_LEFT");
        let found = booted.env.get(&var);
        if found != Some(wanted.to_string().as_str()) {
            problems.push(format!("{prefix}: {var} is {found:?}, not {wanted}"));
        }
    }
    if !healthy {
        return;
    }
    let record = booted.record.as_deref().unwrap_or_default();
    notes.push(format!(
        "{prefix}: {RECORD}: {}; {VERSIONS}: {}",
        record.split_whitespace().collect::<Vec<_>>().join(" "),
        booted.versions.as_deref().map_or("-".to_owned(), |v| v
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "))
    ));
    let lines: Vec<&str> = record.lines().collect();
    if lines != want.record {
        problems.push(format!(
            "{prefix}: {RECORD} is {:?}, not {:?}",
            booted.record, want.record
        ));
    }
    if booted.versions.as_deref() != want.versions {
        problems.push(format!(
            "{prefix}: {VERSIONS} is {:?}, not {:?}",
            booted.versions, want.versions
        ));
    }
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

/// The data partition's file at `path`, read from a copy of the partition.
fn read_data_file(images: &Images, dir: &Path, path: &str) -> Result<Option<String>, Error> {
    let data = images
        .disk
        .partition(disk::DATA)
        .map_err(uboot::Error::from)?;
    let copy = dir.join("data.after");
    let bytes =
        disk::ext4_file(&images.disk.path, data, path, &copy).map_err(uboot::Error::from)?;
    let _ = std::fs::remove_file(&copy);
    Ok(bytes.map(|b| String::from_utf8_lossy(&b).into_owned()))
}
