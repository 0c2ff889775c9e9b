//! Bundles made by our writer: our reader and the real `rauc info --keyring` and
//! `rauc extract` accept them.

mod common;

use std::process::Command;

use common::*;
use northstar_bundle::{
    manifest::{Format, Image},
    write::{self, Signer},
    Manifest, Unverified,
};
use npk::squashfs::Compression;

fn template() -> Manifest {
    Manifest::parse(
        b"[update]\ncompatible=northstar-test\nversion=3.0.0-rc.1\n\n[bundle]\nformat=verity\n\n\
          [image.rootfs]\nfilename=rootfs.img\n\n[image.appfs]\nfilename=appfs.img\n",
    )
    .unwrap()
}

fn writes(kind: KeyType, compression: Compression) {
    if !have("openssl") || !have("rauc") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "w", kind, 30);
    let content = dir.path().join("content");
    std::fs::create_dir(&content).unwrap();
    std::fs::write(content.join("rootfs.img"), image_data()).unwrap();
    std::fs::write(content.join("appfs.img"), b"app").unwrap();
    let signer = Signer::from_pem(
        &std::fs::read(&pki.cert).unwrap(),
        &std::fs::read(&pki.key).unwrap(),
    )
    .unwrap();
    let out = dir.path().join("ours.raucb");
    let signed = write::create(&content, &template(), &signer, compression, &out).unwrap();
    assert_eq!(signed.format, Format::Verity);
    assert!(signed.verity.is_some());
    let Image { size, .. } = &signed.images[0];
    assert_eq!(*size, Some(image_data().len() as u64));

    // Our reader.
    let verified = Unverified::open(&out)
        .unwrap()
        .verify(&keyring(&pki), now())
        .unwrap();
    assert_eq!(verified.manifest(), &signed);
    let extracted = dir.path().join("ours-extracted");
    verified.extract(&extracted).unwrap();

    // RAUC.
    let info = Command::new("rauc")
        .arg("info")
        .arg("--keyring")
        .arg(&pki.ca)
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.status.success(),
        "rauc info refused: {}{stdout}",
        String::from_utf8_lossy(&info.stderr)
    );
    assert!(stdout.contains("'northstar-test'"), "{stdout}");
    assert!(stdout.contains("Bundle Format: \tverity"), "{stdout}");
    let rauc_out = dir.path().join("rauc-extracted");
    run(Command::new("rauc")
        .arg("extract")
        .arg("--keyring")
        .arg(&pki.ca)
        .arg(&out)
        .arg(&rauc_out));
    assert_eq!(
        std::fs::read(rauc_out.join("rootfs.img")).unwrap(),
        image_data()
    );

    // A keyring without the CA: RAUC and we refuse.
    let other = common::pki(dir.path(), "other", KeyType::Rsa, 30);
    let info = Command::new("rauc")
        .arg("info")
        .arg("--keyring")
        .arg(&other.ca)
        .arg(&out)
        .output()
        .unwrap();
    assert!(!info.status.success());
    assert!(Unverified::open(&out)
        .unwrap()
        .verify(&keyring(&other), now())
        .is_err());
}

#[test]
fn rsa_xz() {
    writes(KeyType::Rsa, Compression::Xz);
}

#[test]
fn ec_p256_zstd() {
    writes(KeyType::EcP256, Compression::Zstd);
}

#[test]
fn refuses_missing_image() {
    if !have("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "w", KeyType::EcP256, 30);
    let signer = Signer::from_pem(
        &std::fs::read(&pki.cert).unwrap(),
        &std::fs::read(&pki.key).unwrap(),
    )
    .unwrap();
    let out = dir.path().join("x.raucb");
    let err = write::create(dir.path(), &template(), &signer, Compression::Xz, &out).unwrap_err();
    assert!(err.to_string().contains("rootfs.img"), "{err}");
    assert!(!out.exists());
    assert!(Signer::from_pem(&std::fs::read(&pki.cert).unwrap(), b"junk").is_err());
}
