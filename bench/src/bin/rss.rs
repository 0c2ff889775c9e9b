//! Memory of the runtime: the release `northstar` daemon idle (50 container names known,
//! none running) and with 50 running containers.
//!
//! `cargo run --release -p bench --bin rss -- [--containers 50] [--versions 2]` (as root)
//! Goal: ≤ 4 MiB idle, plus ≤ 100 KiB per running container.
//!
//! Each name has two versions installed (`--versions`; the highest one active, the others
//! inactive, as a committed update leaves them), so the registry holds 100 packages and the
//! file of active versions 50 entries. Each container has a notify socket (a `sockets` mount) and says
//! `READY=1`, so the runtime watches 50 notify sockets.
//!
//! Each container's init (PID 1 of its namespace, forked from the runtime) is a process of
//! its own; its RSS mostly counts pages it shares with the daemon, so its PSS (proportional
//! share) is reported too.

use anyhow::{bail, Context, Result};
use bench::{
    arg,
    containers::{children, config_text, northstar_daemon, pack, pss_kib, rss_kib, static_binary},
};
use std::{
    fs,
    os::unix::fs::chown,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

fn main() -> Result<()> {
    let count: usize = arg("--containers", 50);
    let versions: usize = arg("--versions", 2);
    let daemon = northstar_daemon()?;
    let program = static_binary("test-container", "test-container")?;
    let size = fs::metadata(&daemon)?.len();

    // Idle: the packages are known (and checked) but nothing runs.
    let idle_dir = tempfile::tempdir()?;
    let idle = setup(idle_dir.path(), &program, count, versions, false)?;
    let mut child = spawn(&daemon, &idle)?;
    std::thread::sleep(Duration::from_secs(2));
    alive(&mut child)?;
    let idle_rss = rss_kib(child.id())?;
    let idle_hwm = bench::containers::status_kib(child.id(), "VmHWM:")?;
    stop(child)?;

    // Busy: the same packages, each started at boot (autostart).
    let busy_dir = tempfile::tempdir()?;
    let busy = setup(busy_dir.path(), &program, count, versions, true)?;
    let mut child = spawn(&daemon, &busy)?;
    let reports = busy_dir.path().join("reports");
    let begin = Instant::now();
    while fs::read_dir(&reports)?.count() < count {
        alive(&mut child)?;
        if begin.elapsed() > Duration::from_secs(120) {
            bail!("not all {count} containers reported within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let busy_rss = rss_kib(child.id())?;
    let busy_hwm = bench::containers::status_kib(child.id(), "VmHWM:")?;
    let inits = children(child.id());
    let mut init_rss = 0;
    let mut init_pss = 0;
    for pid in &inits {
        init_rss += rss_kib(*pid).unwrap_or(0);
        init_pss += pss_kib(*pid).unwrap_or(0);
    }
    let state = fs::metadata(busy_dir.path().join("data/+active-versions"))
        .map(|m| m.len())
        .unwrap_or(0);
    stop(child)?;

    let per = (busy_rss.saturating_sub(idle_rss)) as f64 / count as f64;
    println!(
        "northstar daemon ({size} bytes, release), {count} containers, {versions} versions each"
    );
    println!("| | KiB |");
    println!("|---|---|");
    println!("| idle: VmRSS (VmHWM) | {idle_rss} ({idle_hwm}) |");
    println!("| {count} running: VmRSS (VmHWM) | {busy_rss} ({busy_hwm}) |");
    println!("| per running container (daemon) | {per:.1} |");
    println!(
        "| container inits ({}): RSS sum / PSS sum / PSS each | {init_rss} / {init_pss} / {:.1} |",
        inits.len(),
        init_pss as f64 / inits.len().max(1) as f64
    );
    println!("| file of active versions ({count} entries), bytes | {state} |");
    let verdict = |ok| if ok { "met" } else { "missed" };
    let budget = 4096 + 100 * count as u64;
    println!(
        "idle {:.2}× the 4 MiB goal ({}); {per:.1} KiB per container, {:.2}× the 100 KiB goal ({})",
        idle_rss as f64 / 4096.0,
        verdict(idle_rss <= 4096),
        per / 100.0,
        verdict(per <= 100.0)
    );
    println!(
        "{count} running: {busy_rss} KiB, {:.2}× the budget of 4 MiB + {count} × 100 KiB = {budget} KiB ({})",
        busy_rss as f64 / budget as f64,
        verdict(busy_rss <= budget)
    );
    Ok(())
}

/// A configuration file and `versions` versions of each of `count` sleeping containers.
fn setup(
    dir: &Path,
    program: &Path,
    count: usize,
    versions: usize,
    autostart: bool,
) -> Result<std::path::PathBuf> {
    let repo = dir.join("repo");
    let reports = dir.join("reports");
    fs::create_dir_all(&repo)?;
    fs::create_dir_all(&reports)?;
    chown(&reports, Some(1000), Some(1000))?;
    let autostart = if autostart {
        "autostart: relaxed\n"
    } else {
        ""
    };
    for i in 0..count {
        for v in 1..=versions.max(1) {
            let version = format!("0.0.{v}");
            let manifest = format!(
                "name: rss-{i:03}\nversion: {version}\ninit: /bin/test-container\n\
                 args: [\"notify:READY=1\", \"report:/report/{i}.json\", \"sleep-forever\"]\n\
                 uid: 1000\ngid: 1000\n{autostart}mounts:\n  /proc:\n    type: proc\n  \
                 /run/ns:\n    type: sockets\n  /report:\n    type: bind\n    \
                 host: {reports}\n    options: rw\n",
                reports = reports.display()
            );
            pack(&repo, &manifest, program)?;
        }
    }
    let cgroup = format!("northstar-bench-rss-{}", std::process::id());
    let path = dir.join("northstar.toml");
    fs::write(&path, config_text(dir, &cgroup, false))?;
    Ok(path)
}

fn spawn(daemon: &Path, config: &Path) -> Result<Child> {
    Command::new(daemon)
        .arg("--config")
        .arg(config)
        .env("NORTHSTAR_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("start {}", daemon.display()))
}

fn alive(child: &mut Child) -> Result<()> {
    if let Some(status) = child.try_wait()? {
        bail!("the daemon ended: {status}");
    }
    Ok(())
}

/// SIGTERM (orderly shutdown) and wait for exit 0.
fn stop(mut child: Child) -> Result<()> {
    bench::run(Command::new("kill").args(["-TERM", &child.id().to_string()]))?;
    let status = child.wait()?;
    if !status.success() {
        bail!("the daemon ended with {status}");
    }
    Ok(())
}
