//! GRUB's environment block against `grub-editenv` as the oracle.

use std::path::{Path, PathBuf};
use std::process::Command;

use northstar_bootenv::{grub, Env};
use proptest::prelude::*;

fn tool() -> Option<()> {
    let found = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .any(|dir| dir.join("grub-editenv").is_file());
    if !found {
        println!("skipped: grub-editenv not installed (debian package grub-common)");
    }
    found.then_some(())
}

fn editenv(path: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("grub-editenv")
        .arg(path)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn tool_set(path: &Path, env: &Env) {
    let pairs: Vec<String> = env.iter().map(|(n, v)| format!("{n}={v}")).collect();
    let pairs: Vec<&str> = pairs.iter().map(String::as_str).collect();
    editenv(path, &[&["set"], pairs.as_slice()].concat());
}

/// `grub-editenv list` prints `name=value` with values unescaped, in block order.
fn listing(env: &Env) -> String {
    env.iter().map(|(n, v)| format!("{n}={v}\n")).collect()
}

fn sample() -> Env {
    [
        ("ORDER", "A B"),
        ("A_OK", "1"),
        ("A_TRY", "0"),
        ("path", "C:\\boot\\x"),
        ("multi", "line one\nline two\\\n"),
        ("empty", ""),
    ]
    .into_iter()
    .collect()
}

fn paths() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let tool = dir.path().join("tool.grubenv");
    let ours = dir.path().join("ours.grubenv");
    (dir, tool, ours)
}

#[test]
fn reads_what_grub_editenv_writes() {
    let Some(()) = tool() else { return };
    let (_dir, tool, _) = paths();
    editenv(&tool, &["create"]);
    assert_eq!(grub::read(&tool).unwrap(), Env::new());
    tool_set(&tool, &sample());
    assert_eq!(grub::read(&tool).unwrap(), sample());
    editenv(&tool, &["unset", "A_OK"]);
    let mut expected = sample();
    expected.remove("A_OK");
    assert_eq!(grub::read(&tool).unwrap(), expected);
}

#[test]
fn grub_editenv_reads_what_we_write_byte_for_byte() {
    let Some(()) = tool() else { return };
    let (_dir, tool, ours) = paths();
    editenv(&tool, &["create"]);
    tool_set(&tool, &sample());
    grub::write(&ours, &sample()).unwrap();
    let out = editenv(&ours, &["list"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), listing(&sample()));
    assert_eq!(std::fs::read(&tool).unwrap(), std::fs::read(&ours).unwrap());
    // An update in place: existing variables keep their place, new ones are appended.
    editenv(&tool, &["set", "A_TRY=1", "B_OK=1"]);
    let mut env = grub::read(&ours).unwrap();
    env.set("A_TRY", "1");
    env.set("B_OK", "1");
    grub::write(&ours, &env).unwrap();
    assert_eq!(std::fs::read(&tool).unwrap(), std::fs::read(&ours).unwrap());
}

#[test]
fn too_long_is_refused_like_grub_editenv() {
    let Some(()) = tool() else { return };
    let (_dir, tool, ours) = paths();
    editenv(&tool, &["create"]);
    grub::write(&ours, &Env::new()).unwrap();
    let room = grub::SIZE - grub::HEADER.len() - grub::WARNING.len() - "v=\n".len();
    let fits = format!("v={}", "x".repeat(room));
    editenv(&tool, &["set", &fits]);
    let env: Env = [("v", "x".repeat(room))].into_iter().collect();
    grub::write(&ours, &env).unwrap();
    assert_eq!(std::fs::read(&tool).unwrap(), std::fs::read(&ours).unwrap());
    let over = format!("v={}", "x".repeat(room + 1));
    let status = Command::new("grub-editenv")
        .arg(&tool)
        .args(["set", &over])
        .output()
        .unwrap();
    assert!(!status.status.success());
    let env: Env = [("v", "x".repeat(room + 1))].into_iter().collect();
    assert!(matches!(
        grub::write(&ours, &env),
        Err(grub::Error::TooLarge { .. })
    ));
    // The refused write left the block as it was.
    assert_eq!(
        grub::read(&ours).unwrap().get("v").map(str::len),
        Some(room)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn round_trips_through_grub_editenv(
        vars in proptest::collection::vec(("[A-Za-z_][A-Za-z0-9_]{0,10}", "[ -~\n\\\\]{0,30}"), 0..12)
    ) {
        let Some(()) = tool() else { return Ok(()) };
        let env: Env = vars.into_iter().collect();
        let (_dir, tool, ours) = paths();
        match grub::write(&ours, &env) {
            Ok(()) => {}
            Err(grub::Error::TooLarge { .. }) => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        }
        let out = editenv(&ours, &["list"]);
        prop_assert_eq!(String::from_utf8(out.stdout).unwrap(), listing(&env));
        editenv(&tool, &["create"]);
        if !env.is_empty() {
            tool_set(&tool, &env);
        }
        prop_assert_eq!(grub::read(&tool).unwrap(), env.clone());
        prop_assert_eq!(std::fs::read(&tool).unwrap(), std::fs::read(&ours).unwrap());
    }
}
