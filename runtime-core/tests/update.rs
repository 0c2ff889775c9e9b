//! Update transactions on the host: commit, every way of rolling back (with the data put
//! back byte for byte), anti-rollback, the autostart override, two packages in one
//! transaction, and a runtime killed at each step of a transaction.

mod support;

use runtime_core::{
    config::Health,
    id::ContainerId,
    runtime::{ContainerState, Notification, Request, RequestError, Response, UpdateOptions},
};
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    time::Duration,
};
use support::{Running, World};

/// A manifest of `name` at `version` running the test program's `args`, autostarted, with
/// persistent data at /data and a sockets directory (for NOTIFY_SOCKET).
fn manifest(name: &str, version: &str, args: &[&str], extra: &str) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "name: {name}\nversion: {version}\ninit: /bin/test-container\nuid: 1000\ngid: 1000\n\
         args: [{args}]\nautostart: relaxed\nmounts:\n  /data:\n    type: persist\n  \
         /run/ns:\n    type: sockets\nsockets:\n  api:\n    type: stream\n    mode: 0o660\n\
         io:\n  stdout: pipe\n  stderr: pipe\n{extra}",
        args = args.join(", ")
    )
}

/// Pack a manifest into the world's incoming directory (not the repository): the file
/// an update installs.
fn incoming(world: &World, manifest: &str) -> PathBuf {
    let out = world.dir.path().join("incoming");
    std::fs::create_dir_all(&out).unwrap();
    let manifest = npk::manifest::Manifest::from_yaml_str(manifest).unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("bin")).unwrap();
    std::fs::copy(
        support::test_container(),
        root.path().join("bin/test-container"),
    )
    .unwrap();
    npk::pack::pack_manifest(
        &manifest,
        root.path(),
        &out,
        &npk::pack::Options {
            compression: npk::squashfs::Compression::None,
            ..Default::default()
        },
        &mut |_| (),
    )
    .unwrap()
}

fn id(s: &str) -> ContainerId {
    s.parse().unwrap()
}

fn options(health: Health) -> UpdateOptions {
    UpdateOptions {
        health: Some(health),
        window: Some(Duration::from_millis(500)),
        deadline: Some(Duration::from_secs(5)),
        snapshot: Some(true),
        downgrade: false,
    }
}

fn update(
    rt: &Running,
    paths: Vec<PathBuf>,
    options: UpdateOptions,
) -> Result<Response, RequestError> {
    rt.request(Request::Update {
        repository: "test".into(),
        paths,
        upload: false,
        options,
    })
}

/// The containers running (or starting).
fn running(rt: &Running) -> BTreeSet<ContainerId> {
    match rt.request(Request::List).unwrap() {
        Response::Containers(list) => list
            .into_iter()
            .filter(|c| matches!(c.state, ContainerState::Running | ContainerState::Starting))
            .map(|c| c.id)
            .collect(),
        other => panic!("{other:?}"),
    }
}

/// The active versions as `list` says.
fn active(rt: &Running) -> BTreeSet<ContainerId> {
    match rt.request(Request::List).unwrap() {
        Response::Containers(list) => list
            .into_iter()
            .filter(|c| c.active)
            .map(|c| c.id)
            .collect(),
        other => panic!("{other:?}"),
    }
}

fn data(world: &World, name: &str) -> PathBuf {
    world.dir.path().join("data/@test").join(name)
}

/// Data of version 1 that a new version changes: a file and a directory.
fn seed(world: &World, name: &str) {
    let dir = data(world, name);
    std::fs::create_dir_all(dir.join("db")).unwrap();
    std::fs::write(dir.join("db/state"), b"version 1 data").unwrap();
    for p in [dir.clone(), dir.join("db"), dir.join("db/state")] {
        std::os::unix::fs::chown(&p, Some(1000), Some(1000)).unwrap();
    }
}

fn assert_seeded(world: &World, name: &str) {
    let dir = data(world, name);
    assert_eq!(
        std::fs::read(dir.join("db/state")).unwrap(),
        b"version 1 data"
    );
    assert!(
        !dir.join("migrated").exists(),
        "the new version's file is gone"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with('+'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Version 1.0.0 of `app` running, with seeded data.
fn world_with_app() -> (World, Running) {
    let world = World::new();
    world.package(&manifest("app", "1.0.0", &["sleep-forever"], ""));
    seed(&world, "app");
    let rt = world.start();
    rt.wait_for(|n| {
        matches!(n, Notification::Started { id, .. } if *id == self::id("app:1.0.0")).then_some(())
    });
    (world, rt)
}

/// Update `app` to 1.1.0 running `args`.
fn update_app(
    world: &World,
    rt: &Running,
    args: &[&str],
    extra: &str,
    options: UpdateOptions,
) -> Result<Response, RequestError> {
    let file = incoming(world, &manifest("app", "1.1.0", args, extra));
    update(rt, vec![file], options)
}

/// Version 1.0.0 runs and is active again, with its data as seeded.
fn assert_back_to_1(world: &World, rt: &Running) {
    assert_eq!(running(rt), [id("app:1.0.0")].into());
    assert_eq!(active(rt), [id("app:1.0.0")].into());
    assert_seeded(world, "app");
}

fn rolled_back(result: Result<Response, RequestError>) -> String {
    match result {
        Err(RequestError::RolledBack { reason }) => reason,
        other => panic!("expected a rollback: {other:?}"),
    }
}

#[test]
fn an_update_to_a_healthy_version_commits_and_survives_a_restart() {
    let (world, rt) = world_with_app();
    let file = incoming(
        &world,
        &manifest(
            "app",
            "1.1.0",
            &["write:/data/migrated,yes", "sleep-forever"],
            "",
        ),
    );
    let answer = update(&rt, vec![file], options(Health::Running)).unwrap();
    assert_eq!(
        answer,
        Response::Committed {
            ids: vec![id("app:1.1.0")]
        }
    );
    assert_eq!(running(&rt), [id("app:1.1.0")].into());
    assert_eq!(active(&rt), [id("app:1.1.0")].into());
    assert!(data(&world, "app").join("migrated").exists());
    rt.shutdown();
    let rt = world.start();
    assert_eq!(running(&rt), [id("app:1.1.0")].into());
    // The old version stays installed as the rollback target; back to it, as a transaction.
    let answer = rt
        .request(Request::Rollback {
            repository: None,
            name: "app".into(),
            options: options(Health::Running),
        })
        .unwrap();
    assert_eq!(
        answer,
        Response::Committed {
            ids: vec![id("app:1.0.0")]
        }
    );
    assert_eq!(running(&rt), [id("app:1.0.0")].into());
    assert_eq!(active(&rt), [id("app:1.0.0")].into());
    rt.shutdown();
}

#[test]
fn a_version_that_exits_rolls_back_with_the_data_restored() {
    let (world, rt) = world_with_app();
    let args = [
        "write:/data/migrated,yes",
        "write:/data/db/state,broken",
        "exit:1",
    ];
    let answer = update_app(&world, &rt, &args, "", options(Health::Running));
    let reason = rolled_back(answer);
    assert!(
        reason.contains("app:1.1.0: ended with exit code 1"),
        "{reason}"
    );
    assert_back_to_1(&world, &rt);
    rt.shutdown();
    // The failed version stays installed and never autostarts.
    let rt = world.start();
    assert_eq!(running(&rt), [id("app:1.0.0")].into());
    rt.shutdown();
}

#[test]
fn a_crash_loop_rolls_back_before_the_restart_policy_restarts_it() {
    let (world, rt) = world_with_app();
    let restart = "restart:\n  policy: always\n  delay_ms: 10\n";
    let answer = update_app(
        &world,
        &rt,
        &["signal:SEGV"],
        restart,
        options(Health::Running),
    );
    let reason = rolled_back(answer);
    assert!(reason.contains("signal"), "{reason}");
    assert_back_to_1(&world, &rt);
    rt.shutdown();
}

#[test]
fn a_version_that_never_says_ready_rolls_back_at_the_deadline() {
    let (world, rt) = world_with_app();
    let mut o = options(Health::Ready);
    o.deadline = Some(Duration::from_secs(1));
    let args = ["write:/data/migrated,yes", "sleep-forever"];
    let reason = rolled_back(update_app(&world, &rt, &args, "", o));
    assert!(reason.contains("never sent READY=1"), "{reason}");
    assert_back_to_1(&world, &rt);
    rt.shutdown();
}

#[test]
fn a_version_that_cannot_start_rolls_back() {
    let (world, rt) = world_with_app();
    let text = manifest("app", "1.1.0", &[], "")
        .replace("init: /bin/test-container", "init: /bin/missing");
    let file = incoming(&world, &text);
    let reason = rolled_back(update(&rt, vec![file], options(Health::Running)));
    assert!(reason.contains("app:1.1.0"), "{reason}");
    assert_back_to_1(&world, &rt);
    rt.shutdown();
}

#[test]
fn a_downgrade_is_refused_unless_allowed() {
    let (world, rt) = world_with_app();
    let file = incoming(&world, &manifest("app", "0.9.0", &["sleep-forever"], ""));
    match update(&rt, vec![file.clone()], options(Health::Running)) {
        Err(RequestError::Downgrade { id, active, floor }) => {
            assert_eq!(id, self::id("app:0.9.0"));
            assert_eq!((active.as_str(), floor.as_str()), ("1.0.0", "1.0.0"));
        }
        other => panic!("{other:?}"),
    }
    // Nothing of the refused package stays.
    assert!(rt
        .request(Request::Inspect {
            id: id("app:0.9.0")
        })
        .is_err());
    assert_eq!(running(&rt), [id("app:1.0.0")].into());
    let mut o = options(Health::Running);
    o.downgrade = true;
    let answer = update(&rt, vec![file], o).unwrap();
    assert_eq!(
        answer,
        Response::Committed {
            ids: vec![id("app:0.9.0")]
        }
    );
    rt.shutdown();
}

#[test]
fn enable_and_disable_persist_across_a_restart() {
    let (world, rt) = world_with_app();
    let disable = |enabled| Request::Enable {
        repository: None,
        name: "app".into(),
        enabled,
    };
    assert_eq!(rt.request(disable(Some(false))).unwrap(), Response::Ok);
    rt.shutdown();
    let rt = world.start();
    assert!(running(&rt).is_empty());
    assert_eq!(rt.request(disable(Some(true))).unwrap(), Response::Ok);
    rt.shutdown();
    let rt = world.start();
    assert_eq!(running(&rt), [id("app:1.0.0")].into());
    assert!(matches!(
        rt.request(Request::Enable {
            repository: None,
            name: "nope".into(),
            enabled: None
        }),
        Err(RequestError::NotInstalled(_))
    ));
    rt.shutdown();
}

#[test]
fn a_transaction_of_two_packages_rolls_back_both() {
    let world = World::new();
    world.package(&manifest("app", "1.0.0", &["sleep-forever"], ""));
    world.package(&manifest("db", "1.0.0", &["sleep-forever"], "").replace("/run/ns", "/run/db"));
    seed(&world, "app");
    seed(&world, "db");
    let rt = world.start();
    let good = incoming(
        &world,
        &manifest(
            "app",
            "1.1.0",
            &["write:/data/migrated,yes", "sleep-forever"],
            "",
        ),
    );
    let bad = incoming(
        &world,
        &manifest("db", "2.0.0", &["write:/data/migrated,yes", "exit:2"], ""),
    );
    let reason = rolled_back(update(&rt, vec![good, bad], options(Health::Running)));
    assert!(reason.contains("db:2.0.0"), "{reason}");
    assert_eq!(running(&rt), [id("app:1.0.0"), id("db:1.0.0")].into());
    assert_eq!(active(&rt), [id("app:1.0.0"), id("db:1.0.0")].into());
    assert_seeded(&world, "app");
    assert_seeded(&world, "db");
    rt.shutdown();
}

#[test]
fn only_one_transaction_at_a_time() {
    let (world, rt) = world_with_app();
    let file = incoming(&world, &manifest("app", "1.1.0", &["sleep-forever"], ""));
    let requester = rt.handle.requester();
    let (tx, rx) = std::sync::mpsc::channel();
    requester.request_then(
        Request::Update {
            repository: "test".into(),
            paths: vec![file],
            upload: false,
            options: options(Health::Running),
        },
        move |answer| {
            let _ = tx.send(answer);
        },
    );
    let second = incoming(&world, &manifest("app", "1.2.0", &["sleep-forever"], ""));
    assert_eq!(
        update(&rt, vec![second], options(Health::Running)),
        Err(RequestError::UpdateInProgress)
    );
    // Once it runs, no version of the name starts or goes but by the transaction.
    rt.wait_for(|n| matches!(n, Notification::UpdateStarted { .. }).then_some(()));
    assert_eq!(
        rt.start(&id("app:1.0.0")),
        Err(RequestError::UpdateInProgress)
    );
    let uninstall = Request::Uninstall {
        id: id("app:1.0.0"),
        wipe: false,
        repositories: None,
    };
    assert_eq!(rt.request(uninstall), Err(RequestError::UpdateInProgress));
    assert!(rx.recv_timeout(support::PATIENCE).unwrap().is_ok());
    assert_eq!(running(&rt), [id("app:1.1.0")].into());
    rt.shutdown();
}

/// The points of a transaction at which [`cut_child`] ends the runtime with `abort()`,
/// and whether the new version is the one active afterwards.
const CUTS: [(&str, bool); 8] = [
    ("installed", false),
    ("stopping", false),
    ("snapshot", false),
    ("starting", false),
    ("checking", false),
    ("rolling_back", false),
    ("restored", false),
    ("committed", true),
];

/// Run by [`a_runtime_killed_at_any_step_leaves_one_version_active`] in a child process:
/// start the runtime of the configuration in `NS_CUT_CONFIG` and update to the package in
/// `NS_CUT_PACKAGE`; `NORTHSTAR_TEST_UPDATE_CUT` ends the process at its step.
#[test]
#[ignore = "run as a child process by a_runtime_killed_at_any_step_leaves_one_version_active"]
fn cut_child() {
    let Ok(config) = std::env::var("NS_CUT_CONFIG") else {
        return;
    };
    let package = std::env::var("NS_CUT_PACKAGE").unwrap();
    let config = runtime_core::config::Config::load(Path::new(&config)).unwrap();
    let (handle, events) = runtime_core::runtime::Runtime::start_subscribed(config).unwrap();
    let rt = Running { handle, events };
    let _ = running(&rt);
    // The rollback's steps need a version that fails its check while it runs: one that
    // never says READY=1.
    let mut o = if std::env::var("NS_CUT_NEVER_READY").is_ok() {
        let mut o = options(Health::Ready);
        o.deadline = Some(Duration::from_secs(1));
        o
    } else {
        options(Health::Running)
    };
    o.deadline = o.deadline.max(Some(Duration::from_secs(1)));
    let _ = update(&rt, vec![PathBuf::from(package)], o);
    // Every cut point aborts before the answer, except when the test asked for none.
    std::process::exit(3);
}

/// Kill what a killed runtime left: the processes of its cgroups and its mounts below
/// `dir` (a power cut ends both).
fn clean_up(cgroup: &str, dir: &Path) {
    let mut groups = Vec::new();
    if let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") {
        for c in controllers.flatten() {
            let g = c.path().join(cgroup);
            if g.is_dir() {
                groups.push(g);
            }
        }
    }
    let root = Path::new("/sys/fs/cgroup").join(cgroup);
    if root.is_dir() && !groups.contains(&root) {
        groups.push(root);
    }
    for _ in 0..100 {
        let mut alive = 0;
        let mut stack = groups.clone();
        while let Some(g) = stack.pop() {
            if let Ok(procs) = std::fs::read_to_string(g.join("cgroup.procs")) {
                for pid in procs.lines().filter_map(|l| l.parse::<i32>().ok()) {
                    alive += 1;
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            if let Ok(children) = std::fs::read_dir(&g) {
                stack.extend(children.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
            }
        }
        if alive == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut points: Vec<&str> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| Path::new(p).starts_with(dir))
        .collect();
    points.reverse();
    for p in points {
        let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn a_runtime_killed_at_any_step_leaves_one_version_active() {
    for (cut, committed) in CUTS {
        let world = World::new();
        world.package(&manifest("app", "1.0.0", &["sleep-forever"], ""));
        seed(&world, "app");
        // The rollback's steps are reached by a version that fails its check.
        let failing = matches!(cut, "rolling_back" | "restored");
        let args = ["write:/data/migrated,yes", "sleep-forever"];
        let file = incoming(&world, &manifest("app", "1.1.0", &args, ""));
        let config = world.dir.path().join("config.toml");
        std::fs::write(&config, toml::to_string(&world.config()).unwrap()).unwrap();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "cut_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("NS_CUT_CONFIG", &config)
            .env("NS_CUT_PACKAGE", &file)
            .env("NORTHSTAR_TEST_UPDATE_CUT", cut)
            .envs(failing.then_some(("NS_CUT_NEVER_READY", "1")))
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(libc::SIGABRT),
            "cut {cut}: {status:?}"
        );
        clean_up(&world.cgroup, world.dir.path());

        let rt = world.start();
        let expected = if committed { "app:1.1.0" } else { "app:1.0.0" };
        assert_eq!(running(&rt), [id(expected)].into(), "cut {cut}");
        assert_eq!(active(&rt), [id(expected)].into(), "cut {cut}");
        if committed {
            assert!(data(&world, "app").join("migrated").exists(), "cut {cut}");
        } else {
            assert_seeded(&world, "app");
        }
        rt.shutdown();
    }
}

#[test]
fn a_critical_container_rolls_back_without_the_critical_reaction() {
    let world = World::new();
    world.package(
        &manifest("app", "1.0.0", &["sleep-forever"], "")
            .replace("autostart: relaxed", "autostart: critical"),
    );
    let rt = world.start();
    let text = manifest("app", "1.1.0", &["exit:1"], "")
        .replace("autostart: relaxed", "autostart: critical");
    let file = incoming(&world, &text);
    rolled_back(update(&rt, vec![file], options(Health::Running)));
    assert_eq!(running(&rt), [id("app:1.0.0")].into());
    // The notifications of the whole transaction: a failure but no critical one.
    let mut seen = Vec::new();
    while let Ok(n) = rt.events.try_recv() {
        seen.push(n);
    }
    assert!(
        seen.iter()
            .any(|n| matches!(n, Notification::RolledBack { .. })),
        "{seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|n| matches!(n, Notification::Critical { .. })),
        "{seen:?}"
    );
    rt.shutdown();
}

/// A resource container `lib` at `version`.
fn resource(world: &World, version: &str) -> PathBuf {
    let text = format!("name: lib\nversion: {version}\nuid: 1000\ngid: 1000\n");
    let manifest = npk::manifest::Manifest::from_yaml_str(&text).unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("version"), version).unwrap();
    let out = world.dir.path().join("incoming");
    std::fs::create_dir_all(&out).unwrap();
    npk::pack::pack_manifest(
        &manifest,
        root.path(),
        &out,
        &npk::pack::Options::default(),
        &mut |_| (),
    )
    .unwrap()
}

#[test]
fn a_container_and_the_resource_it_needs_update_together() {
    let world = World::new();
    let lib1 = resource(&world, "1.0.0");
    std::fs::rename(&lib1, world.repo.join(lib1.file_name().unwrap())).unwrap();
    let uses = |req: &str| {
        format!("  /res:\n    type: resource\n    name: lib\n    version: \"{req}\"\n    dir: /\n")
    };
    let app1 = manifest("app", "1.0.0", &["sleep-forever"], "")
        .replace("mounts:\n", &format!("mounts:\n{}", uses("^1")));
    world.package(&app1);
    let rt = world.start();
    // The resource an active container needs cannot go.
    assert_eq!(
        rt.request(Request::Uninstall {
            id: id("lib:1.0.0"),
            wipe: false,
            repositories: None
        }),
        Err(RequestError::InUse(id("lib:1.0.0")))
    );
    let app2 = manifest("app", "2.0.0", &["read:/res/version", "sleep-forever"], "")
        .replace("mounts:\n", &format!("mounts:\n{}", uses("^2")));
    let answer = update(
        &rt,
        vec![resource(&world, "2.0.0"), incoming(&world, &app2)],
        options(Health::Running),
    )
    .unwrap();
    assert_eq!(
        answer,
        Response::Committed {
            ids: vec![id("lib:2.0.0"), id("app:2.0.0")]
        }
    );
    assert_eq!(running(&rt), [id("app:2.0.0")].into());
    // Now only the previous version of app needs lib 1.0.0: it may go, with app 1.0.0 first.
    rt.shutdown();
}

#[test]
fn a_commit_keeps_the_configured_number_of_old_versions() {
    let (world, rt) = world_with_app();
    for v in ["1.1.0", "1.2.0", "1.3.0"] {
        let file = incoming(&world, &manifest("app", v, &["sleep-forever"], ""));
        update(&rt, vec![file], options(Health::Running)).unwrap();
    }
    let installed: BTreeSet<ContainerId> = match rt.request(Request::List).unwrap() {
        Response::Containers(list) => list.into_iter().map(|c| c.id).collect(),
        other => panic!("{other:?}"),
    };
    // update.keep = 1: the active version and the previous one.
    assert_eq!(installed, [id("app:1.2.0"), id("app:1.3.0")].into());
    rt.shutdown();
}

#[test]
fn a_persist_mount_that_asks_for_a_snapshot_gets_one() {
    let args = ["write:/data/migrated,yes", "exit:1"];
    let mut o = options(Health::Running);
    // Neither the request nor the configuration (`[update] snapshot = false`) asks.
    o.snapshot = None;

    let (world, rt) = world_with_app();
    let text = manifest("app", "1.1.0", &args, "").replace(
        "    type: persist\n",
        "    type: persist\n    snapshot: true\n",
    );
    let file = incoming(&world, &text);
    rolled_back(update(&rt, vec![file], o.clone()));
    assert_back_to_1(&world, &rt);
    rt.shutdown();

    // Without it, what the new version wrote stays.
    let (world, rt) = world_with_app();
    rolled_back(update_app(&world, &rt, &args, "", o));
    assert!(data(&world, "app").join("migrated").exists());
    rt.shutdown();
}
