//! The boot scenario: Northstar's own init as PID 1 of a board, with a verified root and
//! a data partition, booting to a running container, then shut down cleanly.
//!
//! Steps ([`run`]):
//!
//! 1. fetch the board's kernel; read its configuration (`board-configs/<board>/`);
//! 2. build `northstar` and `hello-world` for the board's target (static, release);
//! 3. generate a root key and a package key for this run;
//! 4. build the images ([`crate::image`]): the root image (verity, signed descriptor),
//!    the example packages in the runtime configuration's `system` repository on the data
//!    image (ext4), the initramfs with the board's modules;
//! 5. boot: root image read-only as the first virtio disk, data image as the second, the
//!    board's watchdog device, a QMP socket; the console goes to `console.log`;
//! 6. wait for the init's start, its boot report and hello-world's output;
//! 7. press Ctrl-Alt-Del through QMP: the init gets SIGINT and reboots in order, which
//!    `-no-reboot` turns into QEMU's exit; wait for the kernel's `reboot: Restarting
//!    system` and for QEMU to exit with status 0;
//! 8. check the data image on the host: `e2fsck -fn` clean, the superblock clean without
//!    `needs_recovery`, and the directories the init laid out at boot are there.
//!
//! Everything lives in `<work_dir>/<board>/boot/`, rebuilt on every run.

mod images;
mod outcome;
pub mod report;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::image::{self, config::BoardFiles, data, initrd, packages, root};
use crate::kernels::KernelCache;
use crate::modules;
use crate::qemu::{self, qmp, Drive, Qemu, QemuConfig};
use crate::{cargo, kernels, Board};
use images::Images;
pub use outcome::BootRun;
pub use report::BootReport;

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
/// The longest unix socket path (`sun_path` less its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Errors of a boot run (what the guest did wrong is in [`BootRun::problems`], or, when a
/// line never came, in the [`qemu::Error`] with the console's tail).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{board}: the boot scenario supports x86_64 only so far")]
    Unsupported { board: Board },
    #[error("{path}: the board must use {expected} for {what} (the harness's disk order)")]
    Devices {
        path: PathBuf,
        what: &'static str,
        expected: &'static str,
    },
    #[error("cannot create {path}")]
    WorkDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the QMP socket path {path} is longer than {MAX_SOCKET_PATH} bytes")]
    SocketPath { path: PathBuf },
    #[error("{board}: the init's boot failed: {line} (log: {log})\n--- console tail ---\n{tail}")]
    BootFailed {
        board: Board,
        line: String,
        log: PathBuf,
        tail: String,
    },
    #[error("cannot generate a key")]
    Key(#[source] npk::key::Error),
    #[error(transparent)]
    Kernel(#[from] kernels::Error),
    #[error(transparent)]
    Build(#[from] cargo::Error),
    #[error(transparent)]
    Config(#[from] image::config::Error),
    #[error(transparent)]
    Modules(#[from] modules::Error),
    #[error(transparent)]
    Root(#[from] root::Error),
    #[error(transparent)]
    Packages(#[from] packages::Error),
    #[error(transparent)]
    Data(#[from] data::Error),
    #[error(transparent)]
    Initrd(#[from] initrd::Error),
    #[error(transparent)]
    Qemu(#[from] qemu::Error),
    #[error(transparent)]
    Qmp(#[from] qmp::Error),
}

/// How to run the boot.
#[derive(Clone, Debug)]
pub struct BootOptions {
    /// From QEMU's start to hello-world's output.
    pub boot_timeout: Duration,
    /// From Ctrl-Alt-Del to the kernel's restart line, and from there to QEMU's exit.
    pub exit_timeout: Duration,
    /// Extra kernel arguments (e.g. `northstar.log=debug`).
    pub cmdline: Vec<String>,
    /// A prebuilt `northstar` for the board; `None` builds it with cargo.
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

/// Boots Northstar's init on `board` and reports what happened.
pub fn run(board: Board, cache: &KernelCache, options: &BootOptions) -> Result<BootRun, Error> {
    if board != Board::X86_64 {
        return Err(Error::Unsupported { board });
    }
    let kernel = cache.fetch(board)?;
    let files = BoardFiles::load(board)?;
    check_devices(&files)?;
    let dir = options.work_dir.join(board.name()).join("boot");
    std::fs::create_dir_all(&dir).map_err(|source| Error::WorkDir {
        path: dir.clone(),
        source,
    })?;
    let (init, hello_world) = images::binaries(board, options)?;
    let images = images::build_images(&kernel, &files, &init, &hello_world, &dir)?;

    let qmp_socket = dir.join("qmp.sock");
    if qmp_socket.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(Error::SocketPath { path: qmp_socket });
    }
    let _ = std::fs::remove_file(&qmp_socket);
    let mut config = QemuConfig::new(&kernel, &images.initrd, &dir.join("console.log"));
    config.cmdline.extend(options.cmdline.iter().cloned());
    config.drives = vec![
        Drive {
            path: images.root.path.clone(),
            read_only: true,
        },
        Drive {
            path: images.data.clone(),
            read_only: false,
        },
    ];
    if files.watchdog {
        config
            .devices
            .extend(board.watchdog_device().map(String::from));
    }
    config.qmp = Some(qmp_socket.clone());
    config.hard_timeout = options.boot_timeout + 2 * options.exit_timeout + Duration::from_secs(30);

    let mut qemu = Qemu::spawn(&config)?;
    let observed = observe(&mut qemu, &qmp_socket, &images, options);
    let killed = qemu.kill();
    let observed = observed?;
    killed?;
    let total = qemu.elapsed();

    let mut missing_data_dirs = Vec::new();
    for dir in files.data_layout() {
        if !data::is_dir(&images.data, &format!("/{dir}"))? {
            missing_data_dirs.push(dir);
        }
    }
    let transcript = qemu.transcript();
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
        qemu_exit: observed.exit,
        fsck: data::fsck(&images.data)?,
        superblock: data::superblock(&images.data)?,
        missing_data_dirs,
        up_after: observed.up_after,
        shutdown: observed.shutdown,
        total,
        log: qemu.log_path().to_path_buf(),
        kernel,
    })
}

/// The harness attaches the root image first and the data image second: the board must
/// name them so.
fn check_devices(files: &BoardFiles) -> Result<(), Error> {
    let wrong = |what, expected| Error::Devices {
        path: files.board_toml.clone(),
        what,
        expected,
    };
    if files.root_device != "/dev/vda" {
        return Err(wrong("root.device", "/dev/vda"));
    }
    if files
        .data_device
        .as_deref()
        .is_some_and(|d| d != "/dev/vdb")
    {
        return Err(wrong("data.device", "/dev/vdb"));
    }
    Ok(())
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
    steps.push("runtime");
    steps
}

/// What [`observe`] saw.
struct Observed {
    started: String,
    hello: String,
    exit: Option<i32>,
    up_after: Duration,
    shutdown: Duration,
}

/// Watches the boot, presses Ctrl-Alt-Del, watches the reboot.
fn observe(
    qemu: &mut Qemu,
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

    let pressed = Instant::now();
    let mut qmp = qmp::Qmp::connect(qmp_socket, Duration::from_secs(10))?;
    qmp.send_keys(&CTRL_ALT_DEL)?;
    drop(qmp);
    qemu.expect(RESTARTING, options.exit_timeout)?;
    let status = qemu.wait_exit(options.exit_timeout)?;
    Ok(Observed {
        started,
        hello,
        exit: status.code(),
        up_after,
        shutdown: pressed.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_x86_64_board_runs_every_step() {
        let files = BoardFiles::load(Board::X86_64).unwrap();
        check_devices(&files).unwrap();
        assert_eq!(
            expected_steps(&files),
            ["early", "board", "modules", "watchdog", "root", "config", "data", "runtime"]
        );
    }
}
