//! `nstar bundle create` then `nstar bundle info --keyring`, with a CA and signer made
//! here; and the real `rauc info --keyring` accepts the bundle when RAUC is installed.

mod common;

use common::{nstar, ok, stderr};
use northstar_client::testing;
use serde_json::Value;
use sha2::Digest;
use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// A CA (`<name>-ca.pem`) and a signer it issued, as files in `dir`.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn make_pki(dir: &Path, name: &str) -> Pki {
    let pki = testing::pki::Pki::new(dir, name).unwrap();
    let signer = pki.signer(&format!("{name} signer")).unwrap();
    Pki {
        ca: pki.ca_certificate(),
        cert: signer.certificate,
        key: signer.key,
    }
}

/// Bytes of an image: not a multiple of a block, over several hash blocks.
fn image(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2654435761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Two images in different directories, both named `rootfs.img`.
fn create(dir: &Path, pki: &Pki) -> (PathBuf, Vec<u8>, Vec<u8>) {
    let rootfs = image(600_001, 1);
    let app = image(5000, 2);
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(dir.join("rootfs.img"), &rootfs).unwrap();
    std::fs::write(dir.join("app/rootfs.img"), &app).unwrap();
    let out = dir.join("update.raucb");
    let appfs = format!("appfs={}", s(&dir.join("app/rootfs.img")));
    #[rustfmt::skip]
    let text = ok([
        "bundle", "create", "--cert", s(&pki.cert), "--key", s(&pki.key),
        "--compatible", "northstar-test", "--version", "2.0.0-rc.1",
        "--rootfs", s(&dir.join("rootfs.img")), "--image", &appfs, "-o", s(&out),
    ]);
    assert!(text.contains("compatible   northstar-test\n"), "{text}");
    // Nothing but the bundle is left beside it.
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("update"))
        .collect();
    names.sort();
    assert_eq!(names, ["update.raucb"]);
    (out, rootfs, app)
}

#[test]
fn create_then_info_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path(), "vendor");
    let (bundle, rootfs, app) = create(dir.path(), &pki);
    let json = ok([
        "bundle",
        "info",
        s(&bundle),
        "--keyring",
        s(&pki.ca),
        "--json",
    ]);
    let info: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(info["compatible"], "northstar-test");
    assert_eq!(info["version"], "2.0.0-rc.1");
    assert_eq!(info["format"], "verity");
    assert_eq!(info["signer"], "vendor signer");
    let images = info["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    for (image, (class, bytes)) in images.iter().zip([("rootfs", &rootfs), ("appfs", &app)]) {
        assert_eq!(image["slot_class"], class);
        assert_eq!(image["size"], bytes.len());
        assert_eq!(image["sha256"], hex::encode(sha2::Sha256::digest(bytes)));
    }
    // The text names the same.
    let text = ok(["bundle", "info", s(&bundle), "--keyring", s(&pki.ca)]);
    assert!(text.contains("version      2.0.0-rc.1\n"), "{text}");
    assert!(text.contains("signer       vendor signer\n"), "{text}");
    assert!(
        text.contains(&hex::encode(sha2::Sha256::digest(&rootfs))),
        "{text}"
    );

    // Another CA: refused, exit 1, saying why.
    let other = make_pki(dir.path(), "other");
    let out = nstar(["bundle", "info", s(&bundle), "--keyring", s(&other.ca)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not trusted"), "{}", stderr(&out));
    // A flipped payload byte: refused.
    let mut bytes = std::fs::read(&bundle).unwrap();
    bytes[5000] ^= 1;
    let broken = dir.path().join("broken.raucb");
    std::fs::write(&broken, &bytes).unwrap();
    let out = nstar(["bundle", "info", s(&broken), "--keyring", s(&pki.ca)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn create_refuses_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path(), "vendor");
    let (img, missing) = (dir.path().join("a.img"), dir.path().join("missing.img"));
    std::fs::write(&img, b"a").unwrap();
    let target = dir.path().join("x.raucb");
    let a = format!("rootfs={}", s(&img));
    let base = [
        "bundle",
        "create",
        "--cert",
        s(&pki.cert),
        "--key",
        s(&pki.key),
        "--compatible",
        "c",
        "--version",
        "1",
        "-o",
        s(&target),
    ];
    // No image; the same class twice; a missing image; the key as the certificate.
    let cases: [(&[&str], &str); 3] = [
        (&[], "needs an image"),
        (&["--rootfs", s(&img), "--image", &a], "twice"),
        (&["--rootfs", s(&missing)], "missing.img"),
    ];
    for (extra, expected) in cases {
        let out = nstar(base.iter().chain(extra));
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        assert!(
            stderr(&out).contains(expected),
            "{extra:?}: {}",
            stderr(&out)
        );
    }
    let mut swapped = base.to_vec();
    swapped[3] = s(&pki.key);
    swapped.extend(["--rootfs", s(&img)]);
    let out = nstar(&swapped);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("certificate"), "{}", stderr(&out));
    assert!(!target.exists());
}

#[test]
fn rauc_accepts_the_bundle() {
    let rauc = Path::new("/usr/bin/rauc");
    if !rauc.exists() {
        eprintln!("skipped: /usr/bin/rauc is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path(), "vendor");
    let (bundle, _, _) = create(dir.path(), &pki);
    let info = Command::new(rauc)
        .args(["info", "--keyring", s(&pki.ca), s(&bundle)])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.status.success(),
        "rauc info refused: {}{stdout}",
        String::from_utf8_lossy(&info.stderr)
    );
    assert!(stdout.contains("'northstar-test'"), "{stdout}");
    assert!(stdout.contains("'2.0.0-rc.1'"), "{stdout}");
    assert!(stdout.contains("verity"), "{stdout}");
    assert!(stdout.contains("2 Images"), "{stdout}");
    // And refuses it under another CA, as we do.
    let other = make_pki(dir.path(), "other");
    let info = Command::new(rauc)
        .args(["info", "--keyring", s(&other.ca), s(&bundle)])
        .output()
        .unwrap();
    assert!(!info.status.success());
}
