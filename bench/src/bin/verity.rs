//! Building a dm-verity hash tree: `npk::verity` against `veritysetup format`, measured in
//! the same run on the same data.
//!
//! `cargo run --release -p bench --bin verity -- [--size-mib 256]`
//!
//! Creates a file of random data in a temporary directory, times our `hash_tree` and
//! `append` and `veritysetup format` with the same salt, uuid, block count and hash
//! offset on a copy (best of 3 each, runs interleaved), checks that both give the same
//! root hash and the same bytes, and prints a markdown table row: throughput of each and
//! the ratio ours/veritysetup. Both read the data from the page cache.
//!
//! sha2's SHA-NI code needs `opt-level = 3`: under the workspace's release `opt-level =
//! "s"` it runs at a third of the speed, unless the root Cargo.toml has
//! `[profile.release.package.sha2] opt-level = 3` (or pass
//! `--config 'profile.release.package.sha2.opt-level=3'` to cargo).

use std::{fs::File, os::unix::fs::FileExt, process::Command, time::Duration};

use anyhow::{bail, ensure, Context, Result};
use bench::timed;
use npk::verity::{self, Salt, BLOCK_SIZE};

const RUNS: usize = 3;

fn main() -> Result<()> {
    let size_mib = size_mib()?;
    let len = size_mib * 1024 * 1024;
    let blocks = len / BLOCK_SIZE;
    let dir = tempfile::tempdir()?;
    let ours_path = dir.path().join("ours.img");
    let theirs_path = dir.path().join("theirs.img");

    // Random data, written in 1 MiB pieces.
    let ours = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&ours_path)?;
    let mut piece = vec![0; 1 << 20];
    for at in (0..len).step_by(piece.len()) {
        getrandom::getrandom(&mut piece).map_err(|e| anyhow::anyhow!("getrandom: {e}"))?;
        ours.write_all_at(&piece, at)?;
    }
    std::fs::copy(&ours_path, &theirs_path)?;
    let salt = Salt::random().map_err(|e| anyhow::anyhow!("{e}"))?;

    let theirs = theirs_path
        .to_str()
        .context("temporary path is not utf-8")?;
    // The uuid is derived from the salt and the root: take it from a first `append`.
    let (superblock, root) = verity::append(&ours, 0, len, &salt)?;
    let uuid = hex(&superblock.uuid);
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        &uuid[..8],
        &uuid[8..12],
        &uuid[12..16],
        &uuid[16..20],
        &uuid[20..]
    );
    let args = [
        "format".to_owned(),
        theirs.to_owned(),
        theirs.to_owned(),
        format!("--data-blocks={blocks}"),
        format!("--hash-offset={len}"),
        format!("--salt={}", salt.to_hex()),
        format!("--uuid={uuid}"),
    ];

    // Interleaved, so that a change in machine load hits all three alike.
    let (mut tree, mut append, mut veritysetup) = (Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..RUNS {
        let (time, t) = timed(|| verity::hash_tree(&ours, 0, blocks, &salt))?;
        ensure!(t.root == root);
        tree = tree.min(time);
        let (time, (sb, r)) = timed(|| verity::append(&ours, 0, len, &salt))?;
        ensure!(sb == superblock && r == root);
        append = append.min(time);
        let (time, their_root) = timed(|| run_veritysetup(&args))?;
        ensure!(
            their_root == hex(&root),
            "root hashes differ: veritysetup {their_root}, ours {}",
            hex(&root)
        );
        veritysetup = veritysetup.min(time);
    }
    ensure!(
        std::fs::read(&ours_path)? == std::fs::read(&theirs_path)?,
        "images differ"
    );

    let mib_s = |d: Duration| size_mib as f64 / d.as_secs_f64();
    // rayon's pool size: RAYON_NUM_THREADS if set, else one thread per core.
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!("| image | threads | ours hash_tree | ours append | veritysetup format | ratio (append/veritysetup) |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {size_mib} MiB | {threads} | {:.0} MiB/s | {:.0} MiB/s | {:.0} MiB/s | {:.2} |",
        mib_s(tree),
        mib_s(append),
        mib_s(veritysetup),
        veritysetup.as_secs_f64() / append.as_secs_f64(),
    );
    Ok(())
}

/// Runs `veritysetup` and returns the root hash it prints.
fn run_veritysetup(args: &[String]) -> Result<String> {
    let output = Command::new("veritysetup")
        .args(args)
        .output()
        .context("failed to run veritysetup")?;
    if !output.status.success() {
        bail!(
            "veritysetup failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8(output.stdout)?
        .lines()
        .find_map(|l| l.strip_prefix("Root hash:").map(|h| h.trim().to_owned()))
        .context("no root hash in veritysetup's output")
}

fn size_mib() -> Result<u64> {
    let mut args = std::env::args().skip(1);
    let mut size = 256;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--size-mib" => size = args.next().context("--size-mib needs a value")?.parse()?,
            other => bail!("unknown argument {other:?}; usage: verity [--size-mib N]"),
        }
    }
    ensure!(size > 0, "--size-mib must be at least 1");
    Ok(size)
}

/// Lower-case hex, as veritysetup prints hashes.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
