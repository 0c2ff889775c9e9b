//! keygen → pack → inspect / verify / unpack with the real binary.

mod common;

use common::*;
use serde_json::Value;
use std::ffi::OsStr;
use std::{fs, os::unix::fs::PermissionsExt};

fn file<'a>(report: &'a Value, path: &str) -> &'a Value {
    report["files"]
        .as_array()
        .expect("files is an array")
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("{path} not listed in {}", report["files"]))
}

#[test]
fn signed_package_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, root) = fixture(dir.path());
    let (secret, public) = keygen(dir.path(), "vendor");
    let mode = fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "secret key file mode");
    assert_eq!(fs::read(&secret).unwrap().len(), 32);
    assert_eq!(fs::read(&public).unwrap().len(), 32);

    let key = secret.to_str().unwrap();
    let npk = pack(
        &manifest,
        &root,
        &dir.path().join("a"),
        &["--key", key, "--salt", SALT],
    );

    // inspect --json, verified with the key.
    let report = inspect_json(&npk, &["--key", public.to_str().unwrap()]);
    assert_eq!(report["format_version"], "0.9.3");
    assert_eq!(report["signature"]["state"], "verified");
    assert_eq!(report["signature"]["reason"], Value::Null);
    assert_eq!(report["manifest"]["name"], "fixture");
    assert_eq!(report["manifest"]["uid"], 1000);
    assert!(report["manifest_yaml"]
        .as_str()
        .unwrap()
        .contains("name: fixture"));
    assert_eq!(report["fs_img_offset"].as_u64().unwrap() % 4096, 0);
    let verity = &report["verity"];
    assert_eq!(verity["verified"], true);
    assert_eq!(verity["salt"], SALT);
    let offset = verity["offset"].as_u64().unwrap();
    assert!(offset > 0 && offset.is_multiple_of(4096));
    assert_eq!(verity["data_blocks"].as_u64().unwrap() * 4096, offset);
    assert_eq!(verity["root_hash"].as_str().unwrap().len(), 64);
    let sizes = &report["sizes"];
    assert_eq!(
        sizes["package"].as_u64().unwrap(),
        fs::metadata(&npk).unwrap().len()
    );
    assert_eq!(sizes["squashfs"].as_u64().unwrap(), offset);
    assert_eq!(
        sizes["fs_img"].as_u64().unwrap(),
        offset + sizes["verity"].as_u64().unwrap()
    );
    assert!(sizes["signature"].as_u64().unwrap() > 0);
    assert_eq!(
        report["hashes"]["manifest_sha256"].as_str().unwrap().len(),
        64
    );
    let app = file(&report, "/bin/app");
    assert_eq!(app["type"], "file");
    assert_eq!(app["mode"], "0755");
    assert_eq!(app["permissions"], "-rwxr-xr-x");
    assert_eq!(
        (app["uid"].as_u64(), app["gid"].as_u64()),
        (Some(1000), Some(1000))
    );
    assert_eq!(app["size"], 21);
    assert_eq!(file(&report, "/bin/link")["target"], "app");
    assert_eq!(
        file(&report, "/etc/app/conf.d/10-big.conf")["size"],
        300_000
    );
    for mount_point in ["/proc", "/data"] {
        assert_eq!(file(&report, mount_point)["type"], "dir");
    }
    assert!(report["errors"].as_array().unwrap().is_empty());

    // Without the key: signed but not verified; the claims are shown as such.
    let report = inspect_json(&npk, &[]);
    assert_eq!(report["signature"]["state"], "not_verified");
    assert_eq!(report["verity"]["verified"], false);
    let text = ok(["inspect", npk.to_str().unwrap()]);
    assert!(
        text.contains("signed (not verified: no key given)"),
        "{text}"
    );
    assert!(text.contains("/bin/app"), "{text}");

    // verify with the right key passes every check.
    let out = ok([
        "verify",
        npk.to_str().unwrap(),
        "--key",
        public.to_str().unwrap(),
    ]);
    for check in ["signature", "hashes", "verity metadata", "fs.img"] {
        assert!(
            out.contains(&format!("{check:<16} ok")),
            "{check} not passed:\n{out}"
        );
    }

    // With another key: exit status 1, and the error names the signature.
    let (_, other) = keygen(dir.path(), "other");
    let out = nstar([
        "verify",
        npk.to_str().unwrap(),
        "--key",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("nstar: error: "),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("signature"), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("signature        FAILED"),
        "{}",
        stdout(&out)
    );
    let report = inspect_json(&npk, &["--key", other.to_str().unwrap()]);
    assert_eq!(report["signature"]["state"], "invalid");
    assert!(report["signature"]["reason"]
        .as_str()
        .unwrap()
        .contains("signature"));

    // Same salt, same key, same tree: byte-identical packages.
    let again = pack(
        &manifest,
        &root,
        &dir.path().join("b"),
        &["--key", key, "--salt", SALT],
    );
    assert!(
        fs::read(&npk).unwrap() == fs::read(&again).unwrap(),
        "not reproducible"
    );

    // unpack gives the entries and the tree back.
    let unpacked = dir.path().join("unpacked");
    ok(["unpack", npk.to_str().unwrap(), unpacked.to_str().unwrap()]);
    let stored = fs::read_to_string(unpacked.join("manifest.yaml")).unwrap();
    assert_eq!(stored, report["manifest_yaml"].as_str().unwrap());
    assert!(fs::read_to_string(unpacked.join("signature.yaml"))
        .unwrap()
        .contains("verity-hash"));
    assert_eq!(
        fs::metadata(unpacked.join("fs.img")).unwrap().len(),
        report["sizes"]["fs_img"]
    );
    let mut expected = tree(&root);
    expected.push(("data".into(), "dir 755".into()));
    expected.push(("proc".into(), "dir 755".into()));
    expected.sort();
    assert_eq!(tree(&unpacked.join("root")), expected);

    // ... but never into a directory that has something in it.
    let out = nstar(["unpack", npk.to_str().unwrap(), unpacked.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
}

#[test]
fn tampered_fs_img_fails_the_full_check() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, root) = fixture(dir.path());
    let (secret, public) = keygen(dir.path(), "k");
    let npk = pack(
        &manifest,
        &root,
        dir.path(),
        &["--key", secret.to_str().unwrap()],
    );
    let report = inspect_json(&npk, &[]);
    let start = report["fs_img_offset"].as_u64().unwrap();
    let squashfs = report["sizes"]["squashfs"].as_u64().unwrap();
    let mut bytes = fs::read(&npk).unwrap();
    // The last data block: padding after the squashfs tables, never read by a listing.
    bytes[(start + squashfs - 1) as usize] ^= 0x40;
    fs::write(&npk, bytes).unwrap();
    let out = nstar([
        "verify",
        npk.to_str().unwrap(),
        "--key",
        public.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("fs.img           FAILED"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("signature        ok"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("data block"), "{}", stderr(&out));
}

#[test]
fn unsigned_package() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, root) = fixture(dir.path());
    let npk = pack(
        &manifest,
        &root,
        dir.path(),
        &["--compression", "gzip", "--block-size", "128K"],
    );
    let report = inspect_json(&npk, &[]);
    assert_eq!(report["signature"]["state"], "unsigned");
    assert_eq!(report["verity"], Value::Null);
    assert_eq!(report["sizes"]["signature"], Value::Null);
    assert_eq!(report["sizes"]["squashfs"], report["sizes"]["fs_img"]);
    assert_eq!(file(&report, "/bin/app")["size"], 21);
    let text = ok(["inspect", npk.to_str().unwrap()]);
    assert!(text.contains("state            unsigned"), "{text}");

    let (_, public) = keygen(dir.path(), "k");
    let out = nstar([
        "verify",
        npk.to_str().unwrap(),
        "--key",
        public.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not signed"), "{}", stderr(&out));

    let unpacked = dir.path().join("unpacked");
    ok(["unpack", npk.to_str().unwrap(), unpacked.to_str().unwrap()]);
    assert!(!unpacked.join("signature.yaml").exists());
    assert!(tree(&unpacked.join("root")).contains(&("bin/link".into(), "symlink -> app".into())));
}

#[test]
fn keygen_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, _) = keygen(dir.path(), "k");
    let before = fs::read(&secret).unwrap();
    let out = nstar(["keygen", "k", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(fs::read(&secret).unwrap(), before);
    // A lone public key blocks the pair too, and no secret key is left behind.
    fs::write(dir.path().join("p.pub"), [0u8; 32]).unwrap();
    assert_eq!(
        nstar(["keygen", "p", "--out", dir.path().to_str().unwrap()])
            .status
            .code(),
        Some(1)
    );
    assert!(!dir.path().join("p.key").exists());
}

#[test]
fn bad_manifest_fails_pack_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, root) = fixture(dir.path());
    fs::write(
        &manifest,
        common::MANIFEST.replace("uid: 1000", "uid: root"),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    let out = nstar([
        OsStr::new("pack"),
        manifest.as_os_str(),
        root.as_os_str(),
        OsStr::new("--out"),
        out_dir.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let prefix = format!("nstar: error: {}: line 4: uid", manifest.display());
    assert!(err.starts_with(&prefix), "expected {prefix:?}, got {err:?}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        fs::read_dir(&out_dir).unwrap().count(),
        0,
        "nothing written"
    );
}
