//! Writing a bundle's image into a slot: a file standing in for a partition, a loop
//! device, a target too small, and a bundle changed after it was verified.

mod common;

use std::{
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    process::Command,
};

use common::*;
use northstar_bundle::{
    install::{self, Error, Written},
    write::{self, Signer},
    Manifest, Unverified, Verified,
};
use npk::squashfs::Compression;
use sha2::{Digest as _, Sha256};

/// Bytes the target has before the install, so that untouched bytes are recognizable.
const FILL: u8 = 0xee;

struct Fixture {
    dir: tempfile::TempDir,
    bundle: PathBuf,
    image: Vec<u8>,
    pki: Pki,
}

/// Incompressible data of `len` bytes (xorshift).
fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A bundle with a `rootfs` image of `image`, made by our writer; None without openssl.
fn fixture(image: Vec<u8>, compression: Compression) -> Option<Fixture> {
    if !have("openssl") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "install", KeyType::EcP256, 30);
    let content = dir.path().join("content");
    std::fs::create_dir(&content).unwrap();
    std::fs::write(content.join("rootfs.img"), &image).unwrap();
    let manifest = Manifest::parse(
        b"[update]\ncompatible=northstar-test\nversion=1.0.0\n\n[bundle]\nformat=verity\n\n\
          [image.rootfs]\nfilename=rootfs.img\n",
    )
    .unwrap();
    let signer = Signer::from_pem(
        &std::fs::read(&pki.cert).unwrap(),
        &std::fs::read(&pki.key).unwrap(),
    )
    .unwrap();
    let bundle = dir.path().join("update.raucb");
    write::create(&content, &manifest, &signer, compression, &bundle).unwrap();
    Some(Fixture {
        dir,
        bundle,
        image,
        pki,
    })
}

impl Fixture {
    fn verified(&self) -> Verified {
        Unverified::open(&self.bundle)
            .unwrap()
            .verify(&keyring(&self.pki), now())
            .unwrap()
    }

    /// A file of `len` bytes of [`FILL`].
    fn target(&self, name: &str, len: usize) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, vec![FILL; len]).unwrap();
        path
    }

    /// Asserts that `target` holds the image, then [`FILL`] up to `len`.
    fn assert_installed(&self, target: &Path, len: usize) {
        let after = std::fs::read(target).unwrap();
        assert_eq!(after.len(), len);
        assert!(after[..self.image.len()] == self.image[..], "image differs");
        assert!(
            after[self.image.len()..].iter().all(|b| *b == FILL),
            "bytes after the image changed"
        );
    }

    fn written(&self) -> Written {
        Written {
            bytes: self.image.len() as u64,
            sha256: Sha256::digest(&self.image).into(),
        }
    }
}

/// From the image's file in a payload the caller mounted: here a copy of it, then one
/// byte off and one byte short.
#[test]
fn installs_from_a_mounted_payloads_file() {
    let Some(fx) = fixture(random(1024 * 1024 + 77, 3), Compression::Zstd) else {
        return;
    };
    let len = 2 * 1024 * 1024;
    let target = fx.target("slot-b", len);
    let bundle = fx.verified();
    let source = fx.dir.path().join("rootfs.img.mounted");
    std::fs::write(&source, &fx.image).unwrap();
    let written = install::write_file(&bundle, "rootfs", &source, &target, &mut |_, _| {});
    assert_eq!(written.unwrap(), fx.written());
    fx.assert_installed(&target, len);

    let mut changed = fx.image.clone();
    changed[4321] ^= 1;
    std::fs::write(&source, &changed).unwrap();
    let e = install::write_file(&bundle, "rootfs", &source, &target, &mut |_, _| {}).unwrap_err();
    assert!(matches!(e, Error::Mismatch { .. }), "{e}");
    std::fs::write(&source, &fx.image[1..]).unwrap();
    let e = install::write_file(&bundle, "rootfs", &source, &target, &mut |_, _| {}).unwrap_err();
    assert!(matches!(e, Error::PayloadSize { .. }), "{e}");
}

#[test]
fn installs_into_a_file() {
    // 3 MiB and a bit: several chunks and a partial last one.
    let Some(fx) = fixture(random(3 * 1024 * 1024 + 12345, 1), Compression::Xz) else {
        return;
    };
    let len = 5 * 1024 * 1024;
    let target = fx.target("slot-b", len);
    let bundle = fx.verified();
    assert_eq!(
        install::check_target(&bundle, "rootfs", &target).unwrap(),
        (fx.image.len() as u64, len as u64)
    );
    let mut calls = Vec::new();
    let written =
        install::write_image(&bundle, "rootfs", &target, &mut |d, t| calls.push((d, t))).unwrap();
    assert_eq!(written, fx.written());
    fx.assert_installed(&target, len);
    let total = 2 * fx.image.len() as u64;
    assert!(calls.windows(2).all(|w| w[0].0 < w[1].0 && w[1].1 == total));
    assert_eq!(calls.last(), Some(&(total, total)));
}

#[test]
fn installs_into_a_loop_device() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: losetup needs root");
        return;
    }
    let Some(fx) = fixture(
        random(2 * 1024 * 1024 + 4096 * 3 + 17, 2),
        Compression::Zstd,
    ) else {
        return;
    };
    let len = 4 * 1024 * 1024;
    let backing = fx.target("loop-backing", len);
    let out = Command::new("losetup")
        .args(["--find", "--show"])
        .arg(&backing)
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!(
            "skipped: losetup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let device = Loop(PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()));
    let bundle = fx.verified();
    let written = install::write_image(&bundle, "rootfs", &device.0, &mut |_, _| {}).unwrap();
    assert_eq!(written, fx.written());
    drop(device);
    fx.assert_installed(&backing, len);
}

/// Detaches the loop device when dropped.
struct Loop(PathBuf);

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.0).status();
    }
}

#[test]
fn a_target_too_small_is_refused_before_writing() {
    let Some(fx) = fixture(random(2 * 1024 * 1024, 3), Compression::Xz) else {
        return;
    };
    let len = 2 * 1024 * 1024 - 4096;
    let target = fx.target("small-slot", len);
    let bundle = fx.verified();
    let mut called = false;
    let err =
        install::write_image(&bundle, "rootfs", &target, &mut |_, _| called = true).unwrap_err();
    assert!(
        matches!(err, Error::TooSmall { image, capacity, .. }
            if image == fx.image.len() as u64 && capacity == len as u64),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&target.display().to_string()) && msg.contains("rootfs"),
        "{msg}"
    );
    assert!(!called);
    assert!(std::fs::read(&target).unwrap().iter().all(|b| *b == FILL));
    assert!(matches!(
        install::check_target(&bundle, "rootfs", &target),
        Err(Error::TooSmall { .. })
    ));
}

#[test]
fn an_unknown_slot_class_is_refused() {
    let Some(fx) = fixture(random(100_000, 4), Compression::Xz) else {
        return;
    };
    let target = fx.target("slot", 1 << 20);
    let err = install::write_image(&fx.verified(), "appfs", &target, &mut |_, _| {}).unwrap_err();
    assert!(
        matches!(&err, Error::NoImage { slot_class, .. } if slot_class == "appfs"),
        "{err}"
    );
    assert!(std::fs::read(&target).unwrap().iter().all(|b| *b == FILL));
}

/// Flips one byte of the image's data in the bundle file after verification.
fn tamper_after_verify(fx: &Fixture, at: u64) -> Error {
    let target = fx.target("tampered-slot", 4 * 1024 * 1024);
    let bundle = fx.verified();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .read(true)
        .open(&fx.bundle)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 0x01], at).unwrap();
    let err = install::write_image(&bundle, "rootfs", &target, &mut |_, _| {}).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&target.display().to_string()) && msg.contains("(rootfs)"),
        "{msg}"
    );
    err
}

#[test]
fn a_payload_changed_after_verification_fails_the_read_back() {
    // Uncompressed: the flipped byte reaches the target, and only the read-back sees it.
    let Some(fx) = fixture(random(1024 * 1024 + 999, 5), Compression::None) else {
        return;
    };
    let bundle = std::fs::read(&fx.bundle).unwrap();
    let start = bundle
        .windows(64)
        .position(|w| w == &fx.image[..64])
        .expect("image data in the bundle");
    let err = tamper_after_verify(&fx, (start + 300_000) as u64);
    assert!(
        matches!(&err, Error::Mismatch { what, .. } if what.contains("sha256")),
        "{err}"
    );
}

#[test]
fn a_compressed_payload_changed_after_verification_is_detected() {
    // Compressible: the block no longer decompresses, or decompresses to other bytes.
    let image: Vec<u8> = (0..1_500_000u32).map(|i| (i % 97) as u8).collect();
    let Some(fx) = fixture(image, Compression::Zstd) else {
        return;
    };
    // Data blocks follow the 96-byte superblock.
    let err = tamper_after_verify(&fx, 200);
    assert!(
        matches!(&err, Error::Mismatch { .. } | Error::Io { .. }),
        "{err}"
    );
}
