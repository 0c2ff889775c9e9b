use super::*;

/// A `lib/modules/<release>` tree like Debian's (the dm-verity and ext4 chains of the
/// arm64 kernel), with empty `.ko` files.
fn tree() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("lib/modules/6.1.0-test");
    let dep = "\
kernel/drivers/md/dm-verity.ko: kernel/drivers/md/dm-bufio.ko kernel/drivers/md/dm-mod.ko kernel/drivers/dax/dax.ko kernel/lib/reed_solomon/reed_solomon.ko
kernel/drivers/md/dm-mod.ko: kernel/drivers/dax/dax.ko
kernel/drivers/md/dm-bufio.ko:
kernel/drivers/dax/dax.ko:
kernel/lib/reed_solomon/reed_solomon.ko:
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/drivers/block/loop.ko:
kernel/fs/squashfs/squashfs.ko.xz:
";
    let builtin = "kernel/drivers/virtio/virtio.ko\nkernel/drivers/block/virtio_blk.ko\n";
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("modules.dep"), dep).unwrap();
    fs::write(dir.join("modules.builtin"), builtin).unwrap();
    for line in dep.lines() {
        let (ko, _) = line.split_once(':').unwrap();
        let path = dir.join(ko);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"").unwrap();
    }
    (root, dir)
}

fn names(modules: &[Module]) -> Vec<&str> {
    modules.iter().map(|m| m.name.as_str()).collect()
}

#[test]
fn dependencies_come_first_each_once() {
    let (_root, dir) = tree();
    let index = Index::load(&dir).unwrap();
    let (order, builtin) = index
        .resolve(&["loop", "squashfs", "dm-verity", "ext4", "dm_mod"])
        .unwrap();
    assert_eq!(
        names(&order),
        [
            "loop",
            "squashfs",
            "reed_solomon",
            "dax",
            "dm_mod",
            "dm_bufio",
            "dm_verity",
            "jbd2",
            "mbcache",
            "crc16",
            "ext4"
        ]
    );
    assert!(builtin.is_empty());
    assert_eq!(order[6].path, dir.join("kernel/drivers/md/dm-verity.ko"));
    assert_eq!(order[1].path, dir.join("kernel/fs/squashfs/squashfs.ko.xz"));
    // Every module comes after everything it depends on.
    for (i, m) in order.iter().enumerate() {
        let (_, deps) = &index.entries[&m.name];
        for d in deps {
            let at = order.iter().position(|o| &o.name == d).unwrap();
            assert!(at < i, "{d} before {}", m.name);
        }
    }
}

#[test]
fn dashes_and_underscores_are_the_same() {
    let (_root, dir) = tree();
    let index = Index::load(&dir).unwrap();
    let (a, _) = index.resolve(&["dm_verity"]).unwrap();
    let (b, _) = index.resolve(&["dm-verity"]).unwrap();
    assert_eq!(a, b);
    let (_, builtin) = index.resolve(&["virtio-blk", "virtio_blk"]).unwrap();
    assert_eq!(builtin, ["virtio_blk"]);
}

#[test]
fn builtins_are_skipped_and_missing_modules_named() {
    let (_root, dir) = tree();
    let index = Index::load(&dir).unwrap();
    let (order, builtin) = index.resolve(&["virtio_blk", "loop"]).unwrap();
    assert_eq!(names(&order), ["loop"]);
    assert_eq!(builtin, ["virtio_blk"]);
    let e = index.resolve(&["loop", "i6300esb"]).unwrap_err();
    assert!(
        matches!(&e, Error::Missing { name, .. } if name == "i6300esb"),
        "{e}"
    );
    assert!(e.to_string().starts_with("module i6300esb: neither"), "{e}");
}

#[test]
fn broken_indexes_are_errors() {
    let dir = Path::new("/lib/modules/x");
    let e = Index::parse(dir, "a.ko: b.ko\nnot a module line\n", "").unwrap_err();
    assert_eq!(e.to_string(), "/lib/modules/x/modules.dep: line 2: no ':'");
    let e = Index::parse(dir, "a.ko:\nsub/a.ko:\n", "").unwrap_err();
    assert!(e.to_string().contains("line 2: module listed twice"), "{e}");
    // A dependency missing from the index names that dependency.
    let index = Index::parse(dir, "a.ko: b.ko\n", "").unwrap();
    let e = index.resolve(&["a"]).unwrap_err();
    assert!(
        matches!(&e, Error::Missing { name, .. } if name == "b"),
        "{e}"
    );
    // Cycles are reported, not followed forever.
    let index = Index::parse(dir, "a.ko: b.ko\nb.ko: a.ko\n", "").unwrap();
    let e = index.resolve(&["a"]).unwrap_err();
    assert_eq!(e.to_string(), "module a: depends on itself (a -> b -> a)");
}

#[test]
fn missing_builtin_list_is_empty_and_directory_uses_the_release() {
    let (root, dir) = tree();
    fs::remove_file(dir.join("modules.builtin")).unwrap();
    let index = Index::load(&dir).unwrap();
    assert!(index.resolve(&["virtio_blk"]).is_err());
    let osrelease = root.path().join("osrelease");
    fs::write(&osrelease, "6.1.0-test\n").unwrap();
    assert_eq!(
        directory(&root.path().join("lib/modules"), &osrelease).unwrap(),
        dir
    );
    // Nothing requested: the index is not even read.
    assert_eq!(
        load_all::<&str>(Path::new("/nonexistent"), &[]).unwrap(),
        Loaded::default()
    );
    let e = load_all(Path::new("/nonexistent"), &["loop"]).unwrap_err();
    assert!(matches!(e, Error::Read { .. }), "{e}");
}

#[test]
fn canonical_names() {
    assert_eq!(canonical("kernel/drivers/md/dm-mod.ko"), "dm_mod");
    assert_eq!(canonical("squashfs.ko.zst"), "squashfs");
    assert_eq!(canonical("sdhci-iproc"), "sdhci_iproc");
}

/// The plan of the whole test tree: roots and chains of several lengths.
fn tree_plan() -> (tempfile::TempDir, Plan) {
    let (root, dir) = tree();
    let plan = Index::load(&dir)
        .unwrap()
        .plan(&["loop", "squashfs", "dm-verity", "ext4", "virtio_blk"])
        .unwrap();
    (root, plan)
}

fn index_of(plan: &Plan, name: &str) -> usize {
    plan.modules.iter().position(|m| m.name == name).unwrap()
}

#[test]
fn plans_list_the_direct_dependencies_without_builtins() {
    let (_root, dir) = tree();
    let index = Index::load(&dir).unwrap();
    let names_asked = ["loop", "squashfs", "dm-verity", "ext4", "virtio_blk"];
    let plan = index.plan(&names_asked).unwrap();
    assert_eq!(plan.builtin, ["virtio_blk"]);
    let (modules, _) = index.resolve(&names_asked).unwrap();
    assert_eq!(plan.modules, modules, "resolve and plan agree");
    let deps = |name| {
        let mut d: Vec<&str> = plan.dependencies[index_of(&plan, name)]
            .iter()
            .map(|&i| plan.modules[i].name.as_str())
            .collect();
        d.sort_unstable();
        d
    };
    assert_eq!(
        deps("dm_verity"),
        ["dax", "dm_bufio", "dm_mod", "reed_solomon"]
    );
    assert_eq!(deps("dm_mod"), ["dax"]);
    assert_eq!(deps("ext4"), ["crc16", "jbd2", "mbcache"]);
    assert!(deps("loop").is_empty());
    for (m, deps) in plan.dependencies.iter().enumerate() {
        assert!(deps.iter().all(|&d| d < m), "dependencies come earlier");
    }
    // A built-in dependency needs nothing: no edge.
    let index = Index::parse(Path::new("/m"), "a.ko: b.ko c.ko\nc.ko:\n", "b.ko\n").unwrap();
    let plan = index.plan(&["a"]).unwrap();
    assert_eq!(names(&plan.modules), ["c", "a"]);
    assert_eq!(plan.dependencies, [vec![], vec![0]]);
}

/// Drive a schedule to its end, finishing the running modules in an order chosen by
/// `pick` (an index into the running ones), and check at every start that the module's
/// dependencies have finished. Returns the start order.
fn drive(deps: &[Vec<usize>], mut pick: impl FnMut(usize) -> usize) -> Vec<usize> {
    let mut schedule = schedule::Schedule::new(deps);
    let mut finished = vec![false; deps.len()];
    let mut running = Vec::new();
    let mut started = Vec::new();
    while !schedule.is_over() {
        while let Some(m) = schedule.start() {
            for &d in &deps[m] {
                assert!(
                    finished[d],
                    "{m} started before its dependency {d} finished"
                );
            }
            running.push(m);
            started.push(m);
        }
        assert!(!running.is_empty(), "not over, yet nothing runs");
        let m = running.remove(pick(running.len()));
        finished[m] = true;
        schedule.finish(m, true);
    }
    assert!(schedule.not_started().is_empty());
    assert!(finished.iter().all(|&f| f), "every module finished");
    started
}

#[test]
fn dependencies_finish_before_a_module_starts_in_any_completion_order() {
    let (_root, plan) = tree_plan();
    // First started finishes first, last started first, and pseudo-random orders.
    drive(&plan.dependencies, |_| 0);
    drive(&plan.dependencies, |n| n - 1);
    for seed in 1..50u64 {
        let mut x = seed;
        drive(&plan.dependencies, |n| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as usize % n
        });
    }
}

#[test]
fn independent_modules_are_handed_out_together() {
    let (_root, plan) = tree_plan();
    let mut schedule = schedule::Schedule::new(&plan.dependencies);
    let mut first = Vec::new();
    while let Some(m) = schedule.start() {
        first.push(plan.modules[m].name.as_str());
    }
    // Every module without dependencies at once, in plan order; nothing that needs one.
    assert_eq!(
        first,
        [
            "loop",
            "squashfs",
            "reed_solomon",
            "dax",
            "dm_bufio",
            "jbd2",
            "mbcache",
            "crc16"
        ]
    );
    assert!(!schedule.is_over());
}

#[test]
fn diamonds_wait_for_both_sides() {
    // 0 <- 1, 0 <- 2, (1, 2) <- 3
    let deps = [vec![], vec![0], vec![0], vec![1, 2]];
    let mut s = schedule::Schedule::new(&deps);
    assert_eq!(s.start(), Some(0));
    assert_eq!(s.start(), None);
    s.finish(0, true);
    assert_eq!((s.start(), s.start(), s.start()), (Some(1), Some(2), None));
    s.finish(2, true);
    assert_eq!(s.start(), None, "3 still waits for 1");
    s.finish(1, true);
    assert_eq!(s.start(), Some(3));
    assert!(!s.is_over());
    s.finish(3, true);
    assert!(s.is_over());
    assert_eq!(drive(&deps, |n| n - 1), [0, 1, 2, 3]);
}

#[test]
fn a_failure_stops_new_starts_and_lets_running_ones_finish() {
    // 0 and 1 independent, 2 needs 0, 3 independent but not handed out yet.
    let deps = [vec![], vec![], vec![0], vec![]];
    let mut s = schedule::Schedule::new(&deps);
    assert_eq!((s.start(), s.start()), (Some(0), Some(1)));
    s.finish(1, false);
    assert_eq!(
        s.start(),
        None,
        "3 was ready, but nothing starts after a failure"
    );
    assert!(!s.is_over(), "0 still runs");
    s.finish(0, true);
    assert_eq!(
        s.start(),
        None,
        "2's dependency finished, still nothing starts"
    );
    assert!(s.is_over());
    assert_eq!(s.not_started(), [2, 3]);
    // Finishing what does not run changes nothing.
    s.finish(0, true);
    s.finish(3, true);
    assert_eq!(s.not_started(), [2, 3]);
}

#[test]
fn cycles_and_unknown_dependencies_end_instead_of_waiting() {
    // 0 <-> 1 a cycle, 2 on itself, 3 on a module not in the list, 4 free, 5 needs 4.
    let deps = [vec![1], vec![0], vec![2], vec![9], vec![], vec![4, 4]];
    let mut s = schedule::Schedule::new(&deps);
    assert_eq!((s.start(), s.start()), (Some(4), None));
    s.finish(4, true);
    assert_eq!((s.start(), s.start()), (Some(5), None));
    s.finish(5, true);
    assert!(s.is_over());
    assert_eq!(s.not_started(), [0, 1, 2, 3]);
    // The threads end too, and the modules left are named.
    let modules: Vec<Module> = (0..deps.len())
        .map(|i| Module {
            name: format!("m{i}"),
            path: PathBuf::from(format!("/m{i}.ko")),
        })
        .collect();
    let plan = Plan {
        modules,
        dependencies: deps.to_vec(),
        builtin: vec![],
    };
    let e = load_plan(plan, 3, |_| Ok(Outcome::Loaded)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "modules m0 m1 m2 m3: never loaded, their dependencies never finished"
    );
}

/// A start or a finish of a module's load, in the order they happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    Start(usize),
    Finish(usize),
}

/// Two loads that wait for each other: both return true once both have arrived, false if
/// the other did not arrive within 30 s (the loads were not concurrent).
struct Meeting {
    arrived: std::sync::Mutex<usize>,
    changed: std::sync::Condvar,
}

impl Meeting {
    fn new() -> Meeting {
        Meeting {
            arrived: std::sync::Mutex::new(0),
            changed: std::sync::Condvar::new(),
        }
    }

    fn meet(&self) -> bool {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.changed.notify_all();
        let (arrived, timeout) = self
            .changed
            .wait_timeout_while(arrived, std::time::Duration::from_secs(30), |a| *a < 2)
            .unwrap();
        drop(arrived);
        !timeout.timed_out()
    }
}

/// Load `plan` on `threads` threads with a loader that records every start and finish,
/// has `loop` and `squashfs` (independent) meet, and fails the modules in `failing`.
fn load_recorded(
    plan: &Plan,
    threads: usize,
    failing: &[&str],
) -> (Result<Loaded, Error>, Vec<Event>, bool) {
    let events = std::sync::Mutex::new(Vec::new());
    let meeting = Meeting::new();
    let met = std::sync::Mutex::new(Vec::new());
    let result = load_plan(plan.clone(), threads, |module| {
        let i = index_of(plan, &module.name);
        events.lock().unwrap().push(Event::Start(i));
        if module.name == "loop" || module.name == "squashfs" {
            let together = meeting.meet();
            met.lock().unwrap().push(together);
        }
        let result = if failing.contains(&module.name.as_str()) {
            Err(Error::Load {
                name: module.name.clone(),
                path: module.path.clone(),
                source: Errno::ENOEXEC,
            })
        } else if module.name == "dax" {
            Ok(Outcome::Present)
        } else {
            Ok(Outcome::Loaded)
        };
        events.lock().unwrap().push(Event::Finish(i));
        result
    });
    let met = met.into_inner().unwrap();
    (result, events.into_inner().unwrap(), met == [true, true])
}

/// Every start comes after the finish of each of the module's dependencies, and every
/// load that started finished.
fn check_order(plan: &Plan, events: &[Event]) {
    let at = |e| events.iter().position(|&x| x == e);
    for (m, deps) in plan.dependencies.iter().enumerate() {
        let Some(start) = at(Event::Start(m)) else {
            continue;
        };
        assert!(at(Event::Finish(m)).is_some(), "{m} started and finished");
        for &d in deps {
            let finish = at(Event::Finish(d)).expect("a dependency finished");
            assert!(finish < start, "{} started before {}", m, d);
        }
    }
}

#[test]
fn threads_load_in_dependency_order_and_overlap_independent_modules() {
    let (_root, plan) = tree_plan();
    let mut results = Vec::new();
    for _ in 0..20 {
        let (result, events, met) = load_recorded(&plan, 4, &[]);
        check_order(&plan, &events);
        assert!(met, "loop and squashfs were loading at the same time");
        assert_eq!(events.len(), 2 * plan.modules.len());
        results.push(result.unwrap());
    }
    // The same result whatever order the loads finished in: plan order.
    let mut loaded = names(&plan.modules);
    loaded.retain(|&n| n != "dax");
    for result in &results {
        assert_eq!(result.loaded, loaded);
        assert_eq!(result.present, ["dax"]);
        assert_eq!(result.builtin, ["virtio_blk"]);
    }
}

#[test]
fn after_a_failure_on_threads_nothing_starts_and_the_failure_is_named() {
    let (_root, plan) = tree_plan();
    for _ in 0..20 {
        let (result, events, _) = load_recorded(&plan, 4, &["dm_mod"]);
        check_order(&plan, &events);
        let e = result.unwrap_err();
        assert!(
            e.to_string().starts_with("module dm_mod: finit_module "),
            "{e}"
        );
        let verity = index_of(&plan, "dm_verity");
        assert!(
            !events.contains(&Event::Start(verity)),
            "dm_verity needs dm_mod"
        );
    }
    // One thread: nothing starts after the failing load.
    let (result, started) = load_alone(&plan, Some("dm_mod"));
    assert!(result
        .unwrap_err()
        .to_string()
        .starts_with("module dm_mod: "));
    let dm_mod = index_of(&plan, "dm_mod");
    assert_eq!(started, (0..=dm_mod).collect::<Vec<_>>());
    // Without a failure one thread loads all, in plan order.
    let (result, started) = load_alone(&plan, None);
    assert_eq!(result.unwrap().loaded, names(&plan.modules));
    assert_eq!(started, (0..plan.modules.len()).collect::<Vec<_>>());
}

/// Load `plan` on one thread, failing `failing`; the result and the modules started.
fn load_alone(plan: &Plan, failing: Option<&str>) -> (Result<Loaded, Error>, Vec<usize>) {
    let started = std::sync::Mutex::new(Vec::new());
    let result = load_plan(plan.clone(), 1, |m| {
        started.lock().unwrap().push(index_of(plan, &m.name));
        if failing == Some(m.name.as_str()) {
            return Err(Error::Load {
                name: m.name.clone(),
                path: m.path.clone(),
                source: Errno::ENOEXEC,
            });
        }
        Ok(Outcome::Loaded)
    });
    (result, started.into_inner().unwrap())
}

#[test]
fn thread_count_is_bounded() {
    let cpus = |n| NonZeroUsize::new(n);
    assert_eq!(threads(cpus(1), 19), 2);
    assert_eq!(threads(None, 19), 2);
    assert_eq!(threads(cpus(3), 19), 3);
    assert_eq!(threads(cpus(64), 19), MAX_THREADS);
    assert_eq!(threads(cpus(64), 3), 3);
    assert_eq!(threads(cpus(1), 1), 1);
    assert_eq!(threads(cpus(8), 0), 1);
}
