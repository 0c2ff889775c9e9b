//! Permissions: each one denied when not granted, start overrides, container consoles.

use super::*;

/// Every request of the protocol, one each.
fn all_requests(id: &ContainerId) -> Vec<Request> {
    let args = Some(Args::new(vec!["x".into()]).unwrap());
    vec![
        Request::List {},
        Request::Inspect {
            container: id.clone(),
        },
        Request::Start {
            container: id.clone(),
            args: None,
            env: None,
        },
        Request::Start {
            container: id.clone(),
            args,
            env: None,
        },
        Request::Kill {
            container: id.clone(),
            signal: Signal::TERM,
        },
        Request::Stop {
            container: id.clone(),
            timeout_ms: None,
        },
        Request::Restart {
            container: id.clone(),
            timeout_ms: None,
        },
        Request::Install {
            repository: repo("test"),
            size: 16,
            sha256: None,
        },
        Request::Uninstall {
            container: id.clone(),
            wipe: false,
        },
        Request::Mount {
            container: id.clone(),
        },
        Request::Umount {
            container: id.clone(),
        },
        Request::Repositories {},
        Request::Logs {
            container: id.clone(),
            tail: None,
            follow: false,
        },
        Request::BootReport {},
        Request::Shutdown {},
        Request::Reboot {},
        Request::Subscribe {},
    ]
}

#[test]
fn each_permission_is_denied_when_not_granted() {
    let mut world = World::new();
    let id = world.container("hello", &["sleep-forever"], "");
    let served = Served::start(
        &mut world,
        "max_requests_per_sec = 1000\ngrants = []",
        "",
        TestHost::default(),
    );
    let mut c = served.client();
    assert_eq!(c.welcome.as_ref().unwrap().permissions, Permissions::NONE);
    let requests = all_requests(&id);
    let covered: Permissions = requests.iter().map(required).collect();
    assert_eq!(covered, Permissions::all(), "every permission is tried");
    for request in requests {
        let permission = required(&request);
        let sent = c.send_request(request.clone());
        if let Request::Install { size, .. } = request {
            // The announced bytes follow; they are dropped and the stream stays in step.
            c.stream.write_all(&vec![0u8; size as usize]).unwrap();
        }
        assert_eq!(
            c.answer(sent),
            Err(ApiError::PermissionDenied { permission }),
            "{request:?}"
        );
    }
    // Nothing was done.
    let Ok(runtime_core::runtime::Response::Containers(containers)) = served
        .rt
        .handle
        .request(runtime_core::runtime::Request::List)
    else {
        panic!("list")
    };
    assert!(containers
        .iter()
        .all(|c| c.state == ContainerState::Stopped && !c.mounted));
    assert!(served.host.asked.lock().unwrap().is_empty());
    served.shutdown();
}

#[test]
fn overriding_a_start_needs_its_own_permission() {
    let mut world = World::new();
    let id = world.container("hello", &["sleep-forever"], "");
    let served = Served::start(
        &mut world,
        "",
        "[[api.grants]]\nuid = 0\npermissions = [\"start\", \"stop\"]",
        TestHost::default(),
    );
    let mut c = served.client();
    let granted: Permissions = [Permission::Start, Permission::Stop].into_iter().collect();
    assert_eq!(c.welcome.as_ref().unwrap().permissions, granted);
    let env: BTreeMap<String, String> = [("X".to_string(), "1".to_string())].into();
    for (args, env) in [
        (Some(Args::new(vec!["exit:3".into()]).unwrap()), None),
        (None, Some(Env::new(env).unwrap())),
        (Some(Args::default()), None),
    ] {
        assert_eq!(
            c.request(Request::Start {
                container: id.clone(),
                args,
                env
            }),
            Err(ApiError::PermissionDenied {
                permission: Permission::StartWithArgs
            })
        );
    }
    assert!(matches!(
        c.request(Request::Start {
            container: id.clone(),
            args: None,
            env: None
        }),
        Ok(Response::Started { .. })
    ));
    assert!(matches!(
        c.request(Request::Stop {
            container: id.clone(),
            timeout_ms: None
        }),
        Ok(Response::Stopped { .. })
    ));
    served.shutdown();
}

#[test]
fn a_container_console_gets_a_connected_socket() {
    let mut world = World::new();
    let id = world.container(
        "console",
        &["report:/report/console.json", "sleep-forever"],
        "console:\n  permissions: [list, inspect]\n",
    );
    let served = Served::start(&mut world, "", "", TestHost::default());
    let mut c = served.client();
    assert!(matches!(
        c.request(Request::Start {
            container: id.clone(),
            args: None,
            env: None
        }),
        Ok(Response::Started { .. })
    ));
    let path = world.reports.join("console.json");
    eventually("the container's report", || Path::new(&path).exists());
    let report = world.report("console.json");
    let fd = report["env"]["NORTHSTAR_CONSOLE"]
        .as_str()
        .expect("NORTHSTAR_CONSOLE is set")
        .to_string();
    let target = report["fds"][fd.as_str()].as_str().unwrap_or_default();
    assert!(target.starts_with("socket:"), "fd {fd} is {target}");
    assert!(matches!(
        c.request(Request::Stop {
            container: id,
            timeout_ms: None
        }),
        Ok(Response::Stopped { .. })
    ));
    served.shutdown();
}

#[test]
fn a_console_connection_has_its_manifest_permissions() {
    let mut world = World::new();
    let id = world.container("hello", &["sleep-forever"], "");
    let served = Served::start(
        &mut world,
        "handshake_timeout = \"1s\"",
        "",
        TestHost::default(),
    );
    let inbox = served.server.as_ref().unwrap().inbox();
    let connect = |permissions: npk::manifest::Permissions| {
        let console = npk::manifest::Console {
            permissions,
            ..Default::default()
        };
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        inbox.send(runtime_core::server::Event::Console {
            id: id.clone(),
            console,
            fd: theirs.into(),
        });
        ours
    };
    use npk::manifest::Permission as M;
    let stream = connect(npk::manifest::Permissions(
        [M::List, M::Inspect].into_iter().collect(),
    ));
    // A console lives as long as its container: no handshake time limit.
    std::thread::sleep(Duration::from_millis(1500));
    let mut c = Client::from_stream(stream);
    let granted: Permissions = [Permission::List, Permission::Inspect, Permission::Logs]
        .into_iter()
        .collect();
    assert_eq!(c.hello().permissions, granted);
    assert!(matches!(
        c.request(Request::List {}),
        Ok(Response::Containers { .. })
    ));
    assert_eq!(
        c.request(Request::Start {
            container: id.clone(),
            args: None,
            env: None
        }),
        Err(ApiError::PermissionDenied {
            permission: Permission::Start
        })
    );
    // Even `full` does not allow choosing what a container runs with.
    let mut c = Client::from_stream(connect(npk::manifest::Permissions::full()));
    let welcome = c.hello();
    assert!(welcome.permissions.contains(Permission::Start));
    assert!(!welcome.permissions.contains(Permission::StartWithArgs));
    assert_eq!(
        c.request(Request::Start {
            container: id.clone(),
            args: Some(Args::default()),
            env: None
        }),
        Err(ApiError::PermissionDenied {
            permission: Permission::StartWithArgs
        })
    );
    served.shutdown();
}
