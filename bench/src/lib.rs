//! Shared helpers of the benchmarks: timing, test data and baseline commands.
//!
//! Every benchmark measures Northstar and its baseline in the same run on the same input
//! and prints the ratio: absolute times on shared machines are noise.

pub mod api;
pub mod containers;

use anyhow::{bail, Context, Result};
use std::{
    fs,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

/// Best (lowest) wall time of `runs` runs of `f`.
pub fn best_of<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<(Duration, T)> {
    let mut best = None;
    let mut last = None;
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let value = f()?;
        let elapsed = start.elapsed();
        if best.is_none_or(|b| elapsed < b) {
            best = Some(elapsed);
        }
        last = Some(value);
    }
    match (best, last) {
        (Some(b), Some(v)) => Ok((b, v)),
        _ => bail!("no run"),
    }
}

/// How long `f` took, and its result.
pub fn timed<T, E: Into<anyhow::Error>>(f: impl FnOnce() -> Result<T, E>) -> Result<(Duration, T)> {
    let begin = Instant::now();
    let value = f().map_err(Into::into)?;
    Ok((begin.elapsed(), value))
}

/// Run a command, failing with its output when it fails.
pub fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("{cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `len` bytes of pseudo-random data from a fixed seed (xorshift: fast, incompressible).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    qemu_tests::image::incompressible(len, seed)
}

/// Text-like, compressible data: words from a small vocabulary in a pseudo-random order.
pub fn text_bytes(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "north",
        "star",
        "init",
        "container",
        "verity",
        "squash",
        "signed",
        "package",
        "mount",
        "kernel",
        "board",
        "module",
        "manifest",
        "runtime",
        "the",
        "of",
    ];
    let noise = random_bytes(len / 4 + 8, seed);
    let mut out = Vec::with_capacity(len + 16);
    let mut i = 0;
    while out.len() < len {
        out.extend_from_slice(WORDS[(noise[i % noise.len()] & 15) as usize].as_bytes());
        out.push(if i % 13 == 12 { b'\n' } else { b' ' });
        i += 1;
    }
    out.truncate(len);
    out
}

/// A tree of about `total` bytes of mixed files: a third incompressible, a third text, the
/// rest zero-filled and many small files, in nested directories.
pub fn mixed_tree(root: &Path, total: usize) -> Result<()> {
    let third = total / 3;
    let mut seed = 1u64;
    let write = |path: &Path, data: Vec<u8>| -> Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(path, data).with_context(|| format!("{}", path.display()))
    };
    for i in 0..8 {
        seed += 1;
        write(
            &root.join(format!("bin/blob{i}")),
            random_bytes(third / 8, seed),
        )?;
        write(
            &root.join(format!("share/text{i}.txt")),
            text_bytes(third / 8, seed),
        )?;
    }
    write(&root.join("var/zero.img"), vec![0; third / 2])?;
    let small = 4096;
    for i in 0..(third / 2 / small) {
        seed += 1;
        let data = if i % 2 == 0 {
            text_bytes(small, seed)
        } else {
            random_bytes(small, seed)
        };
        write(&root.join(format!("lib/d{}/f{i}", i % 32)), data)?;
    }
    Ok(())
}

/// Size of all regular files under `root`.
pub fn tree_size(root: &Path) -> Result<u64> {
    Ok(qemu_tests::image::tree_bytes(root)?)
}

/// Megabytes per second.
pub fn mib_per_s(bytes: u64, time: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / time.as_secs_f64()
}

/// Parse `--name value` from the command line.
pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(default)
}
