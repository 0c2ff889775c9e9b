//! The scenarios of the x86_64 boot: Northstar's init booting test containers (the
//! workspace's `test-container`, packed and signed for each scenario) and what it does
//! when something is wrong. Each proves one promise of `doc/boot.md` and
//! `doc/runtime.md`:
//!
//! | scenario | promise |
//! |---|---|
//! | `ten` | ten autostart containers from signed packages, mounted through dm-verity, all start |
//! | `tampered-root` | a root changed after signing is refused; nothing from it runs |
//! | `tampered-package` | a package data block changed after installation fails the container reading it with EIO, named as corrupted by the runtime (dm-verity); a changed verity superblock is refused at start-up, naming it; the others run |
//! | `oom` | a container past its memory limit is OOM-killed and reported; the rest runs |
//! | `orphans` | processes orphaned by a container leave no zombie behind |
//! | `watchdog-fed` | the init feeds the watchdog: no reset long past its timeout |
//! | `watchdog-hang` | a hung init (test build only) gets the machine reset by the watchdog |
//! | `install-power-cut` | a power cut during an install through the management channel leaves the old package set or the new one, complete and verified |
//! | `init-panic` | a panic in a thread of the init (test build only) ends in the board's reaction, and the next boot's report holds it |
//! | `update` | an update through the management channel commits and survives a reboot, a bad one rolls back; a power cut before or after a commit (test build only) leaves exactly one version running |
//! | `update-cuts` | a power cut at the update's steps `stopping`, `snapshot` and `rolling_back` (test build only) leaves the version before running, its data as before |
//! | `ab-uboot` (aarch64) | U-Boot boots slot A and counts its attempts in its environment, the init marks A good; an update bundle installed over the management channel goes into slot B, which U-Boot boots next, while bundles for another board, tampered or older are refused and change nothing; once a bad slot B has no attempts left, U-Boot boots A, whose report names the fallback |
//!
//! The kernel, the board's configuration and the binaries (`northstar` with the feature
//! `fault-injection`, `test-container`, `nstar` for the host: the run's build,
//! [`Binaries`]) are prepared once ([`Shared`]) for every scenario of a run; each
//! scenario builds its images ([`crate::image::set`], under a second) and boots in
//! `<work_dir>/<board>/scenario/<name>/`. Scenarios share nothing else, so several can
//! run at the same time. How each one checks its result: `doc/qemu-tests.md`.

mod ab_uboot;
pub mod bench;
mod checks;
mod console;
mod drive;
mod images;
mod panic;
mod power_cut;
mod spec;
mod tamper;
mod transaction;
mod update;
mod update_cuts;

use std::path::PathBuf;
use std::time::Duration;

use crate::binaries::{Binaries, Needs};
/// Errors preparing or running a scenario (what the guest did wrong is in
/// [`Outcome::problems`], or, when a line never came, in the [`crate::qemu::Error`]).
pub use crate::error::Error;
use crate::image::{config::BoardFiles, data};
use crate::kernels::{Kernel, KernelCache};
use crate::{boot, cargo, Board};

/// The board of the scenarios (the only one so far).
pub const BOARD: Board = Board::X86_64;

/// A scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Ten,
    TamperedRoot,
    TamperedPackage,
    Oom,
    Orphans,
    WatchdogFed,
    WatchdogHang,
    InstallPowerCut,
    InitPanic,
    Update,
    UpdateCuts,
    AbUboot,
}

impl Scenario {
    /// Every scenario, in the order `all` runs them.
    pub const ALL: [Scenario; 11] = [
        Scenario::Ten,
        Scenario::TamperedRoot,
        Scenario::TamperedPackage,
        Scenario::Oom,
        Scenario::Orphans,
        Scenario::WatchdogFed,
        Scenario::WatchdogHang,
        Scenario::InstallPowerCut,
        Scenario::InitPanic,
        Scenario::Update,
        Scenario::UpdateCuts,
    ];

    /// The scenarios of the aarch64 board (not in `all`, the x86_64 ones; the suite runs
    /// both).
    pub const AARCH64: [Scenario; 1] = [Scenario::AbUboot];

    /// The board the scenario boots.
    pub fn board(self) -> Board {
        match self {
            Scenario::AbUboot => Board::Aarch64,
            _ => BOARD,
        }
    }

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Ten => "ten",
            Scenario::TamperedRoot => "tampered-root",
            Scenario::TamperedPackage => "tampered-package",
            Scenario::Oom => "oom",
            Scenario::Orphans => "orphans",
            Scenario::WatchdogFed => "watchdog-fed",
            Scenario::WatchdogHang => "watchdog-hang",
            Scenario::InstallPowerCut => "install-power-cut",
            Scenario::InitPanic => "init-panic",
            Scenario::Update => "update",
            Scenario::UpdateCuts => "update-cuts",
            Scenario::AbUboot => "ab-uboot",
        }
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Scenario {
    type Err = String;

    fn from_str(name: &str) -> Result<Scenario, String> {
        let known = Scenario::ALL.into_iter().chain(Scenario::AARCH64);
        known.clone().find(|s| s.name() == name).ok_or_else(|| {
            let names: Vec<&str> = known.map(|s| s.name()).collect();
            format!("unknown scenario {name:?} (known: {})", names.join(", "))
        })
    }
}

/// How to run the scenarios.
#[derive(Clone, Debug)]
pub struct Options {
    /// From QEMU's start to the scenario's last awaited line before the shutdown.
    pub boot_timeout: Duration,
    /// From Ctrl-Alt-Del (or the fault) to QEMU's exit.
    pub exit_timeout: Duration,
    /// Extra kernel arguments for every scenario.
    pub cmdline: Vec<String>,
    /// Everything goes to `<work_dir>/<board>/scenario/<name>/`.
    pub work_dir: PathBuf,
    /// Virtual CPUs of every machine (`-smp`).
    pub smp: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            boot_timeout: Duration::from_secs(90),
            exit_timeout: Duration::from_secs(60),
            cmdline: Vec::new(),
            work_dir: cargo::target_dir().join("qemu-tests"),
            smp: 1,
        }
    }
}

/// What every scenario of a run shares: the kernel, the board's files and the binaries.
pub struct Shared {
    pub board: Board,
    pub kernel: Kernel,
    pub files: BoardFiles,
    /// `northstar`, built with the feature `fault-injection`.
    pub init: PathBuf,
    pub test_container: PathBuf,
    /// `nstar` for the host, for the management channel (empty on aarch64, whose
    /// scenario does not use it).
    pub nstar: PathBuf,
    /// Bytes of an incompressible file (`/payload`) in each test package; none when 0
    /// (the benchmark of package sizes sets it).
    pub payload: u64,
}

impl Shared {
    /// What the scenarios of `board` need built.
    pub fn needs(board: Board) -> Needs {
        if board == Board::Aarch64 {
            // The production build: ab-uboot needs no test hook.
            return Needs {
                boards: vec![board],
                fault_injection: Vec::new(),
                host_nstar: false,
            };
        }
        Needs {
            boards: Vec::new(),
            fault_injection: vec![board],
            host_nstar: true,
        }
    }

    /// Fetches the kernel, reads the board's files and takes the binaries of
    /// [`Shared::needs`] from `binaries`.
    pub fn prepare(
        board: Board,
        cache: &KernelCache,
        binaries: &Binaries,
    ) -> Result<Shared, Error> {
        if board == Board::Aarch64 {
            return Ok(Shared {
                board,
                kernel: cache.fetch(board)?,
                files: BoardFiles::load(board)?,
                init: binaries.guest(board, "northstar")?,
                test_container: binaries.guest(board, "test-container")?,
                nstar: PathBuf::new(),
                payload: 0,
            });
        }
        if board != BOARD {
            return Err(Error::Unsupported { board });
        }
        Ok(Shared {
            board,
            kernel: cache.fetch(board)?,
            files: BoardFiles::load(board)?,
            init: binaries.fault_injection_init(board)?,
            test_container: binaries.guest(board, "test-container")?,
            nstar: binaries.nstar()?,
            payload: 0,
        })
    }
}

/// How a scenario went.
#[derive(Debug)]
pub struct Outcome {
    pub scenario: Scenario,
    /// What the scenario saw, for the report.
    pub notes: Vec<String>,
    /// Every way it differs from the promise; empty when it passed.
    pub problems: Vec<String>,
    /// From QEMU's start until it was gone.
    pub machine: Duration,
    pub log: PathBuf,
}

/// Runs `scenario` and checks its result.
pub fn run(shared: &Shared, scenario: Scenario, options: &Options) -> Result<Outcome, Error> {
    let dir = options
        .work_dir
        .join(shared.board.name())
        .join("scenario")
        .join(scenario.name());
    std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
    if scenario.board() != shared.board {
        return Err(Error::Unsupported {
            board: shared.board,
        });
    }
    if scenario == Scenario::AbUboot {
        return ab_uboot::run(shared, &dir, options);
    }
    let images = images::build(shared, scenario, &dir)?;
    if scenario == Scenario::InstallPowerCut {
        return power_cut::run(shared, &images, &dir, options);
    }
    if scenario == Scenario::InitPanic {
        return panic::run(shared, &images, &dir, options);
    }
    if scenario == Scenario::Update {
        return update::run(shared, &images, &dir, options);
    }
    if scenario == Scenario::UpdateCuts {
        return update_cuts::run(shared, &images, &dir, options);
    }
    let observed = drive::boot(shared, scenario, &images, &dir, options)?;
    let expected_steps = boot::expected_steps(&shared.files);
    let mut outcome = checks::check(scenario, &images.containers, &observed, &expected_steps);
    for (i, (path, t, what)) in images.tampered.iter().enumerate() {
        outcome.notes.insert(
            i,
            format!(
                "tampered {} at byte {} ({what}): {:#04x} -> {:#04x}",
                path.display(),
                t.offset,
                t.was,
                t.now
            ),
        );
    }
    if observed.orderly {
        let fsck = data::fsck(&images.data)?;
        if !fsck.clean() {
            outcome.problems.push(format!(
                "e2fsck -fn on the data image: status {}\n{}",
                fsck.status, fsck.output
            ));
        }
    }
    Ok(Outcome {
        scenario,
        notes: outcome.notes,
        problems: outcome.problems,
        machine: observed.machine,
        log: observed.log,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Scenario::ALL.into_iter().chain(Scenario::AARCH64) {
            assert_eq!(s.name().parse::<Scenario>(), Ok(s));
        }
        assert!("nonesuch".parse::<Scenario>().is_err());
    }
}
