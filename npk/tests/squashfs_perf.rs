//! Packing speed against mksquashfs on a 64 MiB mixed tree. Not a test (it asserts
//! nothing about time): run with
//! `cargo test -p npk --test squashfs_perf -- --ignored --nocapture`
//! (`NPK_PERF_TREE=<dir>` to measure an existing tree).

use std::{fs, io::BufWriter, path::Path, process::Command, time::Instant};

use npk::squashfs::{self, Compression, Options};

#[path = "squashfs_tree.rs"]
mod tree;

/// 64 MiB: a third random, a third text-like, the rest zeros and small files.
fn mixed_tree(root: &Path) {
    let mut seed = 1;
    for dir in 0..8 {
        let dir_path = root.join(format!("dir{dir}"));
        fs::create_dir_all(&dir_path).unwrap();
        for file in 0..4 {
            seed += 1;
            fs::write(
                dir_path.join(format!("random{file}")),
                tree::noise(700_000, seed),
            )
            .unwrap();
            fs::write(
                dir_path.join(format!("text{file}")),
                tree::text(700_000 + file * 13),
            )
            .unwrap();
        }
        fs::write(dir_path.join("zeros"), vec![0u8; 1_500_000]).unwrap();
        for small in 0..250 {
            seed += 1;
            let mut bytes = tree::text(3000 + small * 7);
            bytes.extend(tree::noise(500, seed));
            fs::write(dir_path.join(format!("small{small}")), bytes).unwrap();
        }
    }
}

fn time<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let t = f();
    (start.elapsed().as_secs_f64(), t)
}

#[test]
#[ignore = "a benchmark: run explicitly"]
fn pack_speed_against_mksquashfs() {
    let tmp = tempfile::tempdir().unwrap();
    // NPK_PERF_TREE=<dir> measures an existing tree instead (e.g. /usr/bin).
    let root = match std::env::var_os("NPK_PERF_TREE") {
        Some(dir) => dir.into(),
        None => {
            let root = tmp.path().join("tree");
            mixed_tree(&root);
            root
        }
    };
    let threads = std::thread::available_parallelism().unwrap().get();
    for compression in perf_compressions() {
        let ours = tmp.path().join("ours.img");
        let theirs = tmp.path().join("theirs.img");
        let opts = Options {
            compression,
            ..Options::default()
        };
        let (t_ours, len) = time(|| {
            let mut out = BufWriter::new(fs::File::create(&ours).unwrap());
            squashfs::build(&root, &opts, &mut out, &mut |_| {}).unwrap()
        });
        let (t_theirs, status) = time(|| {
            Command::new("mksquashfs")
                .arg(&root)
                .arg(&theirs)
                .args([
                    "-comp",
                    &compression.to_string(),
                    "-noappend",
                    "-no-progress",
                    "-quiet",
                ])
                .args([
                    "-processors",
                    &threads.to_string(),
                    "-all-root",
                    "-mkfs-time",
                    "0",
                ])
                .status()
                .unwrap()
        });
        assert!(status.success());
        let theirs_len = fs::metadata(&theirs).unwrap().len();
        println!(
            "{compression:>5}: ours {t_ours:6.2} s {len:>10} B | mksquashfs {t_theirs:6.2} s \
             {theirs_len:>10} B | time x{:.2} size x{:.3}",
            t_ours / t_theirs,
            len as f64 / theirs_len as f64
        );
    }
}

/// `NPK_PERF_COMP=xz,zstd` limits the run to these compressions.
fn perf_compressions() -> Vec<Compression> {
    match std::env::var("NPK_PERF_COMP") {
        Ok(list) => list.split(',').map(|c| c.parse().unwrap()).collect(),
        Err(_) => vec![
            Compression::Xz,
            Compression::Zstd,
            Compression::Gzip,
            Compression::Lz4,
        ],
    }
}
