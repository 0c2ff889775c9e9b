//! Running one QEMU machine: the command line for a board ([`QemuConfig`]) and the running
//! machine ([`Qemu`]) with its serial console captured, `expect` with deadlines, a log file
//! of everything the console printed, and a hard timeout.
//!
//! QEMU always runs under TCG (never KVM), with no network device at all, and under
//! `timeout(1)` in its own process group: even if the harness dies, the machine is gone
//! after the hard timeout; [`Qemu`] kills the group when dropped, and [`stop_all`] (for a
//! harness that is interrupted) kills every group still running. It does not know what a
//! guest does: scenarios bring the kernel, initramfs and the patterns to expect.

#[cfg(feature = "images")]
pub mod channel;
mod config;
mod console;
#[cfg(feature = "images")]
pub mod qmp;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

pub use config::{Drive, QemuConfig, SerialPort};
use console::Console;

use crate::Board;

/// How long QEMU gets to exit after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);

/// Process groups of the machines started and not yet reaped.
static RUNNING: Mutex<Vec<Pid>> = Mutex::new(Vec::new());

/// Kills (SIGKILL) every machine this process started and has not reaped yet. For a
/// harness that is interrupted and exits without unwinding, so that no QEMU outlives it.
pub fn stop_all() {
    let groups = std::mem::take(&mut *RUNNING.lock().unwrap_or_else(PoisonError::into_inner));
    for group in groups {
        if let Err(err) = killpg(group, Signal::SIGKILL) {
            if err != nix::Error::ESRCH {
                log::error!("cannot kill qemu's process group {group}: {err}");
            }
        }
    }
}

/// Errors of a QEMU run. Console failures carry the log path and the transcript's tail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{program} is not installed (scripts/setup.sh installs it)")]
    NotInstalled { program: &'static str },
    #[error("{board}: {what} is not available on this machine")]
    Unsupported { board: Board, what: &'static str },
    #[error("{board}: {what} is not valid UTF-8: {path}")]
    NonUtf8Path {
        board: Board,
        what: &'static str,
        path: PathBuf,
    },
    #[error("cannot create the console log {path}")]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{board}: cannot start {program}")]
    Spawn {
        board: Board,
        program: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{board}: no {pattern:?} on the console within {timeout:.1?} (log: {log})\n\
         --- console tail ---\n{tail}\n--- qemu stderr ---\n{stderr}"
    )]
    Timeout {
        board: Board,
        pattern: String,
        timeout: Duration,
        log: PathBuf,
        tail: String,
        stderr: String,
    },
    #[error(
        "{board}: qemu ended before {pattern:?} appeared (log: {log})\n\
         --- console tail ---\n{tail}\n--- qemu stderr ---\n{stderr}"
    )]
    Ended {
        board: Board,
        pattern: String,
        log: PathBuf,
        tail: String,
        stderr: String,
    },
    #[error("{board}: qemu did not exit within {timeout:.1?} (log: {log})")]
    NoExit {
        board: Board,
        timeout: Duration,
        log: PathBuf,
    },
    #[error("{board}: cannot wait for qemu")]
    Wait {
        board: Board,
        #[source]
        source: std::io::Error,
    },
    #[error("{board}: cannot signal qemu's process group")]
    Kill {
        board: Board,
        #[source]
        source: nix::Error,
    },
}

/// A running QEMU machine.
pub struct Qemu {
    board: Board,
    child: Child,
    console: Console,
    log: PathBuf,
    started: Instant,
    status: Option<ExitStatus>,
}

impl Qemu {
    /// Starts QEMU as `config` describes; the console log goes to `config.log`.
    pub fn spawn(config: &QemuConfig) -> Result<Qemu, Error> {
        let board = config.board;
        let program = board.qemu_binary();
        if !on_path(program) {
            return Err(Error::NotInstalled { program });
        }
        let args = config.args()?;
        if let Some(parent) = config.log.parent() {
            std::fs::create_dir_all(parent).map_err(|source| Error::Log {
                path: config.log.clone(),
                source,
            })?;
        }
        let log = std::fs::File::create(&config.log).map_err(|source| Error::Log {
            path: config.log.clone(),
            source,
        })?;
        let hard = config.hard_timeout.as_secs().max(1).to_string();
        log::debug!("{board}: {program} {}", args.join(" "));
        let mut child = Command::new("timeout")
            .args(["--kill-after=5", &hard, program])
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|source| Error::Spawn {
                board,
                program,
                source,
            })?;
        let console = Console::start(child.stdout.take(), child.stderr.take(), log);
        RUNNING
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(group(&child));
        Ok(Qemu {
            board,
            child,
            console,
            log: config.log.clone(),
            started: Instant::now(),
            status: None,
        })
    }

    /// Waits until a console line containing `pattern` appears after the previous match,
    /// at most `timeout`; returns that line (without line ending).
    pub fn expect(&mut self, pattern: &str, timeout: Duration) -> Result<String, Error> {
        self.expect_until(pattern, Instant::now() + timeout)
    }

    /// [`Qemu::expect`] with an absolute deadline, for several steps sharing one budget.
    pub fn expect_until(&mut self, pattern: &str, deadline: Instant) -> Result<String, Error> {
        let started = Instant::now();
        self.console
            .expect(pattern, deadline)
            .map_err(|failure| self.failure(failure, pattern, deadline, started))
    }

    fn failure(
        &self,
        failure: console::Failure,
        pattern: &str,
        deadline: Instant,
        started: Instant,
    ) -> Error {
        match failure {
            console::Failure::Timeout => Error::Timeout {
                board: self.board,
                pattern: pattern.to_owned(),
                timeout: deadline.saturating_duration_since(started),
                log: self.log.clone(),
                tail: self.console.tail(30),
                stderr: self.console.stderr(),
            },
            console::Failure::Ended => Error::Ended {
                board: self.board,
                pattern: pattern.to_owned(),
                log: self.log.clone(),
                tail: self.console.tail(30),
                stderr: self.console.stderr(),
            },
        }
    }

    /// Waits until a console line containing `pattern` appears anywhere in the transcript
    /// since the [`Qemu::mark`] (before or after the previous match), at most until
    /// `deadline`; returns that line.
    /// The position of [`Qemu::expect`] does not move.
    pub fn seen_until(&self, pattern: &str, deadline: Instant) -> Result<String, Error> {
        let started = Instant::now();
        self.console
            .seen(pattern, deadline)
            .map_err(|failure| self.failure(failure, pattern, deadline, started))
    }

    /// From now on [`Qemu::seen_until`] looks only at lines after the last
    /// [`Qemu::expect`]ed one (the next boot of a machine that rebooted in place).
    pub fn mark(&mut self) {
        self.console.mark();
    }

    /// Waits for QEMU to exit by itself (guest power-off), at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(Error::NoExit {
                    board: self.board,
                    timeout,
                    log: self.log.clone(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops QEMU (SIGTERM to its process group, SIGKILL after a grace period) and reaps
    /// it. Does nothing when it has already exited.
    pub fn kill(&mut self) -> Result<(), Error> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        self.signal(Signal::SIGTERM)?;
        let deadline = Instant::now() + TERM_GRACE;
        while Instant::now() < deadline {
            if self.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.signal(Signal::SIGKILL)?;
        let status = self.child.wait().map_err(|source| Error::Wait {
            board: self.board,
            source,
        })?;
        self.reaped(status);
        Ok(())
    }

    /// Cuts the machine's power: SIGKILL to QEMU's process group at once (no grace; the
    /// guest's unwritten caches are lost, what QEMU wrote to the disk images stays), then
    /// reaps it. Does nothing when it has already exited.
    pub fn kill_now(&mut self) -> Result<(), Error> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        self.signal(Signal::SIGKILL)?;
        let status = self.child.wait().map_err(|source| Error::Wait {
            board: self.board,
            source,
        })?;
        self.reaped(status);
        Ok(())
    }

    /// Everything the console printed so far.
    pub fn transcript(&self) -> String {
        self.console.transcript()
    }

    /// The board this machine stands in for.
    pub fn board(&self) -> Board {
        self.board
    }

    /// The console log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Time since QEMU was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn try_wait(&mut self) -> Result<Option<ExitStatus>, Error> {
        if self.status.is_none() {
            let status = self.child.try_wait().map_err(|source| Error::Wait {
                board: self.board,
                source,
            })?;
            if let Some(status) = status {
                self.reaped(status);
            }
        }
        Ok(self.status)
    }

    /// Records the exit status; the group is no longer [`stop_all`]'s to kill.
    fn reaped(&mut self, status: ExitStatus) {
        self.status = Some(status);
        let group = group(&self.child);
        RUNNING
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|g| *g != group);
    }

    fn signal(&self, signal: Signal) -> Result<(), Error> {
        match killpg(group(&self.child), signal) {
            Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
            Err(source) => Err(Error::Kill {
                board: self.board,
                source,
            }),
        }
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        if let Err(err) = self.kill() {
            log::error!("{err}");
        }
    }
}

/// Runs QEMU on the terminal: the guest's console is this process's standard input and
/// output (`config.interactive` should be set), and QEMU runs until the guest powers off
/// or the user ends it. No hard timeout and no log file: the user watches.
pub fn run_interactive(config: &QemuConfig) -> Result<ExitStatus, Error> {
    let board = config.board;
    let program = board.qemu_binary();
    if !on_path(program) {
        return Err(Error::NotInstalled { program });
    }
    let args = config.args()?;
    log::debug!("{board}: {program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(&args)
        .spawn()
        .map_err(|source| Error::Spawn {
            board,
            program,
            source,
        })?;
    child.wait().map_err(|source| Error::Wait { board, source })
}

/// The process group of a child started with `process_group(0)`: its own pid.
fn group(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX))
}

/// Whether `program` is an executable file in one of `PATH`'s directories.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(program))
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}
