//! Update transactions through the server: the permissions of `update`, `rollback`,
//! `enable`, `disable` and `downgrade`, the upload of several packages, and what a
//! session of an older protocol sees.

use super::*;

/// Send an update of `packages` (their bytes follow the frame) and wait for its answer.
fn update(
    c: &mut Client,
    repository: &str,
    packages: &[&[u8]],
    options: UpdateOptions,
) -> Result<Response, ApiError> {
    let list = packages
        .iter()
        .map(|bytes| Package {
            size: bytes.len() as u64,
            sha256: Some(digest(bytes)),
        })
        .collect();
    let id = c.send_request(Request::Update {
        repository: repo(repository),
        packages: Packages::new(list).unwrap(),
        options,
    });
    for bytes in packages {
        c.stream.write_all(bytes).unwrap();
    }
    c.answer(id)
}

fn downgrade() -> UpdateOptions {
    UpdateOptions {
        downgrade: true,
        ..UpdateOptions::default()
    }
}

fn rollback(repository: Option<&str>, options: UpdateOptions) -> Request {
    Request::Rollback {
        name: "hello".parse().unwrap(),
        repository: repository.map(repo),
        options,
    }
}

/// The grants of the tests' peer (root).
fn grants(permissions: &str) -> String {
    format!("[[api.grants]]\nuid = 0\npermissions = {permissions}\n")
}

#[test]
fn an_update_needs_update_for_its_repository() {
    let mut world = World::new();
    world.container("hello", &["exit:0"], "");
    let other = world.dir.path().join("other");
    let tables = format!(
        "[repositories.other]\ndir = \"{}\"\nunverified = true\n{}",
        other.display(),
        grants(r#"["list", "update:other"]"#)
    );
    let served = Served::start(&mut world, "", &tables, TestHost::default());
    let before = listing(&world.repo);
    let (_, bytes) = package_bytes("hello");
    let mut c = served.client();
    assert_eq!(
        update(&mut c, "test", &[&bytes, &bytes], UpdateOptions::default()),
        Err(ApiError::RepositoryNotGranted {
            permission: Permission::Update,
            repository: repo("test"),
        })
    );
    // The bytes were read and dropped: the connection is in step, nothing was written.
    assert!(matches!(
        c.request(Request::List {}),
        Ok(Response::Containers { .. })
    ));
    assert_eq!(listing(&world.repo), before);
    // A rollback under a grant limited to repositories must name one it covers.
    for (repository, expected) in [
        (
            None,
            ApiError::PermissionDenied {
                permission: Permission::Update,
            },
        ),
        (
            Some("test"),
            ApiError::RepositoryNotGranted {
                permission: Permission::Update,
                repository: repo("test"),
            },
        ),
    ] {
        assert_eq!(
            c.request(rollback(repository, UpdateOptions::default())),
            Err(expected),
            "{repository:?}"
        );
    }
    served.shutdown();
}

#[test]
fn downgrade_is_never_part_of_every_permission() {
    let mut world = World::new();
    world.container("hello", &["exit:0"], "");
    // The default grant of root: every permission.
    let served = Served::start(&mut world, "", "", TestHost::default());
    let mut c = served.client();
    let granted = &c.welcome.as_ref().unwrap().permissions;
    assert_eq!(*granted, Permissions::all());
    assert!(granted.contains(Permission::Update) && !granted.contains(Permission::Downgrade));
    let (_, bytes) = package_bytes("hello");
    let denied = Err(ApiError::PermissionDenied {
        permission: Permission::Downgrade,
    });
    assert_eq!(update(&mut c, "test", &[&bytes], downgrade()), denied);
    assert_eq!(c.request(rollback(Some("test"), downgrade())), denied);
    served.shutdown();
}

#[test]
fn downgrade_is_granted_by_name_only() {
    let mut world = World::new();
    world.container("hello", &["exit:0"], "");
    let served = Served::start(
        &mut world,
        "",
        &grants(r#"["update", "downgrade"]"#),
        TestHost::default(),
    );
    let mut c = served.client();
    // Past the permission check: whatever the runtime answers, it is not a refusal of
    // the permission.
    let answer = c.request(rollback(Some("test"), downgrade()));
    assert!(
        !matches!(answer, Err(ApiError::PermissionDenied { .. })),
        "{answer:?}"
    );
    served.shutdown();
}

#[test]
fn the_spools_of_an_update_are_removed_after_its_answer() {
    let mut world = World::new();
    world.container("hello", &["exit:0"], "");
    let served = Served::start(&mut world, "", "", TestHost::default());
    let before = listing(&world.repo);
    let (_, one) = package_bytes("one");
    let (_, two) = package_bytes("two");
    let mut c = served.client();
    // Neither name is installed: the runtime refuses the transaction, whatever it is.
    assert!(update(&mut c, "test", &[&one, &two], UpdateOptions::default()).is_err());
    eventually("the spool files are removed", || {
        listing(&world.repo) == before
    });
    // A digest that does not match one of the packages names it.
    let id = c.send_request(Request::Update {
        repository: repo("test"),
        packages: Packages::new(vec![
            Package {
                size: one.len() as u64,
                sha256: Some(digest(&one)),
            },
            Package {
                size: two.len() as u64,
                sha256: Some(digest(&one)),
            },
        ])
        .unwrap(),
        options: UpdateOptions::default(),
    });
    c.stream.write_all(&one).unwrap();
    c.stream.write_all(&two).unwrap();
    assert_eq!(
        c.answer(id),
        Err(ApiError::InstallFailed {
            reason: "package 2: sha256 of the received bytes differs".into()
        })
    );
    assert_eq!(listing(&world.repo), before);
    served.shutdown();
}

#[test]
fn an_update_over_the_install_limit_is_refused_before_its_bytes() {
    let mut world = World::new();
    let served = Served::start(
        &mut world,
        "max_install_size = \"8M\"",
        "",
        TestHost::default(),
    );
    let mut c = served.client();
    let id = c.send_request(Request::Update {
        repository: repo("test"),
        packages: Packages::new(vec![
            Package {
                size: 5 << 20,
                sha256: None,
            },
            Package {
                size: 5 << 20,
                sha256: None,
            },
        ])
        .unwrap(),
        options: UpdateOptions::default(),
    });
    assert_eq!(
        c.answer(id),
        Err(ApiError::PackageTooLarge {
            size: 10 << 20,
            limit: 8 << 20
        })
    );
    assert!(c.closed());
    served.shutdown();
}

#[test]
fn enable_and_disable_need_their_grant_for_the_name() {
    let mut world = World::new();
    world.container("hello", &["exit:0"], "");
    world.container("other", &["exit:0"], "");
    let served = Served::start(
        &mut world,
        "",
        &grants(r#"["enable:hello"]"#),
        TestHost::default(),
    );
    let mut c = served.client();
    let enable = |name: &str| Request::Enable {
        name: name.parse().unwrap(),
        repository: None,
    };
    assert_eq!(
        c.request(enable("other")),
        Err(ApiError::NameNotGranted {
            permission: Permission::Enable,
            name: "other".parse().unwrap(),
        })
    );
    assert_eq!(
        c.request(Request::Disable {
            name: "hello".parse().unwrap(),
            repository: None,
        }),
        Err(ApiError::PermissionDenied {
            permission: Permission::Disable
        })
    );
    let answer = c.request(enable("hello"));
    assert!(
        !matches!(
            answer,
            Err(ApiError::PermissionDenied { .. } | ApiError::NameNotGranted { .. })
        ),
        "{answer:?}"
    );
    served.shutdown();
}

#[test]
fn a_session_of_protocol_1_1_sees_nothing_of_1_2() {
    let mut world = World::new();
    let id = world.container("hello", &["sleep-forever"], "");
    let served = Served::start(
        &mut world,
        "",
        &grants(r#"["list", "start", "stop", "notifications", "update", "enable", "downgrade"]"#),
        TestHost::default(),
    );
    let mut c = served.connect();
    let ServerMessage::Welcome(welcome) = c.hello_version(ProtocolVersion::new(1, 1)) else {
        panic!("no welcome")
    };
    assert_eq!(
        welcome.permissions,
        [
            Permission::List,
            Permission::Start,
            Permission::Stop,
            Permission::Notifications
        ]
        .into_iter()
        .collect::<Permissions>()
    );
    assert_eq!(c.request(Request::Subscribe {}), Ok(Response::Ok {}));
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
    // The frames a 1.1 client decodes: every notification is one of 1.1.
    c.notification(|n| matches!(n, Notification::Exited { .. }).then_some(()));
    for m in &c.seen {
        if let ServerMessage::Notification { notification } = m {
            assert!(
                notification.since() <= ProtocolVersion::new(1, 1),
                "{notification:?}"
            );
        }
    }
    served.shutdown();
}

#[test]
fn an_update_through_the_api_commits() {
    let mut world = World::new();
    let old = world.container("hello", &["sleep-forever"], "");
    let served = Served::start(&mut world, "", "", TestHost::default());
    // Version 0.0.2, packed elsewhere: the file the update uploads.
    let staging = World::new();
    let new = staging.package(
        "name: hello\nversion: 0.0.2\ninit: /bin/test-container\nuid: 1000\ngid: 1000\n\
         args: [sleep-forever]\n",
    );
    let bytes = std::fs::read(staging.repo.join("hello-0.0.2.npk")).unwrap();
    let mut c = served.client();
    assert_eq!(c.request(Request::Subscribe {}), Ok(Response::Ok {}));
    assert!(matches!(
        c.request(Request::Start {
            container: old.clone(),
            args: None,
            env: None
        }),
        Ok(Response::Started { .. })
    ));
    let options = UpdateOptions {
        health: Some(northstar_api::Health::Running),
        window_ms: Some(300),
        deadline_ms: Some(10_000),
        ..UpdateOptions::default()
    };
    assert_eq!(
        update(&mut c, "test", &[&bytes], options),
        Ok(Response::Committed {
            containers: vec![new.clone()]
        })
    );
    // The transaction's notifications came to the subscriber, `committed` before the
    // answer as the runtime sent them (notifications and answers share the server's inbox).
    assert!(
        c.seen.iter().any(|m| matches!(
            m,
            ServerMessage::Notification {
                notification: Notification::Committed { .. }
            }
        )),
        "committed came after the answer: {:?}",
        c.seen
    );
    let started = c.notification(|n| match n {
        Notification::UpdateStarted { containers } => Some(containers.clone()),
        _ => None,
    });
    assert_eq!(started, vec![new.clone()]);
    let committed = c.notification(|n| match n {
        Notification::Committed { containers } => Some(containers.clone()),
        _ => None,
    });
    assert_eq!(committed, vec![new.clone()]);
    // The new version is the active one and runs; the spool is gone.
    let Ok(Response::Containers { containers }) = c.request(Request::List {}) else {
        panic!("list")
    };
    let info = |id: &ContainerId| containers.iter().find(|i| i.container == *id).cloned();
    let now = info(&new).expect("the new version is listed");
    assert!(
        now.active && now.state == ContainerState::Running,
        "{now:?}"
    );
    assert!(info(&old).is_none_or(|i| !i.active), "{containers:?}");
    assert!(!listing(&world.repo).iter().any(|f| f.ends_with(".partial")));
    served.shutdown();
}
