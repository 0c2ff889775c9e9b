//! Control groups on the real kernel, as root. The host is cgroup v1 "hybrid": the v1 path
//! is tested in full below /sys/fs/cgroup (a unique runtime group per test); the v2 path in
//! a thread with a private mount namespace and a cgroup2 mounted on a temporary directory,
//! where the kernel offers no controller, so v2 limits are proven under QEMU instead.

use nix::{
    mount::{mount, umount2, MntFlags, MsFlags},
    sched::{unshare, CloneFlags},
    sys::signal::Signal,
    unistd::Pid,
};
use npk::manifest::{BlkIo, BlkIoThrottle, CGroups, Cpu, Memory, Pids};
use runtime_core::cgroups::{
    Controller, Defaults, Error, Hierarchy, RuntimeGroup, RuntimeLimits, Version,
};
use std::{
    io::{BufRead, BufReader, Write},
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
};

const ROOT: &str = "/sys/fs/cgroup";
const MIB: i64 = 1024 * 1024;

/// A runtime group name no other test (or test binary) uses.
fn unique_name() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "ns-cgroups-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn v1_runtime() -> (Runtime, String) {
    let hierarchy = Hierarchy::detect(Path::new(ROOT)).unwrap();
    assert_eq!(hierarchy.version(), Version::V1);
    let name = unique_name();
    (Runtime::create(hierarchy, &name), name)
}

/// A runtime group that, should its test fail, kills what is left in it and removes its
/// directories, so a failed test leaves nothing on the host.
struct Runtime(RuntimeGroup);

impl Runtime {
    fn create(hierarchy: Hierarchy, name: &str) -> Runtime {
        Runtime(RuntimeGroup::create(hierarchy, name).unwrap())
    }

    /// Destroy the group and check that no directory of it is left.
    fn finish(self) {
        self.0.destroy().unwrap();
        for dir in self.0.paths() {
            assert!(!dir.exists(), "{} left behind", dir.display());
        }
    }
}

impl std::ops::Deref for Runtime {
    type Target = RuntimeGroup;
    fn deref(&self) -> &RuntimeGroup {
        &self.0
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for dir in self.0.paths() {
            scrub(&dir);
        }
    }
}

/// Kill every process below `dir` and remove its groups (the failure path of a test).
fn scrub(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            scrub(&entry.path());
        }
    }
    for line in std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
    {
        if let Ok(pid) = line.trim().parse() {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    for _ in 0..200 {
        match std::fs::remove_dir(dir) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            _ => break,
        }
    }
}

/// A child process that is killed and reaped when the test ends, failed or not.
struct Proc(Child);

impl Proc {
    fn sleep() -> Proc {
        Proc(Command::new("sleep").arg("600").spawn().unwrap())
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }

    /// Wait for the end of the process; the signal that ended it.
    fn wait_signal(&mut self) -> Option<i32> {
        self.0.wait().unwrap().signal()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `/sys/fs/cgroup/<controller>/<runtime group>/<leaf>`.
fn v1_dir(controller: &str, runtime: &str, leaf: &str) -> PathBuf {
    Path::new(ROOT).join(controller).join(runtime).join(leaf)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

/// A process that waits for a line on stdin before it runs `script` (perl, which every
/// Debian system has): the test places it in its group first, like the runtime does.
struct Held {
    proc: Proc,
    out: BufReader<std::process::ChildStdout>,
}

impl Held {
    fn perl(script: &str) -> Held {
        let mut child = Command::new("perl")
            .args(["-e", &format!("$| = 1; <STDIN>; {script}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Held {
            proc: Proc(child),
            out,
        }
    }

    fn go(&mut self) {
        let stdin = self.proc.0.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        line.trim().to_string()
    }
}

fn count_dirs(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| 1 + count_dirs(&e.path()))
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn v1_hybrid_host_is_detected_as_v1() {
    let hierarchy = Hierarchy::detect(Path::new(ROOT)).unwrap();
    assert_eq!(hierarchy.version(), Version::V1);
    let controllers = hierarchy.controllers();
    for c in [
        Controller::Memory,
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Cpuset,
        Controller::Pids,
        Controller::Blkio,
    ] {
        assert!(controllers.contains(&c), "{c} missing from {controllers:?}");
    }
}

#[test]
fn v1_limits_are_written_and_read_back() {
    let (runtime, name) = v1_runtime();
    let mut cpu = Cpu {
        shares: Some(512),
        quota: Some(50_000),
        period: Some(100_000),
        cpus: Some("0".into()),
        mems: Some("0".into()),
        ..Cpu::default()
    };
    cpu.attrs.insert("cpu.cfs_burst_us".into(), "1000".into());
    let limits = CGroups {
        memory: Some(Memory {
            memory_hard_limit: Some(64 * MIB),
            memory_swap_limit: Some(96 * MIB),
            memory_soft_limit: Some(32 * MIB),
            swappiness: Some(10),
            ..Memory::default()
        }),
        cpu: Some(cpu),
        blkio: Some(BlkIo {
            // /dev/loop0 (7:0) exists on the test host.
            throttle_read_bps_device: vec![BlkIoThrottle {
                major: 7,
                minor: 0,
                rate: 1_048_576,
            }],
            ..BlkIo::default()
        }),
        pids: Some(Pids { max: 7 }),
        ..CGroups::default()
    };
    let group = runtime.container("app:1.0.0", Some(&limits)).unwrap();
    let leaf = "app@1.0.0";
    let expect = [
        ("memory", "memory.limit_in_bytes", "67108864"),
        ("memory", "memory.memsw.limit_in_bytes", "100663296"),
        ("memory", "memory.soft_limit_in_bytes", "33554432"),
        ("memory", "memory.swappiness", "10"),
        ("cpu", "cpu.shares", "512"),
        ("cpu", "cpu.cfs_quota_us", "50000"),
        ("cpu", "cpu.cfs_period_us", "100000"),
        ("cpu", "cpu.cfs_burst_us", "1000"),
        ("cpuset", "cpuset.cpus", "0"),
        ("cpuset", "cpuset.mems", "0"),
        ("pids", "pids.max", "7"),
        ("blkio", "blkio.throttle.read_bps_device", "7:0 1048576"),
    ];
    for (controller, file, value) in expect {
        let path = v1_dir(controller, &name, leaf).join(file);
        assert_eq!(read(&path), value, "{}", path.display());
    }
    let stats = group.stats().unwrap();
    assert_eq!(stats.memory_limit, Some(64 * 1024 * 1024));
    assert_eq!(stats.pids_current, Some(0));
    assert_eq!(stats.oom_kills, 0);
    let dirs: Vec<PathBuf> = group.paths().iter().map(|p| p.to_path_buf()).collect();
    group.destroy().unwrap();
    for dir in &dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    runtime.finish();
}

#[test]
fn v1_joins_the_cpu_hierarchies_only_when_configured() {
    let (runtime, name) = v1_runtime();
    let group = runtime.container("plain:1.0.0", None).unwrap();
    for controller in ["memory", "pids", "cpuacct"] {
        assert!(
            v1_dir(controller, &name, "plain@1.0.0").is_dir(),
            "{controller}"
        );
    }
    for controller in ["cpu", "cpuset", "blkio"] {
        assert!(
            !v1_dir(controller, &name, "plain@1.0.0").exists(),
            "{controller}"
        );
    }
    group.destroy().unwrap();
    runtime.finish();
}

#[test]
fn v1_processes_are_listed_signalled_and_killed() {
    let (runtime, name) = v1_runtime();
    let group = runtime.container("procs:0.1.0", None).unwrap();
    assert!(group.is_empty().unwrap());
    let mut child = Proc::sleep();
    let pid = child.pid();
    group.add(pid).unwrap();
    assert_eq!(group.pids().unwrap(), vec![Pid::from_raw(pid)]);
    assert!(!group.is_empty().unwrap());
    let procs = read(&v1_dir("memory", &name, "procs@0.1.0").join("cgroup.procs"));
    assert_eq!(procs, pid.to_string());
    group.signal_all(Signal::SIGKILL).unwrap();
    assert_eq!(child.wait_signal(), Some(libc::SIGKILL));
    assert!(group.is_empty().unwrap());
    assert!(group.stats().unwrap().cpu_usage_ns.is_some());
    group.destroy().unwrap();
    runtime.finish();
    assert!(!Path::new(ROOT).join("memory").join(&name).exists());
}

#[test]
fn v1_memory_limit_ends_in_an_oom_kill() {
    let (runtime, _name) = v1_runtime();
    let limits = CGroups {
        memory: Some(Memory {
            memory_hard_limit: Some(32 * MIB),
            // No swap either: the limit is hit, not swapped around.
            memory_swap_limit: Some(32 * MIB),
            ..Memory::default()
        }),
        ..CGroups::default()
    };
    let group = runtime.container("hog:1.0.0", Some(&limits)).unwrap();
    let mut hog = Held::perl(r#"my $x = "a" x (256 * 1024 * 1024); print length($x), "\n";"#);
    group.add(hog.proc.pid()).unwrap();
    hog.go();
    assert_eq!(hog.line(), "", "the allocation succeeded");
    assert_eq!(hog.proc.wait_signal(), Some(libc::SIGKILL));
    let stats = group.stats().unwrap();
    assert!(stats.oom_kills >= 1, "{stats:?}");
    assert!(stats.oom_events >= 1, "{stats:?}");
    assert_eq!(stats.memory_limit, Some(32 * 1024 * 1024));
    assert!(
        stats.memory_peak.is_some_and(|p| p <= 32 * 1024 * 1024),
        "{stats:?}"
    );
    group.destroy().unwrap();
    runtime.finish();
}

#[test]
fn v1_pids_limit_bounds_forks() {
    let (runtime, _name) = v1_runtime();
    let limits = CGroups {
        pids: Some(Pids { max: 5 }),
        ..CGroups::default()
    };
    let group = runtime.container("forks:1.0.0", Some(&limits)).unwrap();
    // Each child waits for end of file on the shared stdin, so none outlives a failed test.
    let mut forker = Held::perl(
        "my $n = 0; for (1 .. 20) { my $p = fork; last unless defined $p; \
         if ($p == 0) { <STDIN>; exit 0 } $n++ } print \"$n\\n\"; <STDIN>;",
    );
    group.add(forker.proc.pid()).unwrap();
    forker.go();
    // perl itself is one of the five.
    assert_eq!(forker.line(), "4");
    assert_eq!(group.stats().unwrap().pids_current, Some(5));
    assert_eq!(group.pids().unwrap().len(), 5);
    group.signal_all(Signal::SIGKILL).unwrap();
    assert_eq!(forker.proc.wait_signal(), Some(libc::SIGKILL));
    // The forked children are not ours: the host's init reaps them, and destroy waits
    // (bounded) for the group to empty.
    group.destroy().unwrap();
    runtime.finish();
}

#[test]
fn v1_hundred_cycles_leak_nothing() {
    let (runtime, name) = v1_runtime();
    let mounts: Vec<PathBuf> = runtime.paths();
    let count = || mounts.iter().map(|m| count_dirs(m)).sum::<usize>();
    assert_eq!(count(), 0);
    let limits = CGroups {
        memory: Some(Memory {
            memory_hard_limit: Some(16 * MIB),
            ..Memory::default()
        }),
        cpu: Some(Cpu {
            cpus: Some("0".into()),
            ..Cpu::default()
        }),
        pids: Some(Pids { max: 10 }),
        parent: Some("apps".into()),
        ..CGroups::default()
    };
    for i in 0..100 {
        let group = runtime
            .container(&format!("cycle{i}:1.0.0"), Some(&limits))
            .unwrap();
        assert!(count() >= 4, "cycle {i}: {}", count());
        group.destroy().unwrap();
        assert_eq!(count(), 0, "cycle {i} left directories in {name}");
    }
    runtime.finish();
    for m in mounts {
        assert!(!m.exists(), "{} left behind", m.display());
    }
}

#[test]
fn v1_parent_groups_are_shared_and_removed_with_the_last_container() {
    let (runtime, name) = v1_runtime();
    let limits = CGroups {
        parent: Some("apps/web".into()),
        ..CGroups::default()
    };
    let a = runtime.container("a:1.0.0", Some(&limits)).unwrap();
    let b = runtime.container("b:1.0.0", Some(&limits)).unwrap();
    let apps = Path::new(ROOT).join("pids").join(&name).join("apps");
    assert!(apps.join("web/a@1.0.0").is_dir());
    assert!(apps.join("web/b@1.0.0").is_dir());
    a.destroy().unwrap();
    assert!(apps.join("web/b@1.0.0").is_dir());
    b.destroy().unwrap();
    assert!(!apps.exists());
    runtime.finish();
}

#[test]
fn v1_stale_group_of_a_crashed_run_is_cleaned_first() {
    let (runtime, name) = v1_runtime();
    // The crashed run had a cpuset setting; this one has none.
    let pinned = CGroups {
        cpu: Some(Cpu {
            cpus: Some("0".into()),
            ..Cpu::default()
        }),
        ..CGroups::default()
    };
    let stale = runtime.container("stale:1.0.0", Some(&pinned)).unwrap();
    assert!(v1_dir("cpuset", &name, "stale@1.0.0").is_dir());
    let mut child = Proc::sleep();
    stale.add(child.pid()).unwrap();
    // The runtime "crashes": the group and its process stay behind (the process is left
    // unreaped, a zombie once killed).
    drop(stale);
    let group = runtime.container("stale:1.0.0", None).unwrap();
    let status = child.0.try_wait().unwrap();
    assert_eq!(status.and_then(|s| s.signal()), Some(libc::SIGKILL));
    assert!(group.is_empty().unwrap());
    assert!(v1_dir("pids", &name, "stale@1.0.0").is_dir());
    assert!(!v1_dir("cpuset", &name, "stale@1.0.0").exists());
    group.destroy().unwrap();
    runtime.finish();
}

#[test]
fn v1_missing_controller_is_named() {
    // A root with only the memory controller mounted (a link to the host's).
    let root = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(Path::new(ROOT).join("memory"), root.path().join("memory")).unwrap();
    let hierarchy = Hierarchy::detect(root.path()).unwrap();
    assert_eq!(hierarchy.version(), Version::V1);
    assert_eq!(
        hierarchy.controllers().into_iter().collect::<Vec<_>>(),
        [Controller::Memory]
    );
    let name = unique_name();
    let runtime = Runtime::create(hierarchy, &name);
    let limits = CGroups {
        pids: Some(Pids { max: 5 }),
        ..CGroups::default()
    };
    let error = runtime.container("app:1.0.0", Some(&limits)).unwrap_err();
    assert!(
        matches!(&error, Error::ControllerMissing { controller: "pids", field, .. } if field == "cgroups.pids.max"),
        "{error:?}"
    );
    assert!(error.to_string().contains("`pids`"), "{error}");
    assert!(!v1_dir("memory", &name, "app@1.0.0").exists());
    runtime.finish();
    // With none of memory, pids or cpuacct, processes could not be tracked.
    let blkio_only = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        Path::new(ROOT).join("blkio"),
        blkio_only.path().join("blkio"),
    )
    .unwrap();
    let runtime = Runtime::create(Hierarchy::detect(blkio_only.path()).unwrap(), &name);
    assert!(matches!(
        runtime.container("app:1.0.0", None),
        Err(Error::ControllerMissing { .. })
    ));
    runtime.finish();
    // No controller at all is no hierarchy.
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        Hierarchy::detect(empty.path()),
        Err(Error::NoHierarchy { .. })
    ));
}

#[test]
fn v1_a_dropped_runtime_group_removes_itself_when_empty() {
    let hierarchy = Hierarchy::detect(Path::new(ROOT)).unwrap();
    let name = unique_name();
    let runtime = RuntimeGroup::create(hierarchy.clone(), &name).unwrap();
    let paths = runtime.paths();
    assert!(paths.iter().all(|p| p.is_dir()));
    drop(runtime);
    assert!(paths.iter().all(|p| !p.exists()));
    // Not while a container's group is in it.
    let runtime = Runtime::create(hierarchy.clone(), &name);
    let group = runtime.container("kept:1.0.0", None).unwrap();
    drop(RuntimeGroup::create(hierarchy, &name).unwrap());
    assert!(group.paths().iter().all(|p| p.is_dir()));
    group.destroy().unwrap();
    runtime.finish();
}

#[test]
fn bad_names_are_refused() {
    let hierarchy = Hierarchy::detect(Path::new(ROOT)).unwrap();
    for name in ["", "/abs", "../up", "a/../b", "cgroup.procs"] {
        let result = RuntimeGroup::create(hierarchy.clone(), name);
        assert!(matches!(result, Err(Error::Name { .. })), "{name:?}");
    }
    let (runtime, _) = v1_runtime();
    assert!(matches!(
        runtime.container("no-version", None),
        Err(Error::Name { .. })
    ));
    runtime.finish();
}

/// Run `test` in a thread with a private mount namespace in which a cgroup2 is mounted on
/// a temporary directory (the hierarchy is the host's one cgroup2, which has no
/// controllers here). The mount goes away with the thread's namespace.
fn in_private_cgroup2<T: Send + 'static>(test: impl FnOnce(&Path) -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNS).unwrap();
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        mount(
            Some("cgroup2"),
            dir.path(),
            Some("cgroup2"),
            MsFlags::empty(),
            None::<&str>,
        )
        .unwrap();
        let result = test(dir.path());
        umount2(dir.path(), MntFlags::MNT_DETACH).unwrap();
        result
    })
    .join()
    .unwrap()
}

#[test]
fn v2_groups_in_a_private_cgroup2() {
    in_private_cgroup2(|root| {
        let hierarchy = Hierarchy::detect(root).unwrap();
        assert_eq!(hierarchy.version(), Version::V2);
        let name = unique_name();
        let runtime = Runtime::create(hierarchy, &name);
        assert_eq!(runtime.paths(), [root.join(&name)]);
        let group = runtime.container("app:1.0.0", None).unwrap();
        let dir = root.join(&name).join("app@1.0.0");
        assert_eq!(group.paths(), [dir.as_path()]);
        assert!(group.clone_fd().is_some());
        assert!(group.is_empty().unwrap());
        let mut child = Proc::sleep();
        let pid = child.pid();
        group.add(pid).unwrap();
        assert_eq!(group.pids().unwrap(), [Pid::from_raw(pid)]);
        assert_eq!(read(&dir.join("cgroup.procs")), pid.to_string());
        assert!(!group.is_empty().unwrap());
        assert!(dir.join("cgroup.kill").exists());
        group.signal_all(Signal::SIGKILL).unwrap();
        assert_eq!(child.wait_signal(), Some(libc::SIGKILL));
        assert!(group.is_empty().unwrap());
        let stats = group.stats().unwrap();
        assert_eq!(stats.oom_kills, 0);
        assert!(stats.cpu_usage_ns.is_some(), "{stats:?}");
        group.destroy().unwrap();
        assert!(!dir.exists());
        runtime.finish();
        assert!(!root.join(&name).exists());
    });
}

#[test]
fn v2_clone_fd_starts_a_process_inside_the_group() {
    in_private_cgroup2(|root| {
        let name = unique_name();
        let runtime = Runtime::create(Hierarchy::detect(root).unwrap(), &name);
        let group = runtime.container("clone:1.0.0", None).unwrap();
        let (read_end, write_end) = nix::unistd::pipe().unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&read_end);
        let (pid, pidfd) = northstar_sys::clone::spawn(0, group.clone_fd(), move || {
            // Async-signal-safe: block until the test lets go, then exit.
            let mut byte = [0u8; 1];
            let _ = northstar_sys::child::read(fd, &mut byte);
            northstar_sys::clone::exit(7)
        })
        .unwrap();
        drop(read_end);
        assert_eq!(group.pids().unwrap(), [Pid::from_raw(pid)]);
        nix::unistd::write(&write_end, b"x").unwrap();
        let status = northstar_sys::clone::pidfd_wait(std::os::fd::AsFd::as_fd(&pidfd)).unwrap();
        assert_eq!(status, northstar_sys::clone::WaitStatus::Exited(7));
        group.destroy().unwrap();
        runtime.finish();
    });
}

#[test]
fn v2_missing_controllers_are_named_and_nothing_is_left() {
    in_private_cgroup2(|root| {
        let name = unique_name();
        let runtime = Runtime::create(Hierarchy::detect(root).unwrap(), &name);
        let cases: [(CGroups, &str, &str); 2] = [
            (
                CGroups {
                    memory: Some(Memory {
                        memory_hard_limit: Some(MIB),
                        ..Memory::default()
                    }),
                    ..CGroups::default()
                },
                "memory",
                "cgroups.memory.memory_hard_limit",
            ),
            (
                CGroups {
                    pids: Some(Pids { max: 5 }),
                    ..CGroups::default()
                },
                "pids",
                "cgroups.pids.max",
            ),
        ];
        for (limits, controller, field) in cases {
            let error = runtime.container("app:1.0.0", Some(&limits)).unwrap_err();
            match &error {
                Error::ControllerMissing {
                    controller: c,
                    field: f,
                    ..
                } => assert_eq!((*c, f.as_str()), (controller, field)),
                other => panic!("{other:?}"),
            }
            assert!(error.to_string().contains(&format!("`{controller}`")));
            assert!(!root.join(&name).join("app@1.0.0").exists());
        }
        runtime.finish();
    });
}

#[test]
fn v1_runtime_group_limits_and_container_defaults() {
    let (runtime, name) = v1_runtime();
    let mut runtime = runtime;
    runtime
        .0
        .limit(&RuntimeLimits {
            pids_max: 777,
            memory_max: 512 * MIB as u64,
        })
        .unwrap();
    assert_eq!(read(&v1_dir("pids", &name, "pids.max")), "777");
    assert_eq!(
        read(&v1_dir("memory", &name, "memory.limit_in_bytes")),
        (512 * MIB).to_string()
    );
    assert_eq!(read(&v1_dir("memory", &name, "memory.use_hierarchy")), "1");
    runtime.0.set_defaults(Defaults {
        pids_max: 33,
        memory_max: 48 * MIB as u64,
    });
    let plain = runtime.container("plain:1.0.0", None).unwrap();
    let leaf = "plain@1.0.0";
    assert_eq!(read(&v1_dir("pids", &name, leaf).join("pids.max")), "33");
    assert_eq!(
        read(&v1_dir("memory", &name, leaf).join("memory.limit_in_bytes")),
        (48 * MIB).to_string()
    );
    let own = CGroups {
        pids: Some(Pids { max: 5 }),
        ..CGroups::default()
    };
    let limited = runtime.container("own:1.0.0", Some(&own)).unwrap();
    let leaf = "own@1.0.0";
    assert_eq!(read(&v1_dir("pids", &name, leaf).join("pids.max")), "5");
    assert_eq!(
        read(&v1_dir("memory", &name, leaf).join("memory.limit_in_bytes")),
        (48 * MIB).to_string()
    );
    plain.destroy().unwrap();
    limited.destroy().unwrap();
    runtime.finish();
}

#[test]
fn v2_runtime_group_limits_need_their_controllers() {
    in_private_cgroup2(|root| {
        let name = unique_name();
        let runtime = Runtime::create(Hierarchy::detect(root).unwrap(), &name);
        let error = runtime
            .limit(&RuntimeLimits {
                pids_max: 100,
                memory_max: 64 * MIB as u64,
            })
            .unwrap_err();
        match &error {
            Error::ControllerMissing {
                controller, field, ..
            } => {
                assert_eq!(*controller, "pids");
                assert_eq!(field, "[cgroups] runtime_pids_max");
            }
            other => panic!("{other:?}"),
        }
        runtime.finish();
    });
}
