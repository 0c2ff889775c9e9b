//! `manifest check`, `manifest schema`, `completions`, help and usage errors.

mod common;

use common::*;
use std::ffi::OsStr;
use std::fs;

#[test]
fn manifest_check_accepts_a_good_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.yaml");
    fs::write(&path, MANIFEST).unwrap();
    assert_eq!(ok(["manifest", "check", path.to_str().unwrap()]), "ok\n");
    for m in ["full.yaml", "hello.yaml", "message.yaml"] {
        let path = vectors().join("manifests").join(m);
        assert_eq!(
            ok([
                OsStr::new("manifest"),
                OsStr::new("check"),
                path.as_os_str()
            ]),
            "ok\n"
        );
    }
}

#[test]
fn manifest_check_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // (manifest, line, field)
        (MANIFEST.replace("gid: 1000", "gid: [ 1 ]"), 5, "gid"),
        (
            format!(
                "{MANIFEST}  /res:\n    type: resource\n    name: other\n    version: 1.0.0\n    dir: /../..\n"
            ),
            16,
            "mounts./res",
        ),
        (MANIFEST.replace("args:", "argz:"), 6, "argz"),
    ];
    for (i, (text, line, field)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.yaml"));
        fs::write(&path, text).unwrap();
        let out = nstar(["manifest", "check", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "case {i} accepted");
        assert!(stdout(&out).is_empty());
        let err = stderr(&out);
        let prefix = format!("{}: line {line}: ", path.display());
        assert!(
            err.starts_with(&prefix),
            "case {i}: expected {prefix:?}, got {err:?}"
        );
        assert!(
            err[prefix.len()..].contains(field),
            "case {i}: no {field:?} in {err:?}"
        );
    }
    let out = nstar(["manifest", "check", "/nonexistent/manifest.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("nstar: error: /nonexistent/manifest.yaml: "));
}

#[test]
fn manifest_schema_is_json() {
    let schema: serde_json::Value =
        serde_json::from_str(&ok(["manifest", "schema"])).expect("schema is JSON");
    assert!(schema.is_object());
    let text = schema.to_string();
    for field in ["\"name\"", "\"version\"", "\"uid\"", "\"mounts\""] {
        assert!(text.contains(field), "{field} missing from the schema");
    }
}

#[test]
fn completions() {
    let bash = ok(["completions", "bash"]);
    assert!(bash.contains("nstar") && bash.contains("inspect"), "{bash}");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        assert!(!ok(["completions", shell]).is_empty(), "{shell}");
    }
}

#[test]
fn help_has_examples_and_usage_errors_exit_2() {
    for cmd in [
        "pack",
        "inspect",
        "unpack",
        "verify",
        "keygen",
        "completions",
    ] {
        assert!(ok([cmd, "--help"]).contains("EXAMPLES:"), "{cmd}");
    }
    assert!(ok(["manifest", "check", "--help"]).contains("EXAMPLES:"));
    assert_eq!(nstar(["pack"]).status.code(), Some(2));
    assert_eq!(
        nstar(["verify", "x.npk"]).status.code(),
        Some(2),
        "--key is required"
    );
    assert_eq!(nstar(["frobnicate"]).status.code(), Some(2));
    let out = nstar(["pack", "m.yaml", "root", "--block-size", "3K"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("power of two"), "{}", stderr(&out));
    let out = nstar(["pack", "m.yaml", "root", "--compression", "brotli"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn operation_errors_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.npk");
    fs::write(&junk, b"not a zip").unwrap();
    let out = nstar(["inspect", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!("nstar: error: {}: ", junk.display())),
        "{err}"
    );
    let out = nstar([
        "verify",
        junk.to_str().unwrap(),
        "--key",
        "/nonexistent.pub",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent.pub"),
        "{}",
        stderr(&out)
    );
}
