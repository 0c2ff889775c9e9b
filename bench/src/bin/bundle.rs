//! Installing a root image from a bundle: `northstar_bundle` (verify the bundle, then
//! `install::write_image` with its read-back check) against `dd` of the bare image plus
//! `veritysetup verify` of an image and hash tree of the same size, measured in the same
//! run on the same file system.
//!
//! `cargo run --release -p bench --bin bundle -- [--size 64]` (MiB of the root image)
//!
//! Setup (not timed): a root image of random data (incompressible, so the payload stores
//! its blocks uncompressed), a bundle holding it made by our writer and signed with a
//! throw-away CA (openssl), two slot files of the image's size, and a copy of the image
//! with a hash tree made by `veritysetup format`. Timed, best of 3, interleaved:
//! - ours: `Unverified::open` + `verify` (signature, root hash of the whole payload,
//!   stored hash tree) + `write_image` (stream, `fdatasync`, read back, sha256);
//! - baseline: `dd if=<image> of=<slot> bs=1M conv=fsync,notrunc` followed by
//!   `veritysetup verify <image> <hash tree> <root hash>`.
//!
//! As root the page cache is dropped (`sync; echo 3 > /proc/sys/vm/drop_caches`) before
//! every timed run; the output says whether it was.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{ensure, Context, Result};
use bench::{mib_per_s, random_bytes, run, timed};
use northstar_bundle::{install, write, Keyring, Manifest, UnixTime, Unverified};
use npk::squashfs::Compression;

const RUNS: usize = 3;

fn main() -> Result<()> {
    let size_mib: u64 = bench::arg("--size", 64);
    ensure!(size_mib > 0, "--size must be at least 1 (MiB)");
    let len = size_mib * 1024 * 1024;
    // On the disk (not a tmpfs) where the bundle would sit.
    let dir = tempfile::tempdir_in(std::env::var_os("TMPDIR").unwrap_or("/var/tmp".into()))?;
    let p = |name: &str| dir.path().join(name);

    let content = p("content");
    fs::create_dir(&content)?;
    let image = content.join("rootfs.img");
    fs::write(&image, random_bytes(len as usize, 42))?;
    let (keyring, signer) = pki(dir.path())?;
    let manifest = Manifest::parse(
        b"[update]\ncompatible=bench\nversion=1.0.0\n\n[bundle]\nformat=verity\n\n\
          [image.rootfs]\nfilename=rootfs.img\n",
    )?;
    let bundle = p("update.raucb");
    write::create(&content, &manifest, &signer, Compression::Xz, &bundle)?;
    let bundle_len = fs::metadata(&bundle)?.len();

    let ours_slot = slot(&p("slot-ours"), len)?;
    let dd_slot = slot(&p("slot-dd"), len)?;
    let data = p("verity.img");
    let tree = p("verity.hash");
    fs::copy(&image, &data)?;
    let out = run(Command::new("veritysetup")
        .arg("format")
        .arg(&data)
        .arg(&tree))?;
    let root = out
        .lines()
        .find_map(|l| l.strip_prefix("Root hash:").map(|h| h.trim().to_owned()))
        .context("no root hash in veritysetup's output")?;

    let dropped = drop_caches();
    let (mut ours, mut dd, mut verify) = (Duration::MAX, Duration::MAX, Duration::MAX);
    let mut ours_parts = (Duration::ZERO, Duration::ZERO);
    for _ in 0..RUNS {
        drop_caches();
        let (verify_part, verified) =
            timed(|| Unverified::open(&bundle)?.verify(&keyring, UnixTime::now()))?;
        let (write_part, written) =
            timed(|| install::write_image(&verified, "rootfs", &ours_slot, &mut |_, _| {}))?;
        ensure!(written.bytes == len);
        if verify_part + write_part < ours {
            ours = verify_part + write_part;
            ours_parts = (verify_part, write_part);
        }

        drop_caches();
        let (dd_time, _) = timed(|| {
            run(Command::new("dd")
                .arg(format!("if={}", image.display()))
                .arg(format!("of={}", dd_slot.display()))
                .args(["bs=1M", "conv=fsync,notrunc", "status=none"]))
        })?;
        let (verify_time, _) = timed(|| {
            run(Command::new("veritysetup")
                .arg("verify")
                .arg(&data)
                .arg(&tree)
                .arg(&root))
        })?;
        dd = dd.min(dd_time);
        verify = verify.min(verify_time);
    }
    ensure!(
        fs::read(&ours_slot)? == fs::read(&image)? && fs::read(&dd_slot)? == fs::read(&image)?,
        "a slot does not hold the image"
    );

    let baseline = dd + verify;
    println!(
        "image {size_mib} MiB, bundle {:.1} MiB, best of {RUNS}, page cache {}",
        bundle_len as f64 / (1024.0 * 1024.0),
        if dropped {
            "dropped before each timed run"
        } else {
            "NOT dropped (not root): reads come from the cache"
        }
    );
    println!("| image | ours: verify + write_image | dd conv=fsync | veritysetup verify | baseline: dd + verify | ratio ours/baseline (throughput) |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {size_mib} MiB | {:.0} MiB/s ({:.2} s) | {:.0} MiB/s ({:.2} s) | {:.0} MiB/s ({:.2} s) | {:.0} MiB/s ({:.2} s) | {:.2} |",
        mib_per_s(len, ours),
        ours.as_secs_f64(),
        mib_per_s(len, dd),
        dd.as_secs_f64(),
        mib_per_s(len, verify),
        verify.as_secs_f64(),
        mib_per_s(len, baseline),
        baseline.as_secs_f64(),
        baseline.as_secs_f64() / ours.as_secs_f64(),
    );
    println!(
        "ours in parts (best run): verify {:.2} s, write_image (write + fdatasync + read-back) {:.2} s",
        ours_parts.0.as_secs_f64(),
        ours_parts.1.as_secs_f64()
    );
    Ok(())
}

/// A slot file of `len` bytes (zeros, written, so that the file has its blocks).
fn slot(path: &Path, len: u64) -> Result<PathBuf> {
    let file = fs::File::create(path)?;
    let zeros = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < len {
        std::os::unix::fs::FileExt::write_all_at(&file, &zeros, at)?;
        at += zeros.len() as u64;
    }
    file.set_len(len)?;
    file.sync_all()?;
    Ok(path.to_path_buf())
}

/// A CA and a signer issued by it (EC P-256, openssl): the keyring and the signer.
fn pki(dir: &Path) -> Result<(Keyring, write::Signer)> {
    let p = |name: &str| dir.join(name);
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    run(Command::new("openssl")
        .args(["req", "-x509", "-days", "30", "-subj", "/CN=bench CA"])
        .args(ec)
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign"])
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.pem")))?;
    run(Command::new("openssl")
        .args(["req", "-subj", "/CN=bench signer"])
        .args(ec)
        .arg("-keyout")
        .arg(p("signer.key"))
        .arg("-out")
        .arg(p("signer.csr")))?;
    fs::write(
        p("signer.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n",
    )?;
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "30", "-set_serial", "7"])
        .arg("-in")
        .arg(p("signer.csr"))
        .arg("-CA")
        .arg(p("ca.pem"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-extfile")
        .arg(p("signer.ext"))
        .arg("-out")
        .arg(p("signer.pem")))?;
    let keyring = Keyring::from_pem(&fs::read(p("ca.pem"))?)?;
    let signer = write::Signer::from_pem(&fs::read(p("signer.pem"))?, &fs::read(p("signer.key"))?)?;
    Ok((keyring, signer))
}

/// Writes back dirty pages and drops the page cache; false when that is not allowed.
fn drop_caches() -> bool {
    let _ = Command::new("sync").status();
    fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}
