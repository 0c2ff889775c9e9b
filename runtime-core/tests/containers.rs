//! Containers on the host kernel, as root: start and stop, exit statuses, credentials,
//! capabilities, mounts, output capture, restart policy. Each test has its own runtime.

mod support;

use runtime_core::{
    container::ExitStatus,
    runtime::{ContainerState, Notification, Request, RequestError, Response},
};
use support::World;

#[test]
fn exit_codes_and_signals() {
    let world = World::new();
    let cases = [
        ("exit0", vec!["exit:0"], ExitStatus::Exit(0)),
        ("exit1", vec!["exit:1"], ExitStatus::Exit(1)),
        ("exit127", vec!["exit:127"], ExitStatus::Exit(127)),
        ("exit255", vec!["exit:255"], ExitStatus::Exit(255)),
        (
            "segv",
            vec!["signal:SEGV"],
            ExitStatus::Signal(libc::SIGSEGV),
        ),
        (
            "abort",
            vec!["signal:ABRT"],
            ExitStatus::Signal(libc::SIGABRT),
        ),
        (
            "killed",
            vec!["signal:KILL"],
            ExitStatus::Signal(libc::SIGKILL),
        ),
    ];
    let ids: Vec<_> = cases
        .iter()
        .map(|(name, args, _)| world.container(name, args, ""))
        .collect();
    let rt = world.start();
    for (id, (_, _, expected)) in ids.iter().zip(&cases) {
        assert_eq!(rt.run(id), *expected, "{id}");
    }
    rt.shutdown();
}

#[test]
fn missing_program_is_a_start_error_naming_the_step() {
    let world = World::new();
    let id = world
        .package("name: missing\nversion: 0.0.1\ninit: /bin/nothing-here\nuid: 1000\ngid: 1000\n");
    let rt = world.start();
    match rt.start(&id) {
        Err(RequestError::Start(message)) => {
            assert!(message.contains("execute the program"), "{message}");
            assert!(message.contains("No such file"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    rt.shutdown();
}

#[test]
fn identity_capabilities_and_sandbox() {
    let world = World::new();
    let id = world.container(
        "whoami",
        &["report:/report/whoami.json"],
        "suppl_groups: [audio]\n",
    );
    let rt = world.start();
    assert_eq!(rt.run(&id), ExitStatus::Exit(0));
    let r = world.report("whoami.json");
    assert_eq!(r["uid"], 1000);
    assert_eq!(r["euid"], 1000);
    assert_eq!(r["gid"], 1000);
    let audio = std::fs::read_to_string("/etc/group")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("audio:x:"))
        .and_then(|rest| rest.split(':').next())
        .map(|gid| gid.parse::<u64>().unwrap())
        .unwrap();
    assert_eq!(r["groups"], serde_json::json!([audio]));
    // No capabilities in any of the five sets.
    for set in [
        "inheritable",
        "permitted",
        "effective",
        "bounding",
        "ambient",
    ] {
        assert_eq!(r["capabilities"][set], "0000000000000000", "{set}");
    }
    assert_eq!(r["no_new_privs"], true);
    assert_eq!(r["seccomp"], 2, "filter mode");
    // PID 2 in its own PID namespace (the container init is 1), its own hostname.
    assert_eq!(r["pid"], 2);
    assert_eq!(r["ppid"], 1);
    assert_eq!(r["hostname"], "whoami");
    // Only lo in a new network namespace.
    assert_eq!(r["interfaces"], serde_json::json!(["lo"]));
    // stdin is /dev/null, nothing else but stdout and stderr is open.
    let fds = r["fds"].as_object().unwrap();
    assert_eq!(fds.get("0").and_then(|v| v.as_str()), Some("/dev/null"));
    let numbers: Vec<&String> = fds.keys().collect();
    assert!(numbers.len() <= 4, "{fds:?}"); // 0, 1, 2 and the fd reading /proc/self/fd
                                            // /proc is read-only; the root is the read-only image.
    let mounts = r["mounts"].as_array().unwrap();
    let find = |point: &str| {
        mounts
            .iter()
            .find(|m| m["mount_point"] == point)
            .unwrap_or_else(|| panic!("{point} not mounted: {mounts:?}"))
    };
    assert_eq!(find("/proc")["ro"], true);
    assert_eq!(find("/")["ro"], true);
    assert_eq!(find("/report")["ro"], false);
    assert_eq!(find("/report")["nosuid"], true);
    rt.shutdown();
}

#[test]
fn capabilities_from_the_manifest_in_all_sets() {
    let world = World::new();
    let id = world.container(
        "caps",
        &["report:/report/caps.json"],
        "capabilities: [CAP_NET_RAW, CAP_KILL]\n",
    );
    let rt = world.start();
    assert_eq!(rt.run(&id), ExitStatus::Exit(0));
    let r = world.report("caps.json");
    // CAP_KILL = 5, CAP_NET_RAW = 13.
    let expected = format!("{:016x}", (1u64 << 5) | (1u64 << 13));
    for set in [
        "inheritable",
        "permitted",
        "effective",
        "bounding",
        "ambient",
    ] {
        assert_eq!(r["capabilities"][set], expected.as_str(), "{set}");
    }
    rt.shutdown();
}

#[test]
fn stop_ends_every_process_and_reports_it() {
    let world = World::new();
    let plain = world.container("sleeper", &["orphans:3", "sleep-forever"], "");
    let stubborn = world.container(
        "stubborn",
        &[
            "ignore:TERM",
            "print:1,ignoring",
            "children:2",
            "sleep-forever",
        ],
        "",
    );
    let rt = world.start();
    for id in [&plain, &stubborn] {
        match rt.start(id).unwrap() {
            Response::Started { pid } => assert!(pid > 0),
            other => panic!("{other:?}"),
        }
    }
    // A SIGTERM before the stubborn one ignores it would end it at once.
    let begin = std::time::Instant::now();
    while !rt.logs(&stubborn).contains("ignoring") {
        assert!(begin.elapsed() < support::PATIENCE, "never ignored SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    match rt.stop(&plain).unwrap() {
        Response::Stopped { status } => assert_eq!(status, ExitStatus::Signal(libc::SIGTERM)),
        other => panic!("{other:?}"),
    }
    // Ignores SIGTERM: killed at the end of the grace period.
    let stopped = rt.request(Request::Stop {
        id: stubborn.clone(),
        timeout: Some(std::time::Duration::from_millis(300)),
    });
    match stopped.unwrap() {
        Response::Stopped { status } => assert_eq!(status, ExitStatus::Signal(libc::SIGKILL)),
        other => panic!("{other:?}"),
    }
    // No process of either container is left.
    let left = processes_running("/bin/test-container");
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_eq!(
        rt.stop(&plain),
        Err(RequestError::NotRunning(plain.clone()))
    );
    rt.shutdown();
}

/// Pids whose executable path ends with `suffix`, from /proc.
fn processes_running(suffix: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(exe) = std::fs::read_link(entry.path().join("exe")) {
            if exe.to_string_lossy().ends_with(suffix) {
                found.push(pid);
            }
        }
    }
    found
}

#[test]
fn start_stop_many_times() {
    let world = World::new();
    let id = world.container("cycle", &["sleep-forever"], "");
    let rt = world.start();
    for _ in 0..20 {
        assert!(matches!(rt.start(&id), Ok(Response::Started { .. })));
        assert_eq!(rt.start(&id), Err(RequestError::Running(id.clone())));
        assert!(matches!(rt.stop(&id), Ok(Response::Stopped { .. })));
    }
    rt.shutdown();
}

#[test]
fn output_is_captured_line_by_line() {
    let world = World::new();
    let id = world.container("talker", &["print:3,out", "eprint:2,err", "exit:0"], "");
    let rt = world.start();
    assert_eq!(rt.run(&id), ExitStatus::Exit(0));
    let logs = rt.logs(&id);
    assert_eq!(logs.matches("out").count(), 3, "{logs}");
    assert_eq!(logs.matches("err").count(), 2, "{logs}");
    rt.shutdown();
}

#[test]
fn restart_on_failure_with_backoff_then_give_up() {
    let world = World::new();
    let id = world.container(
        "crashy",
        &["exit:3"],
        "restart:\n  policy: on-failure\n  max_retries: 3\n  delay_ms: 20\n  max_delay_ms: 200\n",
    );
    let rt = world.start();
    rt.start(&id).unwrap();
    let mut delays = Vec::new();
    let attempts = rt.wait_for(|n| match n {
        Notification::Restarting { delay, .. } => {
            delays.push(*delay);
            None
        }
        Notification::GaveUp { attempts, .. } => Some(*attempts),
        _ => None,
    });
    assert_eq!(attempts, 3);
    assert_eq!(
        delays,
        [20, 40, 80].map(std::time::Duration::from_millis).to_vec()
    );
    let list = match rt.request(Request::List).unwrap() {
        Response::Containers(list) => list,
        other => panic!("{other:?}"),
    };
    let info = list.iter().find(|c| c.id == id).unwrap();
    assert_eq!(info.state, ContainerState::Stopped);
    assert_eq!(info.restarts, 3);
    assert_eq!(info.last_exit, Some(ExitStatus::Exit(3)));
    rt.shutdown();
}

#[test]
fn persist_is_private_and_survives_restarts() {
    let world = World::new();
    let id = world.container(
        "keeper",
        &["append:/data/count,x", "read:/data/count", "stat:/data"],
        "  /data:\n    type: persist\n",
    );
    let rt = world.start();
    assert_eq!(rt.run(&id), ExitStatus::Exit(0));
    assert_eq!(rt.run(&id), ExitStatus::Exit(0));
    let logs = rt.logs(&id);
    assert!(logs.contains("xx"), "{logs}");
    let data = world.dir.path().join("data/keeper");
    let meta = std::fs::metadata(&data).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (1000, 1000, 0o700)
    );
    rt.shutdown();
}

#[test]
fn bind_mounts_outside_the_allow_list_are_refused() {
    let world = World::new();
    let id = world.container(
        "sneaky",
        &["exit:0"],
        "  /etc-host:\n    type: bind\n    host: /etc\n",
    );
    let rt = world.start();
    match rt.start(&id) {
        Err(RequestError::Start(message)) => {
            assert!(message.contains("/etc"), "{message}");
            assert!(message.contains("bind_allow"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    rt.shutdown();
}

#[test]
fn sockets_are_created_mounted_and_passed() {
    let world = World::new();
    let id = world.container(
        "server",
        &[
            "report:/report/sockets.json",
            "stat:/run/sockets/api",
            "sleep-forever",
        ],
        "  /run/sockets:\n    type: sockets\nsockets:\n  api:\n    type: stream\n    mode: 0o660\n",
    );
    let rt = world.start();
    rt.start(&id).unwrap();
    let path = world.dir.path().join("run/sockets/server/api");
    // The runtime listens on the container's behalf: a client connects by path.
    let deadline = std::time::Instant::now() + support::PATIENCE;
    while !world.reports.join("sockets.json").exists() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::os::unix::net::UnixStream::connect(&path).unwrap();
    let r = world.report("sockets.json");
    assert_eq!(r["env"]["NORTHSTAR_SOCKET_api"], "3");
    assert!(
        r["fds"]["3"].as_str().unwrap().starts_with("socket:"),
        "{}",
        r["fds"]
    );
    let logs = rt.logs(&id);
    let stat: serde_json::Value = serde_json::from_str(
        logs.lines()
            .find(|l| l.contains("\"path\""))
            .unwrap_or_else(|| panic!("{logs}")),
    )
    .unwrap();
    assert_eq!(stat["type"], "socket");
    assert_eq!(stat["mode_octal"], "660");
    assert_eq!(stat["uid"], 1000);
    rt.stop(&id).unwrap();
    rt.shutdown();
}
