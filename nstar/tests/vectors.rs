//! Packages written by Northstar 0.9's own packer (../npk/tests/data/northstar-0.9).

mod common;

use common::*;
use serde_json::Value;
use std::ffi::OsStr;

#[test]
fn signed_vectors_verify() {
    let key = vectors().join("vectors.pub");
    for (npk, root) in [
        (
            "hello-0.0.1.npk",
            "71ffa043f3340d2a78ec35d7c19b4ecea10503760b8c2009f4673e52e8f15868",
        ),
        (
            "full-example-1.2.3.npk",
            "79a9930b2e03f8051fe02558e5a80d322de398a8ac151d9ddfa8f4a72419633a",
        ),
        (
            "message-0.1.2.npk",
            "b50d27c1c6774436f7d347743b3e1b8ea75133dc2f17930af49bff0e941e6a37",
        ),
    ] {
        let path = vectors().join(npk);
        let out = ok([
            OsStr::new("verify"),
            path.as_os_str(),
            OsStr::new("--key"),
            key.as_os_str(),
        ]);
        assert!(out.ends_with("verified\n"), "{npk}: {out}");
        assert!(out.contains(root), "{npk}: root hash not shown: {out}");
        let report = inspect_json(&path, &["--key", key.to_str().unwrap()]);
        assert_eq!(report["signature"]["state"], "verified", "{npk}");
        assert_eq!(report["verity"]["root_hash"], root, "{npk}");
        assert_eq!(report["format_version"], "0.9.3");
    }
}

#[test]
fn hello_lists_its_binary() {
    let path = vectors().join("hello-0.0.1.npk");
    let report = inspect_json(&path, &[]);
    assert_eq!(report["verity"]["offset"], 331776);
    assert_eq!(report["manifest"]["init"], "/bin/hello");
    let hello = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "/bin/hello")
        .expect("/bin/hello listed");
    assert_eq!(hello["type"], "file");
    assert_eq!(
        (hello["uid"].as_u64(), hello["gid"].as_u64()),
        (Some(1000), Some(1000))
    );
    assert!(hello["size"].as_u64().unwrap() > 0);
    let text = ok([OsStr::new("inspect"), path.as_os_str()]);
    let line = text
        .lines()
        .skip_while(|l| !l.starts_with("files ("))
        .find(|l| l.ends_with(" /bin/hello"))
        .expect("ls line");
    assert!(line.trim_start().starts_with("-rwxr-xr-x "), "{line}");
    assert!(line.contains("1000/1000"), "{line}");
}

#[test]
fn unsigned_vector() {
    let path = vectors().join("unsigned/hello-0.0.1.npk");
    let report = inspect_json(&path, &[]);
    assert_eq!(report["signature"]["state"], "unsigned");
    assert_eq!(report["verity"], Value::Null);
    assert!(report["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == "/bin/hello"));
    let text = ok([OsStr::new("inspect"), path.as_os_str()]);
    assert!(text.contains("state            unsigned"), "{text}");
    let key = vectors().join("vectors.pub");
    let out = nstar([
        OsStr::new("verify"),
        path.as_os_str(),
        OsStr::new("--key"),
        key.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not signed"), "{}", stderr(&out));
}

#[test]
fn vectors_reject_a_foreign_key() {
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = keygen(dir.path(), "foreign");
    let path = vectors().join("message-0.1.2.npk");
    let out = nstar([
        OsStr::new("verify"),
        path.as_os_str(),
        OsStr::new("--key"),
        public.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("signature"), "{}", stderr(&out));
}

#[test]
fn unpack_vector() {
    let dir = tempfile::tempdir().unwrap();
    let path = vectors().join("message-0.1.2.npk");
    let key = vectors().join("vectors.pub");
    let target = dir.path().join("message");
    ok([
        OsStr::new("unpack"),
        path.as_os_str(),
        target.as_os_str(),
        OsStr::new("--key"),
        key.as_os_str(),
    ]);
    let hello = std::fs::read_to_string(target.join("root/hello")).unwrap();
    assert!(!hello.trim().is_empty());
    assert!(target.join("signature.yaml").is_file());
}
