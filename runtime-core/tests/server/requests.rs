//! Every request once, the notifications subscribers hear, OOM kills.

use super::*;

#[test]
fn every_request_end_to_end() {
    let mut world = World::new();
    let hello = world.container("hello", &["print:2,hello", "sleep-forever"], "");
    let talker = world.container(
        "talker",
        &["sleep:0.3", "print:3,tick", "sleep-forever"],
        "",
    );
    let resource = world.package("name: res\nversion: 0.0.1\nuid: 1000\ngid: 1000\n");
    let served = Served::start(
        &mut world,
        "max_requests_per_sec = 1000",
        "",
        TestHost::default(),
    );
    let mut c = served.client();
    assert_eq!(c.welcome.as_ref().unwrap().permissions, Permissions::all());
    assert_eq!(c.request(Request::Subscribe {}), Ok(Response::Ok {}));

    // list and inspect of a stopped container
    let Ok(Response::Containers { containers }) = c.request(Request::List {}) else {
        panic!("list")
    };
    let names: Vec<String> = containers.iter().map(|c| c.container.to_string()).collect();
    assert_eq!(names, ["hello:0.0.1", "res:0.0.1", "talker:0.0.1"]);
    assert!(containers
        .iter()
        .all(|c| c.state == ContainerState::Stopped));
    let Ok(Response::Inspect(i)) = c.request(Request::Inspect {
        container: hello.clone(),
    }) else {
        panic!("inspect")
    };
    assert_eq!(i.manifest.name.as_str(), "hello");
    assert!(i.process.is_none() && i.cgroup.is_none());
    let nope: ContainerId = "nope:1.0.0".parse().unwrap();
    assert_eq!(
        c.request(Request::Inspect {
            container: nope.clone()
        }),
        Err(ApiError::NotFound { container: nope })
    );

    // start, inspect running, kill, restart, stop
    let Ok(Response::Started { container, pid }) = c.request(Request::Start {
        container: hello.clone(),
        args: None,
        env: None,
    }) else {
        panic!("start")
    };
    assert_eq!(container, hello);
    c.notification(|n| {
        matches!(n, Notification::Started { container, .. } if *container == hello).then_some(())
    });
    assert_eq!(
        c.request(Request::Start {
            container: hello.clone(),
            args: None,
            env: None
        }),
        Err(ApiError::AlreadyRunning {
            container: hello.clone()
        })
    );
    assert_eq!(
        c.request(Request::Start {
            container: resource.clone(),
            args: None,
            env: None
        }),
        Err(ApiError::ResourceContainer {
            container: resource.clone()
        })
    );
    // Its two lines, read as they come (followed).
    let logs = c.send_request(Request::Logs {
        container: hello.clone(),
        tail: None,
        follow: true,
    });
    let Ok(Response::Logs { mut lines, .. }) = c.answer(logs) else {
        panic!("logs")
    };
    while lines.len() < 2 {
        match c.next_message().expect("log lines") {
            ServerMessage::Log { id, lines: more } if id == logs => lines.extend(more),
            other => c.seen.push(other),
        }
    }
    assert_eq!(lines, ["hello", "hello"]);
    let Ok(Response::Inspect(i)) = c.request(Request::Inspect {
        container: hello.clone(),
    }) else {
        panic!("inspect")
    };
    assert_eq!(i.info.state, ContainerState::Running);
    let process = i.process.expect("a process");
    assert_eq!(process.pid, pid);
    assert_eq!(process.args, ["print:2,hello", "sleep-forever"]);
    assert!(!process.overridden);
    let cgroup = i.cgroup.expect("cgroup counters");
    println!("inspect: {cgroup:?}");
    let memory = cgroup.memory.expect("memory counters");
    assert!(memory.current > 0);
    assert!(cgroup.pids.expect("pids counters").current >= 1);
    assert!(cgroup.cpu.is_some());
    // SIGWINCH: ignored by default, the container keeps running.
    assert_eq!(
        c.request(Request::Kill {
            container: hello.clone(),
            signal: Signal::new(28).unwrap()
        }),
        Ok(Response::Ok {})
    );
    let Ok(Response::Restarted {
        container,
        pid: again,
        ..
    }) = c.request(Request::Restart {
        container: hello.clone(),
        timeout_ms: Some(StopTimeout::from_millis(2000).unwrap()),
    })
    else {
        panic!("restart")
    };
    assert_eq!(container, hello);
    assert_ne!(again, pid);
    let Ok(Response::Stopped { container, status }) = c.request(Request::Stop {
        container: hello.clone(),
        timeout_ms: None,
    }) else {
        panic!("stop")
    };
    assert_eq!(container, hello);
    assert_eq!(status, ExitStatus::Signal { signal: 15 });
    c.notification(|n| {
        matches!(n, Notification::Exited { container, .. } if *container == hello).then_some(())
    });
    assert_eq!(
        c.request(Request::Stop {
            container: hello.clone(),
            timeout_ms: None
        }),
        Err(ApiError::NotRunning {
            container: hello.clone()
        })
    );
    let Ok(Response::Logs { lines, .. }) = c.request(Request::Logs {
        container: hello.clone(),
        tail: Some(1),
        follow: false,
    }) else {
        panic!("logs")
    };
    assert_eq!(lines, ["hello"]);

    // start with overrides, then logs followed
    let env: BTreeMap<String, String> = [("GREETING".to_string(), "hi".to_string())].into();
    let args = vec![
        "sleep:0.3".to_string(),
        "print:3,tick".into(),
        "sleep-forever".into(),
    ];
    assert!(matches!(
        c.request(Request::Start {
            container: talker.clone(),
            args: Some(Args::new(args.clone()).unwrap()),
            env: Some(Env::new(env).unwrap()),
        }),
        Ok(Response::Started { .. })
    ));
    let Ok(Response::Inspect(i)) = c.request(Request::Inspect {
        container: talker.clone(),
    }) else {
        panic!("inspect")
    };
    assert!(i.process.unwrap().overridden);
    let logs = c.send_request(Request::Logs {
        container: talker.clone(),
        tail: None,
        follow: true,
    });
    let Ok(Response::Logs { mut lines, .. }) = c.answer(logs) else {
        panic!("logs")
    };
    while lines.len() < 3 {
        match c.next_message().expect("log lines") {
            ServerMessage::Log { id, lines: more } if id == logs => lines.extend(more),
            other => c.seen.push(other),
        }
    }
    assert_eq!(lines, ["tick", "tick", "tick"]);
    assert!(matches!(
        c.request(Request::Stop {
            container: talker.clone(),
            timeout_ms: None
        }),
        Ok(Response::Stopped { .. })
    ));

    // mount, umount, repositories
    assert_eq!(
        c.request(Request::Mount {
            container: resource.clone()
        }),
        Ok(Response::Ok {})
    );
    assert_eq!(
        c.request(Request::Umount {
            container: resource.clone()
        }),
        Ok(Response::Ok {})
    );
    let Ok(Response::Repositories { repositories }) = c.request(Request::Repositories {}) else {
        panic!("repositories")
    };
    assert_eq!(repositories.len(), 1);
    assert_eq!(repositories[0].name, repo("test"));
    assert_eq!(repositories[0].packages, 3);
    assert!(!repositories[0].verified);

    // install, install again, refused installs keep the connection in step, uninstall
    let (late, bytes) = package_bytes("late");
    assert_eq!(
        install(&mut c, "test", &bytes, Some(digest(&bytes))),
        Ok(Response::Installed {
            container: late.clone()
        })
    );
    c.notification(|n| {
        matches!(n, Notification::Installed { container } if *container == late).then_some(())
    });
    assert_eq!(
        install(&mut c, "test", &bytes, None),
        Err(ApiError::AlreadyInstalled {
            container: late.clone()
        })
    );
    assert_eq!(
        install(&mut c, "nope", &bytes, None),
        Err(ApiError::RepositoryNotFound {
            repository: repo("nope")
        })
    );
    let (other, other_bytes) = package_bytes("other");
    assert!(matches!(
        install(&mut c, "test", &other_bytes, Some(digest(&bytes))),
        Err(ApiError::InstallFailed { .. })
    ));
    assert!(!world.repo.join("other-0.0.1.npk").exists());
    let Ok(Response::Containers { containers }) = c.request(Request::List {}) else {
        panic!("list")
    };
    assert!(containers.iter().any(|i| i.container == late));
    assert!(!containers.iter().any(|i| i.container == other));
    assert_eq!(
        c.request(Request::Uninstall {
            container: late.clone(),
            wipe: true
        }),
        Ok(Response::Ok {})
    );
    c.notification(|n| {
        matches!(n, Notification::Uninstalled { container } if *container == late).then_some(())
    });
    assert!(!world.repo.join("late-0.0.1.npk").exists());
    assert!(!listing(&world.repo).iter().any(|f| f.ends_with(".partial")));

    // boot report, reboot, shutdown: the host's
    assert_eq!(
        c.request(Request::BootReport {}),
        Err(ApiError::Unsupported {
            request: "boot_report".into()
        })
    );
    assert_eq!(
        c.request(Request::Reboot {}),
        Err(ApiError::Unsupported {
            request: "reboot".into()
        })
    );
    assert_eq!(c.request(Request::Shutdown {}), Ok(Response::Ok {}));
    assert_eq!(c.request(Request::List {}), Err(ApiError::ShuttingDown {}));
    assert_eq!(
        *served.host.asked.lock().unwrap(),
        [
            server_support::Power::Reboot,
            server_support::Power::Shutdown
        ]
    );
    served.shutdown();
}

#[test]
fn subscribers_hear_of_oom_kills() {
    let mut world = World::new();
    let hog = world.container(
        "hog",
        &["alloc:256", "exit:0"],
        "cgroups:\n  memory:\n    memory_hard_limit: 33554432\n",
    );
    let served = Served::start(&mut world, "", "", TestHost::default());
    let mut c = served.client();
    assert_eq!(c.request(Request::Subscribe {}), Ok(Response::Ok {}));
    assert!(matches!(
        c.request(Request::Start {
            container: hog.clone(),
            args: None,
            env: None
        }),
        Ok(Response::Started { .. })
    ));
    let kills = c.notification(|n| match n {
        Notification::Oom { container, kills } if *container == hog => Some(*kills),
        _ => None,
    });
    assert!(kills >= 1);
    let (status, oom) = c.notification(|n| match n {
        Notification::Exited {
            container,
            status,
            oom,
        } if *container == hog => Some((*status, *oom)),
        _ => None,
    });
    assert_eq!(status, ExitStatus::Signal { signal: 9 });
    assert!(oom);
    served.shutdown();
}

#[test]
fn subscribers_hear_the_exits_and_the_shutdown_before_the_close() {
    let mut world = World::new();
    let long = world.container("long", &["sleep-forever"], "");
    let served = Served::start(&mut world, "", "", TestHost::default());
    let mut c = served.client();
    assert_eq!(c.request(Request::Subscribe {}), Ok(Response::Ok {}));
    assert!(matches!(
        c.request(Request::Start {
            container: long.clone(),
            args: None,
            env: None
        }),
        Ok(Response::Started { .. })
    ));
    served.shutdown();
    c.notification(|n| match n {
        Notification::Exited { container, .. } if *container == long => Some(()),
        _ => None,
    });
    c.notification(|n| matches!(n, Notification::Shutdown {}).then_some(()));
    assert!(c.closed());
}
