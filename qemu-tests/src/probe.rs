//! The probe scenario: the harness proven end to end without Northstar's init. It boots a
//! board's Debian kernel with an initramfs whose `/init` is `probe-init` (a static binary of
//! this crate), which loads modules with `finit_module`, prints what happened and powers
//! off; the harness reads the console into a [`ProbeReport`].
//!
//! Steps: fetch the kernel, build `probe-init` for the board, resolve the modules, write
//! the initramfs, boot, read the probe's lines, then wait for the power-off (QEMU exits by
//! itself on x86_64 and aarch64; on raspi2b the harness stops it).

mod report;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::initramfs::{DeviceKind, Initramfs};
use crate::kernels::{Kernel, KernelCache};
use crate::modules::{ModuleIndex, Resolution};
use crate::qemu::{Qemu, QemuConfig};
use crate::{cargo, initramfs, kernels, modules, qemu, Board};
pub use report::{ModuleOutcome, ProbeReport};

/// The line the probe prints when it is done: `NORTHSTAR-QEMU-OK <arch>`.
pub const MARKER: &str = "NORTHSTAR-QEMU-OK";
/// Prefix of the probe's other lines.
pub const PREFIX: &str = "NORTHSTAR-PROBE";
/// What the kernel prints when it carries out `reboot(RB_POWER_OFF)`: it powers down where
/// the machine can, and halts where it cannot (raspi2b).
pub fn power_off_message(board: Board) -> &'static str {
    if board.powers_off() {
        "reboot: Power down"
    } else {
        "reboot: System halted"
    }
}
/// The modules the probe loads by default: `loop`, and `dm-verity` with its dependencies
/// (dm-mod, dm-bufio, …) to exercise the load order.
pub const DEFAULT_MODULES: [&str; 2] = ["loop", "dm-verity"];
/// Where the probe finds its module list in the initramfs.
const MODULE_LIST: &str = "/etc/probe/modules";

/// Errors of a probe run (the guest's own failures are in the [`ProbeReport`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kernel(#[from] kernels::Error),
    #[error(transparent)]
    Build(#[from] cargo::Error),
    #[error(transparent)]
    Modules(#[from] modules::Error),
    #[error(transparent)]
    Initramfs(#[from] initramfs::Error),
    #[error(transparent)]
    Qemu(#[from] qemu::Error),
    #[error("cannot create {path}")]
    WorkDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How to run the probe.
#[derive(Clone, Debug)]
pub struct ProbeOptions {
    /// Modules for the guest to load (dependencies are added).
    pub modules: Vec<String>,
    /// From QEMU's start to the marker.
    pub boot_timeout: Duration,
    /// From the marker to the power-off (and QEMU's exit where the board powers off).
    pub exit_timeout: Duration,
    /// Extra kernel arguments.
    pub cmdline: Vec<String>,
    /// A prebuilt `probe-init` for the board; `None` builds it with cargo.
    pub probe_init: Option<PathBuf>,
    /// The initramfs and console log go to `<work_dir>/<board>/`.
    pub work_dir: PathBuf,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            modules: DEFAULT_MODULES.map(String::from).to_vec(),
            boot_timeout: Duration::from_secs(120),
            exit_timeout: Duration::from_secs(30),
            cmdline: Vec::new(),
            probe_init: None,
            work_dir: cargo::target_dir().join("qemu-tests"),
        }
    }
}

/// Boots the probe on `board` and reports what the guest printed.
pub fn run(
    board: Board,
    cache: &KernelCache,
    options: &ProbeOptions,
) -> Result<ProbeReport, Error> {
    let kernel = cache.fetch(board)?;
    let init = match &options.probe_init {
        Some(path) => path.clone(),
        None => cargo::build_guest_binary("probe-init", board)?,
    };
    let resolution = ModuleIndex::load(&kernel.modules_dir)?.resolve(&options.modules)?;
    let dir = options.work_dir.join(board.name());
    std::fs::create_dir_all(&dir).map_err(|source| Error::WorkDir {
        path: dir.clone(),
        source,
    })?;
    let initrd = dir.join("probe.cpio");
    build_initramfs(&kernel, &init, &resolution, &initrd)?;

    let mut config = QemuConfig::new(&kernel, &initrd, &dir.join("probe-console.log"));
    config.cmdline.extend(options.cmdline.iter().cloned());
    config.hard_timeout = options.boot_timeout + options.exit_timeout + Duration::from_secs(30);
    let mut qemu = Qemu::spawn(&config)?;
    let observed = observe(&mut qemu, kernel, resolution, options);
    let killed = qemu.kill();
    let mut report = observed?;
    killed?;
    report.total = qemu.elapsed();
    Ok(report)
}

/// Writes the probe's initramfs: `/init`, `/dev/console`, `/proc`, the modules under
/// `/lib/modules/<release>/` and their list in load order.
pub fn build_initramfs(
    kernel: &Kernel,
    init: &Path,
    resolution: &Resolution,
    out: &Path,
) -> Result<u64, Error> {
    let mut archive = Initramfs::new();
    archive
        .dir("/dev", 0o755)?
        .device("/dev/console", DeviceKind::Char, 5, 1, 0o600)?
        .dir("/proc", 0o555)?
        .file_from("/init", init, 0o755)?;
    let mut list = String::new();
    for module in &resolution.load_order {
        let guest = Path::new("/lib/modules")
            .join(&kernel.release)
            .join(&module.relative);
        let guest = guest.to_string_lossy();
        archive.file_from(&guest, &module.path, 0o644)?;
        list.push_str(&format!("{} {guest}\n", module.name));
    }
    archive.file(MODULE_LIST, list.into_bytes(), 0o644)?;
    Ok(archive.write(out)?)
}

/// Reads the probe's lines from the console, in the order the probe prints them.
fn observe(
    qemu: &mut Qemu,
    kernel: Kernel,
    resolution: Resolution,
    options: &ProbeOptions,
) -> Result<ProbeReport, Error> {
    let board = kernel.board;
    let deadline = std::time::Instant::now() + options.boot_timeout;
    let start = qemu.expect_until(&format!("{PREFIX} start"), deadline)?;
    let release = qemu.expect_until(&format!("{PREFIX} release="), deadline)?;
    let mut outcomes = Vec::new();
    for _ in &resolution.load_order {
        let line = qemu.expect_until(&format!("{PREFIX} module="), deadline)?;
        outcomes.push(ModuleOutcome::parse(&line));
    }
    let marker = qemu.expect_until(MARKER, deadline)?;
    let marker_after = qemu.elapsed();
    qemu.expect(power_off_message(board), options.exit_timeout)?;
    let exited = if board.powers_off() {
        Some(qemu.wait_exit(options.exit_timeout)?)
    } else {
        None
    };
    Ok(ProbeReport {
        board,
        guest_arch: report::field(&start, "arch").unwrap_or_default(),
        guest_release: report::field(&release, "release").unwrap_or_default(),
        marker_arch: report::after(&marker, MARKER).unwrap_or_default(),
        expected_modules: resolution
            .load_order
            .iter()
            .map(|m| m.name.clone())
            .collect(),
        modules: outcomes,
        builtin: resolution.builtin,
        qemu_exit: exited.map(|s| s.code()),
        marker_after,
        // Set again once QEMU is gone.
        total: qemu.elapsed(),
        log: qemu.log_path().to_path_buf(),
        kernel,
    })
}
