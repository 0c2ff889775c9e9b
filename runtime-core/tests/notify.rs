//! The notify socket (sd_notify) of containers on the host kernel, as root: readiness and
//! status reach `list` and the notifications, and a watchdog without keep-alives aborts
//! the container, whose restart policy then restarts it.

mod support;

use runtime_core::{
    container::ExitStatus,
    id::ContainerId,
    runtime::{ContainerInfo, Notification, Request, Response},
};
use support::{Running, World};

/// The sockets mount, continuing the mounts of [`World::container`].
const SOCKETS: &str = "  /run/sockets:\n    type: sockets\n";

fn info(rt: &Running, id: &ContainerId) -> ContainerInfo {
    let Response::Containers(list) = rt.request(Request::List).unwrap() else {
        panic!("not a list");
    };
    list.into_iter().find(|c| &c.id == id).expect("listed")
}

/// The first JSON line of the container's output with `key`.
fn output_line(rt: &Running, id: &ContainerId, key: &str) -> serde_json::Value {
    rt.logs(id)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v.get(key).is_some())
        .unwrap_or_else(|| panic!("no {key} line in {}", rt.logs(id)))
}

#[test]
fn readiness_and_status_reach_list_and_notifications() {
    let world = World::new();
    let id = world.container(
        "notifier",
        &[
            "stat:/run/sockets/:notify",
            "notify:STATUS=starting",
            "notify:READY=1,STATUS=serving,MAINPID=1,X=y",
            "sleep-forever",
        ],
        SOCKETS,
    );
    let rt = world.start();
    rt.start(&id).unwrap();
    rt.wait_for(|n| matches!(n, Notification::Ready { id: i } if i == &id).then_some(()));
    let listed = info(&rt, &id);
    assert!(listed.ready);
    assert_eq!(listed.status.as_deref(), Some("serving"));
    // The socket is the container's to write to.
    let stat = output_line(&rt, &id, "mode_octal");
    assert_eq!(stat["type"], "socket", "{stat}");
    assert_eq!(stat["mode_octal"], "666", "{stat}");
    assert_eq!(stat["uid"], 1000, "{stat}");
    let host_socket = world.dir.path().join("run/sockets/notifier/:notify");
    assert!(host_socket.exists());

    rt.stop(&id).unwrap();
    let listed = info(&rt, &id);
    assert!(!listed.ready);
    assert_eq!(listed.status, None);
    assert!(!host_socket.exists(), "the socket file outlived the run");

    // A new run starts unready, without status.
    rt.request(Request::Start {
        id: id.clone(),
        args: Some(vec!["sleep-forever".into()]),
        env: None,
    })
    .unwrap();
    let listed = info(&rt, &id);
    assert!(!listed.ready);
    assert_eq!(listed.status, None);
    rt.stop(&id).unwrap();
    rt.shutdown();
}

#[test]
fn without_a_sockets_mount_there_is_no_notify_socket() {
    let world = World::new();
    let id = world.container("plain", &["notify:READY=1"], "");
    let rt = world.start();
    assert_eq!(rt.run(&id), ExitStatus::Exit(2));
    assert!(rt.logs(&id).contains("NOTIFY_SOCKET is not set"));
    rt.shutdown();
}

#[test]
fn a_silent_watchdog_aborts_and_the_restart_policy_restarts() {
    let world = World::new();
    // Three keep-alives (every 0.5 s) keep it past the first interval; then it falls
    // silent.
    let id = world.container(
        "watched",
        &[
            "notify:READY=1",
            "watchdog:3",
            "write:/report/kept-alive,yes",
            "sleep-forever",
        ],
        &format!(
            "{SOCKETS}watchdog:\n  interval_ms: 1000\nrestart:\n  policy: on-failure\n  \
             delay_ms: 100\n"
        ),
    );
    let rt = world.start();
    rt.start(&id).unwrap();
    let (status, _) = rt.exited(&id);
    assert_eq!(status, ExitStatus::Signal(libc::SIGABRT));
    // The keep-alives were honoured: the step after them ran.
    assert_eq!(
        std::fs::read_to_string(world.reports.join("kept-alive")).unwrap(),
        "yes"
    );
    let attempt = rt.wait_for(|n| match n {
        Notification::Restarting { id: i, attempt, .. } if i == &id => Some(*attempt),
        _ => None,
    });
    assert_eq!(attempt, 1);
    rt.wait_for(|n| matches!(n, Notification::Started { id: i, .. } if i == &id).then_some(()));
    // The restarted run has its own watchdog: it ends the same way.
    let (status, _) = rt.exited(&id);
    assert_eq!(status, ExitStatus::Signal(libc::SIGABRT));
    rt.stop(&id).ok();
    rt.shutdown();
}
