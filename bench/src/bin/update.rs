//! Update transactions of the runtime (in this process) against a plain stop and start of
//! the same kind of versions, alternating run by run, in the same run.
//!
//! `cargo run --release -p bench --bin update -- [--runs 20] [--cgroup-v1]` (as root)
//! Goals: the update's downtime and its rollback each ≤ 1.2× the baseline's median.
//!
//! - **Downtime.** A version that says `READY=1` at once is running; an update (health
//!   check `ready`, no snapshot) replaces it by the next version. Timed from the
//!   `UpdateStarted` notification (the old version's stop is requested right after it) to
//!   the new version's `Ready`. Baseline: a `Stop` request of the running version, then a
//!   `Start` of the next one, until its `Ready`.
//! - **Rollback.** The new version exits with code 1 at once. Timed from its `Exited`
//!   notification to the old version's `Started`. Baseline: the same failing version
//!   started by a plain `Start` (after a `Stop` of the old one); on its `Exited` the
//!   benchmark sends `Start` of the old version and waits for its `Started`.
//!
//! Each side has a container name of its own. The new versions of both sides are installed
//! from package files that are not yet mounted (the update installs them, the baseline
//! sends `Install` before the clock starts), so both mount them when they start. Runs in
//! the cgroup view of a device, as `start` does ([`bench::containers::cgroup2_view`]).

use anyhow::{bail, Context, Result};
use bench::{
    arg,
    containers::{cgroup2_view, median, ms, pack_file, percentile, start_runtime, static_binary},
};
use runtime_core::{
    config::Health,
    id::ContainerId,
    runtime::{Handle, Notification, Request, RequestError, Response, UpdateOptions},
};
use std::{
    fs,
    path::{Path, PathBuf},
    sync::mpsc::{self, Receiver},
    time::{Duration, Instant},
};

/// The goal: each at most this many times the baseline's median.
const GOAL: f64 = 1.2;
/// The repository of [`bench::containers::config_text`].
const REPOSITORY: &str = "bench";
/// The longest wait for any notification.
const WAIT: Duration = Duration::from_secs(30);

/// Steps of a version that works: it says it is ready, then sleeps.
const READY: &[&str] = &["notify:READY=1", "sleep-forever"];
/// Steps of a version that fails at once.
const FAILING: &[&str] = &["exit:1"];

fn main() -> Result<()> {
    cgroup2_view()?;
    let runs: usize = arg("--runs", 20);
    let program = static_binary("test-container", "test-container")?;
    let dir = tempfile::tempdir()?;
    let repo = dir.path().join("repo");
    let incoming = dir.path().join("incoming");
    fs::create_dir_all(&repo)?;
    fs::create_dir_all(&incoming)?;

    // Mounted at the runtime's start: the first version of each name, and the failing
    // version the rollback baseline starts every run.
    let package = |dir: &Path, name: &str, version: &str, steps: &[&str]| {
        pack_file(dir, &manifest(name, version, steps), &program)
    };
    let (up, _) = package(&repo, "up", "1.0.0", READY)?;
    let (base, _) = package(&repo, "base", "1.0.0", READY)?;
    let (rb, _) = package(&repo, "rb", "1.0.0", READY)?;
    let (rbb, _) = package(&repo, "rbb", "1.0.0", READY)?;
    let (rbb_failing, _) = package(&repo, "rbb", "1.0.1", FAILING)?;
    // Installed during the runs: one new version per run and side.
    let mut files = Vec::with_capacity(runs);
    for i in 1..=runs {
        let version = format!("1.0.{i}");
        files.push(Files {
            up: package(&incoming, "up", &version, READY)?.1,
            base: package(&incoming, "base", &version, READY)?.1,
            rb: package(&incoming, "rb", &version, FAILING)?.1,
        });
    }

    let (handle, events) = start_runtime(dir.path(), "update")?;
    let bench = Bench { handle, events };
    for id in [&up, &base, &rb, &rbb] {
        bench.start_ready(&id.parse()?)?;
    }
    let (mut up, mut base): (ContainerId, ContainerId) = (up.parse()?, base.parse()?);
    let (rb, rbb, rbb_failing): (ContainerId, ContainerId, ContainerId) =
        (rb.parse()?, rbb.parse()?, rbb_failing.parse()?);

    let mut downtime = Samples::default();
    let mut rollback = Samples::default();
    for (i, f) in files.iter().enumerate() {
        let version = format!("1.0.{}", i + 1);
        let (time, next) = bench.update_downtime(&up, &f.up)?;
        downtime.ours.push(time);
        up = next;
        let (time, next) = bench.stop_start_downtime(&base, &f.base, &version)?;
        downtime.baseline.push(time);
        base = next;
        rollback
            .ours
            .push(bench.update_rollback(&rb, &f.rb, &version)?);
        rollback
            .baseline
            .push(bench.stop_start_rollback(&rbb, &rbb_failing)?);
    }
    bench.handle.shutdown()?;

    println!(
        "update transactions vs a plain stop and start, {runs} alternating runs, cgroup {}",
        if std::env::args().any(|a| a == "--cgroup-v1") {
            "v1"
        } else {
            "v2"
        }
    );
    println!("| | update: median (p10–p90) | stop + start: median (p10–p90) | ratio |");
    println!("|---|---|---|---|");
    let mut met = true;
    for (name, samples) in [
        ("downtime (old stopped → new `Ready`)", &mut downtime),
        ("rollback (new `Exited` → old `Started`)", &mut rollback),
    ] {
        let (ours, baseline) = (median(&mut samples.ours), median(&mut samples.baseline));
        let ratio = ours.as_secs_f64() / baseline.as_secs_f64();
        met &= ratio <= GOAL;
        println!(
            "| {name} | {} ({}–{}) | {} ({}–{}) | {ratio:.2} |",
            ms(ours),
            ms(percentile(&samples.ours, 10.0)),
            ms(percentile(&samples.ours, 90.0)),
            ms(baseline),
            ms(percentile(&samples.baseline, 10.0)),
            ms(percentile(&samples.baseline, 90.0)),
        );
    }
    println!(
        "goal: each ratio ≤ {GOAL:.1} ({})",
        if met { "met" } else { "missed" }
    );
    Ok(())
}

/// A manifest of `name` at `version` running the test program's `steps`, with a sockets
/// mount (the notify socket the `ready` check needs).
fn manifest(name: &str, version: &str, steps: &[&str]) -> String {
    let args: Vec<String> = steps.iter().map(|s| format!("{s:?}")).collect();
    format!(
        "name: {name}\nversion: {version}\ninit: /bin/test-container\nargs: [{}]\n\
         uid: 1000\ngid: 1000\nmounts:\n  /proc:\n    type: proc\n  /run/ns:\n    \
         type: sockets\nio:\n  stdout: discard\n  stderr: discard\n",
        args.join(", ")
    )
}

/// The new versions' package files of one run.
struct Files {
    up: PathBuf,
    base: PathBuf,
    rb: PathBuf,
}

#[derive(Default)]
struct Samples {
    ours: Vec<Duration>,
    baseline: Vec<Duration>,
}

struct Bench {
    handle: Handle,
    events: Receiver<Notification>,
}

impl Bench {
    fn request(&self, request: Request) -> Result<Response> {
        let what = format!("{request:?}");
        self.handle
            .request(request)
            .with_context(|| format!("request {what}"))
    }

    /// The next notification, with the instant it arrived.
    fn next(&self) -> Result<(Instant, Notification)> {
        let n = self
            .events
            .recv_timeout(WAIT)
            .context("no notification within 30 s")?;
        let at = Instant::now();
        if let Notification::Failed { id, error } = &n {
            bail!("{id} failed to start: {error}");
        }
        Ok((at, n))
    }

    /// Wait for the first notification for which `f` says something.
    fn wait<T>(&self, mut f: impl FnMut(Instant, &Notification) -> Option<T>) -> Result<T> {
        loop {
            let (at, n) = self.next()?;
            if let Some(value) = f(at, &n) {
                return Ok(value);
            }
        }
    }

    fn wait_ready(&self, id: &ContainerId) -> Result<Instant> {
        self.wait(|at, n| matches!(n, Notification::Ready { id: r } if r == id).then_some(at))
    }

    fn start(&self, id: &ContainerId) -> Result<()> {
        self.request(Request::Start {
            id: id.clone(),
            args: None,
            env: None,
        })?;
        Ok(())
    }

    fn start_ready(&self, id: &ContainerId) -> Result<()> {
        self.start(id)?;
        self.wait_ready(id)?;
        Ok(())
    }

    fn stop(&self, id: &ContainerId) -> Result<()> {
        self.request(Request::Stop {
            id: id.clone(),
            timeout: None,
        })?;
        Ok(())
    }

    fn uninstall(&self, id: &ContainerId) -> Result<()> {
        self.request(Request::Uninstall {
            id: id.clone(),
            wipe: false,
            repositories: None,
        })?;
        Ok(())
    }

    /// Send an update of `path` (not waiting for its answer); the answer comes through the
    /// returned channel.
    fn send_update(&self, path: &Path) -> Receiver<Result<Response, RequestError>> {
        let (tx, rx) = mpsc::channel();
        let options = UpdateOptions {
            health: Some(Health::Ready),
            window: None,
            deadline: Some(Duration::from_secs(10)),
            snapshot: Some(false),
            downgrade: false,
        };
        self.handle.requester().request_then(
            Request::Update {
                repository: REPOSITORY.to_string(),
                paths: vec![path.to_path_buf()],
                upload: false,
                options,
            },
            move |answer| {
                let _ = tx.send(answer);
            },
        );
        rx
    }

    /// Update the running `old` to the version in `path`: `UpdateStarted` → the new
    /// version's `Ready`. Returns the time and the new version.
    fn update_downtime(&self, old: &ContainerId, path: &Path) -> Result<(Duration, ContainerId)> {
        let answer = self.send_update(path);
        let (begin, new) = self.wait(|at, n| match n {
            Notification::UpdateStarted { ids } => Some((at, ids.clone())),
            _ => None,
        })?;
        let [new] = new.as_slice() else {
            bail!("an update of one package started {new:?}");
        };
        let end = self.wait_ready(new)?;
        match answer.recv_timeout(WAIT)? {
            Ok(Response::Committed { ids }) if ids == [new.clone()] => (),
            other => bail!("the update of {old} to {new} answered {other:?}"),
        }
        Ok((end - begin, new.clone()))
    }

    /// Stop the running `old`, start the version in `path` (installed first, untimed):
    /// until its `Ready`. Returns the time and the new version; the old one is
    /// uninstalled afterwards, as an update's commit prunes it.
    fn stop_start_downtime(
        &self,
        old: &ContainerId,
        path: &Path,
        version: &str,
    ) -> Result<(Duration, ContainerId)> {
        let new: ContainerId = format!("{}:{version}", old.name).parse()?;
        self.request(Request::Install {
            repository: REPOSITORY.to_string(),
            path: path.to_path_buf(),
        })?;
        let begin = Instant::now();
        self.stop(old)?;
        self.start(&new)?;
        let end = self.wait_ready(&new)?;
        self.uninstall(old)?;
        Ok((end - begin, new))
    }

    /// Update the running `old` to the failing version in `path`: the new version's
    /// `Exited` → `old`'s `Started`. The failed version is uninstalled afterwards.
    fn update_rollback(&self, old: &ContainerId, path: &Path, version: &str) -> Result<Duration> {
        let new: ContainerId = format!("{}:{version}", old.name).parse()?;
        let answer = self.send_update(path);
        let failed = self.wait(|at, n| match n {
            Notification::Exited { id, .. } if *id == new => Some(at),
            _ => None,
        })?;
        let started = self.wait(|at, n| match n {
            Notification::Started { id, .. } if id == old => Some(at),
            _ => None,
        })?;
        self.wait_ready(old)?;
        match answer.recv_timeout(WAIT)? {
            Err(RequestError::RolledBack { .. }) => (),
            other => bail!("the update of {old} to {new} answered {other:?}"),
        }
        self.uninstall(&new)?;
        Ok(started - failed)
    }

    /// Stop the running `old` and start `failing` (untimed); on its `Exited`, start `old`
    /// again: until its `Started`.
    fn stop_start_rollback(&self, old: &ContainerId, failing: &ContainerId) -> Result<Duration> {
        self.stop(old)?;
        self.start(failing)?;
        let failed = self.wait(|at, n| match n {
            Notification::Exited { id, .. } if id == failing => Some(at),
            _ => None,
        })?;
        self.start(old)?;
        let started = self.wait(|at, n| match n {
            Notification::Started { id, .. } if id == old => Some(at),
            _ => None,
        })?;
        self.wait_ready(old)?;
        Ok(started - failed)
    }
}
