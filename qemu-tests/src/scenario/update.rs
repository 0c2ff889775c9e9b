//! `update`: update transactions through the management channel (the client library on
//! QEMU's socket, `channel://`), and power cuts in the middle of them: the runtime aborts
//! at a point of the transaction (`northstar.test.update_cut=<point>` on the kernel
//! command line, test build), PID 1 dies with it, the kernel panics and restarts, and
//! `-no-reboot` makes that QEMU's exit. Four boots of the same disks; every boot checks,
//! through `list`, that exactly one version of `app` runs and is the active one.
//!
//! 1. `app` 0.0.1 runs. The update to 0.0.2 (`running` check) commits; the update to
//!    0.0.3 (it exits with 1) rolls back with a reason naming it, and 0.0.2 runs again.
//!    A reboot through the API ends the machine in order.
//! 2. 0.0.2 runs (the commit survived the reboot). With the cut at `starting`: the update
//!    to 0.0.4 persists its step, has stopped 0.0.2, and the power goes (before the
//!    commit).
//! 3. 0.0.2 runs (the runtime rolled the transaction back at its start). With the cut at
//!    `committed`: the update to 0.0.5 commits, and the power goes right after.
//! 4. 0.0.5 runs. A shutdown through the API powers the machine off.
//! 5. On the host: `e2fsck -fn` of the data image is clean.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use northstar_client::api::{ApiError, ContainerState, Health, RepositoryName, UpdateOptions};
use northstar_client::{Client, UpdateFile};

use super::images::Images;
use super::spec::{self, Container};
use super::{drive, Error, Options, Outcome, Scenario, Shared};
use crate::boot::{self, report, REPOSITORY};
use crate::image::data;
use crate::qemu::{channel, Qemu};

/// The container of the scenario.
pub const APP: &str = spec::APP;
/// The runtime's line when a cut ends it.
const CUT_LINE: &str = "update: cut at ";
/// The runtime's reason when it rolls back a transaction it finds at its start.
const RESUMED: &str = "before the update was committed";
/// The kernel's line when PID 1 ended.
const KILLED_INIT: &str = "Attempted to kill init";
/// The management channel's line once the port is served.
const CHANNEL_UP: &str = "management channel: org.northstar.api at";
/// The `running` check's window, and the deadline of every check.
const WINDOW: Duration = Duration::from_secs(2);
const DEADLINE: Duration = Duration::from_secs(30);

/// One later version of `app`: its steps (those of `test-container`).
struct Version {
    version: &'static str,
    args: &'static [&'static str],
}

const GOOD: &[&str] = &["print:1,ready", "sleep-forever"];
/// 0.0.2 commits, 0.0.3 exits with 1 and rolls back, 0.0.4 is cut at `starting`, 0.0.5
/// at `committed`.
const VERSIONS: [Version; 4] = [
    Version {
        version: "0.0.2",
        args: GOOD,
    },
    Version {
        version: "0.0.3",
        args: &["print:1,ready", "exit:1"],
    },
    Version {
        version: "0.0.4",
        args: GOOD,
    },
    Version {
        version: "0.0.5",
        args: GOOD,
    },
];

/// The cuts of boots 2 and 3.
pub const CUT_BEFORE_COMMIT: &str = "starting";
pub const CUT_AFTER_COMMIT: &str = "committed";

/// What every boot uses.
struct Context<'a> {
    shared: &'a Shared,
    images: &'a Images,
    dir: &'a Path,
    options: &'a Options,
    /// The packages of [`VERSIONS`], in order.
    packages: Vec<PathBuf>,
}

/// How a boot ends.
enum End {
    Reboot,
    /// The runtime aborts at this point of the update to the package.
    Cut(&'static str, usize),
    Shutdown,
}

pub(super) fn run(
    shared: &Shared,
    images: &Images,
    dir: &Path,
    options: &Options,
) -> Result<Outcome, Error> {
    let packages = pack(shared, images, dir)?;
    let cx = Context {
        shared,
        images,
        dir,
        options,
        packages,
    };
    let mut outcome = Outcome {
        scenario: Scenario::Update,
        notes: Vec::new(),
        problems: Vec::new(),
        machine: Duration::ZERO,
        log: dir.join("console-1.log"),
    };
    let boots: [(&str, End); 4] = [
        ("0.0.1", End::Reboot),
        ("0.0.2", End::Cut(CUT_BEFORE_COMMIT, 2)),
        ("0.0.2", End::Cut(CUT_AFTER_COMMIT, 3)),
        ("0.0.5", End::Shutdown),
    ];
    for (i, (running, end)) in boots.into_iter().enumerate() {
        if !boot(&cx, i + 1, running, end, &mut outcome)? {
            return Ok(outcome);
        }
    }
    let fsck = data::fsck(&images.data)?;
    outcome
        .notes
        .push(format!("data image: e2fsck -fn status {}", fsck.status));
    if !fsck.clean() {
        outcome.problems.push(format!(
            "e2fsck -fn on the data image: status {}\n{}",
            fsck.status, fsck.output
        ));
    }
    Ok(outcome)
}

/// The packages of [`VERSIONS`], signed with the scenario's key, in `<dir>/updates/`.
fn pack(shared: &Shared, images: &Images, dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let stage = dir.join("stage").join("updates");
    crate::image::fresh_dir(&stage).map_err(Error::io("create", &stage))?;
    let root = stage.join("root");
    let program = root.join(spec::PROGRAM.trim_start_matches('/'));
    if let Some(bin) = program.parent() {
        std::fs::create_dir_all(bin).map_err(Error::io("create", bin))?;
    }
    std::fs::copy(&shared.test_container, &program).map_err(Error::io("copy", &program))?;
    let out = dir.join("updates");
    crate::image::fresh_dir(&out).map_err(Error::io("create", &out))?;
    let options = npk::pack::Options {
        key: Some(&images.package_key),
        ..npk::pack::Options::default()
    };
    let mut packages = Vec::new();
    for v in &VERSIONS {
        let container = Container {
            name: APP.to_owned(),
            args: v.args.iter().map(|a| (*a).to_owned()).collect(),
            memory_limit: None,
            host_proc: false,
        };
        let yaml = stage.join(format!("{APP}-{}.yaml", v.version));
        std::fs::write(&yaml, container.manifest()).map_err(Error::io("write", &yaml))?;
        let mut manifest = npk::pack::read_manifest(&yaml).map_err(Error::pack(APP))?;
        manifest.version = v.version.parse().map_err(|e| Error::Io {
            step: "parse the version of",
            path: yaml.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
        })?;
        let npk = npk::pack::pack_manifest(&manifest, &root, &out, &options, &mut |_| ())
            .map_err(Error::pack(APP))?;
        packages.push(npk);
    }
    Ok(packages)
}

/// One boot: up with `running` as the one version of `app` that runs, then its acts and
/// its end. Whether to go on.
fn boot(
    cx: &Context<'_>,
    n: usize,
    running: &str,
    end: End,
    outcome: &mut Outcome,
) -> Result<bool, Error> {
    let log = format!("console-{n}.log");
    let mut config = drive::machine(
        cx.shared,
        Scenario::Update,
        cx.images,
        cx.dir,
        &log,
        cx.options,
    )?;
    if let End::Cut(point, _) = end {
        config
            .cmdline
            .push(format!("northstar.test.update_cut={point}"));
    }
    let nstar = channel::Nstar {
        binary: cx.shared.nstar.clone(),
        socket: cx.dir.join(channel::CHARDEV),
        timeout: Duration::from_secs(30),
        direct: true,
    };
    let mut qemu = Qemu::spawn(&config)?;
    let mut notes = Vec::new();
    let mut problems = Vec::new();
    let result = (|| {
        up(&mut qemu, running, cx.options)?;
        let mut client = nstar
            .client(northstar_client::Options::default())
            .map_err(client_error("connect"))?;
        one_running(&mut client, running, "at boot", &mut notes, &mut problems)?;
        act(cx, &mut qemu, &mut client, &end, &mut notes, &mut problems)
    })();
    let killed = qemu.kill_now();
    outcome.machine += qemu.elapsed();
    let transcript = qemu.transcript();
    killed?;
    let prefix = |s: String| format!("boot {n}: {s}");
    outcome.notes.extend(notes.into_iter().map(prefix));
    outcome.problems.extend(problems.into_iter().map(prefix));
    if let Err(e) = result {
        outcome.problems.push(format!("boot {n}: {e}"));
        return Ok(false);
    }
    for line in transcript.lines() {
        let cut = matches!(end, End::Cut(..));
        let fatal = line.contains(boot::BOOT_FAILED) || line.contains(boot::HOLD);
        if fatal || (!cut && (line.contains(KILLED_INIT) || line.contains(CUT_LINE))) {
            outcome.problems.push(format!("boot {n}: {}", line.trim()));
        }
    }
    // After a cut before the commit, the runtime rolled the transaction back at its start.
    if let Some(line) = transcript.lines().find(|l| l.contains(RESUMED)) {
        outcome
            .notes
            .push(format!("boot {n}: {}", after_northstar(line)));
    }
    if let End::Cut(point, _) = end {
        let cut_line = format!("{CUT_LINE}{point}");
        match transcript.lines().find(|l| l.contains(&cut_line)) {
            Some(line) => outcome
                .notes
                .push(format!("boot {n}: {}", after_northstar(line))),
            None => outcome
                .problems
                .push(format!("boot {n}: the runtime was not cut at {point}")),
        }
        match transcript.lines().find(|l| l.contains(KILLED_INIT)) {
            Some(line) => outcome.notes.push(format!("boot {n}: {}", line.trim())),
            None => outcome
                .problems
                .push(format!("boot {n}: PID 1 did not end with the cut")),
        }
    }
    Ok(outcome.problems.is_empty())
}

/// The boot report, `running`'s `ready` and the channel.
fn up(qemu: &mut Qemu, running: &str, options: &Options) -> Result<(), Error> {
    let deadline = Instant::now() + options.boot_timeout;
    qemu.expect_until(boot::STARTED, deadline)?;
    qemu.expect_until(report::FIRST_LINE, deadline)?;
    qemu.seen_until(&format!("{APP}:{running}: {}", spec::READY), deadline)?;
    qemu.seen_until(CHANNEL_UP, deadline)?;
    Ok(())
}

/// What the boot does after its first `list`, and its end.
fn act(
    cx: &Context<'_>,
    qemu: &mut Qemu,
    client: &mut Client,
    end: &End,
    notes: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> Result<(), Error> {
    let exit_timeout = cx.options.exit_timeout;
    match *end {
        End::Reboot => {
            let ready = format!("{APP}:0.0.2: {}", spec::READY);
            let committed = update(client, &cx.packages[0]);
            match &committed {
                Ok(ids) => notes.push(format!("update to 0.0.2: committed {ids}")),
                Err(e) => problems.push(format!("update to 0.0.2: {e}")),
            }
            // Its first `ready`: it ran through the check's window.
            qemu.expect(&ready, DEADLINE)?;
            one_running(client, "0.0.2", "after the commit", notes, problems)?;
            match update(client, &cx.packages[1]) {
                Err(Refused::RolledBack(reason)) => {
                    notes.push(format!("update to 0.0.3: rolled back: {reason}"));
                    let id = format!("{APP}:0.0.3");
                    if !reason.contains(&id) || !reason.contains("exit code 1") {
                        problems.push(format!(
                            "update to 0.0.3: the reason does not name {id} and its exit \
                             code 1: {reason:?}"
                        ));
                    }
                }
                other => problems.push(format!("update to 0.0.3: {other:?}, expected a rollback")),
            }
            // The answer comes once the version before is started again; its second
            // `ready` says its program runs.
            qemu.expect(&ready, DEADLINE)?;
            one_running(client, "0.0.2", "after the rollback", notes, problems)?;
            client.reboot().map_err(client_error("reboot"))?;
            qemu.expect(boot::RESTARTING, exit_timeout)?;
            exited_with_0(qemu, exit_timeout, "the reboot", problems)?;
        }
        End::Cut(point, package) => {
            let answer = update(client, &cx.packages[package]);
            // The machine is gone: the answer never came.
            exited_with_0(qemu, exit_timeout, "the cut", problems)?;
            notes.push(format!(
                "update to {}: cut at {point}, the client saw {}",
                VERSIONS[package].version,
                match answer {
                    Ok(ids) => format!("an answer: committed {ids}"),
                    Err(e) => format!("{e}"),
                }
            ));
        }
        End::Shutdown => {
            client.shutdown().map_err(client_error("shutdown"))?;
            qemu.expect(drive::POWER_DOWN, exit_timeout)?;
            exited_with_0(qemu, exit_timeout, "the power-off", problems)?;
        }
    }
    Ok(())
}

/// Why an update did not commit.
#[derive(Debug)]
enum Refused {
    RolledBack(String),
    Other(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::RolledBack(reason) => write!(f, "rolled back: {reason}"),
            Refused::Other(error) => f.write_str(error),
        }
    }
}

/// An update transaction of `npk` into the system repository, checked with `running`.
fn update(client: &mut Client, npk: &Path) -> Result<String, Refused> {
    let repository = RepositoryName::new(REPOSITORY).map_err(|e| Refused::Other(e.to_string()))?;
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let options = UpdateOptions {
        health: Some(Health::Running),
        window_ms: Some(ms(WINDOW)),
        deadline_ms: Some(ms(DEADLINE)),
        ..UpdateOptions::default()
    };
    let files = [UpdateFile {
        path: npk,
        sha256: None,
    }];
    match client.update(&files, &repository, options, &mut |_, _| {}, &mut |_| {}) {
        Ok(ids) => Ok(ids
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")),
        Err(e) => match e.api_error() {
            Some(ApiError::RolledBack { reason }) => Err(Refused::RolledBack(reason.clone())),
            _ => Err(Refused::Other(chain(&e))),
        },
    }
}

/// `list`: exactly one version of `app` runs, `version`, and it is the only active one.
fn one_running(
    client: &mut Client,
    version: &str,
    when: &str,
    notes: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> Result<(), Error> {
    let listed: Vec<_> = client
        .list()
        .map_err(client_error("list"))?
        .into_iter()
        .filter(|c| c.container.name.to_string() == APP)
        .collect();
    let running: Vec<String> = listed
        .iter()
        .filter(|c| c.state == ContainerState::Running)
        .map(|c| c.container.to_string())
        .collect();
    let active: Vec<String> = listed
        .iter()
        .filter(|c| c.active)
        .map(|c| c.container.to_string())
        .collect();
    notes.push(format!(
        "{when}: {} installed, running {running:?}, active {active:?}",
        listed.len()
    ));
    let id = format!("{APP}:{version}");
    if running != [id.clone()] || active != [id.clone()] {
        problems.push(format!(
            "{when}: running {running:?} and active {active:?}, expected exactly {id}"
        ));
    }
    Ok(())
}

/// QEMU exits by itself within `timeout`, with 0.
fn exited_with_0(
    qemu: &mut Qemu,
    timeout: Duration,
    after: &str,
    problems: &mut Vec<String>,
) -> Result<(), Error> {
    let status = qemu.wait_exit(timeout)?;
    if status.code() != Some(0) {
        problems.push(format!(
            "qemu exited with {status} after {after}, expected 0"
        ));
    }
    Ok(())
}

/// An error and its sources, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

fn client_error(what: &'static str) -> impl Fn(northstar_client::Error) -> Error {
    move |source| Error::Client { what, source }
}

/// A console line of the init without the kernel's time stamp.
fn after_northstar(line: &str) -> &str {
    line.find("northstar").map_or(line, |i| &line[i..]).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_versions_climb_and_one_fails() {
        let parsed: Vec<npk::manifest::Version> = VERSIONS
            .iter()
            .map(|v| v.version.parse().unwrap())
            .collect();
        assert!(parsed.windows(2).all(|w| w[0] < w[1]));
        assert!(parsed[0] > spec::VERSION.parse().unwrap());
        let failing: Vec<&str> = VERSIONS
            .iter()
            .filter(|v| {
                v.args
                    .iter()
                    .any(|a| a.starts_with("exit:") && *a != "exit:0")
            })
            .map(|v| v.version)
            .collect();
        assert_eq!(failing, ["0.0.3"]);
    }
}
