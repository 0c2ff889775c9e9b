//! `nstar pack` of a 64 MiB tree of mixed files against `mksquashfs` (same compression,
//! all cores) followed by `veritysetup format`, in the same run on the same tree.
//!
//! `cargo run --release -p bench --bin pack -- [--size-mib 64] [--runs 3]`
//! Goal: ours / baseline <= 1.0 for each compression.

use anyhow::Result;
use bench::{arg, best_of, mib_per_s, mixed_tree, run, tree_size};
use npk::{key::SecretKey, pack, squashfs::Compression, verity::Salt};
use std::{fs, process::Command, str::FromStr};

const SALT: &str = "0011223344556677889900112233445566778899001122334455667788990011";

fn main() -> Result<()> {
    let size_mib: usize = arg("--size-mib", 64);
    let runs: usize = arg("--runs", 3);
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("root");
    mixed_tree(&root, size_mib << 20)?;
    let bytes = tree_size(&root)?;
    let manifest = dir.path().join("manifest.yaml");
    fs::write(
        &manifest,
        "name: bench\nversion: 1.0.0\ninit: /bin/blob0\nuid: 1000\ngid: 1000\n",
    )?;
    let key = SecretKey::from_seed(&[3; 32]);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "pack: {:.1} MiB tree, {cores} cores, best of {runs}",
        bytes as f64 / 1048576.0
    );
    println!("| compression | nstar pack | mksquashfs + veritysetup | ratio | npk size | squashfs size |");
    println!("|---|---|---|---|---|---|");
    for name in ["xz", "zstd", "gzip", "lz4"] {
        let compression = Compression::from_str(name).map_err(|e| anyhow::anyhow!("{e}"))?;
        let out = dir.path().join("out");
        fs::create_dir_all(&out)?;
        let options = pack::Options {
            compression,
            block_size: 128 * 1024,
            salt: Some(Salt::from_hex(SALT).map_err(|e| anyhow::anyhow!("{e}"))?),
            key: Some(&key),
        };
        let (ours, npk) = best_of(runs, || {
            Ok(pack::pack(&manifest, &root, &out, &options, &mut |_| ())?)
        })?;
        let npk_size = fs::metadata(&npk)?.len();
        let img = dir.path().join("baseline.img");
        let (theirs, _) = best_of(runs, || {
            let _ = fs::remove_file(&img);
            run(Command::new("mksquashfs")
                .arg(&root)
                .arg(&img)
                .args([
                    "-comp",
                    name,
                    "-b",
                    "131072",
                    "-noappend",
                    "-quiet",
                    "-no-progress",
                ])
                .args(["-processors", &cores.to_string()])
                .args(["-all-root", "-mkfs-time", "0", "-all-time", "0"]))?;
            let len = fs::metadata(&img)?.len();
            let data_len = len.div_ceil(4096) * 4096;
            fs::OpenOptions::new()
                .write(true)
                .open(&img)?
                .set_len(data_len)?;
            run(Command::new("veritysetup")
                .arg("format")
                .arg(&img)
                .arg(&img)
                .arg(format!("--hash-offset={data_len}"))
                .arg(format!("--data-blocks={}", data_len / 4096))
                .arg(format!("--salt={SALT}")))?;
            Ok(len)
        })?;
        let squashfs_size = fs::metadata(&img)?.len();
        println!(
            "| {name} | {:.2} s ({:.0} MiB/s) | {:.2} s ({:.0} MiB/s) | {:.2} | {:.1} MiB | {:.1} MiB (baseline) |",
            ours.as_secs_f64(),
            mib_per_s(bytes, ours),
            theirs.as_secs_f64(),
            mib_per_s(bytes, theirs),
            ours.as_secs_f64() / theirs.as_secs_f64(),
            npk_size as f64 / 1048576.0,
            squashfs_size as f64 / 1048576.0,
        );
    }
    Ok(())
}
