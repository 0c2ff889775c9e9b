//! `nstar update`, `rollback`, `enable`, `disable` against the fake server of
//! `northstar-client`: the arguments as they reach the wire, the live output of a
//! transaction, the exit status of a rollback, and the `list` and `inspect` fields of 1.2.

mod common;

use common::stderr;
use northstar_client::{
    api::{Health, Permission, Permissions, Request, UpdateOptions},
    testing::{runtime, FakeServer},
};
use serde_json::{json, Value};
use std::process::Output;

fn run(server: &FakeServer, args: &[&str]) -> Output {
    common::served(server, args)
}

fn ok(server: &FakeServer, args: &[&str]) -> String {
    common::served_ok(server, args)
}

/// Two package files.
fn packages(dir: &tempfile::TempDir) -> (String, String, Vec<u8>, Vec<u8>) {
    let one: Vec<u8> = (0..200_003u32).map(|i| (i % 251) as u8).collect();
    let two: Vec<u8> = (0..1_009u32).map(|i| (i % 241) as u8).collect();
    let (p1, p2) = (dir.path().join("one.npk"), dir.path().join("two.npk"));
    std::fs::write(&p1, &one).unwrap();
    std::fs::write(&p2, &two).unwrap();
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    (s(&p1), s(&p2), one, two)
}

/// The last request of `kind` the server received.
fn last(server: &FakeServer, kind: &str) -> Request {
    server
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.name() == kind)
        .unwrap_or_else(|| panic!("no {kind} request"))
}

#[test]
fn update_sends_every_package_and_prints_the_transaction_live() {
    let server = FakeServer::runtime().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (p1, p2, one, two) = packages(&dir);
    let text = ok(&server, &["update", &p1, &p2, "default"]);
    let new = runtime::INSTALLED;
    assert_eq!(
        text,
        format!("update started: {new}\nready {new}\nhealthy {new}\ncommitted {new}\n")
    );
    assert_eq!(server.packages(), [one, two]);
    let Request::Update {
        repository,
        packages,
        options,
    } = last(&server, "update")
    else {
        panic!()
    };
    assert_eq!(repository.as_str(), "default");
    assert_eq!(packages.as_slice().len(), 2);
    assert!(packages.as_slice().iter().all(|p| p.sha256.is_none()));
    assert_eq!(options, UpdateOptions::default());

    // JSON: the notifications, then the answer.
    let out = ok(&server, &["update", &p1, "default", "--json"]);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "update_started");
    assert_eq!(
        lines.last().unwrap(),
        &json!({"type": "committed", "containers": [new]})
    );
}

#[test]
fn update_options_reach_the_request() {
    // `downgrade` is never part of every permission: granted by name.
    let mut permissions = Permissions::all();
    permissions.insert(Permission::Downgrade);
    let server = FakeServer::runtime_with(permissions).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (p1, _, _, _) = packages(&dir);
    ok(
        &server,
        &[
            "update",
            &p1,
            "default",
            "--health",
            "ready",
            "--window",
            "5s",
            "--deadline",
            "2m",
            "--no-snapshot",
            "--downgrade",
            "--check-digest",
        ],
    );
    let Request::Update {
        packages, options, ..
    } = last(&server, "update")
    else {
        panic!()
    };
    assert!(packages.as_slice()[0].sha256.is_some());
    assert_eq!(
        options,
        UpdateOptions {
            health: Some(Health::Ready),
            window_ms: Some(5000),
            deadline_ms: Some(120_000),
            snapshot: Some(false),
            downgrade: true,
        }
    );
    ok(&server, &["update", &p1, "default", "--snapshot"]);
    let Request::Update { options, .. } = last(&server, "update") else {
        panic!()
    };
    assert_eq!(options.snapshot, Some(true));
}

#[test]
fn downgrade_needs_its_permission() {
    let server = FakeServer::runtime().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (p1, _, _, _) = packages(&dir);
    let out = run(&server, &["update", &p1, "default", "--downgrade"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("downgrade permission [permission_denied]"));
}

#[test]
fn a_rolled_back_update_has_its_own_exit_status() {
    let server = FakeServer::runtime().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (p1, _, _, _) = packages(&dir);
    // The fake's `dev` repository rolls every update back.
    let out = run(&server, &["update", &p1, "dev"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("[rolled_back]"), "{}", stderr(&out));
    // Other refusals keep theirs.
    let out = run(&server, &["update", &p1, "testing"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("[repository_not_found]"));
}

#[test]
fn usage_errors_of_the_new_subcommands() {
    let server = FakeServer::runtime().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (p1, _, _, _) = packages(&dir);
    for args in [
        &["update", "default"][..],
        &["update", &p1, "default", "--health", "maybe"],
        &["update", &p1, "default", "--snapshot", "--no-snapshot"],
        &["update", &p1, "not a repository"],
        &["update", &p1, "default", "--window", "soon"],
        &["rollback"],
        &["rollback", "a b"],
        &["enable", "x:1.0.0"],
        &["disable"],
    ] {
        assert_eq!(run(&server, args).status.code(), Some(2), "{args:?}");
    }
    assert!(server.requests().is_empty());
}

#[test]
fn rollback_enable_disable() {
    let server = FakeServer::runtime().unwrap();
    assert_eq!(
        ok(
            &server,
            &["rollback", "hello-world", "--repository", "default"]
        ),
        format!("committed {}\n", runtime::HELLO)
    );
    let Request::Rollback {
        name, repository, ..
    } = last(&server, "rollback")
    else {
        panic!()
    };
    assert_eq!(name.as_str(), "hello-world");
    assert_eq!(repository.unwrap().as_str(), "default");
    assert_eq!(
        ok(&server, &["enable", "hello-world"]),
        "enabled hello-world: it starts at boot\n"
    );
    assert_eq!(
        ok(&server, &["disable", "message", "-r", "default", "--json"]),
        "{\"type\":\"ok\"}\n"
    );
    assert!(matches!(
        last(&server, "disable"),
        Request::Disable {
            repository: Some(_),
            ..
        }
    ));
    let out = run(&server, &["rollback", "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("[no_previous]"));
}

#[test]
fn list_and_inspect_show_active_and_ready() {
    let server = FakeServer::runtime().unwrap();
    let text = ok(&server, &["list"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].trim_end().ends_with("LAST EXIT  ACTIVE"), "{text}");
    assert!(lines[1].ends_with("yes,ready"), "{text}");
    assert!(lines[2].ends_with("  yes"), "{text}");
    let text = ok(&server, &["inspect", runtime::HELLO]);
    for (key, value) in [("active", "yes"), ("ready", "yes"), ("status", "serving")] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(key) && l.trim_end().ends_with(value)),
            "{key}: {text}"
        );
    }
}
