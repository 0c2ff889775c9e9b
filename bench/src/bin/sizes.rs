//! Size of the static binaries a board carries: the init (`northstar`) and the tool
//! (`nstar`), release profile (size-optimized, LTO, stripped), for each board target; and
//! the init with the feature `tls` (the management API's TCP listener), which a board
//! chooses.
//!
//! `cargo run --release -p bench --bin sizes`
//! Goal: the init ≤ 3 MiB stripped on every target (default features).
//!
//! Baseline in the same run: the host's `crun` (a dynamically linked C runtime, stripped by
//! Debian; its shared libraries are not counted, which favours it).

use anyhow::{Context, Result};
use bench::containers::workspace;
use std::{fs, path::Path, process::Command};

/// The board targets and what links their binaries statically (`.cargo/config.toml`).
const TARGETS: [&str; 3] = [
    "x86_64-unknown-linux-musl",
    "aarch64-unknown-linux-musl",
    "armv7-unknown-linux-gnueabihf",
];
/// The goal for the init.
const GOAL: u64 = 3 << 20;

fn main() -> Result<()> {
    let crun = which("crun").and_then(|p| Ok(fs::metadata(p)?.len()));
    println!(
        "{:<32} {:>12} {:>12} {:>9} {:>9} {:>14}",
        "target", "northstar", "nstar", "/goal", "/crun", "northstar+tls"
    );
    let mut worst: u64 = 0;
    for target in TARGETS {
        let dir = workspace().join("target").join(target).join("release");
        build(target, &["-p", "northstar", "--features", "tls"])?;
        let with_tls = size(&dir.join("northstar"))?;
        build(target, &["-p", "northstar", "-p", "nstar"])?;
        let init = size(&dir.join("northstar"))?;
        let tool = size(&dir.join("nstar"))?;
        worst = worst.max(init);
        let versus_crun = match &crun {
            Ok(c) => format!("{:.2}", init as f64 / *c as f64),
            Err(_) => "-".into(),
        };
        println!(
            "{target:<32} {:>12} {:>12} {:>9.2} {versus_crun:>9} {:>14}",
            kib(init),
            kib(tool),
            init as f64 / GOAL as f64,
            kib(with_tls)
        );
    }
    match crun {
        Ok(c) => println!("baseline: crun {} (dynamically linked)", kib(c)),
        Err(e) => println!("baseline: crun not found ({e})"),
    }
    println!(
        "largest init {} against the goal of {}: {}",
        kib(worst),
        kib(GOAL),
        if worst <= GOAL { "met" } else { "MISSED" }
    );
    Ok(())
}

fn build(target: &str, what: &[&str]) -> Result<()> {
    let status = Command::new(env!("CARGO"))
        .current_dir(workspace())
        .args([
            "build",
            "--quiet",
            "--locked",
            "--release",
            "--target",
            target,
        ])
        .args(what)
        .status()
        .context("run cargo")?;
    anyhow::ensure!(status.success(), "building {what:?} for {target} failed");
    Ok(())
}

fn size(path: &Path) -> Result<u64> {
    Ok(fs::metadata(path)
        .with_context(|| path.display().to_string())?
        .len())
}

fn kib(bytes: u64) -> String {
    format!("{} KiB", bytes.div_ceil(1024))
}

fn which(name: &str) -> Result<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("{name} not in PATH"))
}
