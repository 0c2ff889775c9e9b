//! `demo --check`: the demo's image booted without a terminal, with the channel's proxy
//! (`nstar channel`) running from before QEMU's start to its end. Every `nstar` runs once:
//! a client that is not answered the first time is a failure.
//!
//! 1. Boot: the init starts, every example prints what it should (hello-world's greeting,
//!    Ferris's bubble from two resources, persistence's first count, cpueater's share
//!    under its CPU limit, memeater's OOM kill in its own cgroup), the channel is up.
//!    Through the proxy: `nstar logs -f cpueater:0.0.1` kept open while 100 `nstar list`
//!    run one after the other and then 10 at once, every one answered; the followed log
//!    still grows afterwards. The proxy is stopped, `nstar -u channel://` speaks the link
//!    itself to QEMU's socket for one `list`; a new proxy starts, and the next `nstar
//!    list` through it is answered. `inspect` shows cpueater (a CPU quota, no pids or memory
//!    limit in its manifest) with the runtime's default `pids.max` and memory limit. `nstar
//!    list --json` shows every package, cpueater running. Two update transactions of
//!    hello-world with `nstar update` (`update.rs`): 0.0.2 commits, 0.0.3 rolls back with
//!    its reason, and 0.0.2 stays the active version. `nstar
//!    reboot`: the machine restarts in place (QEMU keeps running, and so does the proxy's
//!    connection to it).
//! 2. The same machine after its reboot: persistence counts 2 (its data survived),
//!    hello-world 0.0.2 greets and is still the active version, `nstar
//!    list` through the same proxy, then `nstar shutdown`: the kernel powers off, QEMU
//!    exits with 0.
//! 3. The data image on the host: `e2fsck -fn` clean, the superblock `clean`.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::{Error, Options, Prepared};
use crate::boot::{BOOT_FAILED, HOLD, RESTARTING, STARTED};
use crate::image::data;
use crate::qemu::{
    channel::{parse_list, Nstar, Proxy, PORT},
    Qemu,
};

/// The kernel's line of a power-off.
const POWER_DOWN: &str = "reboot: Power down";
/// The init's line when the channel is up.
const CHANNEL_UP: &str = "management channel:";
/// The example whose manifest sets a CPU quota but no pids or memory limit.
const CPUEATER: &str = "cpueater:0.0.1";
/// The runtime's defaults (`[cgroups] default_pids_max`, `default_memory_max`).
const DEFAULT_PIDS_MAX: u64 = 256;
const DEFAULT_MEMORY_MAX: u64 = 256 << 20;
/// `nstar` runs one after the other, and at once.
const SEQUENTIAL: usize = 100;
const PARALLEL: usize = 10;
/// How long the followed log may take to show a new line (cpueater prints every 5 s).
const FOLLOW_GROWS: Duration = Duration::from_secs(20);
/// Upper bound of the channel checks of the first boot.
const CHANNEL_CHECKS: Duration = Duration::from_secs(300);
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
    pub(super) fn seen(&mut self, what: impl Into<String>, seen: impl Into<String>) {
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
    let mut config = prepared.machine(1)?;
    // The guest reboots in place: QEMU, its chardev socket and the proxy's connection to
    // it stay, and the link's handshake after the reboot is the guest's own.
    config.no_reboot = false;
    config.hard_timeout = 2 * options.boot_timeout
        + 2 * options.exit_timeout
        + CHANNEL_CHECKS
        + Duration::from_secs(120);
    let mut proxy = prepared.proxy()?;
    let mut qemu = Qemu::spawn(&config)?;
    run.logs.push(qemu.log_path().to_path_buf());
    run.logs.push(prepared.dir.join(super::PROXY_LOG));
    let mut result = Ok(());
    for boot in 1..=2 {
        let started = qemu.elapsed();
        result = one_boot(&mut qemu, &mut proxy, boot, prepared, options, &mut run);
        run.boots.push(qemu.elapsed().saturating_sub(started));
        if result.is_err() {
            break;
        }
    }
    let killed = qemu.kill();
    let transcript = qemu.transcript();
    for line in transcript.lines() {
        if line.contains(BOOT_FAILED) || line.contains(HOLD) {
            run.problems.push(line.trim().to_string());
        }
    }
    if let Err(e) = result {
        run.problems.push(format!("{e}\nproxy:\n{}", proxy.log()));
        return Ok(run);
    }
    killed?;
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
    proxy: &mut Proxy,
    boot: u32,
    prepared: &Prepared,
    options: &Options,
    run: &mut CheckRun,
) -> Result<(), Error> {
    let deadline = Instant::now() + options.boot_timeout;
    qemu.expect_until(STARTED, deadline)?;
    let channel = qemu.seen_until(&format!("{CHANNEL_UP} {PORT} at"), deadline)?;
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
        channel_checks(&prepared.nstar, proxy, run)?;
        default_limits(&prepared.nstar, run)?;
        verify_installed(&prepared.nstar, &prepared.images.packages, run)?;
        super::update::first_boot(qemu, &prepared.nstar, &prepared.images.updates, run)?;
    } else {
        let line = qemu.seen_until("persistence:0.0.1: persistence: started ", deadline)?;
        let seen = after(&line, "persistence:0.0.1: ");
        if !seen.starts_with("persistence: started 2 time(s)") {
            run.problems.push(format!(
                "persistence after the reboot: {seen:?}, expected its second start"
            ));
        }
        run.seen("persistence:0.0.1 after the reboot", seen);
        let updates = &prepared.images.updates;
        super::update::second_boot(qemu, &prepared.nstar, updates, deadline, run)?;
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
    // The next boot's lines are those after the restart line.
    qemu.mark();
    if boot == 2 {
        let status = qemu.wait_exit(options.exit_timeout)?;
        if status.code() != Some(0) {
            run.problems.push(format!(
                "boot {boot}: qemu exited with {status}, expected 0"
            ));
        }
    }
    Ok(())
}

/// The channel under load: a followed log kept open while clients come and go one after
/// the other and at once, then a new proxy. Every client must be answered the first time.
fn channel_checks(nstar: &Nstar, proxy: &mut Proxy, run: &mut CheckRun) -> Result<(), Error> {
    let follow_out = proxy.socket.with_file_name("follow.out");
    let mut follow = spawn_follow(nstar, &follow_out)?;
    let lines = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("cpueater: "))
            .count()
    };
    let started = Instant::now();
    let mut failed = Vec::new();
    for i in 0..SEQUENTIAL {
        let output = nstar.output(&["list", "--json"])?;
        if let Some(why) = unanswered(&output) {
            failed.push(format!("run {}: {why}", i + 1));
        }
    }
    let sequential = started.elapsed();
    let started = Instant::now();
    let children: Vec<Child> = (0..PARALLEL)
        .map(|_| {
            nstar
                .command(&["list", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|source| crate::qemu::channel::Error::Spawn {
                    program: nstar.binary.display().to_string(),
                    source,
                })
        })
        .collect::<Result<_, _>>()?;
    for (i, child) in children.into_iter().enumerate() {
        let output =
            child
                .wait_with_output()
                .map_err(|source| crate::qemu::channel::Error::Spawn {
                    program: nstar.binary.display().to_string(),
                    source,
                })?;
        if let Some(why) = unanswered(&output) {
            failed.push(format!("parallel run {}: {why}", i + 1));
        }
    }
    let parallel = started.elapsed();
    run.seen(
        "channel: clients through the proxy",
        format!(
            "{SEQUENTIAL} nstar list one after the other in {:.1} s, {PARALLEL} at once in {:.1} s, {} not answered",
            sequential.as_secs_f64(),
            parallel.as_secs_f64(),
            failed.len()
        ),
    );
    run.problems.extend(failed);
    // The followed log: still open, and still growing.
    let before = lines(&follow_out);
    let deadline = Instant::now() + FOLLOW_GROWS;
    while lines(&follow_out) <= before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = lines(&follow_out);
    let alive = matches!(follow.try_wait(), Ok(None));
    run.seen(
        "channel: nstar logs -f cpueater:0.0.1 meanwhile",
        format!(
            "{after} lines, {} after the other clients, still open: {alive}",
            after - before.min(after)
        ),
    );
    if !alive || after <= before || before == 0 {
        run.problems.push(format!(
            "nstar logs -f: {before} lines before the other clients ended, {after} after, still open: {alive}"
        ));
    }
    let _ = follow.kill();
    let _ = follow.wait();
    // Without the proxy: nstar speaks the link itself to QEMU's socket, once.
    proxy.stop();
    let output = nstar.direct(proxy.chardev()).output(&["list", "--json"])?;
    answered("nstar -u channel://…/chardev.sock list", &output, run);
    // A new proxy while the guest runs.
    proxy.restart()?;
    let output = nstar.output(&["list", "--json"])?;
    answered("nstar list after the proxy restarted", &output, run);
    Ok(())
}

/// The limits a container gets where its manifest sets none, in the guest's cgroup2
/// hierarchy: cpueater's manifest sets only a CPU quota, so `inspect` must show the
/// runtime's default `pids.max` and memory limit.
fn default_limits(nstar: &Nstar, run: &mut CheckRun) -> Result<(), Error> {
    let client_error = |what| move |source| Error::Client { what, source };
    let mut client = nstar
        .client(northstar_client::Options::default())
        .map_err(client_error("connect"))?;
    let listed = client.list().map_err(client_error("list"))?;
    let Some(id) = listed
        .into_iter()
        .map(|info| info.container)
        .find(|id| id.to_string() == CPUEATER)
    else {
        run.problems.push(format!("{CPUEATER} is not listed"));
        return Ok(());
    };
    let inspection = client.inspect(&id).map_err(client_error("inspect"))?;
    let cgroup = inspection.cgroup.unwrap_or_default();
    let pids = cgroup.pids.and_then(|p| p.limit);
    let memory = cgroup.memory.and_then(|m| m.limit);
    run.seen(
        format!("{CPUEATER}: limits without its own"),
        format!("pids.max {pids:?}, memory.max {memory:?}"),
    );
    if pids != Some(DEFAULT_PIDS_MAX) || memory != Some(DEFAULT_MEMORY_MAX) {
        run.problems.push(format!(
            "{CPUEATER}: pids.max {pids:?} and memory.max {memory:?}, expected the defaults \
             {DEFAULT_PIDS_MAX} and {DEFAULT_MEMORY_MAX}"
        ));
    }
    Ok(())
}

/// The full check of every installed package on the device (`verify`, as `nstar verify
/// --installed` asks it): each of the demo's signed packages reads and checks in full.
fn verify_installed(nstar: &Nstar, packages: &[String], run: &mut CheckRun) -> Result<(), Error> {
    let mut client = nstar
        .client(northstar_client::Options::default())
        .map_err(|source| Error::Client {
            what: "connect",
            source,
        })?;
    let checked = client.verify(None).map_err(|source| Error::Client {
        what: "verify",
        source,
    })?;
    let ok = checked
        .iter()
        .filter(|c| c.result == northstar_client::api::CheckResult::Ok {})
        .count();
    run.seen(
        "nstar verify --installed",
        format!("{} packages, {ok} checked in full", checked.len()),
    );
    for package in packages {
        match checked.iter().find(|c| c.container.to_string() == *package) {
            Some(c) if c.result == northstar_client::api::CheckResult::Ok {} => {}
            Some(c) => run
                .problems
                .push(format!("verify {package}: {:?}, expected ok", c.result)),
            None => run
                .problems
                .push(format!("verify --installed does not list {package}")),
        }
    }
    Ok(())
}

/// Notes whether the `nstar list --json` run `what` was answered; a problem when not.
fn answered(what: &str, output: &std::process::Output, run: &mut CheckRun) {
    match unanswered(output) {
        None => run.seen(format!("channel: {what}"), "answered"),
        Some(why) => {
            run.seen(format!("channel: {what}"), output.status.to_string());
            run.problems.push(format!("{what}: {why}"));
        }
    }
}

/// Why an `nstar list --json` run did not give a list of containers, if it did not.
fn unanswered(output: &std::process::Output) -> Option<String> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    match (output.status.success(), parse_list(&stdout)) {
        (true, Ok(list)) if !list.is_empty() => None,
        (true, Ok(_)) => Some("an empty list".into()),
        (true, Err(e)) => Some(format!("not a list ({e}): {stdout}")),
        (false, _) => Some(format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

/// `nstar logs -f cpueater:0.0.1`, its output into `out`.
fn spawn_follow(nstar: &Nstar, out: &std::path::Path) -> Result<Child, Error> {
    let spawn = |source| crate::qemu::channel::Error::Spawn {
        program: nstar.binary.display().to_string(),
        source,
    };
    let file = std::fs::File::create(out).map_err(spawn)?;
    // Not under timeout(1): it follows for as long as the checks take.
    let child = std::process::Command::new(&nstar.binary)
        .args(["-u", &nstar.url(), "logs", "-f", "cpueater:0.0.1"])
        .stdout(file)
        .stderr(Stdio::null())
        .spawn()
        .map_err(spawn)?;
    // Its first lines (the log so far) before the other clients.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(out).map_or(0, |m| m.len()) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(child)
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
pub(super) fn after(line: &str, marker: &str) -> String {
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
