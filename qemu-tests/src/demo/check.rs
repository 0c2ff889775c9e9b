//! `demo --check`: the demo's image booted twice without a terminal.
//!
//! 1. Boot: the init starts, every example prints what it should (hello-world's greeting,
//!    Ferris's bubble from two resources, persistence's first count, cpueater's share
//!    under its CPU limit, memeater's OOM kill in its own cgroup), the channel is up, and
//!    `nstar list --json` over it shows every package, cpueater running. `nstar reboot`
//!    over the channel: the kernel restarts the machine (QEMU exits, `-no-reboot`).
//! 2. Boot the same disks: persistence counts 2 (its data survived the reboot), `nstar
//!    list` again, then `nstar shutdown` over the channel: the kernel powers off, QEMU
//!    exits with 0.
//! 3. The data image on the host: `e2fsck -fn` clean, the superblock `clean`.

use std::time::{Duration, Instant};

use super::{Error, Options, Prepared};
use crate::boot::{BOOT_FAILED, HOLD, RESTARTING, STARTED};
use crate::image::data;
use crate::qemu::{channel::PORT, Qemu};

/// The kernel's line of a power-off.
const POWER_DOWN: &str = "reboot: Power down";
/// The init's line when the channel is up.
const CHANNEL_UP: &str = "management channel: port";
/// Most of a CPU cpueater may report under its limit of a quarter.
const CPU_SHARE_MAX: f64 = 35.0;

/// One check and what was seen.
#[derive(Debug)]
pub struct Line {
    pub what: String,
    pub seen: String,
}

/// How `--check` went.
#[derive(Debug, Default)]
pub struct CheckRun {
    pub lines: Vec<Line>,
    pub problems: Vec<String>,
    /// Each boot's machine time, from QEMU's start until it was gone.
    pub boots: Vec<Duration>,
    pub logs: Vec<std::path::PathBuf>,
}

impl CheckRun {
    fn seen(&mut self, what: impl Into<String>, seen: impl Into<String>) {
        self.lines.push(Line {
            what: what.into(),
            seen: seen.into(),
        });
    }
}

/// What each example prints at the first boot: (container, text its line starts with).
pub const FIRST_BOOT: [(&str, &str); 5] = [
    (
        "hello-world:0.0.1",
        "Hello, embedded world! args: [\"--from\", \"northstar\"]",
    ),
    ("hello-ferris:0.0.1", "< Hello from a resource container! >"),
    ("persistence:0.0.1", "persistence: started 1 time(s)"),
    ("cpueater:0.0.1", "cpueater: "),
    ("memeater:0.0.1", "ended with "),
];

pub(super) fn run(prepared: &Prepared, options: &Options) -> Result<CheckRun, Error> {
    let mut run = CheckRun::default();
    for boot in 1..=2 {
        let mut config = prepared.machine(boot)?;
        config.hard_timeout =
            options.boot_timeout + 2 * options.exit_timeout + Duration::from_secs(120);
        let mut qemu = Qemu::spawn(&config)?;
        run.logs.push(qemu.log_path().to_path_buf());
        let result = one_boot(&mut qemu, boot, prepared, options, &mut run);
        let killed = qemu.kill();
        run.boots.push(qemu.elapsed());
        let transcript = qemu.transcript();
        for line in transcript.lines() {
            if line.contains(BOOT_FAILED) || line.contains(HOLD) {
                run.problems.push(format!("boot {boot}: {}", line.trim()));
            }
        }
        if let Err(e) = result {
            run.problems.push(format!("boot {boot}: {e}"));
            return Ok(run);
        }
        killed?;
    }
    let fsck = data::fsck(&prepared.images.data)?;
    let superblock = data::superblock(&prepared.images.data)?;
    run.seen(
        "data image",
        format!(
            "e2fsck -fn status {}, state {}",
            fsck.status, superblock.state
        ),
    );
    if !fsck.clean() {
        run.problems.push(format!(
            "e2fsck -fn on the data image: status {}\n{}",
            fsck.status, fsck.output
        ));
    }
    if superblock.state != "clean" {
        run.problems
            .push(format!("data image state {:?}", superblock.state));
    }
    Ok(run)
}

/// Drive one boot; an error when a line never came (or nstar failed).
fn one_boot(
    qemu: &mut Qemu,
    boot: u32,
    prepared: &Prepared,
    options: &Options,
    run: &mut CheckRun,
) -> Result<(), Error> {
    let deadline = Instant::now() + options.boot_timeout;
    qemu.expect_until(STARTED, deadline)?;
    let channel = qemu.seen_until(&format!("{CHANNEL_UP} {PORT}"), deadline)?;
    run.seen(
        format!("boot {boot}: channel"),
        after(&channel, "northstar: "),
    );
    if boot == 1 {
        for (id, text) in FIRST_BOOT {
            let line = qemu.seen_until(&format!("{id}: {text}"), deadline)?;
            let seen = after(&line, &format!("{id}: "));
            example(id, &seen, run);
            run.seen(id, seen);
        }
    } else {
        let line = qemu.seen_until("persistence:0.0.1: persistence: started ", deadline)?;
        let seen = after(&line, "persistence:0.0.1: ");
        if !seen.starts_with("persistence: started 2 time(s)") {
            run.problems.push(format!(
                "persistence after the reboot: {seen:?}, expected its second start"
            ));
        }
        run.seen("persistence:0.0.1 after the reboot", seen);
    }
    let list = prepared.nstar.list()?;
    let shown: Vec<String> = list
        .iter()
        .map(|(id, state)| format!("{id} {state}"))
        .collect();
    run.seen(format!("boot {boot}: nstar list"), shown.join(", "));
    for package in &prepared.images.packages {
        if !list.iter().any(|(id, _)| id == package) {
            run.problems
                .push(format!("boot {boot}: nstar list does not show {package}"));
        }
    }
    if !list
        .iter()
        .any(|(id, state)| id == "cpueater:0.0.1" && state == "running")
    {
        run.problems
            .push(format!("boot {boot}: cpueater is not running: {shown:?}"));
    }
    let (request, line) = if boot == 1 {
        ("reboot", RESTARTING)
    } else {
        ("shutdown", POWER_DOWN)
    };
    let answer = prepared.nstar.run(&[request])?;
    run.seen(format!("boot {boot}: nstar {request}"), answer.trim());
    qemu.expect(line, options.exit_timeout)?;
    let status = qemu.wait_exit(options.exit_timeout)?;
    if status.code() != Some(0) {
        run.problems.push(format!(
            "boot {boot}: qemu exited with {status}, expected 0"
        ));
    }
    Ok(())
}

/// The checks of one example's line beyond its start.
fn example(id: &str, seen: &str, run: &mut CheckRun) {
    match id {
        "cpueater:0.0.1" => match cpu_share(seen) {
            Some(share) if share > 0.0 && share <= CPU_SHARE_MAX => {}
            _ => run.problems.push(format!(
                "cpueater: {seen:?}: expected a share of at most {CPU_SHARE_MAX}% (its limit is 25%)"
            )),
        },
        "memeater:0.0.1" if !seen.contains("(out of memory)") => run
            .problems
            .push(format!("memeater: {seen:?}: expected an OOM kill")),
        _ => {}
    }
}

/// The percentage of `cpueater: 25% of a CPU (…)`.
fn cpu_share(line: &str) -> Option<f64> {
    line.strip_prefix("cpueater: ")?
        .split_once('%')?
        .0
        .trim()
        .parse()
        .ok()
}

/// The text after `marker` in a console line, trimmed.
fn after(line: &str, marker: &str) -> String {
    line.split_once(marker)
        .map_or(line, |(_, rest)| rest)
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_the_examples() {
        assert_eq!(cpu_share("cpueater: 25% of a CPU (3f2a)"), Some(25.0));
        assert_eq!(cpu_share("cpueater: lots"), None);
        let mut run = CheckRun::default();
        example("cpueater:0.0.1", "cpueater: 24% of a CPU (1)", &mut run);
        example(
            "memeater:0.0.1",
            "ended with signal SIGKILL (out of memory)",
            &mut run,
        );
        assert!(run.problems.is_empty(), "{:?}", run.problems);
        example("cpueater:0.0.1", "cpueater: 97% of a CPU (1)", &mut run);
        example("memeater:0.0.1", "ended with exit code 0", &mut run);
        assert_eq!(run.problems.len(), 2);
        assert_eq!(
            after(
                "[  9.1] northstar: runtime_core::runtime::events: hello-world:0.0.1: Hello",
                "hello-world:0.0.1: "
            ),
            "Hello"
        );
    }
}
