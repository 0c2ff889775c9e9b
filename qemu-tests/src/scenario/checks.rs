//! What each scenario must show, checked on the console's transcript, QEMU's exit and the
//! QMP events: the boot report (`boot::BootReport`), the runtime's lines for each
//! container, the test containers' structured lines, the init's and the kernel's lines.

use super::console::{self, ContainerLine};
use super::drive::{self, Observed, HANG_LINE, POWER_DOWN};
use super::spec::{self, Container};
use super::Scenario;
use crate::boot::{self, BootReport};

/// Notes and problems of one scenario.
#[derive(Debug, Default)]
pub(super) struct Checked {
    pub notes: Vec<String>,
    pub problems: Vec<String>,
}

/// The init's line when it takes a reboot request.
const REBOOT_REQUESTED: &str = "reboot requested";

pub(super) fn check(
    scenario: Scenario,
    containers: &[Container],
    observed: &Observed,
    expected_steps: &[&str],
) -> Checked {
    let mut c = Checked::default();
    let t = &observed.transcript;
    for line in console::lines_with(t, boot::HOLD) {
        c.problems.push(format!("the init held: {line}"));
    }
    if observed.exit != Some(0) {
        c.problems
            .push(format!("qemu exited with {:?}, expected 0", observed.exit));
    }
    let watchdog_events: Vec<String> = observed
        .events
        .iter()
        .filter(|e| e["event"] == "WATCHDOG")
        .map(|e| e.to_string())
        .collect();
    match scenario {
        Scenario::TamperedRoot => tampered_root(t, &mut c),
        Scenario::WatchdogHang => watchdog_hang(observed, &watchdog_events, &mut c),
        _ => {
            running(scenario, containers, t, expected_steps, &mut c);
            if !watchdog_events.is_empty() {
                c.problems
                    .push(format!("the watchdog fired: {}", watchdog_events.join(" ")));
            }
        }
    }
    match scenario {
        Scenario::TamperedPackage => tampered_package(t, &mut c),
        Scenario::Oom => oom(t, &mut c),
        Scenario::Orphans => orphans(t, &mut c),
        Scenario::WatchdogFed => watchdog_fed(observed, t, &mut c),
        _ => {}
    }
    c
}

/// A system that booted: the report lists every step and every container that must
/// start as started; each printed `ready` and kept running until the reboot request;
/// `ten`'s containers run from squashfs through dm-verity; the reboot was orderly.
fn running(
    scenario: Scenario,
    containers: &[Container],
    t: &str,
    expected_steps: &[&str],
    c: &mut Checked,
) {
    for line in console::lines_with(t, boot::BOOT_FAILED) {
        c.problems.push(format!("the boot failed: {line}"));
    }
    let reboot_at = console::time_of(t, REBOOT_REQUESTED).unwrap_or(f64::MAX);
    match BootReport::parse(t) {
        None => c.problems.push("no boot report on the console".into()),
        Some(report) => {
            if report.step_names() != expected_steps {
                c.problems.push(format!(
                    "boot report steps {:?}, expected {expected_steps:?}",
                    report.step_names()
                ));
            }
            let started = report
                .containers
                .iter()
                .filter(|c| c.outcome == "started")
                .count();
            c.notes.push(format!(
                "boot report: {:.3} s (kernel) + {:.3} s (init), {started} containers started",
                report.kernel.as_secs_f64(),
                report.init.as_secs_f64()
            ));
            for container in drive::started(scenario, containers) {
                match report.container(&container.id()) {
                    Some(r) if r.outcome == "started" => {}
                    Some(r) => c.problems.push(format!("{}: {}", r.id, r.outcome)),
                    None => c
                        .problems
                        .push(format!("{} is not in the boot report", container.id())),
                }
            }
        }
    }
    for container in drive::started(scenario, containers) {
        let id = container.id();
        let lines = console::container_lines(t, &id);
        if console::first(&lines, spec::READY).is_none() {
            c.problems
                .push(format!("{id} never printed {:?}", spec::READY));
        }
        if container.name != "oom" && container.name != "orphans" {
            still_running(&id, &lines, reboot_at, c);
        }
        if scenario == Scenario::Ten {
            match console::root_mount(&lines) {
                Some((fs, source))
                    if fs == "squashfs"
                        && (source.starts_with("/dev/dm-")
                            || source.starts_with("/dev/mapper/")) => {}
                other => c.problems.push(format!(
                    "{id}: root mount {other:?}, expected squashfs from a dm-verity device"
                )),
            }
        }
    }
    if !t.contains(boot::RESTARTING) {
        c.problems
            .push("no orderly reboot (the kernel's restart line is missing)".into());
    }
}

/// No `ended with` line of `id` before the reboot request.
fn still_running(id: &str, lines: &[ContainerLine], reboot_at: f64, c: &mut Checked) {
    if let Some(ended) = console::first(lines, "ended with").filter(|l| l.time < reboot_at) {
        c.problems
            .push(format!("{id} ended before the reboot: {}", ended.text));
    }
}

/// The root is refused by dm-verity before anything from it runs; the board's reaction
/// (power-off) follows.
fn tampered_root(t: &str, c: &mut Checked) {
    match console::lines_with(t, boot::BOOT_FAILED).first() {
        Some(line) if line.contains("root file system") => c.notes.push((*line).to_owned()),
        Some(line) => c
            .problems
            .push(format!("the boot failed, but not at the root: {line}")),
        None => c.problems.push("the init did not refuse the root".into()),
    }
    let corrupted = console::lines_with(t, "is corrupted");
    match corrupted.iter().find(|l| l.contains("verity")) {
        Some(line) => c.notes.push((*line).to_owned()),
        None => c
            .problems
            .push("dm-verity reported no corrupted block".into()),
    }
    for forbidden in ["verified, mounted", "runtime_core::", "container "] {
        if let Some(line) = console::lines_with(t, forbidden).first() {
            c.problems
                .push(format!("something from the root ran: {line}"));
        }
    }
    if !t.contains(POWER_DOWN) {
        c.problems
            .push("the board's reaction (power-off) did not happen".into());
    }
}

/// The package with a changed data block is accepted at start-up and starts; its read of
/// the big file fails with EIO (dm-verity), it fails, and the runtime names the package
/// as corrupted. The package with a changed verity superblock is rejected by name and
/// never runs.
fn tampered_package(t: &str, c: &mut Checked) {
    let id = format!("{}:{}", spec::TAMPERED, spec::VERSION);
    let file = format!("{}-{}.npk", spec::TAMPERED, spec::VERSION);
    if let Some(line) = console::lines_with(t, &format!("{file}: rejected:")).first() {
        c.problems
            .push(format!("{id} was refused at start-up: {line}"));
    }
    match BootReport::parse(t).and_then(|r| r.container(&id).map(|r| r.outcome.clone())) {
        // Accepted at start-up: it started, or had already failed when the report came.
        Some(outcome) if outcome == "started" || outcome.starts_with("failed: ") => {
            c.notes.push(format!("boot report: {id} {outcome}"))
        }
        other => c.problems.push(format!(
            "boot report: {id} {other:?}, expected started (or failed after it started)"
        )),
    }
    let lines = console::container_lines(t, &id);
    let read = format!("test-container: read {}: ", spec::BIG_FILE);
    expect(
        c,
        console::first(&lines, &read)
            // EIO, whatever the C library calls it (musl: `I/O error`).
            .filter(|l| l.text.ends_with("(os error 5)"))
            .map(|l| format!("{id}: {}", l.text)),
        format!(
            "{id} did not report an I/O error reading {}",
            spec::BIG_FILE
        ),
    );
    if let Some(line) = console::first(&lines, spec::READ_ALL) {
        c.problems.push(format!(
            "{id} read all of {} from a changed image: {}",
            spec::BIG_FILE,
            line.text
        ));
    }
    expect(
        c,
        console::first(&lines, "ended with")
            .filter(|l| l.text != "ended with exit code 0")
            .map(|l| format!("{id}: {}", l.text)),
        format!("{id} did not fail"),
    );
    expect(
        c,
        console::first(&lines, "dm-verity found corrupted data in ")
            .filter(|l| l.text.contains(&file))
            .map(|l| format!("{id}: {}", l.text)),
        format!("no line of the runtime naming {file} as corrupted (dm-verity)"),
    );
    expect(
        c,
        console::lines_with(t, "device-mapper: verity:")
            .into_iter()
            .find(|l| l.contains("is corrupted"))
            .map(str::to_owned),
        "dm-verity reported no corrupted block".into(),
    );
    // The changed superblock: refused at start-up, naming the file.
    let refused = format!(
        "{}-{}.npk: rejected:",
        spec::TAMPERED_SUPERBLOCK,
        spec::VERSION
    );
    expect(
        c,
        console::lines_with(t, &refused)
            .first()
            .map(|l| (*l).to_owned()),
        format!("no line {refused:?} on the console"),
    );
    let refused_id = format!("{}:{}", spec::TAMPERED_SUPERBLOCK, spec::VERSION);
    if let Some(line) = console::container_lines(t, &refused_id).first() {
        c.problems
            .push(format!("the refused {refused_id} ran: {}", line.text));
    }
}

/// `found` as a note, or `missing` as a problem.
fn expect(c: &mut Checked, found: Option<String>, missing: String) {
    match found {
        Some(line) => c.notes.push(line),
        None => c.problems.push(missing),
    }
}

/// The OOM container is killed by the cgroup's OOM killer and reported as such.
fn oom(t: &str, c: &mut Checked) {
    let lines = console::container_lines(t, "oom:0.0.1");
    match console::first(&lines, "ended with") {
        Some(l) if l.text.contains("SIGKILL") && l.text.contains("(out of memory)") => {
            c.notes.push(format!("oom:0.0.1: {}", l.text));
        }
        Some(l) => c.problems.push(format!(
            "oom:0.0.1 {}, expected SIGKILL (out of memory)",
            l.text
        )),
        None => c.problems.push("oom:0.0.1 did not end".into()),
    }
    if console::first(&lines, spec::SURVIVED).is_some() {
        c.problems
            .push("oom:0.0.1 survived its allocation past the limit".into());
    }
    match console::lines_with(t, "Memory cgroup out of memory").first() {
        Some(line) => c.notes.push((*line).to_owned()),
        None => c
            .problems
            .push("the kernel reported no memory cgroup OOM kill".into()),
    }
}

/// The probe saw the orphan container's zombies while it ran, and none anywhere from a
/// second after its end on.
fn orphans(t: &str, c: &mut Checked) {
    let maker = console::container_lines(t, "orphans:0.0.1");
    let (Some(ready), Some(ended)) = (
        console::first(&maker, spec::READY),
        console::first(&maker, "ended with"),
    ) else {
        c.problems
            .push("orphans:0.0.1 did not make its processes and end".into());
        return;
    };
    if ended.text != "ended with exit code 0" {
        c.problems.push(format!("orphans:0.0.1 {}", ended.text));
    }
    let scans = console::zombie_scans(&console::container_lines(t, "zombie-probe:0.0.1"));
    let during = scans
        .iter()
        .filter(|s| s.time > ready.time && s.time < ended.time)
        .map(|s| s.zombies.len())
        .max();
    match during {
        Some(n) if n >= spec::ORPHANS as usize => c.notes.push(format!(
            "while orphans:0.0.1 ran, the probe saw {n} zombies"
        )),
        other => c.problems.push(format!(
            "while orphans:0.0.1 ran, the probe saw {other:?} zombies, expected at least {}",
            spec::ORPHANS
        )),
    }
    let after: Vec<_> = scans
        .iter()
        .filter(|s| s.time >= ended.time + 1.0)
        .collect();
    if after.len() < 3 {
        c.problems.push(format!(
            "{} scans of the probe after the end, expected at least 3",
            after.len()
        ));
    }
    for scan in &after {
        if !scan.zombies.is_empty() {
            c.problems.push(format!(
                "zombies at {:.1} s: {}",
                scan.time,
                scan.zombies.join(", ")
            ));
        }
    }
    if let Some(last) = after.last() {
        c.notes.push(format!(
            "{} scans after the end: no zombie among {} processes (last scan)",
            after.len(),
            last.processes
        ));
    }
}

/// The init set the scenario's timeout and the machine stayed up for three of them.
fn watchdog_fed(observed: &Observed, t: &str, c: &mut Checked) {
    let line = format!("timeout {} s", spec::WATCHDOG_TIMEOUT);
    if console::lines_with(t, &line).is_empty() {
        c.problems
            .push(format!("the init did not report the watchdog's {line}"));
    }
    let window = 3 * spec::WATCHDOG_TIMEOUT;
    match observed.stayed_up {
        Some(up) if up.as_secs() >= window => c.notes.push(format!(
            "up {:.1} s after the boot report, watchdog timeout {} s",
            up.as_secs_f64(),
            spec::WATCHDOG_TIMEOUT
        )),
        other => c.problems.push(format!(
            "the machine stayed up {other:?}, expected {window} s"
        )),
    }
}

/// The hung init was reset by the watchdog: QEMU's WATCHDOG event, no reboot or power-off
/// of the kernel, the exit about one timeout after the hang.
fn watchdog_hang(observed: &Observed, watchdog_events: &[String], c: &mut Checked) {
    let t = &observed.transcript;
    if console::lines_with(t, "test fault armed").is_empty() {
        c.problems
            .push("the init did not arm the test fault".into());
    }
    if console::lines_with(t, HANG_LINE).is_empty() {
        c.problems.push("the init did not hang".into());
    }
    let reset = observed
        .events
        .iter()
        .any(|e| e["event"] == "WATCHDOG" && e["data"]["action"] == "reset");
    if reset {
        c.notes.push(format!("QMP: {}", watchdog_events.join(" ")));
    } else {
        c.problems
            .push("no WATCHDOG event with the action reset".into());
    }
    for line in ["reboot: ", boot::BOOT_FAILED] {
        if let Some(found) = console::lines_with(t, line).first() {
            c.problems.push(format!("not a watchdog reset: {found}"));
        }
    }
    let timeout = spec::WATCHDOG_TIMEOUT as f64;
    match observed.hang_to_exit.map(|d| d.as_secs_f64()) {
        Some(s) if s >= timeout / 2.0 && s <= timeout + 20.0 => c.notes.push(format!(
            "reset {s:.1} s after the hang (timeout {timeout} s)"
        )),
        other => c.problems.push(format!(
            "hang to reset {other:?} s, expected about the timeout ({timeout} s)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(id: &str, lines: &[(f64, &str)]) -> String {
        lines
            .iter()
            .map(|(time, text)| {
                format!("[{time:12.6}] northstar: runtime_core::runtime::events: {id}: {text}\r\n")
            })
            .collect()
    }

    fn scan(zombies: usize) -> String {
        let list: Vec<String> = (0..zombies)
            .map(|i| format!("{{\"pid\":{i},\"ppid\":1,\"comm\":\"t\"}}"))
            .collect();
        format!(
            "{{\"scan_zombies\":\"/host/proc\",\"processes\":50,\"zombies\":[{}]}}",
            list.join(",")
        )
    }

    fn orphans_transcript(late_zombies: usize) -> String {
        let mut t = events(
            "orphans:0.0.1",
            &[(5.0, "ready"), (13.0, "ended with exit code 0")],
        );
        let probe: Vec<(f64, String)> = [
            (6.0, scan(3)),
            (13.5, scan(0)),
            (14.5, scan(0)),
            (15.5, scan(0)),
            (16.5, scan(late_zombies)),
        ]
        .into_iter()
        .collect();
        let probe: Vec<(f64, &str)> = probe.iter().map(|(t, s)| (*t, s.as_str())).collect();
        t.push_str(&events("zombie-probe:0.0.1", &probe));
        t
    }

    #[test]
    fn orphans_pass_only_without_late_zombies() {
        let mut c = Checked::default();
        orphans(&orphans_transcript(0), &mut c);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        let mut c = Checked::default();
        orphans(&orphans_transcript(1), &mut c);
        assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
        assert!(c.problems[0].starts_with("zombies at 16.5 s"));
        let mut c = Checked::default();
        // A probe that never sees a zombie proves nothing.
        orphans(&orphans_transcript(0).replace(&scan(3), &scan(0)), &mut c);
        assert!(c.problems[0].contains("the probe saw Some(0) zombies"));
    }

    #[test]
    fn a_root_that_ran_is_a_problem() {
        let refused = "[ 3.6] device-mapper: verity: 254:0: data block 0 is corrupted\n\
                       [ 3.7] northstar: boot failed: root file system: cannot mount: EIO\n\
                       [ 3.9] reboot: Power down\n";
        let mut c = Checked::default();
        tampered_root(refused, &mut c);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        let ran = format!("{refused}[ 4.0] northstar: runtime_core::runtime: started\n");
        let mut c = Checked::default();
        tampered_root(&ran, &mut c);
        assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
    }

    fn tampered_package_transcript() -> String {
        let mut t = String::from(
            "[ 5.0] northstar: runtime_core::runtime: /data/system/pkg-d-0.0.1.npk: rejected: \
             verity superblock has 2305 data blocks, the signed offset says 2304\n",
        );
        t.push_str(
            "[ 6.0] northstar: Startup finished in 1.000s (kernel) + 2.000s (init) = 3.000s\n\
             [ 6.0] northstar:   at (ms) took (ms)  step\n\
             [ 6.0] northstar:      1900            container pkg-b:0.0.1 started\n",
        );
        t.push_str("[ 6.1] device-mapper: verity: 7:1: data block 1700 is corrupted\n");
        t.push_str(&events(
            "pkg-b:0.0.1",
            &[
                (6.2, "test-container: read /big: I/O error (os error 5)"),
                (6.3, "ended with exit code 2"),
                (
                    6.3,
                    "dm-verity found corrupted data in /data/system/pkg-b-0.0.1.npk (a block \
                     changed after installation); the package must be reinstalled",
                ),
            ],
        ));
        t
    }

    #[test]
    fn a_corrupted_read_passes_only_with_every_line() {
        let t = tampered_package_transcript();
        let mut c = Checked::default();
        tampered_package(&t, &mut c);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        for (line, problem) in [
            ("(os error 5)", "did not report an I/O error"),
            ("ended with exit code 2", "did not fail"),
            (
                "dm-verity found corrupted data in",
                "as corrupted (dm-verity)",
            ),
            ("data block 1700 is corrupted", "no corrupted block"),
            ("pkg-d-0.0.1.npk: rejected:", "no line"),
            ("container pkg-b:0.0.1 started", "expected started"),
        ] {
            let cut: String = t
                .lines()
                .filter(|l| !l.contains(line))
                .map(|l| format!("{l}\n"))
                .collect();
            let mut c = Checked::default();
            tampered_package(&cut, &mut c);
            assert!(
                c.problems.iter().any(|p| p.contains(problem)),
                "without {line:?}: {:?}",
                c.problems
            );
        }
        let ran = format!("{t}{}", events("pkg-b:0.0.1", &[(7.0, spec::READ_ALL)]));
        let mut c = Checked::default();
        tampered_package(&ran, &mut c);
        assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
    }
}
