//! Helpers of the container benchmarks: static programs built for the host, packages
//! packed into an unverified repository, runtime configuration text, and statistics.

use anyhow::{bail, Context, Result};
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

/// The workspace root (the parent of this crate).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Build a binary of a workspace package, static (musl), release, into its own target
/// directory so it does not disturb the bench's own build. Returns its path.
pub fn static_binary(package: &str, bin: &str) -> Result<PathBuf> {
    let target_dir = workspace().join("target/bench-static");
    let status = Command::new(env!("CARGO"))
        .current_dir(workspace())
        .args(["build", "--quiet", "--release", "-p", package])
        .args(["--target", "x86_64-unknown-linux-musl", "--target-dir"])
        .arg(&target_dir)
        .status()
        .context("run cargo")?;
    if !status.success() {
        bail!("building {package} failed");
    }
    Ok(target_dir.join(format!("x86_64-unknown-linux-musl/release/{bin}")))
}

/// Run this benchmark in the cgroup view the init sets up on a device: a private mount
/// namespace whose /sys/fs/cgroup is the cgroup2 unified hierarchy alone. On a cgroup v1
/// host every move of a process into a v1 group waits for an RCU grace period (several
/// ms); cgroup2 lets the runtime create the process directly in its group
/// (`CLONE_INTO_CGROUP`). Re-executes the benchmark there and exits with its status;
/// returns at once when already there, or when `--cgroup-v1` asks for the host's view.
pub fn cgroup2_view() -> Result<()> {
    const MARK: &str = "NORTHSTAR_BENCH_CGROUP2";
    let args: Vec<String> = std::env::args().collect();
    if std::env::var_os(MARK).is_some() || args.iter().any(|a| a == "--cgroup-v1") {
        return Ok(());
    }
    let status = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(
            "umount -R /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && exec \"$0\" \"$@\"",
        )
        .arg(std::env::current_exe()?)
        .args(&args[1..])
        .env(MARK, "1")
        .status()
        .context("run unshare")?;
    std::process::exit(status.code().unwrap_or(1));
}

/// Build the host's `northstar` daemon (release profile, as shipped) and return its path;
/// `NORTHSTAR_DAEMON=<path>` measures that binary instead.
pub fn northstar_daemon() -> Result<PathBuf> {
    // Another build to compare with (an older commit's, say).
    if let Ok(path) = std::env::var("NORTHSTAR_DAEMON") {
        return Ok(PathBuf::from(path));
    }
    let target_dir = workspace().join("target/bench-static");
    let status = Command::new(env!("CARGO"))
        .current_dir(workspace())
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "northstar",
            "--target-dir",
        ])
        .arg(&target_dir)
        .status()
        .context("run cargo")?;
    if !status.success() {
        bail!("building the northstar daemon failed");
    }
    Ok(target_dir.join("release/northstar"))
}

/// Pack `manifest` (YAML) with `binary` installed at `/bin/<file name>` into `repo`,
/// uncompressed and unsigned. Returns the package's `name:version`.
pub fn pack(repo: &Path, manifest: &str, binary: &Path) -> Result<String> {
    pack_file(repo, manifest, binary).map(|(id, _)| id)
}

/// [`pack`], also returning the package file's path.
pub fn pack_file(repo: &Path, manifest: &str, binary: &Path) -> Result<(String, PathBuf)> {
    let manifest = npk::manifest::Manifest::from_yaml_str(manifest)
        .with_context(|| format!("manifest:\n{manifest}"))?;
    let root = tempfile::tempdir()?;
    fs::create_dir_all(root.path().join("bin"))?;
    // An empty /dev: crun mounts its /dev there and cannot create it in a read-only root.
    fs::create_dir_all(root.path().join("dev"))?;
    let name = binary.file_name().context("binary without a name")?;
    fs::copy(binary, root.path().join("bin").join(name))?;
    let file = npk::pack::pack_manifest(
        &manifest,
        root.path(),
        repo,
        &npk::pack::Options {
            compression: npk::squashfs::Compression::None,
            ..Default::default()
        },
        &mut |_| (),
    )?;
    Ok((format!("{}:{}", manifest.name, manifest.version), file))
}

/// Runtime configuration for a benchmark in `dir`: one unverified repository `dir/repo`,
/// cgroups under `cgroup`, bind mounts allowed below `dir`.
pub fn config_text(dir: &Path, cgroup: &str, mount_on_start: bool) -> String {
    let d = dir.display();
    format!(
        r#"run_dir = "{d}/run"
data_dir = "{d}/data"
stop_timeout = "2s"
bind_allow = ["{d}"]

[cgroups]
name = "{cgroup}"

[repositories.bench]
dir = "{d}/repo"
unverified = true
mount_on_start = {mount_on_start}
"#
    )
}

/// The runtime on `dir` (see [`config_text`]) with its repository's packages mounted, and
/// its notifications.
pub fn start_runtime(
    dir: &Path,
    bench: &str,
) -> Result<(
    runtime_core::runtime::Handle,
    std::sync::mpsc::Receiver<runtime_core::runtime::Notification>,
)> {
    let cgroup = format!("northstar-bench-{bench}-{}", std::process::id());
    let text = config_text(dir, &cgroup, true);
    let config = runtime_core::config::Config::from_toml_str(&text, Path::new("bench.toml"))?;
    let handle = runtime_core::runtime::Runtime::start(config)?;
    let events = handle.subscribe()?;
    wait_mounted(&handle)?;
    Ok((handle, events))
}

/// Wait until the runtime has mounted every package it knows (`mount_on_start` works on
/// the runtime's own thread after it started).
pub fn wait_mounted(handle: &runtime_core::runtime::Handle) -> Result<()> {
    use runtime_core::runtime::{Request, Response};
    let begin = std::time::Instant::now();
    loop {
        match handle.request(Request::List)? {
            Response::Containers(list) if list.iter().all(|c| c.mounted) => return Ok(()),
            Response::Containers(_) => (),
            other => bail!("list answered {other:?}"),
        }
        if begin.elapsed() > Duration::from_secs(120) {
            bail!("packages not mounted after 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value below which `p` percent of the sorted samples lie (nearest rank).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Median of the samples (sorted in place).
pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    percentile(samples, 50.0)
}

/// Milliseconds with three decimals, for tables.
pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// `VmRSS` of a process in KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "VmRSS:")
}

/// A `kB` field of `/proc/<pid>/status`.
pub fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("{field} of process {pid}"))
}

/// `Pss` of a process in KiB (its share of pages it has in common with others).
pub fn pss_kib(pid: u32) -> Result<u64> {
    let rollup = fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("Pss of process {pid}"))
}

/// Direct children of a process (all its threads).
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let path = task.path().join("children");
            if let Ok(text) = fs::read_to_string(path) {
                out.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<u32>().ok()),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&v[..1], 99.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn median_sorts_first() {
        let mut v = vec![
            Duration::from_millis(3),
            Duration::from_millis(1),
            Duration::from_millis(2),
        ];
        assert_eq!(median(&mut v), Duration::from_millis(2));
    }

    #[test]
    fn own_status_is_readable() {
        let me = std::process::id();
        assert!(rss_kib(me).unwrap() > 0);
        assert!(pss_kib(me).unwrap() > 0);
    }
}
