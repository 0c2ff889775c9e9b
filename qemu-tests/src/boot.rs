//! The boot scenario: Northstar's own init as PID 1 of a board, with a verified root and
//! a data partition, booting to a running container, then shut down cleanly.
//!
//! Steps ([`run`]):
//!
//! 1. fetch the board's kernel; read its configuration (`board-configs/<board>/`) with the
//!    machine's overrides applied ([`Board::config_overrides`]: the `virt` stand-in's
//!    virtio disks and modules, raspi2b's watchdog off);
//! 2. take `northstar`, `hello-world` and, where the shutdown is a container's request,
//!    `test-container` of the run's build for the board's target ([`Binaries`]: static,
//!    release, built once for every command of the run);
//! 3. generate a package key for this run;
//! 4. build the images ([`crate::image::set`]): the root image (verity, signed descriptor,
//!    its own root key), the example packages (and the rebooter) in the runtime
//!    configuration's `system` repository on the data image (ext4), on raspi2b both in one
//!    SD card image (MBR, partitions 2 and 3), the initramfs with the modules the init
//!    will load;
//! 5. boot: root image read-only as the first virtio disk and the data image as the
//!    second (or the SD card), the board's watchdog device, a QMP socket where
//!    Ctrl-Alt-Del is the trigger; the console goes to `console.log`;
//! 6. wait for the init's start, its boot report and hello-world's output;
//! 7. shut down ([`Trigger`]): on x86_64 Ctrl-Alt-Del through QMP (the init gets SIGINT);
//!    on the boards without a PS/2 keyboard the rebooter container waits for
//!    hello-world's end and sends `reboot` through its console connection. Wait for the
//!    kernel's `reboot: Restarting system` and, where the machine ends by itself
//!    (`-no-reboot`), for QEMU to exit with status 0; raspi2b does not, so the harness
//!    stops it;
//! 8. check the shutdown's steps on the console ([`shutdown::ShutdownSteps`]) and the
//!    data file system on the host (copied out of the SD card first): `e2fsck -fn`
//!    clean, the superblock clean without `needs_recovery`, and the directories the init
//!    laid out at boot are there.
//!
//! Everything lives in `<work_dir>/<board>/boot/`, rebuilt on every run.

mod images;
mod outcome;
pub mod report;
pub mod shutdown;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::binaries::Binaries;
use crate::image::{config::BoardFiles, data, packages};
use crate::kernels::KernelCache;
use crate::qemu::{qmp, Qemu, QemuConfig};
use crate::{cargo, Board};
use images::Images;
pub use outcome::BootRun;
pub use report::BootReport;
pub use shutdown::Trigger;

/// Errors of a boot run (what the guest did wrong is in [`BootRun::problems`], or, when a
/// line never came, in the [`crate::qemu::Error`] with the console's tail).
pub use crate::error::Error;

/// The repository of the runtime configuration that receives the example packages.
pub const REPOSITORY: &str = "system";
/// The init's first line.
pub const STARTED: &str = "starting as PID 1";
/// What hello-world prints with its manifest's arguments and environment.
pub const HELLO_OUTPUT: &str = "Hello, embedded world! args: [\"--from\", \"northstar\"]";
/// The init's line when a boot step failed.
pub const BOOT_FAILED: &str = "northstar: boot failed";
/// The init's line when it holds after a fatal error.
pub const HOLD: &str = "northstar: HOLD:";
/// The kernel's last line of a reboot.
pub const RESTARTING: &str = "reboot: Restarting system";
/// Ctrl-Alt-Del as QEMU key codes.
const CTRL_ALT_DEL: [&str; 3] = ["ctrl", "alt", "delete"];

/// How to run the boot.
#[derive(Clone, Debug)]
pub struct BootOptions {
    /// From QEMU's start to hello-world's output.
    pub boot_timeout: Duration,
    /// From hello-world's output to a container's reboot request, from the request (or
    /// Ctrl-Alt-Del) to the kernel's restart line, and from there to QEMU's exit.
    pub exit_timeout: Duration,
    /// Extra kernel arguments (e.g. `northstar.log=debug`).
    pub cmdline: Vec<String>,
    /// A prebuilt `northstar` for the board; `None` takes the run's build.
    pub init: Option<PathBuf>,
    /// Everything goes to `<work_dir>/<board>/boot/`.
    pub work_dir: PathBuf,
}

impl Default for BootOptions {
    fn default() -> Self {
        Self {
            boot_timeout: Duration::from_secs(120),
            exit_timeout: Duration::from_secs(60),
            cmdline: Vec::new(),
            init: None,
            work_dir: cargo::target_dir().join("qemu-tests"),
        }
    }
}

/// Boots Northstar's init on `board` with the binaries of `binaries` and reports what
/// happened.
pub fn run(
    board: Board,
    cache: &KernelCache,
    binaries: &Binaries,
    options: &BootOptions,
) -> Result<BootRun, Error> {
    let kernel = cache.fetch(board)?;
    let cmdline: Vec<String> = board
        .config_overrides()
        .iter()
        .map(|s| s.to_string())
        .chain(options.cmdline.iter().cloned())
        .collect();
    let files = BoardFiles::load(board)?.with_overrides(&cmdline);
    check_devices(board, &files, &cmdline)?;
    let trigger = if board.has_ctrl_alt_del() {
        Trigger::CtrlAltDel
    } else {
        Trigger::Console
    };
    let dir = options.work_dir.join(board.name()).join("boot");
    std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
    let binaries = images::binaries(board, binaries, options, trigger == Trigger::Console)?;
    let images = images::build_images(&kernel, &files, &binaries, &dir)?;

    let mut config = QemuConfig::new(&kernel, &images.initrd, &dir.join("console.log"));
    config.cmdline = cmdline;
    config.drives = images.drives.clone();
    if files.watchdog {
        config
            .devices
            .extend(board.watchdog_device().map(String::from));
    }
    let qmp_socket = dir.join("qmp.sock");
    if trigger == Trigger::CtrlAltDel {
        Error::check_socket_path(&qmp_socket)?;
        let _ = std::fs::remove_file(&qmp_socket);
        config.qmp = Some(qmp_socket.clone());
    }
    // The boot, then up to three waits of the exit timeout: the request, the restart
    // line, QEMU's exit.
    config.hard_timeout = options.boot_timeout + 3 * options.exit_timeout + Duration::from_secs(30);

    let mut qemu = Qemu::spawn(&config)?;
    let observed = observe(&mut qemu, trigger, &qmp_socket, &images, options);
    let killed = qemu.kill();
    let observed = observed?;
    killed?;
    let total = qemu.elapsed();

    let data_image = images.data_after_boot(&dir)?;
    let mut missing_data_dirs = Vec::new();
    for dir in files.data_layout() {
        if !data::is_dir(&data_image, &format!("/{dir}"))? {
            missing_data_dirs.push(dir);
        }
    }
    let transcript = qemu.transcript();
    let steps = shutdown::ShutdownSteps::reboot(
        trigger,
        &images.running_at_shutdown,
        &images.packages,
        files.data_device.is_some(),
    );
    Ok(BootRun {
        report: BootReport::parse(&transcript),
        fatal_lines: transcript
            .lines()
            .filter(|l| l.contains(HOLD) || l.contains(BOOT_FAILED))
            .map(|l| l.trim_end().to_owned())
            .collect(),
        expected_steps: expected_steps(&files),
        autostart: images.autostart,
        started: observed.started,
        hello: observed.hello,
        trigger,
        shutdown_missing: steps.missing(&transcript),
        qemu_exit: observed.exit,
        exits_by_itself: board.powers_off(),
        fsck: data::fsck(&data_image)?,
        superblock: data::superblock(&data_image)?,
        missing_data_dirs,
        up_after: observed.up_after,
        shutdown: observed.shutdown,
        total,
        log: qemu.log_path().to_path_buf(),
        kernel,
    })
}

/// The harness attaches the root and the data image in a fixed way (two virtio disks, or
/// partitions 2 and 3 of the SD card): the board, with the overrides, must name them so.
fn check_devices(board: Board, files: &BoardFiles, cmdline: &[String]) -> Result<(), Error> {
    let (root, data) = board.disk_devices();
    let wrong = |what, expected, found: &str| Error::Devices {
        path: files.board_toml.clone(),
        overrides: cmdline.to_vec(),
        what,
        expected,
        found: found.to_owned(),
    };
    if files.root_device != root {
        return Err(wrong("root.device", root, &files.root_device));
    }
    match files.data_device.as_deref() {
        Some(device) if device != data => Err(wrong("data.device", data, device)),
        _ => Ok(()),
    }
}

/// The boot steps of `doc/boot.md` that this board configuration runs.
pub(crate) fn expected_steps(files: &BoardFiles) -> Vec<&'static str> {
    let mut steps = vec!["early", "board", "modules"];
    if files.watchdog {
        steps.push("watchdog");
    }
    steps.extend(["root", "config"]);
    if files.data_device.is_some() {
        steps.push("data");
    }
    // The runtime step, then its parts as the runtime measured them.
    steps.extend([
        "runtime",
        "runtime.registry",
        "runtime.setup",
        "runtime.mounts",
        "runtime.starts",
    ]);
    steps
}

/// What [`observe`] saw.
struct Observed {
    started: String,
    hello: String,
    /// QEMU's exit code, where the machine ends by itself.
    exit: Option<i32>,
    up_after: Duration,
    shutdown: Duration,
}

/// Watches the boot, triggers the reboot, watches it.
fn observe(
    qemu: &mut Qemu,
    trigger: Trigger,
    qmp_socket: &Path,
    images: &Images,
    options: &BootOptions,
) -> Result<Observed, Error> {
    let deadline = Instant::now() + options.boot_timeout;
    let started = qemu.expect_until(STARTED, deadline)?;
    qemu.expect_until(report::FIRST_LINE, deadline)?;
    // A failed step is logged before the report, which follows at once: no need to wait
    // for containers that will never start.
    let transcript = qemu.transcript();
    if let Some(line) = transcript.lines().find(|l| l.contains(BOOT_FAILED)) {
        return Err(Error::BootFailed {
            board: qemu.board(),
            line: line.trim_end().to_owned(),
            log: qemu.log_path().to_path_buf(),
            tail: crate::cargo::tail(&transcript, 40),
        });
    }
    // The report's last lines: one per autostart container.
    for id in &images.autostart {
        qemu.expect_until(&format!("container {id} "), deadline)?;
    }
    let hello_id = images
        .autostart
        .iter()
        .find(|id| id.starts_with(&format!("{}:", packages::HELLO_WORLD)))
        .cloned()
        .unwrap_or_default();
    // The container's output may come before or after the report.
    let hello = qemu.seen_until(&format!("{hello_id}: Hello"), deadline)?;
    let up_after = qemu.elapsed();

    let requested = match trigger {
        Trigger::CtrlAltDel => {
            let pressed = Instant::now();
            let mut qmp = qmp::Qmp::connect(qmp_socket, Duration::from_secs(10))?;
            qmp.send_keys(&CTRL_ALT_DEL)?;
            drop(qmp);
            pressed
        }
        // The rebooter asks once hello-world has ended, which it does at once.
        Trigger::Console => {
            qemu.seen_until(
                trigger.request_line(),
                Instant::now() + options.exit_timeout,
            )?;
            Instant::now()
        }
    };
    qemu.expect(RESTARTING, options.exit_timeout)?;
    let exit = if qemu.board().powers_off() {
        qemu.wait_exit(options.exit_timeout)?.code()
    } else {
        None // raspi2b never ends by itself: the harness stops it
    };
    Ok(Observed {
        started,
        hello,
        exit,
        up_after,
        shutdown: requested.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(board: Board) -> BoardFiles {
        BoardFiles::load(board)
            .unwrap()
            .with_overrides(board.config_overrides())
    }

    #[test]
    fn every_board_runs_its_steps_on_the_disks_the_harness_attaches() {
        let all = [
            "early",
            "board",
            "modules",
            "watchdog",
            "root",
            "config",
            "data",
            "runtime",
            "runtime.registry",
            "runtime.setup",
            "runtime.mounts",
            "runtime.starts",
        ];
        for board in [Board::X86_64, Board::Aarch64] {
            check_devices(board, &files(board), &[]).unwrap();
            assert_eq!(expected_steps(&files(board)), all, "{board}");
        }
        // raspi2b: no watchdog (it would reset the machine at once).
        check_devices(Board::Rpi2, &files(Board::Rpi2), &[]).unwrap();
        let without: Vec<&str> = all.into_iter().filter(|s| *s != "watchdog").collect();
        assert_eq!(expected_steps(&files(Board::Rpi2)), without);
    }

    #[test]
    fn a_board_on_other_disks_is_refused() {
        let real = BoardFiles::load(Board::Aarch64).unwrap();
        let error = check_devices(Board::Aarch64, &real, &[]).unwrap_err();
        assert!(error.to_string().contains("not /dev/mmcblk0p2"), "{error}");
        let data = files(Board::Aarch64).with_overrides(&["northstar.data.device=/dev/vdc"]);
        assert!(matches!(
            check_devices(Board::Aarch64, &data, &[]),
            Err(Error::Devices {
                what: "data.device",
                ..
            })
        ));
    }
}
