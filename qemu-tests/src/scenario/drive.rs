//! Booting a scenario's machine and acting on it: waiting (always against a deadline) for
//! the lines the scenario needs, pressing Ctrl-Alt-Del for an orderly end, or waiting for
//! the machine to end by itself (a refused root powers off, a hung init is reset by the
//! watchdog). QEMU is killed in any case at the end.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::images::Images;
use super::spec::{self, Container};
use super::{console, Error, Options, Scenario, Shared};
use crate::boot::{self, report};
use crate::qemu::{channel, qmp::Qmp, Drive, Qemu, QemuConfig};

/// The init's line when the hang of `northstar.test.hang` begins.
pub const HANG_LINE: &str = "test fault: the main loop hangs now";
/// The kernel's line of a power-off.
pub const POWER_DOWN: &str = "reboot: Power down";
/// Ctrl-Alt-Del as QEMU key codes.
const CTRL_ALT_DEL: [&str; 3] = ["ctrl", "alt", "delete"];
/// Each QMP read or write, and the connection.
const QMP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the containers must keep running after they all started.
const SETTLE: Duration = Duration::from_secs(2);

/// What a scenario's machine showed.
pub(super) struct Observed {
    pub transcript: String,
    pub exit: Option<i32>,
    /// QMP events seen while the machine ran.
    pub events: Vec<Value>,
    /// Whether the machine was ended by Ctrl-Alt-Del (the data image was unmounted).
    pub orderly: bool,
    /// `watchdog-fed`: how long the machine ran after the boot report.
    pub stayed_up: Option<Duration>,
    /// `watchdog-hang`: from the hang line to QEMU's exit.
    pub hang_to_exit: Option<Duration>,
    pub machine: Duration,
    pub log: PathBuf,
}

/// The scenario's machine: the root read-only and the data disk, the board's watchdog, a
/// QMP socket `qmp.sock` and the management channel on `chardev.sock`, the console logged to
/// `log` in `dir`.
pub(super) fn machine(
    shared: &Shared,
    scenario: Scenario,
    images: &Images,
    dir: &Path,
    log: &str,
    options: &Options,
) -> Result<QemuConfig, Error> {
    let qmp_socket = dir.join("qmp.sock");
    Error::check_socket_path(&qmp_socket)?;
    let _ = std::fs::remove_file(&qmp_socket);
    let mut config = QemuConfig::new(&shared.kernel, &images.initrd, &dir.join(log));
    config.cmdline.extend(spec::cmdline(scenario));
    config.cmdline.extend(options.cmdline.iter().cloned());
    config.smp = options.smp;
    config.drives = vec![
        Drive {
            path: images.root.clone(),
            read_only: true,
        },
        Drive {
            path: images.data.clone(),
            read_only: false,
        },
    ];
    if shared.files.watchdog {
        config
            .devices
            .extend(shared.board.watchdog_device().map(String::from));
    }
    config.qmp = Some(qmp_socket);
    config.serial_ports = vec![channel::serial_port(&dir.join(channel::CHARDEV))?];
    config.hard_timeout = options.boot_timeout + 2 * options.exit_timeout + Duration::from_secs(60);
    Ok(config)
}

/// Boots the scenario's images and drives the machine to its end.
pub(super) fn boot(
    shared: &Shared,
    scenario: Scenario,
    images: &Images,
    dir: &Path,
    options: &Options,
) -> Result<Observed, Error> {
    let config = machine(shared, scenario, images, dir, "console.log", options)?;
    let qmp_socket = dir.join("qmp.sock");
    let mut qemu = Qemu::spawn(&config)?;
    let mut observed = Observed {
        transcript: String::new(),
        exit: None,
        events: Vec::new(),
        orderly: false,
        stayed_up: None,
        hang_to_exit: None,
        machine: Duration::ZERO,
        log: qemu.log_path().to_path_buf(),
    };
    let result = act(
        &mut qemu,
        scenario,
        images,
        &qmp_socket,
        options,
        &mut observed,
    );
    let killed = qemu.kill();
    observed.transcript = qemu.transcript();
    observed.machine = qemu.elapsed();
    result?;
    killed?;
    Ok(observed)
}

fn act(
    qemu: &mut Qemu,
    scenario: Scenario,
    images: &Images,
    qmp_socket: &Path,
    options: &Options,
    observed: &mut Observed,
) -> Result<(), Error> {
    let deadline = Instant::now() + options.boot_timeout;
    qemu.expect_until(boot::STARTED, deadline)?;
    let mut qmp = Qmp::connect(qmp_socket, QMP_TIMEOUT)?;
    match scenario {
        Scenario::TamperedRoot => {
            qemu.expect_until(boot::BOOT_FAILED, deadline)?;
            qemu.expect(POWER_DOWN, options.exit_timeout)?;
            observed.exit = qemu.wait_exit(options.exit_timeout)?.code();
            observed.events = qmp.read_events(Instant::now() + Duration::from_secs(1))?;
            return Ok(());
        }
        Scenario::WatchdogHang => {
            qemu.expect_until(HANG_LINE, deadline)?;
            let hung = Instant::now();
            let limit = Duration::from_secs(spec::WATCHDOG_TIMEOUT) + options.exit_timeout;
            observed.events = qmp.read_events(hung + limit)?;
            observed.exit = qemu.wait_exit(Duration::from_secs(5))?.code();
            observed.hang_to_exit = Some(hung.elapsed());
            return Ok(());
        }
        _ => {}
    }
    qemu.expect_until(report::FIRST_LINE, deadline)?;
    for container in started(scenario, &images.containers) {
        qemu.seen_until(&format!("{}: {}", container.id(), spec::READY), deadline)?;
    }
    match scenario {
        Scenario::Oom => {
            qemu.seen_until("oom:0.0.1: ended with", deadline)?;
            std::thread::sleep(SETTLE);
        }
        Scenario::Orphans => wait_for_scans(qemu, deadline)?,
        Scenario::TamperedPackage => {
            let id = format!("{}:{}", spec::TAMPERED, spec::VERSION);
            qemu.seen_until(&format!("{id}: ended with"), deadline)?;
            std::thread::sleep(SETTLE);
        }
        Scenario::WatchdogFed => {
            // Three watchdog timeouts without a reset.
            let up = Instant::now();
            let window = Duration::from_secs(3 * spec::WATCHDOG_TIMEOUT);
            observed.events = qmp.read_events(up + window)?;
            observed.stayed_up = Some(up.elapsed());
        }
        _ => std::thread::sleep(SETTLE),
    }
    qmp.send_keys(&CTRL_ALT_DEL)?;
    qemu.expect(boot::RESTARTING, options.exit_timeout)?;
    observed.exit = qemu.wait_exit(options.exit_timeout)?.code();
    observed.events.extend(qmp.take_events());
    observed.orderly = true;
    Ok(())
}

/// The containers that must start and keep running (all but the tampered packages).
pub(super) fn started(scenario: Scenario, containers: &[Container]) -> Vec<&Container> {
    let tampered = [spec::TAMPERED, spec::TAMPERED_SUPERBLOCK];
    containers
        .iter()
        .filter(|c| !(scenario == Scenario::TamperedPackage && tampered.contains(&c.name.as_str())))
        .collect()
}

/// `orphans`: wait for the orphan container's end, then for three of the probe's scans
/// at least a second after it.
fn wait_for_scans(qemu: &mut Qemu, deadline: Instant) -> Result<(), Error> {
    qemu.seen_until("orphans:0.0.1: ended with", deadline)?;
    loop {
        let transcript = qemu.transcript();
        let ended = console::first(
            &console::container_lines(&transcript, "orphans:0.0.1"),
            "ended with",
        )
        .map(|l| l.time)
        .unwrap_or_default();
        let scans =
            console::zombie_scans(&console::container_lines(&transcript, "zombie-probe:0.0.1"));
        if scans.iter().filter(|s| s.time >= ended + 1.0).count() >= 3 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            // The checks report the missing scans.
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
