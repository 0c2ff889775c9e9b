//! The management subcommands against the fake server of `northstar-client`: what goes over
//! the wire, what is printed (text and `--json`), and the exit status.

mod common;

use common::{stderr, stdout};
use northstar_client::{
    api::{
        Notification, Permission, Permissions, ProtocolVersion, Request, Response, Sha256, Signal,
    },
    testing::{runtime, FakeServer},
};
use serde_json::{json, Value};
use std::{
    collections::BTreeMap,
    process::{Command, Output},
};

fn run(server: &FakeServer, args: &[&str]) -> Output {
    common::served(server, args)
}

fn ok(server: &FakeServer, args: &[&str]) -> String {
    common::served_ok(server, args)
}

/// Run with `--json` and parse every line of stdout.
fn json_lines(server: &FakeServer, args: &[&str]) -> Vec<Value> {
    let mut args = args.to_vec();
    args.push("--json");
    ok(server, &args)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn list_as_table_and_json() {
    let server = FakeServer::runtime().unwrap();
    let text = ok(&server, &["list"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("CONTAINER"), "{text}");
    assert!(lines[1].starts_with(runtime::HELLO) && lines[1].contains("running"));
    assert!(
        lines[1].contains("4242") && lines[1].contains("5.3s"),
        "{text}"
    );
    assert!(lines[2].starts_with(runtime::MESSAGE) && lines[2].contains("resource"));
    let json = json_lines(&server, &["list"]);
    assert_eq!(json.len(), 1);
    assert_eq!(json[0]["type"], "containers");
    assert_eq!(json[0]["containers"][0]["container"], runtime::HELLO);
    assert_eq!(json[0]["containers"][0]["pid"], 4242);
}

#[test]
fn inspect_a_container() {
    let server = FakeServer::runtime().unwrap();
    let text = ok(&server, &["inspect", runtime::HELLO]);
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).filter(|v| v.starts_with("  ")))
            .map(str::trim)
    };
    assert_eq!(field("state"), Some("running"), "{text}");
    assert_eq!(field("init"), Some("/bin/hello-world"), "{text}");
    assert_eq!(field("pid"), Some("4242"), "{text}");
    assert_eq!(field("running args"), Some("--from northstar"), "{text}");
    let json = json_lines(&server, &["inspect", runtime::HELLO]);
    assert_eq!(json[0]["type"], "inspect");
    assert_eq!(json[0]["manifest"]["uid"], 1000);
    assert_eq!(json[0]["process"]["pid"], 4242);

    let out = run(&server, &["inspect", "nope:1.0.0", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "nstar: error: inspect: nope:1.0.0: no such container [not_found]\n"
    );
    let error: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        error["error"],
        json!({"code": "not_found", "container": "nope:1.0.0"})
    );
    // A key is for packages only.
    let out = run(&server, &["inspect", runtime::HELLO, "--key", "k.pub"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn start_with_arguments_and_environment() {
    let server = FakeServer::runtime().unwrap();
    assert_eq!(
        ok(&server, &["start", runtime::HELLO]),
        format!("started {} (pid 4242)\n", runtime::HELLO)
    );
    let json = json_lines(
        &server,
        &[
            "start",
            runtime::HELLO,
            "--arg",
            "--from",
            "--arg",
            "nstar",
            "--env",
            "GREETING=hi=there",
        ],
    );
    assert_eq!(
        json[0],
        json!({"type": "started", "container": runtime::HELLO, "pid": 4242})
    );
    let requests = server.requests();
    let Request::Start { args, env, .. } = &requests[1] else {
        panic!("{requests:?}")
    };
    assert_eq!(args.as_ref().unwrap().as_slice(), ["--from", "nstar"]);
    assert_eq!(
        env.as_ref().unwrap().as_map(),
        &BTreeMap::from([("GREETING".to_string(), "hi=there".to_string())])
    );
    assert!(matches!(
        requests[0],
        Request::Start {
            args: None,
            env: None,
            ..
        }
    ));

    // Invalid environment: a usage-like failure before anything is sent.
    let out = run(
        &server,
        &["start", runtime::HELLO, "--env", "NORTHSTAR_X=1"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--env"), "{}", stderr(&out));
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn kill_stop_restart() {
    let server = FakeServer::runtime().unwrap();
    ok(&server, &["kill", runtime::HELLO, "--signal", "usr1"]);
    ok(&server, &["kill", runtime::HELLO]);
    assert_eq!(
        ok(&server, &["stop", runtime::HELLO, "--grace", "2s"]),
        format!("stopped {}: signal 15 (SIGTERM)\n", runtime::HELLO)
    );
    let json = json_lines(&server, &["restart", runtime::HELLO]);
    assert_eq!(json[0]["type"], "restarted");
    assert_eq!(json[0]["pid"], 4243);
    assert_eq!(json[0]["status"], json!({"type": "exit", "code": 0}));
    let requests = server.requests();
    let signals: Vec<Signal> = requests
        .iter()
        .filter_map(|r| match r {
            Request::Kill { signal, .. } => Some(*signal),
            _ => None,
        })
        .collect();
    assert_eq!(signals, [Signal::new(10).unwrap(), Signal::TERM]);
    assert!(matches!(
        &requests[2],
        Request::Stop { timeout_ms: Some(t), .. } if t.as_millis() == 2000
    ));
    // Refused: exit status 1 and the code.
    let out = run(&server, &["stop", runtime::MESSAGE]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).ends_with("is not running [not_running]\n"),
        "{}",
        stderr(&out)
    );
    // Usage errors: 2.
    for args in [
        &["kill", runtime::HELLO, "--signal", "SIGFOO"][..],
        &["stop", runtime::HELLO, "--grace", "2h"],
        &["stop", "not-a-container"],
    ] {
        assert_eq!(run(&server, args).status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn install_sends_the_file_and_its_digest_when_asked() {
    let server = FakeServer::runtime().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let npk = dir.path().join("hello.npk");
    let bytes: Vec<u8> = (0..300_001u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&npk, &bytes).unwrap();
    let text = ok(&server, &["install", npk.to_str().unwrap(), "default"]);
    assert_eq!(
        text,
        format!("installed {} into default\n", runtime::INSTALLED)
    );
    assert!(server.packages()[0] == bytes, "the bytes differ");
    let Request::Install { size, sha256, .. } = &server.requests()[0] else {
        panic!()
    };
    assert_eq!(*size, bytes.len() as u64);
    assert_eq!(*sha256, None, "no digest unless --check-digest");
    // With --check-digest the file's SHA-256 goes with the request.
    ok(
        &server,
        &[
            "install",
            npk.to_str().unwrap(),
            "default",
            "--check-digest",
        ],
    );
    let Request::Install { sha256, .. } = &server.requests()[1] else {
        panic!()
    };
    use sha2::Digest;
    let digest = Sha256(sha2::Sha256::digest(&bytes).into());
    assert_eq!(*sha256, Some(digest));

    let json = json_lines(&server, &["install", npk.to_str().unwrap(), "dev"]);
    assert_eq!(
        json[0],
        json!({"type": "installed", "container": runtime::INSTALLED})
    );
    let out = run(&server, &["install", npk.to_str().unwrap(), "testing"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("[repository_not_found]"));
    let out = run(&server, &["install", "/nonexistent.npk", "default"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("/nonexistent.npk"));
}

#[test]
fn uninstall_mount_umount() {
    let server = FakeServer::runtime().unwrap();
    ok(&server, &["uninstall", runtime::HELLO, "--wipe"]);
    assert_eq!(
        ok(&server, &["mount", runtime::MESSAGE]),
        format!("mounted {}\n", runtime::MESSAGE)
    );
    assert_eq!(
        json_lines(&server, &["umount", runtime::HELLO])[0],
        json!({"type": "ok"})
    );
    let out = run(&server, &["umount", runtime::MESSAGE]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("[in_use]"));
    assert!(matches!(
        server.requests()[0],
        Request::Uninstall { wipe: true, .. }
    ));
}

#[test]
fn repositories_boot_report_shutdown_reboot() {
    let server = FakeServer::runtime().unwrap();
    let text = ok(&server, &["repositories"]);
    assert!(text.starts_with("NAME"), "{text}");
    assert!(
        text.contains("default  yes       2         2.3 MiB  16"),
        "{text}"
    );
    let text = ok(&server, &["boot-report"]);
    assert!(text.contains("modules  3 ms   120 ms"), "{text}");
    assert!(
        text.contains(&format!("{}  started  400 ms", runtime::HELLO)),
        "{text}"
    );
    let json = json_lines(&server, &["boot-report"]);
    assert_eq!(json[0]["report"]["finished_ms"], 520);
    ok(&server, &["shutdown"]);
    let out = run(&server, &["reboot"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).ends_with("[unsupported]\n"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn logs_tail_and_follow() {
    let server = FakeServer::runtime().unwrap();
    assert_eq!(
        ok(&server, &["logs", runtime::HELLO, "-n", "1"]),
        format!("{}\n", runtime::LOG_LINES[1])
    );
    assert_eq!(
        ok(&server, &["logs", runtime::HELLO, "-f"]),
        format!("{}\n", runtime::LOG_LINES.join("\n"))
    );
    let json = json_lines(&server, &["logs", runtime::HELLO, "-f"]);
    assert_eq!(
        json,
        [
            json!({"type": "logs", "lines": runtime::LOG_LINES[..2], "truncated": false}),
            json!({"type": "log", "lines": [runtime::LOG_LINES[2]]}),
            json!({"type": "log_end"}),
        ]
    );
    assert!(matches!(
        server.requests()[0],
        Request::Logs {
            tail: Some(1),
            follow: false,
            ..
        }
    ));
}

#[test]
fn notifications_as_they_come() {
    let server = FakeServer::runtime().unwrap();
    let text = ok(&server, &["notifications", "-n", "2"]);
    assert_eq!(
        text,
        format!(
            "started {0} (pid 4242)\nexited {0}: exit code 0\n",
            runtime::HELLO
        )
    );
    let json = json_lines(&server, &["notifications", "-n", "1"]);
    assert_eq!(
        json,
        [json!({"type": "started", "container": runtime::HELLO, "pid": 4242})]
    );
}

#[test]
fn notifications_end_quietly_after_a_shutdown() {
    // `shutdown` then the connection closes: the normal end (0); a close without it: 3.
    for (last, status) in [(Some(Notification::Shutdown {}), 0), (None, 3)] {
        let server = FakeServer::start(move |mut peer| {
            if peer.welcome(Permissions::all()).unwrap_or(false) {
                let (id, _) = peer.request().unwrap().unwrap();
                peer.answer(id, Ok(Response::Ok {})).unwrap();
                peer.notify(Notification::Uninstalled {
                    container: runtime::HELLO.parse().unwrap(),
                })
                .unwrap();
                if let Some(n) = last.clone() {
                    peer.notify(n).unwrap();
                }
            }
        })
        .unwrap();
        let out = run(&server, &["notifications"]);
        assert_eq!(out.status.code(), Some(status), "{}", stderr(&out));
        assert!(stdout(&out).starts_with("uninstalled hello-world:0.0.1\n"));
    }
}

#[test]
fn permission_denied_names_the_permission() {
    let granted: Permissions = [Permission::List].into_iter().collect();
    let server = FakeServer::runtime_with(granted).unwrap();
    let out = run(&server, &["start", runtime::HELLO, "--arg", "x", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("start_with_args permission [permission_denied]"),
        "{}",
        stderr(&out)
    );
    let error: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(
        error["error"],
        json!({"code": "permission_denied", "permission": "start_with_args"})
    );
}

#[test]
fn connection_failures_exit_3_and_timeouts_4() {
    // Nothing listens.
    let out = Command::new(env!("CARGO_BIN_EXE_nstar"))
        .args(["list", "-u", "unix:///nonexistent/api.sock"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).starts_with("nstar: error: cannot connect to unix:///nonexistent/api.sock")
    );
    // Another protocol version.
    let server = FakeServer::start(|mut peer| {
        let _ = peer.welcome_as(ProtocolVersion::new(2, 0), Permissions::all());
    })
    .unwrap();
    let out = run(&server, &["list"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("it speaks 2.0"), "{}", stderr(&out));
    // A server that never answers.
    let server = FakeServer::start(|mut peer| {
        if peer.welcome(Permissions::all()).unwrap_or(false) {
            peer.wait_closed();
        }
    })
    .unwrap();
    let out = run(&server, &["list", "--timeout", "2s"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(
        stderr(&out),
        "nstar: error: timed out after 2s waiting for the answer to `list`\n"
    );
    // A server that closes the connection in the middle of the answer.
    let server = FakeServer::start(|mut peer| {
        if peer.welcome(Permissions::all()).unwrap_or(false) {
            let _ = peer.request();
            let _ = peer.send_bytes(b"{\"type\":\"resp");
        }
    })
    .unwrap();
    let out = run(&server, &["list"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("closed the connection"),
        "{}",
        stderr(&out)
    );
    // TCP is refused unless asked for.
    let out = Command::new(env!("CARGO_BIN_EXE_nstar"))
        .args(["list", "-u", "tcp://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("authentication"), "{}", stderr(&out));
}

#[test]
fn url_from_the_environment_and_usage_errors() {
    let server = FakeServer::runtime().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nstar"))
        .arg("list")
        .env("NSTAR_URL", server.url())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let usage = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_nstar"))
            .args(args)
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(usage(&["list", "-u", "http://x"]), Some(2));
    assert_eq!(usage(&["list", "--timeout", "soon"]), Some(2));
    assert_eq!(usage(&["keygen", "k", "--json"]), Some(2));
    assert_eq!(
        usage(&["verify", "x.npk", "--key", "k", "-u", "unix:///x"]),
        Some(2)
    );
    assert_eq!(usage(&["start"]), Some(2));
}

#[test]
fn the_default_url_is_the_runtime_default_socket() {
    // The runtime configuration's default `[api] socket`, which nstar uses without --url.
    let config = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime-core/src/config/api.rs"),
    )
    .unwrap();
    assert!(config.contains("PathBuf::from(\"/run/northstar/api.sock\")"));
    let out = Command::new(env!("CARGO_BIN_EXE_nstar"))
        .args(["list", "--help"])
        .output()
        .unwrap();
    assert!(stdout(&out).contains("unix:///run/northstar/api.sock"));
}

#[test]
fn verify_installed_packages_one_line_each_and_fails_when_one_does() {
    let server = FakeServer::runtime().unwrap();
    // One package that passes: exit 0, one line.
    let text = ok(&server, &["verify", runtime::HELLO]);
    assert_eq!(text, format!("{} (default): ok\n", runtime::HELLO));
    // Every package: one fails, exit 1, the failure named on its line.
    let all = run(&server, &["verify", "--installed"]);
    assert_eq!(all.status.code(), Some(1), "{}", stderr(&all));
    let text = stdout(&all);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0], format!("{} (default): ok", runtime::HELLO));
    assert_eq!(
        lines[1],
        format!(
            "{} (default): FAILED: {}",
            runtime::MESSAGE,
            runtime::VERIFY_FAILURE
        )
    );
    assert!(
        stderr(&all).contains("1 of 2 packages failed"),
        "{}",
        stderr(&all)
    );
    let json = run(&server, &["verify", "--installed", "--json"]);
    assert_eq!(json.status.code(), Some(1));
    let value: Value = serde_json::from_str(stdout(&json).trim()).unwrap();
    assert_eq!(value["type"], "verified");
    assert_eq!(value["packages"][1]["result"]["type"], "failed");
    let requests = server.requests();
    assert_eq!(
        requests[requests.len() - 3..],
        [
            Request::Verify {
                container: Some(runtime::HELLO.parse().unwrap())
            },
            Request::Verify { container: None },
            Request::Verify { container: None },
        ]
    );
    // A container takes no key; a file needs one; nothing at all is a usage error.
    for args in [
        &["verify", runtime::HELLO, "--key", "k.pub"][..],
        &["verify", "no-such-file.npk"][..],
        &["verify"][..],
    ] {
        assert_eq!(run(&server, args).status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn system_status_and_marks() {
    let mut granted = Permissions::all();
    granted.insert(Permission::SystemUpdate);
    let server = FakeServer::runtime_with(granted).unwrap();
    let status = "bootloader  uboot\n\
                  booted      A\n\
                  primary     A\n\
                  \n\
                  SLOT  ROOT            BOOT  BOOTED  PRIMARY  STATE  ATTEMPTS LEFT\n\
                  A     /dev/mmcblk0p2  -     *       *        good   3\n\
                  B     /dev/mmcblk0p3  -                      bad    0\n";
    assert_eq!(ok(&server, &["system", "status"]), status);
    let json = json_lines(&server, &["system", "status"]);
    assert_eq!(json[0]["type"], "system");
    assert_eq!(json[0]["status"]["slots"][1]["state"], "bad");
    // The booted slot by default; the state after the mark is printed.
    let text = ok(&server, &["system", "mark-good"]);
    assert_eq!(text, format!("marked slot booted good\n{status}"));
    let json = json_lines(&server, &["system", "mark-active", "other"]);
    assert_eq!(json[0]["status"]["slots"][1]["primary"], true);
    let last = server.requests();
    assert_eq!(
        last[last.len() - 2..]
            .iter()
            .map(|r| serde_json::to_value(r).unwrap())
            .collect::<Vec<_>>(),
        [
            json!({"type": "system_mark", "mark": "good", "slot": "booted"}),
            json!({"type": "system_mark", "mark": "active", "slot": "other"}),
        ]
    );
    // The error names the slot and the reason.
    let out = run(&server, &["system", "mark-bad", "C"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "nstar: error: mark-bad C: system_mark: system slots: no slot C (the slots are A, B) \
         [system_failed]\n"
    );
    // Not a slot name: a usage error, nothing sent.
    let sent = server.requests().len();
    let out = run(&server, &["system", "mark-good", "rootfs.0"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(server.requests().len(), sent);
    // Root's default grant reads the slots but does not mark them.
    let server = FakeServer::runtime().unwrap();
    let out = run(&server, &["system", "mark-active", "other"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("system_update"), "{}", stderr(&out));
}

#[test]
fn system_install_sends_the_bundle_and_prints_the_slot_then_reboot() {
    let mut granted = Permissions::all();
    granted.insert(Permission::SystemUpdate);
    let server = FakeServer::runtime_with(granted).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("update.raucb");
    let bytes: Vec<u8> = (0..400_003u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(&bundle, &bytes).unwrap();
    let path = bundle.to_str().unwrap();
    let text = ok(&server, &["system", "install", path]);
    assert!(
        text.starts_with(&format!(
            "installed {} version {} into slot B ({} bytes); slot B is active from the next boot\n\n\
             bootloader  uboot\nbooted      A\nprimary     B\n",
            runtime::BUNDLE_COMPATIBLE,
            runtime::BUNDLE_VERSION,
            bytes.len()
        )),
        "{text}"
    );
    assert!(server.packages()[0] == bytes, "the bytes differ");
    assert_eq!(
        server.requests()[0],
        Request::SystemInstall {
            size: bytes.len() as u64,
            sha256: None
        }
    );
    let json = json_lines(&server, &["system", "install", path, "--check-digest"]);
    assert_eq!(json[0]["type"], "system_installed");
    assert_eq!(json[0]["installed"]["slot"], "B");
    assert_eq!(json[0]["installed"]["bytes"], bytes.len());
    let Request::SystemInstall { sha256, .. } = &server.requests()[1] else {
        panic!()
    };
    use sha2::Digest;
    assert_eq!(*sha256, Some(Sha256(sha2::Sha256::digest(&bytes).into())));
    // The fake runtime is no PID 1: `system reboot` is its `reboot`, refused.
    let out = run(&server, &["system", "reboot"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("[unsupported]"), "{}", stderr(&out));
    assert_eq!(server.requests()[2], Request::Reboot {});
    // Without the named grant: refused, exit 1, the permission named.
    let server = FakeServer::runtime().unwrap();
    let out = run(&server, &["system", "install", path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("system_update"), "{}", stderr(&out));
    assert!(server.packages().is_empty());
}
