//! The init as PID 1 of a new PID and mount namespace on the host, as root
//! (`unshare --pid --fork --mount --propagation private`), with `/etc` replaced by a
//! directory holding only a board configuration. No root device exists there, so the
//! boot stops at the root step and the board's reaction applies; what is checked is
//! everything around it: the reaction, the hold, signals, reaping and the end.
//!
//! In a PID namespace `reboot(2)` ends the namespace: the kernel kills its init, and its
//! parent (`unshare`, which then kills itself with the same signal) sees SIGINT for a
//! power-off and SIGHUP for a reboot. That exit status is what the tests check. The
//! verified root, modules, the data partition, the runtime and the watchdog are proven by
//! booting the real init under QEMU.

use std::{
    fs,
    io::{BufRead, BufReader},
    os::unix::process::ExitStatusExt,
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc::{self, Receiver},
    time::{Duration, Instant},
};

const PATIENCE: Duration = Duration::from_secs(30);

/// A board whose root device never appears: the boot fails at the root step.
fn board(reaction: &str) -> String {
    format!(
        "name = \"namespace-test\"\nreaction = \"{reaction}\"\n\
         [root]\ndevice = \"/nonexistent/root\"\nwait = \"1ms\"\n"
    )
}

/// The init running as PID 1 of its own namespaces.
struct Namespace {
    unshare: Child,
    init: Option<u32>,
    lines: Receiver<String>,
    seen: Vec<String>,
    _etc: tempfile::TempDir,
}

impl Namespace {
    fn boot(board: &str) -> Namespace {
        let etc = tempfile::tempdir().unwrap();
        fs::create_dir(etc.path().join("northstar")).unwrap();
        fs::write(etc.path().join("northstar/board.toml"), board).unwrap();
        let mut unshare = Command::new("unshare")
            .args([
                "--pid",
                "--fork",
                "--mount",
                "--propagation",
                "private",
                "--",
            ])
            .args([
                "/bin/sh",
                "-c",
                "mount --bind \"$1\" /etc && exec \"$2\"",
                "sh",
            ])
            .arg(etc.path())
            .arg(env!("CARGO_BIN_EXE_northstar"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = unshare.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // The init, once `sh` executed it; `None` if it has ended already (a reaction
        // without hold can be that quick).
        let init = wait_until(|| {
            if let Ok(Some(_)) = unshare.try_wait() {
                return Some(None);
            }
            let pid = children(unshare.id()).into_iter().next()?;
            let exe = fs::read_link(format!("/proc/{pid}/exe")).ok()?;
            (exe == Path::new(env!("CARGO_BIN_EXE_northstar"))).then_some(Some(pid))
        });
        Namespace {
            unshare,
            init,
            lines,
            seen: Vec::new(),
            _etc: etc,
        }
    }

    /// Wait for a line of the init's stderr containing `text` (a point to continue
    /// from, not an assertion about timing).
    fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + PATIENCE;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(text);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "no line with {text:?}; the init wrote:\n{}",
            self.seen.join("\n")
        );
    }

    /// The init's pid (in the test's PID namespace).
    fn pid(&self) -> u32 {
        self.init.expect("the init is running")
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.pid() as i32);
        nix::sys::signal::kill(pid, signal).unwrap();
    }

    /// How `unshare` ended (it ends the way the namespace's init did).
    fn end(mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.unshare.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the namespace did not end");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // A failed test must not leave an init holding forever.
        if let (Ok(None), Some(init)) = (self.unshare.try_wait(), self.init) {
            let pid = nix::unistd::Pid::from_raw(init as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = self.unshare.wait();
        }
    }
}

/// The children of `pid`'s main thread.
fn children(pid: u32) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn wait_until<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "condition not reached in time");
        std::thread::sleep(Duration::from_millis(10));
    }
}

const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;

#[test]
fn hold_then_sigterm_powers_off() {
    let mut ns = Namespace::boot(&board("hold"));
    ns.wait_for("northstar: HOLD: boot failed: root file system");
    // Held: the init is alive and waits.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        ns.unshare.try_wait().unwrap().is_none(),
        "a held init keeps running"
    );
    ns.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(ns.end().signal(), Some(SIGINT), "power-off");
}

#[test]
fn hold_then_sigusr1_reboots() {
    let mut ns = Namespace::boot(&board("hold"));
    ns.wait_for("northstar: HOLD:");
    ns.signal(nix::sys::signal::Signal::SIGUSR1);
    assert_eq!(ns.end().signal(), Some(SIGHUP), "reboot");
}

#[test]
fn reactions_without_hold() {
    let ns = Namespace::boot(&board("poweroff"));
    assert_eq!(ns.end().signal(), Some(SIGINT), "power-off");
    let ns = Namespace::boot(&board("reboot"));
    assert_eq!(ns.end().signal(), Some(SIGHUP), "reboot");
    // A board configuration that is not TOML: the default reaction, reboot.
    let ns = Namespace::boot("name = [[[\n");
    assert_eq!(ns.end().signal(), Some(SIGHUP), "reboot");
}

#[test]
fn a_refused_board_configuration_still_has_its_reaction() {
    // An unknown key refuses the configuration, but its `reaction` still applies.
    let mut ns = Namespace::boot(&format!("{}colour = \"red\"\n", board("hold")));
    ns.wait_for("northstar: HOLD: boot failed: board configuration");
    ns.signal(nix::sys::signal::Signal::SIGINT);
    assert_eq!(ns.end().signal(), Some(SIGHUP), "reboot");
}

#[test]
fn orphans_are_reaped() {
    let mut ns = Namespace::boot(&board("hold"));
    ns.wait_for("northstar: HOLD:");
    let init = ns.pid();
    assert!(children(init).is_empty());
    // A process in the namespace starts `sleep` and exits: `sleep` is orphaned and
    // reparented to the namespace's init.
    let status = Command::new("nsenter")
        .args(["--target", &init.to_string(), "--pid", "--mount", "--"])
        .args(["/bin/sh", "-c", "sleep 1 & exit 0"])
        .status()
        .unwrap();
    assert!(status.success());
    let orphan = wait_until(|| children(init).into_iter().next());
    // Forked by `sh`, then `sleep` once executed.
    wait_until(|| {
        let comm = fs::read_to_string(format!("/proc/{orphan}/comm")).ok()?;
        (comm.trim() == "sleep").then_some(())
    });
    // When it ends, the init reaps it: no zombie stays behind.
    wait_until(|| children(init).is_empty().then_some(()));
    assert!(
        !Path::new(&format!("/proc/{orphan}")).exists(),
        "{orphan} reaped"
    );
    ns.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(ns.end().signal(), Some(SIGINT));
}
