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
        Request::Update {
            repository: repo("test"),
            packages: Packages::new(vec![
                Package {
                    size: 16,
                    sha256: None,
                },
                Package {
                    size: 8,
                    sha256: None,
                },
            ])
            .unwrap(),
            options: UpdateOptions::default(),
        },
        Request::Enable {
            name: id.name.clone(),
            repository: None,
        },
        Request::Disable {
            name: id.name.clone(),
            repository: None,
        },
        Request::Verify {
            container: Some(id.clone()),
        },
        Request::SystemStatus {},
        Request::SystemMark {
            mark: SlotMark::Good,
            slot: SlotTarget::Booted,
        },
    ]
}

#[test]
fn a_session_of_protocol_1_2_cannot_verify() {
    let mut world = World::new();
    world.container("hello", &["sleep-forever"], "");
    let served = Served::start(&mut world, "", "", TestHost::default());
    let mut c = served.connect();
    let ServerMessage::Welcome(welcome) = c.hello_version(ProtocolVersion::new(1, 2)) else {
        panic!("no welcome")
    };
    assert!(!welcome.permissions.contains(Permission::Verify));
    // Answered as a 1.2 server answers an unknown request type.
    match c.request(Request::Verify { container: None }) {
        Err(ApiError::InvalidRequest { what, .. }) => {
            assert!(what.contains("unknown variant `verify`"), "{what}")
        }
        other => panic!("{other:?}"),
    }
    served.shutdown();
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
    // Every permission a request needs on its own: `downgrade` goes with another one.
    let mut every = Permissions::all();
    every.insert(Permission::SystemUpdate);
    assert_eq!(covered, every, "every permission is tried");
    for request in requests {
        let permission = required(&request);
        let sent = c.send_request(request.clone());
        if let Some(size) = request.raw_len() {
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
    assert!(served.host.system_asked.lock().unwrap().is_empty());
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
    let stream = connect([M::List, M::Inspect].into_iter().collect());
    // A console lives as long as its container: no handshake time limit.
    std::thread::sleep(Duration::from_millis(1500));
    let mut c = Client::from_stream(stream);
    // `inspect` without a name: of itself only.
    let mut granted: Permissions = [Permission::List].into_iter().collect();
    granted.insert_for(Permission::Inspect, "hello").unwrap();
    granted.insert_for(Permission::Logs, "hello").unwrap();
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

/// A second repository `other` (unverified, the test repository's policy).
fn other_repository(world: &World) -> String {
    let dir = world.dir.path().join("other");
    std::fs::create_dir_all(&dir).unwrap();
    format!(
        "[repositories.other]\ndir = \"{}\"\nunverified = true\n\
         [repositories.other.policy]\ncapabilities = \"all\"\nsyscalls = \"all\"\n\
         rlimits = \"all\"\nsched = \"all\"\n",
        dir.display()
    )
}

#[test]
fn a_grant_limited_to_a_repository_installs_and_uninstalls_nowhere_else() {
    let mut world = World::new();
    let hello = world.container("hello", &["exit:0"], "");
    let tables = other_repository(&world);
    let served = Served::start(
        &mut world,
        "",
        &format!(
            "[[api.grants]]\nuid = 0\n\
             permissions = [\"list\", \"install:other\", \"uninstall:other\"]\n{tables}"
        ),
        TestHost::default(),
    );
    let mut c = served.client();
    let permissions = &c.welcome.as_ref().unwrap().permissions;
    assert_eq!(
        permissions.to_string(),
        "list, install:other, uninstall:other"
    );
    // The attack: an install into the repository that was not granted.
    let (app, bytes) = package_bytes("app");
    assert_eq!(
        install(&mut c, "test", &bytes, None),
        Err(ApiError::RepositoryNotGranted {
            permission: Permission::Install,
            repository: repo("test"),
        })
    );
    // An uninstall of a package the other repository holds.
    assert_eq!(
        c.request(Request::Uninstall {
            container: hello.clone(),
            wipe: false
        }),
        Err(ApiError::RepositoryNotGranted {
            permission: Permission::Uninstall,
            repository: repo("test"),
        })
    );
    let Ok(Response::Containers { containers }) = c.request(Request::List {}) else {
        panic!("list")
    };
    assert!(containers.iter().any(|i| i.container == hello));
    assert!(!containers.iter().any(|i| i.container == app));
    // The granted repository works, and the connection stayed in step.
    assert_eq!(
        install(&mut c, "other", &bytes, None),
        Ok(Response::Installed {
            container: app.clone()
        })
    );
    assert_eq!(
        c.request(Request::Uninstall {
            container: app,
            wipe: false
        }),
        Ok(Response::Ok {})
    );
    served.shutdown();
}

/// A console connection of `id` with `permissions`, as the runtime hands it to the server.
fn console(served: &Served, id: &ContainerId, permissions: &str) -> Client {
    let permissions: npk::manifest::Permissions = serde_json::from_str(permissions).unwrap();
    let console = npk::manifest::Console {
        permissions,
        ..Default::default()
    };
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    served
        .server
        .as_ref()
        .unwrap()
        .inbox()
        .send(runtime_core::server::Event::Console {
            id: id.clone(),
            console,
            fd: theirs.into(),
        });
    let mut c = Client::from_stream(ours);
    c.hello();
    c
}

fn start(c: &mut Client, id: &ContainerId) {
    assert!(matches!(
        c.request(Request::Start {
            container: id.clone(),
            args: None,
            env: None
        }),
        Ok(Response::Started { .. })
    ));
}

#[test]
fn a_console_kill_or_inspect_reaches_no_other_container() {
    let mut world = World::new();
    let me = world.container("me", &["print:1,mine", "sleep-forever"], "");
    let victim = world.container("victim", &["print:1,secret", "sleep-forever"], "");
    let served = Served::start(&mut world, "", "", TestHost::default());
    let mut root = served.client();
    start(&mut root, &me);
    start(&mut root, &victim);
    let mut c = console(&served, &me, r#"["kill", "inspect", "list"]"#);
    let refused = |permission| {
        Err(ApiError::ContainerNotGranted {
            permission,
            container: victim.clone(),
        })
    };
    // The attack: kill, stop, restart, inspect and read the logs of another container.
    assert_eq!(
        c.request(Request::Kill {
            container: victim.clone(),
            signal: Signal::KILL
        }),
        refused(Permission::Kill)
    );
    assert_eq!(
        c.request(Request::Stop {
            container: victim.clone(),
            timeout_ms: None
        }),
        refused(Permission::Stop)
    );
    assert_eq!(
        c.request(Request::Restart {
            container: victim.clone(),
            timeout_ms: None
        }),
        refused(Permission::Restart)
    );
    assert_eq!(
        c.request(Request::Inspect {
            container: victim.clone()
        }),
        refused(Permission::Inspect)
    );
    assert_eq!(
        c.request(Request::Logs {
            container: victim.clone(),
            tail: None,
            follow: false
        }),
        refused(Permission::Logs)
    );
    // The victim was not touched.
    let Ok(Response::Containers { containers }) = c.request(Request::List {}) else {
        panic!("list")
    };
    let state = |id: &ContainerId| {
        containers
            .iter()
            .find(|i| i.container == *id)
            .unwrap()
            .state
    };
    assert_eq!(state(&victim), ContainerState::Running);
    // On itself, each works.
    assert!(matches!(
        c.request(Request::Inspect {
            container: me.clone()
        }),
        Ok(Response::Inspect(_))
    ));
    assert!(matches!(
        c.request(Request::Logs {
            container: me.clone(),
            tail: None,
            follow: false
        }),
        Ok(Response::Logs { .. })
    ));
    assert_eq!(
        c.request(Request::Kill {
            container: me.clone(),
            signal: Signal::KILL
        }),
        Ok(Response::Ok {})
    );
    served.shutdown();
}

#[test]
fn a_console_grant_that_names_a_container_reaches_it() {
    let mut world = World::new();
    let me = world.container("me", &["sleep-forever"], "");
    let other = world.container("other", &["sleep-forever"], "");
    let third = world.container("third", &["sleep-forever"], "");
    let served = Served::start(&mut world, "", "", TestHost::default());
    let mut root = served.client();
    start(&mut root, &other);
    start(&mut root, &third);
    let mut c = console(&served, &me, r#"["kill:other", "inspect:*"]"#);
    assert_eq!(
        c.welcome.as_ref().unwrap().permissions.to_string(),
        "inspect, stop:other, restart:other, kill:other, logs"
    );
    assert!(matches!(
        c.request(Request::Inspect {
            container: third.clone()
        }),
        Ok(Response::Inspect(_))
    ));
    // Not itself: the entry names another.
    assert_eq!(
        c.request(Request::Kill {
            container: me.clone(),
            signal: Signal::TERM
        }),
        Err(ApiError::ContainerNotGranted {
            permission: Permission::Kill,
            container: me.clone(),
        })
    );
    assert_eq!(
        c.request(Request::Stop {
            container: third.clone(),
            timeout_ms: None
        }),
        Err(ApiError::ContainerNotGranted {
            permission: Permission::Stop,
            container: third,
        })
    );
    assert!(matches!(
        c.request(Request::Stop {
            container: other,
            timeout_ms: None
        }),
        Ok(Response::Stopped { .. })
    ));
    served.shutdown();
}

#[test]
fn a_console_frame_is_limited_by_the_configured_max_frame() {
    let mut world = World::new();
    let id = world.container("hello", &["sleep-forever"], "");
    let served = Served::start(&mut world, "max_frame = 1024", "", TestHost::default());
    let mut c = console(&served, &id, r#"["list"]"#);
    // A valid request padded with white space beyond the configured limit.
    let mut frame = br#"{"type":"request","id":1,"request":{"type":"list"}"#.to_vec();
    frame.extend(std::iter::repeat_n(b' ', 2000));
    frame.extend_from_slice(b"}\n");
    c.stream.write_all(&frame).unwrap();
    match c.next_message() {
        Some(ServerMessage::Error { error, .. }) => {
            assert_eq!(error, ApiError::FrameTooLarge { limit: 1024 })
        }
        other => panic!("{other:?}"),
    }
    served.shutdown();
}

#[test]
fn a_session_of_protocol_1_0_sees_no_limited_grant() {
    let mut world = World::new();
    let me = world.container("me", &["sleep-forever"], "");
    let victim = world.container("victim", &["sleep-forever"], "");
    let served = Served::start(
        &mut world,
        "",
        "[[api.grants]]\nuid = 0\npermissions = [\"list\", \"kill:me\"]\n",
        TestHost::default(),
    );
    let mut c = served.connect();
    let ServerMessage::Welcome(welcome) = c.hello_version(ProtocolVersion::new(1, 0)) else {
        panic!("no welcome")
    };
    assert_eq!(
        welcome.permissions,
        [Permission::List].into_iter().collect::<Permissions>()
    );
    // The 1.0 code for a grant that does not cover the container.
    assert_eq!(
        c.request(Request::Kill {
            container: victim,
            signal: Signal::TERM
        }),
        Err(ApiError::PermissionDenied {
            permission: Permission::Kill
        })
    );
    assert_eq!(
        c.request(Request::Kill {
            container: me,
            signal: Signal::TERM
        }),
        Err(ApiError::NotRunning {
            container: "me:0.0.1".parse().unwrap()
        })
    );
    served.shutdown();
}

#[test]
fn a_container_with_console_kill_and_inspect_reaches_only_itself() {
    let mut world = World::new();
    let victim = world.container("victim", &["print:1,secret", "sleep-forever"], "");
    // The attack from inside a container, through its own console connection.
    let attacker = world.container(
        "attacker",
        &[
            "console:kill,victim:0.0.1",
            "console:inspect,victim:0.0.1",
            "console:logs,victim:0.0.1",
            "console:inspect,attacker:0.0.1",
            "console:logs,attacker:0.0.1",
            "console:kill,attacker:0.0.1",
            "sleep-forever",
        ],
        "console:\n  permissions: [kill, inspect]\n",
    );
    let served = Served::start(&mut world, "", "", TestHost::default());
    let mut c = served.client();
    assert_eq!(c.request(Request::Subscribe {}), Ok(Response::Ok {}));
    start(&mut c, &victim);
    start(&mut c, &attacker);
    // Its kill of itself went through: it ends by its SIGTERM.
    let status = c.notification(|n| match n {
        Notification::Exited {
            container, status, ..
        } if *container == attacker => Some(*status),
        _ => None,
    });
    assert_eq!(status, ExitStatus::Signal { signal: 15 });
    let Ok(Response::Logs { lines, .. }) = c.request(Request::Logs {
        container: attacker.clone(),
        tail: None,
        follow: false,
    }) else {
        panic!("logs")
    };
    let refused = |request: &str| {
        format!(
            r#"{{"console":"{request}","container":"victim:0.0.1","refused":"container_not_granted"}}"#
        )
    };
    let own = |request: &str| {
        format!(r#"{{"console":"{request}","container":"attacker:0.0.1","ok":true}}"#)
    };
    for expected in [
        refused("kill"),
        refused("inspect"),
        refused("logs"),
        own("inspect"),
        own("logs"),
    ] {
        assert!(lines.contains(&expected), "{expected} not in {lines:?}");
    }
    let Ok(Response::Containers { containers }) = c.request(Request::List {}) else {
        panic!("list")
    };
    let state = containers
        .iter()
        .find(|i| i.container == victim)
        .map(|i| i.state);
    assert_eq!(state, Some(ContainerState::Running));
    served.shutdown();
}
