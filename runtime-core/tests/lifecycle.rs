//! The life of containers and images on the host kernel, as root: orphans are reaped,
//! resources resolve to the highest matching version, critical containers raise the
//! alarm.

mod support;

use runtime_core::{
    container::ExitStatus,
    id::ContainerId,
    runtime::{ContainerState, Notification, Request, RequestError, Response},
};
use std::time::Instant;
use support::{Running, World, PATIENCE};

/// Children of `pid` (all its threads) from /proc.
fn children(pid: i32) -> Vec<i32> {
    let mut all = Vec::new();
    let tasks = format!("/proc/{pid}/task");
    for task in std::fs::read_dir(tasks).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        all.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    all
}

/// Wait (bounded) until `f` holds; a guard against hangs, not a timing assertion.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn orphans_are_reaped_by_the_container_init() {
    let world = World::new();
    let id = world.container("orphaner", &["orphans:4", "sleep-forever"], "");
    let rt = world.start();
    let Response::Started { pid: init } = rt.start(&id).unwrap() else {
        panic!("not started");
    };
    // The program plus four orphans reparented to the container's init.
    eventually("orphans reparented to the init", || {
        children(init).len() == 5
    });
    let program = *children(init).iter().min().unwrap();
    let orphans: Vec<i32> = children(init)
        .into_iter()
        .filter(|p| *p != program)
        .collect();
    for pid in &orphans {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::SIGKILL)
            .unwrap();
    }
    // A zombie keeps its /proc entry; reaped processes are gone.
    eventually("killed orphans reaped", || {
        orphans
            .iter()
            .all(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
    });
    assert_eq!(children(init), [program]);
    rt.stop(&id).unwrap();
    rt.shutdown();
}

#[test]
fn resources_resolve_to_the_highest_matching_version() {
    let world = World::new();
    for version in ["1.0.0", "1.2.0", "2.0.0"] {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("version"), version).unwrap();
        let manifest = format!("name: res\nversion: {version}\nuid: 1000\ngid: 1000\n");
        let manifest = npk::manifest::Manifest::from_yaml_str(&manifest).unwrap();
        npk::pack::pack_manifest(
            &manifest,
            root.path(),
            &world.repo,
            &npk::pack::Options::default(),
            &mut |_| (),
        )
        .unwrap();
    }
    let resource = |req: &str| {
        format!("  /res:\n    type: resource\n    name: res\n    version: '{req}'\n    dir: /\n")
    };
    let one = world.container("wants-one", &["read:/res/version"], &resource("^1"));
    let two = world.container("wants-two", &["read:/res/version"], &resource(">=1.1"));
    let none = world.container("wants-three", &["read:/res/version"], &resource("^3"));
    let rt = world.start();
    assert_eq!(rt.run(&one), ExitStatus::Exit(0));
    assert_eq!(rt.logs(&one).trim(), "1.2.0");
    assert_eq!(rt.run(&two), ExitStatus::Exit(0));
    assert_eq!(rt.logs(&two).trim(), "2.0.0");
    match rt.start(&none) {
        Err(RequestError::Start(message)) => {
            assert!(message.contains("resource res ^3"), "{message}");
            assert!(
                message.contains("no installed version matches"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    // A resource in use by a running container cannot be unmounted.
    let holder = world.container("holder", &["sleep-forever"], &resource("^2"));
    drop(holder);
    rt.shutdown();
}

#[test]
fn critical_container_failure_is_raised() {
    let world = World::new();
    let id = world.container("vital", &["exit:1"], "autostart: critical\n");
    let rt = world.start();
    let reason = rt.wait_for(|n| match n {
        Notification::Critical { id: i, reason } if *i == id => Some(reason.clone()),
        _ => None,
    });
    assert!(reason.contains("exit code 1"), "{reason}");
    rt.shutdown();
}

/// The containers of the next `n` exit notifications.
fn all_exited(rt: &Running, n: usize) -> std::collections::BTreeSet<ContainerId> {
    let mut exited = std::collections::BTreeSet::new();
    while exited.len() < n {
        exited.insert(rt.wait_for(|n| match n {
            Notification::Exited { id, .. } => Some(id.clone()),
            _ => None,
        }));
    }
    exited
}

#[test]
fn every_autostart_is_seen_by_the_first_subscriber() {
    let world = World::new();
    let ids: Vec<_> = (0..5)
        .map(|i| world.container(&format!("auto{i}"), &["exit:0"], "autostart: relaxed\n"))
        .collect();
    let rt = world.start();
    assert_eq!(all_exited(&rt, ids.len()), ids.into_iter().collect());
    rt.shutdown();
}

#[test]
fn autostart_mounts_packages_first_and_reports_the_start_up_phases() {
    let world = World::new();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("version"), "1.0.0").unwrap();
    let manifest = "name: res\nversion: 1.0.0\nuid: 1000\ngid: 1000\n";
    npk::pack::pack_manifest(
        &npk::manifest::Manifest::from_yaml_str(manifest).unwrap(),
        root.path(),
        &world.repo,
        &npk::pack::Options::default(),
        &mut |_| (),
    )
    .unwrap();
    let extra = "  /res:\n    type: resource\n    name: res\n    version: '^1'\n    dir: /\n\
                 autostart: relaxed\n";
    let ids: std::collections::BTreeSet<_> = (0..6)
        .map(|i| world.container(&format!("auto{i}"), &["read:/res/version"], extra))
        .collect();
    let rt = world.start();
    assert_eq!(all_exited(&rt, ids.len()), ids);
    for id in &ids {
        assert_eq!(rt.logs(id).trim(), "1.0.0", "{id}");
    }
    // Every package the start-up needed is mounted: the six and their resource.
    let Response::Containers(list) = rt.request(Request::List).unwrap() else {
        panic!("not a list");
    };
    assert_eq!(list.iter().filter(|c| c.mounted).count(), 7, "{list:?}");
    let phases = rt.handle.startup();
    let names: Vec<&str> = phases.iter().map(|p| p.name).collect();
    assert_eq!(names, ["registry", "setup", "mounts", "starts"]);
    assert!(phases[1].start >= phases[0].start + phases[0].took);
    assert!(phases[2].start >= phases[1].start + phases[1].took);
    // Both measured from the loop's start; the starts end after the last mount.
    assert_eq!(phases[3].start, phases[2].start);
    assert!(phases[3].took >= phases[2].took);
    rt.shutdown();
}

#[test]
fn install_start_uninstall() {
    let world = World::new();
    let rt = world.start();
    // Build the package elsewhere, then install it through the runtime.
    let staging = World::new();
    let id = staging.package(
        "name: late\nversion: 0.0.1\ninit: /bin/test-container\nuid: 1000\ngid: 1000\n\
         args: [\"print:1,hello\"]\nio:\n  stdout: pipe\n",
    );
    let file = staging.repo.join("late-0.0.1.npk");
    let installed = rt.request(Request::Install {
        repository: "test".into(),
        path: file.clone(),
    });
    assert_eq!(installed, Ok(Response::Installed { id: id.clone() }));
    rt.wait_for(|n| matches!(n, Notification::Installed { id: i } if *i == id).then_some(()));
    assert!(world.repo.join("late-0.0.1.npk").exists());
    assert_eq!(rt.run(&id), ExitStatus::Exit(0));
    assert_eq!(rt.logs(&id).trim(), "hello");
    // Installing it again is refused; nothing changes.
    let again = rt.request(Request::Install {
        repository: "test".into(),
        path: file,
    });
    assert!(matches!(again, Err(RequestError::Install(_))), "{again:?}");
    assert_eq!(
        rt.request(Request::Uninstall {
            id: id.clone(),
            wipe: true,
            repositories: None
        }),
        Ok(Response::Ok)
    );
    assert!(!world.repo.join("late-0.0.1.npk").exists());
    assert_eq!(rt.start(&id), Err(RequestError::NotFound(id.clone())));
    let unknown = rt.request(Request::Install {
        repository: "nope".into(),
        path: world.repo.join("x.npk"),
    });
    assert_eq!(unknown, Err(RequestError::NoRepository("nope".into())));
    rt.shutdown();
}

#[test]
fn keyed_repository_verifies_installs_and_needs_dm_verity() {
    let world = World::new();
    let key = npk::key::SecretKey::generate().unwrap();
    let keys = world.dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    key.public().save(&keys.join("signed.pub")).unwrap();
    let signed_repo = world.dir.path().join("signed");
    let mut config = world.config();
    config.repositories.insert(
        "signed".into(),
        runtime_core::config::RepositoryConfig {
            dir: signed_repo.clone(),
            key: Some(keys.join("signed.pub")),
            unverified: false,
            max_packages: None,
            max_bytes: None,
            mount_on_start: false,
            resources_from: Vec::new(),
            policy: Default::default(),
        },
    );
    // The test repository is unverified.
    config.development = true;
    let handle = runtime_core::runtime::Runtime::start(config).unwrap();
    // An unsigned package is refused and leaves nothing in the repository.
    let staging = World::new();
    let id = staging.container("app", &["exit:0"], "");
    let unsigned = staging.repo.join("app-0.0.1.npk");
    let refused = handle.request(Request::Install {
        repository: "signed".into(),
        path: unsigned,
    });
    assert!(
        matches!(refused, Err(RequestError::Install(_))),
        "{refused:?}"
    );
    assert_eq!(std::fs::read_dir(&signed_repo).unwrap().count(), 0);
    // A signed one is accepted; starting it needs dm-verity, which this host lacks.
    let signed_dir = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("bin")).unwrap();
    std::fs::copy(
        support::test_container(),
        root.path().join("bin/test-container"),
    )
    .unwrap();
    let m = npk::manifest::Manifest::from_yaml_str(
        "name: app\nversion: 0.0.1\ninit: /bin/test-container\nuid: 1000\ngid: 1000\n",
    )
    .unwrap();
    let path = npk::pack::pack_manifest(
        &m,
        root.path(),
        signed_dir.path(),
        &npk::pack::Options {
            key: Some(&key),
            ..Default::default()
        },
        &mut |_| (),
    )
    .unwrap();
    let accepted = handle.request(Request::Install {
        repository: "signed".into(),
        path,
    });
    assert_eq!(accepted, Ok(Response::Installed { id: id.clone() }));
    let start = handle.request(Request::Start {
        id: id.clone(),
        args: None,
        env: None,
    });
    match start {
        Err(RequestError::Start(message)) => {
            assert!(message.contains("device-mapper"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    handle.shutdown().unwrap();
}

/// The attack at start: an unsigned `libfoo:99.0.0` in the (unverified) test repository
/// and a signed container asking for `libfoo`. The signed container does not get it: no
/// repository it trusts holds a `libfoo`, and the start says so. A container of the
/// unverified repository may use it.
#[test]
fn a_keyed_container_never_gets_an_unverified_resource() {
    let world = World::new();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("version"), "99.0.0").unwrap();
    let libfoo = npk::manifest::Manifest::from_yaml_str(
        "name: libfoo\nversion: 99.0.0\nuid: 1000\ngid: 1000\n",
    )
    .unwrap();
    let pack = |manifest: &npk::manifest::Manifest, root: &std::path::Path, dir, key| {
        npk::pack::pack_manifest(
            manifest,
            root,
            dir,
            &npk::pack::Options {
                key,
                ..Default::default()
            },
            &mut |_| (),
        )
        .unwrap()
    };
    pack(&libfoo, root.path(), &world.repo, None);
    let wants = "  /res:\n    type: resource\n    name: libfoo\n    version: '*'\n    dir: /\n";
    let dev = world.container("dev-app", &["read:/res/version"], wants);
    // The signed container, in a keyed repository.
    let key = npk::key::SecretKey::generate().unwrap();
    let keys = world.dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    key.public().save(&keys.join("signed.pub")).unwrap();
    let signed_repo = world.dir.path().join("signed");
    std::fs::create_dir_all(&signed_repo).unwrap();
    let app_root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(app_root.path().join("bin")).unwrap();
    std::fs::copy(
        support::test_container(),
        app_root.path().join("bin/test-container"),
    )
    .unwrap();
    let app = npk::manifest::Manifest::from_yaml_str(&format!(
        "name: app\nversion: 0.0.1\ninit: /bin/test-container\nuid: 1000\ngid: 1000\n\
         args: [\"read:/res/version\"]\nmounts:\n{wants}"
    ))
    .unwrap();
    pack(&app, app_root.path(), &signed_repo, Some(&key));
    let mut config = world.config();
    config.development = true;
    config.repositories.insert(
        "signed".into(),
        runtime_core::config::RepositoryConfig {
            dir: signed_repo,
            key: Some(keys.join("signed.pub")),
            unverified: false,
            max_packages: None,
            max_bytes: None,
            mount_on_start: false,
            resources_from: Vec::new(),
            policy: Default::default(),
        },
    );
    let (handle, events) = runtime_core::runtime::Runtime::start_subscribed(config).unwrap();
    let rt = support::Running { handle, events };
    let id: runtime_core::id::ContainerId = "app:0.0.1".parse().unwrap();
    match rt.start(&id) {
        Err(RequestError::Start(message)) => assert!(
            message.contains(
                "resource libfoo *: no installed version matches in the repositories \
                 \"signed\" trusts"
            ),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(rt.run(&dev), ExitStatus::Exit(0));
    assert_eq!(rt.logs(&dev).trim(), "99.0.0");
    rt.shutdown();
}

#[test]
fn mount_on_start_and_list() {
    let mut world = World::new();
    let id = world.container("early", &["exit:0"], "");
    world.mount_on_start();
    let rt = world.start();
    let Response::Containers(list) = rt.request(Request::List).unwrap() else {
        panic!("not a list");
    };
    let info = list.iter().find(|c| c.id == id).unwrap();
    assert!(info.mounted);
    assert_eq!(info.repository, "test");
    assert_eq!(info.pid, None);
    assert_eq!(
        rt.request(Request::Umount { id: id.clone() }),
        Ok(Response::Ok)
    );
    rt.shutdown();
}

#[test]
fn scheduling_policy_and_nice() {
    let world = World::new();
    let id = world.container(
        "nice",
        &["report:/report/nice.json"],
        "sched:\n  policy: !batch\n    nice: 7\n",
    );
    let rt = world.start();
    assert_eq!(rt.run(&id), ExitStatus::Exit(0));
    let r = world.report("nice.json");
    assert_eq!(r["sched_policy"], "batch");
    assert_eq!(r["nice"], 7);
    rt.shutdown();
}

#[test]
fn an_install_in_progress_does_not_block_supervision() {
    let world = World::new();
    let quick = world.container("quick", &["exit:0"], "");
    let rt = world.start();
    // The install reads from a pipe the test controls: it cannot finish before the test
    // writes the package, so whatever the runtime does meanwhile proves the loop is free.
    let staging = World::new();
    let id = staging
        .package("name: slow\nversion: 0.0.1\ninit: /bin/test-container\nuid: 1000\ngid: 1000\n");
    let package = staging.repo.join("slow-0.0.1.npk");
    let fifo = world.dir.path().join("upload");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let (tx, answer) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let handle = &rt.handle;
        let path = fifo.clone();
        scope.spawn(move || {
            let result = handle.request(Request::Install {
                repository: "test".into(),
                path,
            });
            tx.send(result).unwrap();
        });
        // Supervision goes on while the install waits for its data.
        for _ in 0..5 {
            assert_eq!(rt.run(&quick), ExitStatus::Exit(0));
        }
        assert!(answer.try_recv().is_err(), "the install cannot be done yet");
        std::fs::write(&fifo, std::fs::read(&package).unwrap()).unwrap();
        let installed = answer.recv_timeout(PATIENCE).unwrap();
        assert_eq!(installed, Ok(Response::Installed { id: id.clone() }));
    });
    rt.shutdown();
}

/// The state of `id` in `list`.
fn state_of(rt: &support::Running, id: &runtime_core::id::ContainerId) -> ContainerState {
    match rt.request(Request::List).unwrap() {
        Response::Containers(all) => all.into_iter().find(|c| c.id == *id).unwrap().state,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_second_stop_with_a_shorter_grace_brings_the_deadline_forward() {
    let world = World::new();
    let stubborn = world.container(
        "stubborn",
        &["ignore:TERM", "print:1,ignoring", "sleep-forever"],
        "",
    );
    let rt = world.start();
    // Started and ignoring SIGTERM (a SIGTERM before that would end it at once); the
    // output of earlier runs may still be in the log.
    let start_ignoring = |run: usize| {
        rt.start(&stubborn).unwrap();
        eventually("ignoring SIGTERM", || {
            rt.logs(&stubborn).matches("ignoring").count() >= run
        });
    };
    start_ignoring(1);
    // The first stop's grace outlasts the test's patience: only the second stop's
    // deadline can end the container before the guard gives up.
    let long = Some(PATIENCE * 10);
    let short = Some(std::time::Duration::from_millis(100));
    let (tx, answers) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        for timeout in [long, short] {
            let (handle, id, tx) = (&rt.handle, stubborn.clone(), tx.clone());
            scope.spawn(move || tx.send(handle.request(Request::Stop { id, timeout })));
            eventually("stopping", || {
                state_of(&rt, &stubborn) == ContainerState::Stopping
            });
        }
        for _ in 0..2 {
            let answer = answers.recv_timeout(PATIENCE).expect("a stop answered");
            assert_eq!(
                answer,
                Ok(Response::Stopped {
                    status: ExitStatus::Signal(libc::SIGKILL)
                })
            );
        }
    });
    // A kill still ends a container that is stopping with a long grace.
    start_ignoring(2);
    std::thread::scope(|scope| {
        let (handle, id, tx) = (&rt.handle, stubborn.clone(), tx.clone());
        scope.spawn(move || tx.send(handle.request(Request::Stop { id, timeout: long })));
        eventually("stopping", || {
            state_of(&rt, &stubborn) == ContainerState::Stopping
        });
        let killed = rt.request(Request::Kill {
            id: stubborn.clone(),
            signal: libc::SIGKILL,
        });
        assert_eq!(killed, Ok(Response::Ok));
        let answer = answers.recv_timeout(PATIENCE).expect("the stop answered");
        assert_eq!(
            answer,
            Ok(Response::Stopped {
                status: ExitStatus::Signal(libc::SIGKILL)
            })
        );
    });
    rt.shutdown();
}
