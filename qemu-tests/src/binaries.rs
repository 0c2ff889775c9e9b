//! The programs of one harness run, built before any machine boots and shared by every
//! command of the run (the boots, the demo, the scenarios):
//!
//! - the boards' guest binaries: one cargo build of [`cargo::GUEST_PACKAGES`] for all the
//!   boards' targets (the same build as the test suite's cross builds, so that either
//!   reuses the other's output);
//! - where the scenarios need it, the init's test build (`northstar` with the feature
//!   `fault-injection`): the same cargo build with that feature, which recompiles only
//!   the init;
//! - `nstar` for the host, the client of the management channel: the static `nstar` of
//!   a board of the host's architecture where one is built (x86_64's on an x86_64 Linux
//!   host), else a release build for the host.
//!
//! The guest binaries are copied into `<work_dir>/<board>/bin/` (the test build as
//! `northstar-fault-injection`): cargo's target directory holds only the init built last,
//! and the images built later in the run must not depend on what the next cargo build
//! leaves there.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::Error;
use crate::{cargo, Board};

/// The file name of the init's test build in `<work_dir>/<board>/bin/`.
pub const FAULT_INJECTION_INIT: &str = "northstar-fault-injection";
/// The cargo feature of the init's test build.
const FAULT_INJECTION_FEATURE: &str = "northstar/fault-injection";

/// What the commands of a run need built.
#[derive(Clone, Debug, Default)]
pub struct Needs {
    /// Boards whose production build (every package of [`cargo::GUEST_PACKAGES`]) is
    /// needed.
    pub boards: Vec<Board>,
    /// Boards whose init is also needed as the test build (`fault-injection`).
    pub fault_injection: Vec<Board>,
    /// `nstar` for the host (the board's of the host's architecture, when it is among the
    /// boards built).
    pub host_nstar: bool,
}

/// The binaries of one board, in `<work_dir>/<board>/bin/`.
#[derive(Clone, Debug)]
struct BoardBinaries {
    board: Board,
    dir: PathBuf,
    /// Whether the production init is there (not only the test build).
    production: bool,
    fault_injection: bool,
}

/// The binaries a run built.
#[derive(Clone, Debug, Default)]
pub struct Binaries {
    boards: Vec<BoardBinaries>,
    nstar: Option<PathBuf>,
}

impl Binaries {
    /// Builds what `needs` asks for and copies the guest binaries into
    /// `<work_dir>/<board>/bin/`.
    pub fn build(needs: &Needs, work_dir: &Path) -> Result<Binaries, Error> {
        let wanted = |list: &[Board]| -> Vec<Board> {
            Board::ALL
                .into_iter()
                .filter(|b| list.contains(b))
                .collect()
        };
        let production = wanted(&needs.boards);
        let fault_injection = wanted(&needs.fault_injection);
        let mut built = Binaries::default();
        for board in Board::ALL {
            if production.contains(&board) || fault_injection.contains(&board) {
                let dir = bin_dir(work_dir, board);
                std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
                built.boards.push(BoardBinaries {
                    board,
                    dir,
                    production: production.contains(&board),
                    fault_injection: fault_injection.contains(&board),
                });
            }
        }
        // The test build first: the production build after it leaves the production init
        // in cargo's target directory, where the test suite's later steps (the
        // build-system integrations) take it.
        if !fault_injection.is_empty() {
            let started = Instant::now();
            let paths = cargo::build_guest_packages(&fault_injection, &[FAULT_INJECTION_FEATURE])?;
            for (board, paths) in fault_injection.iter().zip(&paths) {
                let others = !production.contains(board);
                copy_binaries(
                    paths,
                    &bin_dir(work_dir, *board),
                    FAULT_INJECTION_INIT,
                    others,
                )?;
            }
            log::info!(
                "the init's test build ready in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        if !production.is_empty() {
            let started = Instant::now();
            let paths = cargo::build_guest_packages(&production, &[])?;
            for (board, paths) in production.iter().zip(&paths) {
                copy_binaries(paths, &bin_dir(work_dir, *board), "northstar", true)?;
            }
            log::info!(
                "guest binaries ready in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        if needs.host_nstar {
            // A board built for this host's architecture: its static nstar runs here as it
            // is (x86_64's on an x86_64 Linux host), and nothing more is built.
            let native = built.boards.iter().find(|b| runs_here(b.board));
            built.nstar = Some(match native {
                Some(native) => native.dir.join("nstar"),
                None => {
                    let started = Instant::now();
                    let nstar = cargo::build_host_binary("nstar", "nstar")?;
                    log::info!(
                        "nstar for the host ready in {:.1} s",
                        started.elapsed().as_secs_f64()
                    );
                    nstar
                }
            });
        }
        Ok(built)
    }

    /// The board's binary of package `name` of [`cargo::GUEST_PACKAGES`] (`northstar`:
    /// the production init).
    pub fn guest(&self, board: Board, name: &str) -> Result<PathBuf, Error> {
        let missing = || Error::Binary {
            name: format!("{name} for {board}"),
        };
        let built = self.board(board).ok_or_else(missing)?;
        if !cargo::GUEST_PACKAGES.contains(&name) || (name == "northstar" && !built.production) {
            return Err(missing());
        }
        Ok(built.dir.join(name))
    }

    /// The board's init built with the feature `fault-injection`.
    pub fn fault_injection_init(&self, board: Board) -> Result<PathBuf, Error> {
        match self.board(board) {
            Some(built) if built.fault_injection => Ok(built.dir.join(FAULT_INJECTION_INIT)),
            _ => Err(Error::Binary {
                name: format!("{FAULT_INJECTION_INIT} for {board}"),
            }),
        }
    }

    /// `nstar` for the host.
    pub fn nstar(&self) -> Result<PathBuf, Error> {
        self.nstar.clone().ok_or_else(|| Error::Binary {
            name: "nstar for the host".to_owned(),
        })
    }

    fn board(&self, board: Board) -> Option<&BoardBinaries> {
        self.boards.iter().find(|b| b.board == board)
    }
}

/// Whether the board's static binaries run on this host as they are: a Linux host of the
/// board's architecture.
fn runs_here(board: Board) -> bool {
    cfg!(target_os = "linux") && std::env::consts::ARCH == board.guest_arch()
}

/// Where the board's binaries are copied.
fn bin_dir(work_dir: &Path, board: Board) -> PathBuf {
    work_dir.join(board.name()).join("bin")
}

/// Copies the binaries of one build of [`cargo::GUEST_PACKAGES`] (`paths`, in that order)
/// into `dir`: the init as `init`, and with `others` every other binary under its name.
fn copy_binaries(paths: &[PathBuf], dir: &Path, init: &str, others: bool) -> Result<(), Error> {
    for (name, path) in cargo::GUEST_PACKAGES.iter().zip(paths) {
        let copy = match *name {
            "northstar" => dir.join(init),
            _ if others => dir.join(name),
            _ => continue,
        };
        // A new file, not the old one rewritten: whatever still reads the old one does not
        // see it change.
        let _ = std::fs::remove_file(&copy);
        std::fs::copy(path, &copy).map_err(Error::io("copy a binary to", &copy))?;
    }
    Ok(())
}
