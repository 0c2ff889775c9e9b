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
    let left = processes_running("/bin/test-container", &world.cgroup);
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_eq!(
        rt.stop(&plain),
        Err(RequestError::NotRunning(plain.clone()))
    );
    rt.shutdown();
}

/// Pids whose executable path ends with `suffix` and that belong to the cgroups named
/// `cgroup` (this test's runtime; other tests run their containers at the same time).
fn processes_running(suffix: &str, cgroup: &str) -> Vec<i32> {
    let ours = format!("/{cgroup}/");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(groups) = std::fs::read_to_string(entry.path().join("cgroup")) else {
            continue;
        };
        if !groups
            .lines()
            .any(|l| l.contains(&ours) || l.ends_with(&ours[..ours.len() - 1]))
        {
            continue;
        }
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
    let data = world.dir.path().join("data/@test/keeper");
    let meta = std::fs::metadata(&data).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (1000, 1000, 0o700)
    );
    rt.shutdown();
}

/// Pack `manifest` (with the test binary) into a second unverified repository, `other`.
fn in_other_repository(world: &mut World, manifest: &str) -> runtime_core::id::ContainerId {
    let other = world.dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let id = world.package(manifest);
    let file = format!("{}-{}.npk", id.name, id.version);
    std::fs::rename(world.repo.join(&file), other.join(&file)).unwrap();
    if !std::mem::replace(&mut world.other_repository, true) {
        world.config_append(&format!(
            "[repositories.other]\ndir = \"{}\"\nunverified = true\n",
            other.display()
        ));
    }
    id
}

/// A manifest with a persistent directory at /data and the test program's `args`.
fn persisting(name: &str, version: &str, args: &str) -> String {
    format!(
        "name: {name}\nversion: {version}\ninit: /bin/test-container\nuid: 1000\ngid: 1000\n\
         args: [{args:?}]\nmounts:\n  /data:\n    type: persist\n\
         io:\n  stdout: pipe\n  stderr: pipe\n"
    )
}

/// The attack: a package of the same name from another repository must not get the
/// persistent data of the first.
#[test]
fn persistent_data_is_kept_apart_by_repository() {
    let mut world = World::new();
    let owner = world.package(&persisting("keeper", "0.0.1", "append:/data/secret,mine"));
    let intruder = in_other_repository(
        &mut world,
        &persisting("keeper", "0.0.2", "read:/data/secret"),
    );
    let rt = world.start();
    assert_eq!(rt.run(&owner), ExitStatus::Exit(0));
    rt.run(&intruder);
    let logs = rt.logs(&intruder);
    assert!(!logs.contains("mine"), "{logs}");
    let data = world.dir.path().join("data");
    assert!(data.join("@test/keeper/secret").is_file());
    assert!(!data.join("@other/keeper/secret").exists());
    rt.shutdown();
}

/// Data of the old layout, `data_dir/<name>`, is moved to `data_dir/@<repository>/<name>`
/// at start-up when one repository holds a package of that name, or at the first start of
/// a package installed later; when two repositories hold the name, it stays where it is
/// and the container does not start.
#[test]
fn persistent_data_of_the_old_layout_is_moved_or_left() {
    let mut world = World::new();
    let data = world.dir.path().join("data");
    for name in ["keeper", "twice", "late"] {
        std::fs::create_dir_all(data.join(name)).unwrap();
        std::fs::write(data.join(name).join("old"), "kept").unwrap();
    }
    let keeper = world.package(&persisting("keeper", "0.0.1", "read:/data/old"));
    let twice = world.package(&persisting("twice", "0.0.1", "read:/data/old"));
    in_other_repository(&mut world, &persisting("twice", "0.0.2", "read:/data/old"));
    let rt = world.start();
    assert!(data.join("@test/keeper/old").is_file());
    assert!(!data.join("keeper").exists());
    assert_eq!(rt.run(&keeper), ExitStatus::Exit(0));
    assert!(rt.logs(&keeper).contains("kept"));
    let err = rt.start(&twice).unwrap_err().to_string();
    assert!(
        err.contains("old layout") && err.contains("other, test"),
        "{err}"
    );
    assert!(data.join("twice/old").is_file());
    assert!(!data.join("@test/twice").exists());
    // Not installed at start-up: left, then moved at its first start after an install.
    assert!(data.join("late/old").is_file());
    let staging = World::new();
    let late = staging.package(&persisting("late", "0.0.1", "read:/data/old"));
    let installed = rt.request(Request::Install {
        repository: "test".into(),
        path: staging.repo.join("late-0.0.1.npk"),
    });
    assert_eq!(installed, Ok(Response::Installed { id: late.clone() }));
    assert_eq!(rt.run(&late), ExitStatus::Exit(0));
    assert!(rt.logs(&late).contains("kept"));
    assert!(data.join("@test/late/old").is_file());
    assert!(!data.join("late").exists());
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

/// Set in the child process of [`inherited_output_is_a_pipe_relayed_to_the_runtime`].
const INHERIT_CHILD: &str = "NORTHSTAR_TEST_INHERIT_CHILD";

/// `io: inherit` hands the container a pipe, never the runtime's own stdout or stderr,
/// and what it writes still appears on the runtime's streams. The runtime runs in a child
/// process of this test binary whose stdout and stderr are files: a container holding them
/// would show the file in /proc/self/fd, a relayed one shows `pipe:`.
#[test]
fn inherited_output_is_a_pipe_relayed_to_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stdout");
    let err = dir.path().join("stderr");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "inherit_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INHERIT_CHILD, "1")
        .stdout(append(&out))
        .stderr(append(&err))
        .status()
        .unwrap();
    let out = std::fs::read_to_string(&out).unwrap();
    let err = std::fs::read_to_string(&err).unwrap();
    assert!(status.success(), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("test result: ok. 1 passed"), "{out}");
    assert!(out.contains("relayed-to-stdout\n"), "stdout:\n{out}");
    assert!(err.contains("relayed-to-stderr\n"), "stderr:\n{err}");
}

/// A file opened for appending (the runtime's copy and the test harness's own lines then
/// do not overwrite each other).
fn append(path: &std::path::Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap()
}

/// The child part of [`inherited_output_is_a_pipe_relayed_to_the_runtime`]; nothing to do
/// when run on its own.
#[test]
fn inherit_child() {
    if std::env::var_os(INHERIT_CHILD).is_none() {
        return;
    }
    let world = World::new();
    let id = world.container(
        "inherit",
        &[
            "report:/report/inherit.json",
            "print:1,relayed-to-stdout",
            "eprint:1,relayed-to-stderr",
        ],
        "io:\n  stdout: inherit\n  stderr: inherit\n",
    );
    let rt = world.start();
    assert_eq!(rt.run(&id), ExitStatus::Exit(0));
    let report = world.report("inherit.json");
    for fd in ["1", "2"] {
        let target = report["fds"][fd].as_str().unwrap();
        assert!(target.starts_with("pipe:"), "fd {fd} is {target}");
    }
    rt.shutdown();
}

const CONTEXT: &str = "system_u:system_r:container_t:s0";

/// Whether the host has SELinux enabled (the project's build machines do not).
fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// Where SELinux is not enabled, a container with a context starts (the default
/// `selinux = "optional"`) and `inspect` says the context was not applied, and why.
#[test]
fn selinux_context_without_selinux_is_reported_not_applied() {
    let world = World::new();
    let id = world.container(
        "labelled",
        &["exit:0"],
        &format!("selinux:\n  context: {CONTEXT}\n"),
    );
    let plain = world.container("unlabelled", &["exit:0"], "");
    let rt = world.start();
    assert_eq!(rt.run(&id), ExitStatus::Exit(0));
    assert_eq!(rt.run(&plain), ExitStatus::Exit(0));
    let inspect = |id| match rt.request(Request::Inspect { id }) {
        Ok(Response::Inspect(i)) => i,
        other => panic!("{other:?}"),
    };
    let status = inspect(id.clone()).selinux.expect("a status for a context");
    assert_eq!(status.context, CONTEXT);
    assert_eq!(status.applied, selinux_enabled(), "{status:?}");
    if !selinux_enabled() {
        let reason = status.reason.unwrap();
        assert!(reason.contains("not enabled"), "{reason}");
    }
    assert_eq!(inspect(plain).selinux, None);
    rt.shutdown();
}

/// With `selinux = "required"` a container with a context is refused where SELinux is
/// not enabled; one without a context still starts.
#[test]
fn selinux_required_refuses_a_context_it_cannot_apply() {
    if selinux_enabled() {
        // The refusal cannot happen here; the other test covers the applied context.
        return;
    }
    let mut world = World::new();
    world.config_text("selinux = \"required\"");
    let id = world.container(
        "labelled",
        &["exit:0"],
        &format!("selinux:\n  context: {CONTEXT}\n"),
    );
    let plain = world.container("unlabelled", &["exit:0"], "");
    let rt = world.start();
    match rt.start(&id) {
        Err(RequestError::Start(message)) => {
            assert!(message.contains("selinux.context"), "{message}");
            assert!(message.contains("required"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(rt.run(&plain), ExitStatus::Exit(0));
    rt.shutdown();
}

/// Set in the child process of [`a_stuck_console_does_not_stall_the_runtime`]: where the
/// child writes its verdict.
const STUCK_CHILD: &str = "NORTHSTAR_TEST_STUCK_CHILD";

/// A container with `io: inherit` floods while nobody reads the runtime's stdout (a stuck
/// console): the runtime drops what the stream cannot take and keeps working. The runtime
/// runs in a child process of this test binary whose stdout is a pipe this test does not
/// read until the child has written its verdict to a file.
#[test]
fn a_stuck_console_does_not_stall_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let verdict = dir.path().join("verdict");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["stuck_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(STUCK_CHILD, &verdict)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + support::PATIENCE;
    while !verdict.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let written = std::fs::read_to_string(&verdict).ok();
    // Unblock and end the child either way.
    let mut out = String::new();
    if written.is_none() {
        let _ = child.kill();
    }
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(written.as_deref(), Some("ok"), "no verdict in time");
    assert!(status.success(), "{status:?}");
}

/// The child part of [`a_stuck_console_does_not_stall_the_runtime`]; nothing to do when
/// run on its own.
#[test]
fn stuck_child() {
    let Some(verdict) = std::env::var_os(STUCK_CHILD) else {
        return;
    };
    let world = World::new();
    let flood = world.container(
        "flood",
        &["flood:4194304", "exit:0"],
        "io:\n  stdout: inherit\n  stderr: inherit\n",
    );
    let quiet = world.container("quiet", &["exit:0"], "");
    let rt = world.start();
    assert_eq!(rt.run(&flood), ExitStatus::Exit(0));
    // The loop still serves: another container starts and ends.
    assert_eq!(rt.run(&quiet), ExitStatus::Exit(0));
    rt.shutdown();
    std::fs::write(verdict, "ok").unwrap();
}
