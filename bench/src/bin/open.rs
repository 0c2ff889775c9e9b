//! Opening a 100 MiB package and verifying its signature, against reading and hashing the
//! same file once (what a verifier that does not use dm-verity would have to do).
//!
//! `cargo run --release -p bench --bin open -- [--size-mib 100] [--iterations 200]`
//! Goal: open + verify <= 5 ms, and fs.img is never read (bytes read are reported).

use anyhow::Result;
use bench::{arg, best_of, random_bytes};
use npk::{key::SecretKey, pack, package::Npk, squashfs::Compression};
use sha2::{Digest, Sha256};
use std::{fs, io::Read, time::Instant};

/// Bytes this process has read through read(2) and friends so far.
fn rchar() -> Result<u64> {
    let io = fs::read_to_string("/proc/self/io")?;
    let line = io
        .lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .ok_or_else(|| anyhow::anyhow!("no rchar in /proc/self/io"))?;
    Ok(line.trim().parse()?)
}

fn main() -> Result<()> {
    let size_mib: usize = arg("--size-mib", 100);
    let iterations: u32 = arg("--iterations", 200);
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("bin"))?;
    fs::write(root.join("bin/payload"), random_bytes(size_mib << 20, 9))?;
    let manifest = dir.path().join("manifest.yaml");
    fs::write(
        &manifest,
        "name: big\nversion: 1.0.0\ninit: /bin/payload\nuid: 1000\ngid: 1000\n",
    )?;
    let key = SecretKey::from_seed(&[5; 32]);
    let options = pack::Options {
        compression: Compression::None,
        key: Some(&key),
        ..pack::Options::default()
    };
    let path = pack::pack(&manifest, &root, dir.path(), &options, &mut |_| ())?;
    let size = fs::metadata(&path)?.len();
    let public = key.public();

    let before = rchar()?;
    let start = Instant::now();
    for _ in 0..iterations {
        Npk::open(&path)?.verify(&public)?;
    }
    let ours = start.elapsed() / iterations;
    let read_per_open = (rchar()? - before) / u64::from(iterations);

    let (baseline, _) = best_of(3, || {
        let mut file = fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hasher.finalize())
    })?;
    println!(
        "open: {:.1} MiB package, mean of {iterations}",
        size as f64 / 1048576.0
    );
    println!("| open + verify | bytes read per open | sha256 of the whole file | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| {:.3} ms | {read_per_open} | {:.1} ms | {:.4} |",
        ours.as_secs_f64() * 1e3,
        baseline.as_secs_f64() * 1e3,
        ours.as_secs_f64() / baseline.as_secs_f64()
    );
    Ok(())
}
