//! What the update scenarios (`update`, `update-cuts`) share: the later versions of `app`
//! packed beside the images, one boot of the scenario's disks with or without a cut
//! (`northstar.test.update_cut=<point>`, test build) and the checks every boot makes, an
//! update transaction through the client library on QEMU's socket (`channel://`), and the
//! cut itself: the update gets no answer, PID 1 dies with the runtime, the kernel panics,
//! and `-no-reboot` makes that QEMU's exit.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use northstar_client::api::{ApiError, ContainerState, RepositoryName, UpdateOptions};
use northstar_client::{Client, UpdateFile};

use super::images::Images;
use super::spec::{self, Container};
use super::{drive, Error, Options, Outcome, Scenario, Shared};
use crate::boot::{self, report, REPOSITORY};
use crate::image::data;
use crate::qemu::{channel, Qemu};

/// The container of the update scenarios.
pub const APP: &str = spec::APP;
/// The runtime's line when a cut ends it.
pub(super) const CUT_LINE: &str = "update: cut at ";
/// The runtime's reason when it rolls back a transaction it finds at its start.
const RESUMED: &str = "before the update was committed";
/// The kernel's line when PID 1 ended.
const KILLED_INIT: &str = "Attempted to kill init";
/// The management channel's line once the port is served.
const CHANNEL_UP: &str = "management channel: org.northstar.api at";

/// One later version of `app`: its steps (those of `test-container`).
pub(super) struct Version {
    pub version: &'static str,
    pub args: &'static [&'static str],
}

/// What every boot of a scenario uses.
pub(super) struct Machine<'a> {
    pub shared: &'a Shared,
    pub scenario: Scenario,
    pub images: &'a Images,
    pub dir: &'a Path,
    pub options: &'a Options,
}

/// An outcome of `scenario` with nothing seen yet.
pub(super) fn outcome(scenario: Scenario, dir: &Path) -> Outcome {
    Outcome {
        scenario,
        notes: Vec::new(),
        problems: Vec::new(),
        machine: Duration::ZERO,
        log: dir.join("console-1.log"),
    }
}

/// `versions` of `app`, signed with the scenario's key, in `<dir>/updates/`, in order;
/// with a `persist` mount at [`spec::DATA`] when `persist`.
pub(super) fn pack(
    shared: &Shared,
    images: &Images,
    dir: &Path,
    versions: &[Version],
    persist: bool,
) -> Result<Vec<PathBuf>, Error> {
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
    for v in versions {
        let container = Container {
            name: APP.to_owned(),
            args: v.args.iter().map(|a| (*a).to_owned()).collect(),
            memory_limit: None,
            host_proc: false,
            persist,
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

/// Boot `n` of the scenario's disks: up with `running` as the one version of `app` that
/// runs (checked through `list`), then `act`; with `cut`, the runtime aborts at that
/// point of a transaction. `act` gets the machine, the client, and the boot's notes and
/// problems, and ends the machine. Checks the transcript afterwards: no `boot failed` or `HOLD`
/// line; with a cut, the runtime's cut line and the kernel's end of PID 1, without one,
/// neither. Returns the boot's transcript, or `None` when the scenario cannot go on.
pub(super) fn boot(
    m: &Machine<'_>,
    n: usize,
    running: &str,
    cut: Option<&str>,
    outcome: &mut Outcome,
    act: impl FnOnce(&mut Qemu, &mut Client, &mut Vec<String>, &mut Vec<String>) -> Result<(), Error>,
) -> Result<Option<String>, Error> {
    let log = format!("console-{n}.log");
    let mut config = drive::machine(m.shared, m.scenario, m.images, m.dir, &log, m.options)?;
    if let Some(point) = cut {
        config
            .cmdline
            .push(format!("northstar.test.update_cut={point}"));
    }
    let nstar = channel::Nstar {
        binary: m.shared.nstar.clone(),
        socket: m.dir.join(channel::CHARDEV),
        timeout: Duration::from_secs(30),
        direct: true,
    };
    let mut qemu = Qemu::spawn(&config)?;
    let mut notes = Vec::new();
    let mut problems = Vec::new();
    let result = (|| {
        up(&mut qemu, running, m.options)?;
        let mut client = nstar
            .client(northstar_client::Options::default())
            .map_err(client_error("connect"))?;
        one_running(&mut client, running, "at boot", &mut notes, &mut problems)?;
        act(&mut qemu, &mut client, &mut notes, &mut problems)
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
        return Ok(None);
    }
    for line in transcript.lines() {
        let fatal = line.contains(boot::BOOT_FAILED) || line.contains(boot::HOLD);
        if fatal || (cut.is_none() && (line.contains(KILLED_INIT) || line.contains(CUT_LINE))) {
            outcome.problems.push(format!("boot {n}: {}", line.trim()));
        }
    }
    // After a cut before the commit, the runtime rolled the transaction back at its start.
    if let Some(line) = transcript.lines().find(|l| l.contains(RESUMED)) {
        outcome
            .notes
            .push(format!("boot {n}: {}", after_northstar(line)));
    }
    if let Some(point) = cut {
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
    Ok(outcome.problems.is_empty().then_some(transcript))
}

/// The boot report, `running`'s `ready` and the channel.
fn up(qemu: &mut Qemu, running: &str, options: &Options) -> Result<(), Error> {
    let deadline = Instant::now() + options.boot_timeout;
    qemu.expect_until(boot::STARTED, deadline)?;
    qemu.expect_until(report::FIRST_LINE, deadline)?;
    qemu.seen_until(&ready_line(running), deadline)?;
    qemu.seen_until(CHANNEL_UP, deadline)?;
    Ok(())
}

/// The console line of `app` at `version` once its program runs.
pub(super) fn ready_line(version: &str) -> String {
    format!("{APP}:{version}: {}", spec::READY)
}

/// An update that the runtime is told to cut.
pub(super) struct Cut<'a> {
    pub npk: &'a Path,
    /// The new version, for the notes.
    pub version: &'a str,
    pub point: &'a str,
    pub options: UpdateOptions,
}

/// The update is cut: the machine ends by itself with 0 within `exit_timeout`, and the
/// answer never came.
pub(super) fn cut(
    qemu: &mut Qemu,
    client: &mut Client,
    cut: Cut<'_>,
    exit_timeout: Duration,
    notes: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> Result<(), Error> {
    let answer = update(client, cut.npk, cut.options);
    exited_with_0(qemu, exit_timeout, "the cut", problems)?;
    notes.push(format!(
        "update to {}: cut at {}, the client saw {}",
        cut.version,
        cut.point,
        match answer {
            Ok(ids) => format!("an answer: committed {ids}"),
            Err(e) => format!("{e}"),
        }
    ));
    Ok(())
}

/// Why an update did not commit.
#[derive(Debug)]
pub(super) enum Refused {
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

/// Milliseconds of `d`, for [`UpdateOptions`].
pub(super) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// An update transaction of `npk` into the system repository; the committed ids.
pub(super) fn update(
    client: &mut Client,
    npk: &Path,
    options: UpdateOptions,
) -> Result<String, Refused> {
    let repository = RepositoryName::new(REPOSITORY).map_err(|e| Refused::Other(e.to_string()))?;
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
            _ => Err(Refused::Other(northstar_client::api::chain(&e))),
        },
    }
}

/// `list`: exactly one version of `app` runs, `version`, and it is the only active one.
pub(super) fn one_running(
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
pub(super) fn exited_with_0(
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

/// `e2fsck -fn` of the data image, into `outcome`.
pub(super) fn fsck(images: &Images, outcome: &mut Outcome) -> Result<(), Error> {
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
    Ok(())
}

pub(super) fn client_error(what: &'static str) -> impl Fn(northstar_client::Error) -> Error {
    move |source| Error::Client { what, source }
}

/// A console line of the init without the kernel's time stamp.
fn after_northstar(line: &str) -> &str {
    line.find("northstar").map_or(line, |i| &line[i..]).trim()
}

/// Whether `versions` climb above the image's version, one after the other.
#[cfg(test)]
pub(super) fn climbing(versions: &[Version]) -> bool {
    let parsed: Vec<npk::manifest::Version> = versions
        .iter()
        .map(|v| v.version.parse().unwrap())
        .collect();
    parsed.windows(2).all(|w| w[0] < w[1]) && parsed.first() > Some(&spec::VERSION.parse().unwrap())
}
