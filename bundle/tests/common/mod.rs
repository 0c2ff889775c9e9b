//! Test keys, certificates and bundles made with the real `openssl` and `rauc`.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use northstar_bundle::{Keyring, UnixTime};

/// Whether a tool runs; prints why a test is skipped otherwise.
pub fn have(tool: &str) -> bool {
    // `openssl version`, `rauc --version`.
    let arg = if tool == "openssl" {
        "version"
    } else {
        "--version"
    };
    let ok = Command::new(tool)
        .arg(arg)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipped: {tool} is not installed");
    }
    ok
}

pub fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[derive(Clone, Copy, Debug)]
pub enum KeyType {
    Rsa,
    EcP256,
}

/// A CA and a signer certificate issued by it, in `dir`.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn newkey(kind: KeyType) -> &'static [&'static str] {
    match kind {
        KeyType::Rsa => &["-newkey", "rsa:2048"],
        KeyType::EcP256 => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    }
}

/// Creates `<name>-ca.pem` and a signer `<name>.pem`/`<name>.key` (PKCS#8) valid for
/// `days` days.
pub fn pki(dir: &Path, name: &str, kind: KeyType, days: u32) -> Pki {
    let p = |s: &str| dir.join(s);
    let ca = p(&format!("{name}-ca.pem"));
    let ca_key = p(&format!("{name}-ca.key"));
    let cert = p(&format!("{name}.pem"));
    let key = p(&format!("{name}.key"));
    let csr = p(&format!("{name}.csr"));
    let ext = p(&format!("{name}.ext"));
    run(Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "3650", "-subj"])
        .arg(format!("/CN={name} CA"))
        .args(newkey(kind))
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        .arg("-keyout")
        .arg(&ca_key)
        .arg("-out")
        .arg(&ca));
    run(Command::new("openssl")
        .args(["req", "-nodes", "-subj"])
        .arg(format!("/CN={name} signer"))
        .args(newkey(kind))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr));
    std::fs::write(
        &ext,
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\n",
    )
    .unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-set_serial", "4242", "-days"])
        .arg(days.to_string())
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(&ca)
        .arg("-CAkey")
        .arg(&ca_key)
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(&cert));
    Pki {
        dir: dir.to_path_buf(),
        ca,
        cert,
        key,
    }
}

pub fn keyring(pki: &Pki) -> Keyring {
    Keyring::from_pem(&std::fs::read(&pki.ca).unwrap()).unwrap()
}

pub fn now() -> UnixTime {
    UnixTime::now()
}

/// Image contents: not a multiple of 4096 and over several hash blocks' worth of data.
pub fn image_data() -> Vec<u8> {
    (0..600_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect()
}

/// Builds a bundle with `rauc bundle` signed by `pki`; returns its path.
pub fn rauc_bundle(pki: &Pki, name: &str) -> PathBuf {
    let content = pki.dir.join(format!("{name}-content"));
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("rootfs.img"), image_data()).unwrap();
    std::fs::write(content.join("appfs.img"), b"app").unwrap();
    std::fs::write(
        content.join("manifest.raucm"),
        "[update]\ncompatible=northstar-test\nversion=2.1.0\n\n[bundle]\nformat=verity\n\n\
         [image.rootfs]\nfilename=rootfs.img\n\n[image.appfs]\nfilename=appfs.img\n",
    )
    .unwrap();
    let bundle = pki.dir.join(format!("{name}.raucb"));
    run(Command::new("rauc")
        .arg("bundle")
        .arg("--cert")
        .arg(&pki.cert)
        .arg("--key")
        .arg(&pki.key)
        .arg(&content)
        .arg(&bundle));
    bundle
}

/// An error and its sources, joined with ": " as the project's chain printers show them.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
