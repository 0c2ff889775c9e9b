//! The handshake and every request, against the canned runtime of the fake server.

use northstar_client::{
    api::{
        ApiError, Args, BootOutcome, ContainerId, ContainerState, Env, ExitStatus, Notification,
        Permission, Permissions, Request, Response, Signal, StopTimeout,
    },
    testing::{runtime, FakeServer},
    Client, Error, ErrorKind, Options, Restarted, MAX_QUEUED_NOTIFICATIONS,
};
use std::collections::BTreeMap;

fn connect(server: &FakeServer) -> Client {
    Client::connect(&server.url(), Options::default()).unwrap()
}

fn hello() -> ContainerId {
    runtime::HELLO.parse().unwrap()
}

fn message() -> ContainerId {
    runtime::MESSAGE.parse().unwrap()
}

#[test]
fn an_inherited_socket_does_the_handshake() {
    // A container's console is a socket connected before the program runs.
    let server = FakeServer::runtime().unwrap();
    let stream = std::os::unix::net::UnixStream::connect(server.path()).unwrap();
    let mut client = Client::from_unix_stream(stream, Options::default()).unwrap();
    assert_eq!(client.list().unwrap().len(), 2);
    client.shutdown().unwrap();
    assert_eq!(server.requests().last(), Some(&Request::Shutdown {}));
}

#[test]
fn handshake_reports_permissions_and_version() {
    let granted: Permissions = [Permission::List, Permission::Logs].into_iter().collect();
    let server = FakeServer::runtime_with(granted.clone()).unwrap();
    let mut client = connect(&server);
    assert_eq!(client.permissions(), granted);
    assert_eq!(
        client.server_version(),
        northstar_client::api::PROTOCOL_VERSION
    );
    assert_eq!(client.list().unwrap().len(), 2);
    // A request outside the set is refused with the permission named; the connection
    // stays usable.
    let error = client.start(&hello()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Refused);
    assert_eq!(
        error.api_error(),
        Some(&ApiError::PermissionDenied {
            permission: Permission::Start
        })
    );
    assert_eq!(client.list().unwrap().len(), 2);
}

#[test]
fn list_inspect_repositories_boot_report() {
    let server = FakeServer::runtime().unwrap();
    let mut client = connect(&server);
    let list = client.list().unwrap();
    assert_eq!(list[0].container, hello());
    assert_eq!(list[0].state, ContainerState::Running);
    assert_eq!(list[0].pid, Some(runtime::PID));
    assert!(list[1].resource);

    let inspection = client.inspect(&hello()).unwrap();
    assert_eq!(inspection.info.container, hello());
    assert_eq!(inspection.process.unwrap().pid, runtime::PID);
    assert_eq!(inspection.manifest.uid, 1000);
    let missing: ContainerId = "nope:1.0.0".parse().unwrap();
    let error = client.inspect(&missing).unwrap_err();
    assert_eq!(
        error.api_error(),
        Some(&ApiError::NotFound { container: missing })
    );
    assert_eq!(error.to_string(), "inspect: nope:1.0.0: no such container");

    let repositories = client.repositories().unwrap();
    let names: Vec<_> = repositories.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["default", "dev"]);
    assert_eq!(repositories[0].max_packages, Some(16));

    let report = client.boot_report().unwrap();
    assert_eq!(report.kernel_ms, 1234);
    assert_eq!(report.steps.len(), 2);
    assert!(matches!(
        &report.containers[0],
        BootOutcome::Started { container, at_ms: 400 } if *container == hello()
    ));
}

#[test]
fn start_kill_stop_restart() {
    let server = FakeServer::runtime().unwrap();
    let mut client = connect(&server);
    assert_eq!(client.start(&hello()).unwrap(), runtime::PID);
    let args = Args::new(vec!["--from".into(), "test".into()]).unwrap();
    let env = Env::new(BTreeMap::from([("GREETING".to_string(), "hi".to_string())])).unwrap();
    assert_eq!(
        client
            .start_with(&hello(), Some(args.clone()), Some(env.clone()))
            .unwrap(),
        runtime::PID
    );
    let error = client.start(&message()).unwrap_err();
    assert_eq!(
        error.api_error().map(ApiError::code),
        Some("resource_container")
    );

    client.kill(&hello(), Signal::new(10).unwrap()).unwrap();
    let grace = StopTimeout::from_millis(2000).unwrap();
    assert_eq!(
        client.stop(&hello(), Some(grace)).unwrap(),
        ExitStatus::Signal { signal: 15 }
    );
    let error = client.stop(&message(), None).unwrap_err();
    assert_eq!(error.api_error().map(ApiError::code), Some("not_running"));
    assert_eq!(
        client.restart(&hello(), None).unwrap(),
        Restarted {
            status: ExitStatus::Exit { code: 0 },
            pid: runtime::PID + 1
        }
    );

    // What went over the wire, in order.
    let requests = server.requests();
    assert_eq!(
        requests[1],
        Request::Start {
            container: hello(),
            args: Some(args),
            env: Some(env)
        }
    );
    assert_eq!(
        requests[4],
        Request::Stop {
            container: hello(),
            timeout_ms: Some(grace)
        }
    );
    assert_eq!(requests.len(), 7);
}

#[test]
fn uninstall_mount_umount_shutdown_reboot() {
    let server = FakeServer::runtime().unwrap();
    let mut client = connect(&server);
    client.uninstall(&hello(), true).unwrap();
    client.mount(&message()).unwrap();
    let error = client.umount(&message()).unwrap_err();
    assert_eq!(
        error.api_error(),
        Some(&ApiError::InUse {
            container: message()
        })
    );
    client.umount(&hello()).unwrap();
    client.shutdown().unwrap();
    let error = client.reboot().unwrap_err();
    assert_eq!(error.api_error().map(ApiError::code), Some("unsupported"));
    assert_eq!(
        server.requests()[0],
        Request::Uninstall {
            container: hello(),
            wipe: true
        }
    );
}

#[test]
fn logs_and_follow() {
    let server = FakeServer::runtime().unwrap();
    let mut client = connect(&server);
    let logs = client.logs(&hello(), None).unwrap();
    assert_eq!(logs.lines, runtime::LOG_LINES[..2]);
    assert!(!logs.truncated);
    let logs = client.logs(&hello(), Some(1)).unwrap();
    assert_eq!(logs.lines, [runtime::LOG_LINES[1]]);
    assert!(logs.truncated);

    let mut follow = client.follow_logs(&hello(), Some(2)).unwrap();
    assert_eq!(follow.initial().lines, runtime::LOG_LINES[..2]);
    let later: Vec<Vec<String>> = follow.by_ref().map(Result::unwrap).collect();
    assert_eq!(later, [vec![runtime::LOG_LINES[2].to_string()]]);
    assert!(follow.next().is_none(), "log_end ends the iterator");
    drop(follow);
    // The connection goes on after a followed log.
    assert_eq!(client.list().unwrap().len(), 2);
}

#[test]
fn notifications_interleave_with_answers() {
    let server = FakeServer::runtime().unwrap();
    let mut client = connect(&server);
    client.subscribe().unwrap();
    // The runtime sends a notification before each answer from now on: the answers still
    // come back to their requests, the notifications are kept in order.
    assert_eq!(client.list().unwrap().len(), 2);
    assert_eq!(client.repositories().unwrap().len(), 2);
    let mut follow = client.follow_logs(&hello(), None).unwrap();
    assert_eq!(follow.next().unwrap().unwrap(), [runtime::LOG_LINES[2]]);
    assert!(follow.next().is_none());
    drop(follow);

    let got: Vec<Notification> = client.notifications().take(5).map(Result::unwrap).collect();
    let installed = Notification::Installed {
        container: message(),
    };
    assert_eq!(
        got,
        [
            Notification::Started {
                container: hello(),
                pid: runtime::PID
            },
            Notification::Exited {
                container: hello(),
                status: ExitStatus::Exit { code: 0 },
                oom: false
            },
            installed.clone(),
            installed.clone(),
            installed,
        ]
    );
    // Nothing more is pending.
    let none = client
        .next_notification(Some(std::time::Duration::from_millis(50)))
        .unwrap();
    assert_eq!(none, None);
}

#[test]
fn notifications_over_the_bound_become_lagged() {
    let extra = 10;
    let server = FakeServer::start(move |mut peer| {
        if !peer.welcome(Permissions::all()).unwrap() {
            return;
        }
        let (id, _) = peer.request().unwrap().unwrap();
        for pid in 0..(MAX_QUEUED_NOTIFICATIONS + extra) as i32 {
            let container = hello();
            peer.notify(Notification::Started { container, pid })
                .unwrap();
        }
        peer.answer(id, Ok(Response::Ok {})).unwrap();
        peer.notify(Notification::Shutdown {}).unwrap();
        peer.wait_closed();
    })
    .unwrap();
    let mut client = connect(&server);
    // The answer comes after more notifications than are kept.
    client.subscribe().unwrap();
    let got: Vec<Notification> = client
        .notifications()
        .take(MAX_QUEUED_NOTIFICATIONS + 2)
        .map(Result::unwrap)
        .collect();
    assert!(matches!(got[0], Notification::Started { pid: 0, .. }));
    assert!(matches!(
        got[MAX_QUEUED_NOTIFICATIONS - 1],
        Notification::Started { pid, .. } if pid as usize == MAX_QUEUED_NOTIFICATIONS - 1
    ));
    assert_eq!(
        got[MAX_QUEUED_NOTIFICATIONS],
        Notification::Lagged {
            missed: extra as u64
        }
    );
    assert_eq!(got[MAX_QUEUED_NOTIFICATIONS + 1], Notification::Shutdown {});
}

#[test]
fn request_passes_any_request_but_install() {
    let server = FakeServer::runtime().unwrap();
    let mut client = connect(&server);
    let response = client.request(Request::List {}).unwrap();
    assert!(matches!(
        response,
        northstar_client::api::Response::Containers { .. }
    ));
    let install = Request::Install {
        repository: northstar_client::api::RepositoryName::new("default").unwrap(),
        size: 1,
        sha256: None,
    };
    let error = client.request(install).unwrap_err();
    assert!(matches!(error, Error::InstallWithoutPackage), "{error:?}");
    assert_eq!(error.kind(), ErrorKind::Local);
    // Nothing was sent: the connection is still in step.
    assert_eq!(client.list().unwrap().len(), 2);
}

#[test]
fn verify_one_or_every_package() {
    let server = FakeServer::runtime().unwrap();
    let mut client = connect(&server);
    let all = client.verify(None).unwrap();
    let outcome: Vec<(String, bool)> = all
        .iter()
        .map(|p| (p.container.to_string(), p.result.is_failed()))
        .collect();
    assert_eq!(
        outcome,
        [
            (runtime::HELLO.to_string(), false),
            (runtime::MESSAGE.to_string(), true)
        ]
    );
    let one = client.verify(Some(&hello())).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].result, northstar_client::api::CheckResult::Ok {});
    assert_eq!(
        server.requests()[server.requests().len() - 2..],
        [
            Request::Verify { container: None },
            Request::Verify {
                container: Some(hello())
            }
        ]
    );
    // Its own permission: `inspect` is not enough.
    let inspect: Permissions = [Permission::Inspect].into_iter().collect();
    let server = FakeServer::runtime_with(inspect).unwrap();
    let error = connect(&server).verify(None).unwrap_err();
    assert_eq!(
        error.api_error(),
        Some(&ApiError::PermissionDenied {
            permission: Permission::Verify
        })
    );
}

#[test]
fn system_status_and_marks() {
    use northstar_client::api::{SlotMark, SlotState, SlotTarget};
    let mut granted = Permissions::all();
    granted.insert(Permission::SystemUpdate);
    let server = FakeServer::runtime_with(granted).unwrap();
    let mut client = connect(&server);
    let status = client.system_status().unwrap();
    assert_eq!(status, runtime::system_status());
    let after = client
        .system_mark(SlotMark::Active, SlotTarget::Other)
        .unwrap();
    let b = &after.slots[1];
    assert_eq!((b.primary, b.state), (true, SlotState::Good));
    assert!(!after.slots[0].primary);
    let error = client
        .system_mark(SlotMark::Good, SlotTarget::Named("C".into()))
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Refused);
    assert!(
        matches!(error.api_error(), Some(ApiError::SystemFailed { reason }) if reason.contains("slot C")),
        "{error}"
    );
    assert_eq!(
        server.requests()[server.requests().len() - 2..],
        [
            Request::SystemMark {
                mark: SlotMark::Active,
                slot: SlotTarget::Other
            },
            Request::SystemMark {
                mark: SlotMark::Good,
                slot: SlotTarget::Named("C".into())
            }
        ]
    );
    // Every permission but those granted by name: reading, not marking.
    let server = FakeServer::runtime().unwrap();
    let mut client = connect(&server);
    assert!(client.system_status().is_ok());
    let error = client
        .system_mark(SlotMark::Bad, SlotTarget::Booted)
        .unwrap_err();
    assert_eq!(
        error.api_error(),
        Some(&ApiError::PermissionDenied {
            permission: Permission::SystemUpdate
        })
    );
}
