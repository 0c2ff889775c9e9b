//! Start → exit of a static hello binary from a mounted package, against `crun run` of the
//! same binary with the same (mounted) root filesystem, alternating, in the same run.
//!
//! `cargo run --release -p bench --bin start -- [--runs 100] [--cgroup-v1]` (as root)
//! Goal: Northstar's median ≤ 0.5× crun's median.
//!
//! Both run in the cgroup view of a device (cgroup2 only, see
//! [`bench::containers::cgroup2_view`]); `--cgroup-v1` measures Northstar on the host's
//! cgroup v1 hierarchies instead.
//!
//! Northstar is timed from the start request to the exit notification (namespaces, cgroups
//! groups, pivot_root, mounts, uid/gid, capabilities, seccomp, exec, exit, reaping,
//! group removal). crun runs inside a private mount namespace with a cgroup2-only view of
//! /sys/fs/cgroup and `--cgroup-manager=disabled` (the host is cgroup v1), timed from spawn
//! to its exit by a worker process, so neither side pays for the other's set-up.

use anyhow::{bail, Context, Result};
use bench::{
    arg,
    containers::{cgroup2_view, median, ms, pack, percentile, start_runtime, static_binary},
};
use runtime_core::{
    container::ExitStatus,
    id::ContainerId,
    runtime::{Notification, Request},
};
use serde_json::json;
use std::{
    fs,
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Command, Stdio},
    sync::mpsc::Receiver,
    time::{Duration, Instant},
};

const MANIFEST: &str = "name: hello
version: 0.0.1
init: /bin/hello-world
args: [\"--from\", \"northstar\"]
env:
  NAME: bench
uid: 1000
gid: 1000
mounts:
  /proc:
    type: proc
io:
  stdout: pipe
  stderr: pipe
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--crun-worker") {
        let bundle = args.get(2).context("--crun-worker needs a bundle")?;
        return crun_worker(Path::new(bundle));
    }
    cgroup2_view()?;
    let runs: usize = arg("--runs", 100);
    let warmup = 5;
    let hello = static_binary("hello-world", "hello-world")?;
    let dir = tempfile::tempdir()?;
    fs::create_dir_all(dir.path().join("repo"))?;
    let id: ContainerId = pack(&dir.path().join("repo"), MANIFEST, &hello)?.parse()?;
    let (handle, events) = start_runtime(dir.path(), "start")?;
    // crun runs the same program from the same mounted squashfs.
    let rootfs = dir.path().join(format!("run/{id}"));
    if !rootfs.join("bin/hello-world").exists() {
        bail!("{} is not mounted", rootfs.display());
    }
    let bundle = dir.path().join("bundle");
    write_bundle(&bundle, &rootfs)?;
    let mut worker = Command::new("unshare")
        .args(["--mount", "--propagation", "private"])
        .arg(std::env::current_exe()?)
        .arg("--crun-worker")
        .arg(&bundle)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("start the crun worker (unshare)")?;
    let mut to_worker = worker.stdin.take().context("worker stdin")?;
    let mut from_worker = BufReader::new(worker.stdout.take().context("worker stdout")?);

    let mut ours = Vec::with_capacity(runs);
    let mut crun = Vec::with_capacity(runs);
    for i in 0..runs + warmup {
        let a = start_to_exit(&handle, &events, &id)?;
        writeln!(to_worker, "{i}")?;
        let mut line = String::new();
        from_worker.read_line(&mut line)?;
        let b = match line.trim().parse::<u64>() {
            Ok(nanos) => Duration::from_nanos(nanos),
            Err(_) => bail!("crun worker: {}", line.trim()),
        };
        if i >= warmup {
            ours.push(a);
            crun.push(b);
        }
    }
    drop(to_worker);
    worker.wait()?;
    handle.shutdown()?;

    let (m_ours, m_crun) = (median(&mut ours), median(&mut crun));
    println!(
        "start → exit of a static hello, {runs} alternating runs (after {warmup} warm-up runs), cgroup {}",
        if std::env::args().any(|a| a == "--cgroup-v1") { "v1" } else { "v2" }
    );
    println!("| | median | p10 | p90 | min |");
    println!("|---|---|---|---|---|");
    for (name, v, m) in [("northstar", &ours, m_ours), ("crun run", &crun, m_crun)] {
        println!(
            "| {name} | {} | {} | {} | {} |",
            ms(m),
            ms(percentile(v, 10.0)),
            ms(percentile(v, 90.0)),
            ms(v[0])
        );
    }
    let ratio = m_ours.as_secs_f64() / m_crun.as_secs_f64();
    println!(
        "ratio of medians northstar / crun: {ratio:.2} (goal ≤ 0.50: {})",
        if ratio <= 0.5 { "met" } else { "missed" }
    );
    Ok(())
}

/// One start request, timed until the container's exit notification.
fn start_to_exit(
    handle: &runtime_core::runtime::Handle,
    events: &Receiver<Notification>,
    id: &ContainerId,
) -> Result<Duration> {
    let start = Instant::now();
    handle.request(Request::Start {
        id: id.clone(),
        args: None,
        env: None,
    })?;
    loop {
        match events.recv_timeout(Duration::from_secs(30))? {
            Notification::Exited { id: e, status, .. } if &e == id => {
                if status != ExitStatus::Exit(0) {
                    bail!("{id} ended with {status:?}");
                }
                return Ok(start.elapsed());
            }
            Notification::Failed { id: e, error } if &e == id => bail!("{id}: {error}"),
            _ => (),
        }
    }
}

/// An OCI bundle running `/bin/hello-world` from `rootfs` with what the Northstar
/// container has: PID, mount, IPC, UTS and network namespaces, uid/gid 1000, /proc and
/// a /dev. Masked and read-only paths are left out (less work for crun, not more).
fn write_bundle(bundle: &Path, rootfs: &Path) -> Result<()> {
    fs::create_dir_all(bundle)?;
    let config = json!({
        "ociVersion": "1.0.0",
        "process": {
            "terminal": false,
            "user": { "uid": 1000, "gid": 1000 },
            "args": ["/bin/hello-world", "--from", "crun"],
            "env": ["NAME=bench", "PATH=/bin"],
            "cwd": "/",
            "noNewPrivileges": true,
        },
        "root": { "path": rootfs, "readonly": true },
        "hostname": "hello",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
        ],
        "linux": {
            "namespaces": [
                { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                { "type": "uts" }, { "type": "mount" },
            ],
        },
    });
    fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(&config)?,
    )?;
    Ok(())
}

/// Runs in a private mount namespace: gives crun the cgroup2-only view it needs on this
/// host, then runs `crun run` once per line on stdin and answers with the nanoseconds.
fn crun_worker(bundle: &Path) -> Result<()> {
    let ok = |cmd: &mut Command| -> Result<()> {
        let out = cmd.output().with_context(|| format!("{cmd:?}"))?;
        if !out.status.success() {
            bail!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    };
    ok(Command::new("umount").args(["-R", "/sys/fs/cgroup"]))?;
    ok(Command::new("mount").args(["-t", "cgroup2", "none", "/sys/fs/cgroup"]))?;
    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let name = format!("bench-{}-{}", std::process::id(), line.trim());
        let start = Instant::now();
        let out = Command::new("crun")
            .args(["--cgroup-manager=disabled", "run", "--bundle"])
            .arg(bundle)
            .arg(&name)
            .stdin(Stdio::null())
            .output()?;
        let elapsed = start.elapsed();
        let mut stdout = stdout.lock();
        if out.status.success() && out.stdout.starts_with(b"Hello, bench!") {
            writeln!(stdout, "{}", elapsed.as_nanos())?;
        } else {
            writeln!(
                stdout,
                "crun failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            )?;
        }
        stdout.flush()?;
    }
    Ok(())
}
