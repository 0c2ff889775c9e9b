//! `nstar` against the real host daemon: the `northstar` binary runs as a child process on
//! a temporary configuration (see `daemon_support`), containers are the test container,
//! and every management subcommand is run as a process, checked by its output (text and
//! `--json`) and its exit status (doc/nstar.md); install and uninstall are in
//! `daemon_install.rs`. Needs root (loop devices, namespaces, cgroups), as the runtime's
//! integration tests do.

mod daemon_support;

use daemon_support::{text, Container, Daemon, Watch, World, PATIENCE};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SLEEPER: &str = "sleeper:0.0.1";
const STUBBORN: &str = "stubborn:0.0.1";
const IDLE: &str = "idle:0.0.1";

/// Three containers in `dev`: one that prints and sleeps, one that ignores SIGTERM, one
/// that is never started.
fn lifecycle_world() -> World {
    let world = World::new();
    for container in [
        Container {
            name: "sleeper",
            args: &["print:2,hello from sleeper", "sleep-forever"],
            mounts: "",
        },
        Container {
            name: "stubborn",
            args: &["ignore:TERM", "print:1,ignoring TERM", "sleep-forever"],
            mounts: "",
        },
        Container {
            name: "idle",
            args: &["exit:0"],
            mounts: "",
        },
    ] {
        world.pack(&container, None, &world.dev);
    }
    world
}

/// The pid in `started <container> (pid N)`.
fn started_pid(out: &str, container: &str) -> i64 {
    out.strip_prefix(&format!("started {container} (pid "))
        .and_then(|rest| rest.strip_suffix(")\n"))
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("not a start's output: {out:?}"))
}

/// A notification line of `nstar notifications --json` of `type` about `container`.
fn notification(line: &str, kind: &str, container: &str) -> Option<Value> {
    let value: Value = serde_json::from_str(line).ok()?;
    (value["type"] == kind && value["container"] == container).then_some(value)
}

/// The value of `key` in `nstar inspect`'s `key  value` lines.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(key).filter(|v| v.starts_with("  ")))
        .map(str::trim)
}

/// Subscribe with `nstar notifications --json` and make sure the subscription is in
/// place: it is made by a process of its own, so start (and stop) the sleeper until that
/// process reports something. Returns the watcher with the sleeper running.
fn subscribed(daemon: &Daemon) -> Watch {
    let mut notes = daemon.watch(&["notifications", "--json"]);
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        daemon.ok(&["start", SLEEPER]);
        if notes.line_within(Duration::from_secs(1)).is_some() {
            return notes;
        }
        daemon.ok(&["stop", SLEEPER]);
        if notes.line_within(Duration::from_secs(1)).is_some() {
            daemon.ok(&["start", SLEEPER]);
            return notes;
        }
    }
    let (status, _, stderr) = notes.finish();
    panic!("nstar notifications reported nothing ({status}): {stderr}");
}

#[test]
fn start_kill_restart_and_notifications_until_shutdown() {
    let daemon = lifecycle_world().start("1h");

    // list: every container, stopped, as a table and as JSON.
    let table = daemon.ok(&["list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[0].starts_with("CONTAINER  "), "{table}");
    for (line, container) in lines[1..].iter().zip([IDLE, SLEEPER, STUBBORN]) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            cells,
            [container, "dev", "app", "stopped", "-", "-", "no", "0", "-", "yes"],
            "{table}"
        );
    }
    let sleeper = daemon.listed(SLEEPER);
    assert_eq!(sleeper["state"], "stopped");
    assert_eq!(sleeper["repository"], "dev");
    assert_eq!(sleeper["resource"], false);
    assert!(sleeper.get("pid").is_none(), "{sleeper}");

    // notifications: started and exited, with the pid and status of start and stop.
    let mut notes = subscribed(&daemon);
    let stopped = daemon.ok(&["stop", SLEEPER]);
    assert_eq!(stopped, format!("stopped {SLEEPER}: signal 15 (SIGTERM)\n"));
    let exited = notes.wait_for(|l| notification(l, "exited", SLEEPER));
    assert_eq!(exited["status"], json!({"type": "signal", "signal": 15}));
    assert_eq!(exited["oom"], false);
    let pid = started_pid(&daemon.ok(&["start", SLEEPER]), SLEEPER);
    let started =
        notes.wait_for(|l| notification(l, "started", SLEEPER).filter(|n| n["pid"] == json!(pid)));
    assert_eq!(started["pid"], pid);

    // logs, followed until the lines are there, then with a tail.
    let mut follow = daemon.watch(&["logs", SLEEPER, "-f"]);
    follow.wait_line("hello from sleeper");
    follow.wait_line("hello from sleeper");
    assert_eq!(
        daemon.ok(&["logs", SLEEPER, "-n", "1"]),
        "hello from sleeper\n"
    );
    assert_eq!(
        daemon.json(&["logs", SLEEPER, "-n", "1"]),
        json!({"type": "logs", "lines": ["hello from sleeper"], "truncated": true})
    );

    // inspect a running container.
    let inspected = daemon.ok(&["inspect", SLEEPER]);
    assert_eq!(field(&inspected, "state"), Some("running"), "{inspected}");
    assert_eq!(field(&inspected, "pid"), Some(pid.to_string().as_str()));
    assert_eq!(field(&inspected, "init"), Some("/bin/test-container"));
    let inspected = daemon.json(&["inspect", SLEEPER]);
    assert_eq!(inspected["type"], "inspect");
    assert_eq!(inspected["info"]["state"], "running");
    assert_eq!(inspected["process"]["pid"], pid);
    assert_eq!(inspected["process"]["overridden"], false);
    assert_eq!(inspected["manifest"]["uid"], 1000);
    let out = daemon.fails(1, &["inspect", "nope:1.0.0"]);
    assert_eq!(
        text(&out.stderr),
        "nstar: error: inspect: nope:1.0.0: no such container [not_found]\n"
    );

    // kill: the signal by name; the exit shows in notifications and in list.
    assert_eq!(
        daemon.ok(&["kill", SLEEPER, "-s", "KILL"]),
        format!("sent signal 9 to {SLEEPER}\n")
    );
    let exited = notes.wait_for(|l| notification(l, "exited", SLEEPER));
    assert_eq!(exited["status"], json!({"type": "signal", "signal": 9}));
    let sleeper = daemon.listed(SLEEPER);
    assert_eq!(sleeper["state"], "stopped");
    assert_eq!(sleeper["last_exit"], json!({"type": "signal", "signal": 9}));
    let out = daemon.fails(1, &["kill", SLEEPER]);
    assert!(text(&out.stderr).ends_with("[not_running]\n"));

    // start with other arguments and more environment.
    let args = ["report:-", "print:1,overridden", "sleep-forever"];
    let started = daemon.json(&[
        "start",
        SLEEPER,
        "--arg",
        args[0],
        "--arg",
        args[1],
        "--arg",
        args[2],
        "--env",
        "GREETING=hi",
    ]);
    assert_eq!(started["type"], "started");
    assert_eq!(started["container"], SLEEPER);
    let pid = started["pid"].as_i64().expect("a pid");
    let report = follow.wait_for(|l| {
        serde_json::from_str::<Value>(l)
            .ok()
            .filter(|v| v.get("argv").is_some())
    });
    assert_eq!(
        report["argv"].as_array().map(|a| &a[1..]),
        Some(&json!(args).as_array().unwrap()[..])
    );
    assert_eq!(report["env"]["GREETING"], "hi");
    follow.wait_line("overridden");
    let inspected = daemon.json(&["inspect", SLEEPER]);
    assert_eq!(inspected["process"]["pid"], pid);
    assert_eq!(inspected["process"]["args"], json!(args));
    assert_eq!(inspected["process"]["overridden"], true);
    assert_eq!(
        inspected["manifest"]["args"],
        json!(["print:2,hello from sleeper", "sleep-forever"])
    );
    let out = daemon.fails(1, &["start", SLEEPER]);
    assert!(text(&out.stderr).ends_with("[already_running]\n"));

    // restart: the old run's end, the new pid, the same arguments.
    let out = daemon.ok(&["restart", SLEEPER, "--grace", "10s"]);
    let (new_pid, old_end) = out
        .strip_prefix(&format!("restarted {SLEEPER} (pid "))
        .and_then(|rest| rest.split_once("); the old run ended with "))
        .unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(old_end, "signal 15 (SIGTERM)\n");
    let new_pid: i64 = new_pid.parse().expect("a pid");
    assert_ne!(new_pid, pid);
    notes.wait_for(|l| notification(l, "exited", SLEEPER));
    notes.wait_for(|l| notification(l, "started", SLEEPER).filter(|n| n["pid"] == json!(new_pid)));
    let inspected = daemon.json(&["inspect", SLEEPER]);
    assert_eq!(inspected["process"]["pid"], new_pid);
    assert_eq!(inspected["process"]["args"], json!(args));
    follow.wait_line("overridden");

    // shutdown: the daemon ends with 0; notifications and the followed log end with 0.
    let mut daemon = daemon;
    assert_eq!(daemon.ok(&["shutdown"]), "the runtime is shutting down\n");
    let status = daemon.wait();
    assert!(status.success(), "the daemon ended with {status}");
    let (status, rest, stderr) = notes.finish();
    assert!(status.success(), "notifications: {status}: {stderr}");
    assert!(
        rest.iter().any(|l| l == r#"{"type":"shutdown"}"#),
        "no shutdown notification in {rest:?}"
    );
    assert!(
        rest.iter()
            .any(|l| notification(l, "exited", SLEEPER).is_some()),
        "the sleeper's exit is missing from {rest:?}"
    );
    let (status, _, stderr) = follow.finish();
    assert!(status.success(), "logs -f: {status}: {stderr}");
    // Nobody listens any more.
    let out = daemon.fails(3, &["list"]);
    assert!(text(&out.stderr).starts_with("nstar: error: cannot connect to unix://"));
}

#[test]
fn stop_with_grace_and_a_stop_that_times_out() {
    let daemon = lifecycle_world().start("1h");
    let mut notes = subscribed(&daemon);

    // stop --grace: the runtime's stop_timeout is an hour, so only the grace given here
    // lets SIGKILL end a container that ignores SIGTERM before nstar's own timeout.
    let mut stubborn = daemon.watch(&["logs", STUBBORN, "-f"]);
    daemon.ok(&["start", STUBBORN]);
    stubborn.wait_line("ignoring TERM");
    drop(stubborn);
    assert_eq!(
        daemon.ok(&["stop", STUBBORN, "--grace", "100ms", "--timeout", "30s"]),
        format!("stopped {STUBBORN}: signal 9 (SIGKILL)\n")
    );
    let exited = notes.wait_for(|l| notification(l, "exited", STUBBORN));
    assert_eq!(exited["status"], json!({"type": "signal", "signal": 9}));
    let out = daemon.fails(1, &["stop", STUBBORN, "--json"]);
    assert!(text(&out.stderr).ends_with("[not_running]\n"));
    let error: Value = serde_json::from_str(&text(&out.stdout)).expect("an error object");
    assert_eq!(
        error["error"],
        json!({"code": "not_running", "container": STUBBORN})
    );
    daemon.fails(2, &["stop", STUBBORN, "--grace", "2h"]);
    daemon.fails(2, &["stop", "stubborn"]);

    // No answer in time: a stop without grace waits for the runtime's hour. Killing the
    // container ends that stop.
    let mut stubborn = daemon.watch(&["logs", STUBBORN, "-f"]);
    let again = [
        "ignore:TERM",
        "print:1,ignoring TERM again",
        "sleep-forever",
    ];
    daemon.ok(&[
        "start", STUBBORN, "--arg", again[0], "--arg", again[1], "--arg", again[2],
    ]);
    stubborn.wait_line("ignoring TERM again");
    drop(stubborn);
    let out = daemon.fails(4, &["stop", STUBBORN, "--timeout", "1s"]);
    assert_eq!(
        text(&out.stderr),
        "nstar: error: timed out after 1s waiting for the answer to `stop`\n"
    );
    assert_eq!(daemon.listed(STUBBORN)["state"], "stopping");
    daemon.ok(&["kill", STUBBORN, "--signal", "9"]);
    let exited = notes.wait_for(|l| notification(l, "exited", STUBBORN));
    assert_eq!(exited["status"], json!({"type": "signal", "signal": 9}));

    // The table now: the sleeper runs, the stubborn one was killed.
    let table = daemon.ok(&["list"]);
    let row = |container: &str| -> Vec<String> {
        table
            .lines()
            .find(|l| l.starts_with(container))
            .map(|l| l.split_whitespace().map(String::from).collect())
            .unwrap_or_else(|| panic!("{container} not in\n{table}"))
    };
    let sleeper = row(SLEEPER);
    assert_eq!(sleeper[3], "running", "{table}");
    assert_eq!(sleeper[4], daemon.listed(SLEEPER)["pid"].to_string());
    assert_eq!(
        row(STUBBORN)[3..],
        [
            "stopped",
            "-",
            "-",
            "yes",
            "0",
            "signal",
            "9",
            "(SIGKILL)",
            "yes"
        ]
    );
}

#[test]
fn mount_umount_repositories_and_what_only_pid1_does() {
    let daemon = lifecycle_world().start("1h");
    daemon.ok(&["start", SLEEPER]);

    // mount and umount; an image in use stays mounted.
    assert_eq!(daemon.ok(&["mount", IDLE]), format!("mounted {IDLE}\n"));
    assert_eq!(daemon.listed(IDLE)["mounted"], true);
    assert_eq!(daemon.ok(&["umount", IDLE]), format!("unmounted {IDLE}\n"));
    assert_eq!(daemon.listed(IDLE)["mounted"], false);
    let out = daemon.fails(1, &["umount", SLEEPER]);
    assert!(
        text(&out.stderr).ends_with("[in_use]\n"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(daemon.listed(SLEEPER)["mounted"], true);

    // repositories.
    let table = daemon.ok(&["repositories"]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0][..3], ["NAME", "VERIFIED", "PACKAGES"], "{table}");
    assert_eq!(rows[1][..3], ["dev", "no", "3"], "{table}");
    assert_eq!(
        rows[2],
        ["signed", "yes", "0", "0", "B", "-", "-"],
        "{table}"
    );
    let repositories = daemon.json(&["repositories"]);
    assert_eq!(repositories["repositories"][0]["name"], "dev");
    assert_eq!(repositories["repositories"][0]["verified"], false);
    assert_eq!(repositories["repositories"][0]["packages"], 3);
    assert_eq!(repositories["repositories"][1]["verified"], true);

    // The host daemon has no boot report and does not reboot.
    let out = daemon.fails(1, &["boot-report"]);
    assert_eq!(
        text(&out.stderr),
        "nstar: error: boot_report: boot_report is not supported by this runtime [unsupported]\n"
    );
    let out = daemon.fails(1, &["boot-report", "--json"]);
    let error: Value = serde_json::from_str(&text(&out.stdout)).expect("an error object");
    assert_eq!(error["type"], "error");
    assert_eq!(
        error["error"],
        json!({"code": "unsupported", "request": "boot_report"})
    );
    let out = daemon.fails(1, &["reboot"]);
    assert!(text(&out.stderr).ends_with("[unsupported]\n"));
}

#[test]
fn over_tcp_with_client_certificates() {
    use northstar_client::testing::pki::{Issued, Pki};
    let world = lifecycle_world();
    let pki = Pki::new(world.dir.path(), "site").unwrap();
    let server = pki.server().unwrap();
    let operator = pki.client("operator").unwrap();
    let viewer = pki.client("viewer").unwrap();
    let ca = pki.ca_certificate();
    let tcp = format!(
        "[api.tcp]\nlisten = \"127.0.0.1:0\"\ncertificate = \"{}\"\nkey = \"{}\"\n\
         client_ca = \"{}\"\n\
         [[api.tcp.grants]]\ncommon_name = \"operator\"\npermissions = [\"list\", \"start\", \"stop\"]\n\
         [[api.tcp.grants]]\ncommon_name = \"viewer\"\npermissions = [\"list\"]\n",
        server.certificate.display(),
        server.key.display(),
        ca.display()
    );
    let daemon = world.start_with("1h", &tcp);
    let url = daemon.tcp_url();
    let ca = ca.display().to_string();
    let as_ = |who: &Issued| {
        vec![
            "--tls-ca".to_string(),
            ca.clone(),
            "--tls-cert".to_string(),
            who.certificate.display().to_string(),
            "--tls-key".to_string(),
            who.key.display().to_string(),
        ]
    };
    let run = |who: &Issued, args: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(as_(who));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        daemon.nstar_at(&url, &all)
    };

    let out = run(&operator, &["list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(SLEEPER), "{}", text(&out.stdout));
    let out = run(&operator, &["start", SLEEPER]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("started"),
        "{}",
        text(&out.stdout)
    );

    // The viewer lists, and is refused the rest.
    assert!(run(&viewer, &["list"]).status.success());
    let out = run(&viewer, &["stop", SLEEPER]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("permission"),
        "{}",
        text(&out.stderr)
    );

    // Without a client identity nstar refuses to speak TCP; a stranger's CA is refused.
    let out = daemon.nstar_at(&url, &["list"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("TLS"), "{}", text(&out.stderr));
    let strangers = Pki::new(daemon.world.dir.path(), "strangers").unwrap();
    let forged = strangers.client("operator").unwrap();
    let out = run(&forged, &["list"]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    // The operator's session still works; stop what it started.
    let out = run(&operator, &["stop", SLEEPER]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}
