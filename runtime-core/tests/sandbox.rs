//! The sandbox of a container on the host kernel, as root: seccomp allow and deny lists
//! with argument filters, rlimits, memory and pids limits, and the hostile-container
//! attempts of the threat model that can run on the host.

mod support;

use runtime_core::{container::ExitStatus, id::ContainerId};
use support::World;

const SIGSYS: ExitStatus = ExitStatus::Signal(libc::SIGSYS);

/// The calls a static musl test program needs to start, print and exit.
const BASE_ALLOW: &str = "      read: any\n      write: any\n      writev: any\n      \
exit_group: any\n      exit: any\n      brk: any\n      mmap: any\n      munmap: any\n      \
mprotect: any\n      arch_prctl: any\n      set_tid_address: any\n      rt_sigaction: any\n      \
rt_sigprocmask: any\n      sigaltstack: any\n      poll: any\n      ppoll: any\n      \
ioctl: any\n      madvise: any\n      futex: any\n      getrandom: any\n      \
clock_gettime: any\n      set_robust_list: any\n      rseq: any\n      prlimit64: any\n      \
sched_getaffinity: any\n      open: any\n      openat: any\n      close: any\n      \
fcntl: any\n      statx: any\n      newfstatat: any\n      fstat: any\n      lseek: any\n      \
readlink: any\n      mremap: any\n      gettid: any\n";

fn allow_list(extra: &str) -> String {
    format!("seccomp:\n  allow:\n{BASE_ALLOW}{extra}")
}

#[test]
fn default_profile_kills_forbidden_calls() {
    let world = World::new();
    let ok = world.container(
        "fine",
        &["syscall:getpid", "syscall:personality,0xffffffff", "exit:0"],
        "",
    );
    let mount = world.container("mounter", &["syscall:mount"], "");
    let ptrace = world.container("tracer", &["syscall:ptrace"], "");
    let persona = world.container("persona", &["syscall:personality,0x0040000"], "");
    let rt = world.start();
    assert_eq!(rt.run(&ok), ExitStatus::Exit(0));
    assert_eq!(rt.run(&mount), SIGSYS);
    assert_eq!(rt.run(&ptrace), SIGSYS);
    // ADDR_NO_RANDOMIZE is outside the profile's argument filter.
    assert_eq!(rt.run(&persona), SIGSYS);
    rt.shutdown();
}

#[test]
fn manifest_allow_list_with_argument_filters() {
    let world = World::new();
    let rules = "      getpid: any\n      personality: !args\n        index: 0\n        \
                 values: [4294967295]\n      umask: !args\n        index: 0\n        \
                 mask: 63\n";
    let seccomp = allow_list(rules);
    let allowed = world.container(
        "allowed",
        &[
            "syscall:getpid",
            "syscall:personality,0xffffffff",
            "syscall:umask,0o22",
            "exit:0",
        ],
        &seccomp,
    );
    let not_listed = world.container("unlisted", &["syscall:getppid"], &seccomp);
    let bad_value = world.container("badvalue", &["syscall:personality,8"], &seccomp);
    let bad_mask = world.container("badmask", &["syscall:umask,0o700"], &seccomp);
    let rt = world.start();
    assert_eq!(
        rt.run(&allowed),
        ExitStatus::Exit(0),
        "{}",
        rt.logs(&allowed)
    );
    assert_eq!(rt.run(&not_listed), SIGSYS);
    assert_eq!(rt.run(&bad_value), SIGSYS);
    assert_eq!(rt.run(&bad_mask), SIGSYS);
    rt.shutdown();
}

#[test]
fn rlimits_are_applied() {
    let world = World::new();
    let id = world.container(
        "limited",
        &["report:/report/limits.json"],
        "rlimits:\n  nofile:\n    soft: 100\n    hard: 200\n  core:\n    soft: 0\n    hard: 0\n",
    );
    let rt = world.start();
    assert_eq!(rt.run(&id), ExitStatus::Exit(0));
    let r = world.report("limits.json");
    assert_eq!(r["rlimits"]["nofile"]["soft"], 100);
    assert_eq!(r["rlimits"]["nofile"]["hard"], 200);
    assert_eq!(r["rlimits"]["core"]["soft"], 0);
    assert_eq!(r["rlimits"]["core"]["hard"], 0);
    rt.shutdown();
}

#[test]
fn memory_limit_oom_kills_only_the_container() {
    let world = World::new();
    let hog = world.container(
        "hog",
        &["alloc:256", "exit:0"],
        "cgroups:\n  memory:\n    memory_hard_limit: 33554432\n",
    );
    let fine = world.container("bystander", &["sleep-forever"], "");
    let rt = world.start();
    rt.start(&fine).unwrap();
    rt.start(&hog).unwrap();
    let (status, oom) = rt.exited(&hog);
    assert_eq!(status, ExitStatus::Signal(libc::SIGKILL));
    assert!(oom, "the exit notification reports the OOM kill");
    // The runtime and the other container live on.
    assert!(matches!(
        rt.stop(&fine),
        Ok(runtime_core::runtime::Response::Stopped { .. })
    ));
    rt.shutdown();
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let world = World::new();
    let id = world.container(
        "bomb",
        &["fork-bomb:200", "exit:0"],
        "cgroups:\n  pids:\n    max: 10\n",
    );
    let rt = world.start();
    assert_eq!(rt.run(&id), ExitStatus::Exit(0));
    let logs = rt.logs(&id);
    let line = logs
        .lines()
        .find(|l| l.contains("\"forks\""))
        .unwrap_or_else(|| panic!("{logs}"));
    let report: serde_json::Value = serde_json::from_str(line).unwrap();
    // init and the program count against the limit: at most 8 more fit.
    let forks = report["forks"].as_u64().unwrap();
    assert!(forks <= 8, "{forks} forks under a limit of 10");
    assert_eq!(report["error"], "EAGAIN");
    rt.shutdown();
}

#[test]
fn hostile_container_attempts_fail() {
    let world = World::new();
    let id = world.container("hostile", &["escape", "exit:0"], "");
    let rt = world.start();
    // The container survives its own attempts (only seccomp kills single attempts).
    assert_eq!(rt.run(&id), ExitStatus::Exit(0));
    let logs = rt.logs(&id);
    let mut attempts = 0;
    let mut names = Vec::new();
    for line in logs.lines().filter(|l| l.contains("\"escape\"")) {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        attempts += 1;
        if r["escape"] == "kill-pid1" {
            // kill(1) is accepted but dropped: PID 1 is the container's own init, which the
            // kernel protects from its namespace; the run above ended normally.
            assert_eq!(r["pid1_is_this_program"], false, "{line}");
            continue;
        }
        if r["escape"] == "kill-all" {
            // Only the container's own processes are visible: its init, the program and
            // the attempt's process.
            let visible = r["visible_pids"].as_array().unwrap();
            assert!(visible.len() <= 3, "{line}");
            continue;
        }
        if r["escape"] == "fork-bomb" {
            // The container has no limit of its own: the runtime's default pids limit
            // (256, init and the program included) stops it.
            let forks = r["forks"].as_u64().unwrap();
            assert!(forks < 256, "{line}");
            assert_eq!(r["error"], "EAGAIN", "{line}");
        }
        if r["escape"] == "memfd-exec" {
            // Refused at the first step: the default profile has no anonymous files.
            assert_eq!(r["step"], "memfd_create", "{line}");
            assert_eq!(r["error"], "ENOSYS", "{line}");
        }
        assert_eq!(r["ok"], false, "{line}");
        names.push(r["escape"].as_str().unwrap().to_string());
    }
    for name in ["memfd-exec", "fork-bomb"] {
        assert!(names.iter().any(|n| n == name), "no {name} attempt: {logs}");
    }
    assert!(attempts >= 15, "{logs}");
    rt.shutdown();
}

/// Taking anonymous code away leaves a container's own programs runnable: under the
/// default profile the (static musl) program executes another program of its image with
/// `execve`, which prints.
#[test]
fn default_profile_runs_the_images_own_programs() {
    let world = World::new();
    let id = world.container(
        "execs",
        &["exec:/bin/test-container,print:1,executed-by-execve"],
        "",
    );
    let rt = world.start();
    assert_eq!(rt.run(&id), ExitStatus::Exit(0), "{}", rt.logs(&id));
    assert!(rt.logs(&id).contains("executed-by-execve\n"));
    rt.shutdown();
}

/// The runtime's defaults bound a container whose manifest sets no limits: `pids.max`
/// and the memory limit are written to its group, and a fork bomb stops there.
#[test]
fn default_limits_bound_a_container_without_its_own() {
    let world = World::new();
    let id = world.container("unbounded", &["fork-bomb:2000", "sleep-forever"], "");
    let rt = world.start();
    rt.start(&id).unwrap();
    let line = wait_for_line(&rt, &id, "\"forks\"");
    let report: serde_json::Value = serde_json::from_str(&line).unwrap();
    let forks = report["forks"].as_u64().unwrap();
    assert!(forks < 256, "{forks} forks under the default limit of 256");
    assert_eq!(report["error"], "EAGAIN");
    let limits = pids_and_memory_limit(&world, "unbounded@0.0.1");
    assert_eq!(limits, (Some(256), Some(256 << 20)));
    rt.stop(&id).unwrap();
    rt.shutdown();
}

/// `[cgroups] default_pids_max` and `default_memory_max` replace the built-in defaults;
/// a manifest's own limits replace the defaults; the runtime's group gets
/// `runtime_pids_max` and a memory limit.
#[test]
fn configured_defaults_and_manifest_limits() {
    let mut world = World::new();
    world.cgroups_config(
        "default_pids_max = 20\ndefault_memory_max = \"64M\"\nruntime_pids_max = 1000",
    );
    let small = world.container("small", &["fork-bomb:200", "sleep-forever"], "");
    let own = world.container(
        "own",
        &["sleep-forever"],
        "cgroups:\n  pids:\n    max: 300\n  memory:\n    memory_hard_limit: 33554432\n",
    );
    let rt = world.start();
    rt.start(&small).unwrap();
    let line = wait_for_line(&rt, &small, "\"forks\"");
    let report: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(report["forks"].as_u64().unwrap() <= 18, "{line}");
    assert_eq!(
        pids_and_memory_limit(&world, "small@0.0.1"),
        (Some(20), Some(64 << 20))
    );
    rt.start(&own).unwrap();
    assert_eq!(
        pids_and_memory_limit(&world, "own@0.0.1"),
        (Some(300), Some(32 << 20))
    );
    let runtime = pids_and_memory_limit(&world, "");
    assert_eq!(runtime.0, Some(1000));
    let total = meminfo_total();
    let memory = runtime.1.expect("a memory limit on the runtime's group");
    assert!(memory < total, "{memory} not below MemTotal {total}");
    rt.stop(&small).unwrap();
    rt.stop(&own).unwrap();
    rt.shutdown();
}

/// `pids.max` and the memory limit of `group` below the world's runtime group (v1
/// hierarchy of the host): `None` for "max" or an unreadable file.
fn pids_and_memory_limit(world: &World, group: &str) -> (Option<u64>, Option<u64>) {
    let read = |controller: &str, file: &str| {
        let path = std::path::Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(&world.cgroup)
            .join(group)
            .join(file);
        std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
    };
    (
        read("pids", "pids.max"),
        read("memory", "memory.limit_in_bytes"),
    )
}

fn meminfo_total() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    kib * 1024
}

/// The first line of `id`'s captured output that contains `needle` (bounded wait).
fn wait_for_line(rt: &support::Running, id: &ContainerId, needle: &str) -> String {
    let deadline = std::time::Instant::now() + support::PATIENCE;
    loop {
        let logs = rt.logs(id);
        if let Some(line) = logs.lines().find(|l| l.contains(needle)) {
            return line.to_string();
        }
        assert!(std::time::Instant::now() < deadline, "no {needle}: {logs}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The `escape` lines of one attempt in a container's output.
fn escape_lines(logs: &str, attempt: &str) -> Vec<serde_json::Value> {
    logs.lines()
        .filter(|l| l.contains("\"escape\""))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["escape"] == attempt)
        .collect()
}

/// A start that must be refused; a start that went through shows what the container
/// reached.
fn refused(rt: &support::Running, id: &runtime_core::id::ContainerId) -> String {
    match rt.start(id) {
        Err(runtime_core::runtime::RequestError::Start(message)) => message,
        other => {
            rt.exited(id);
            panic!("{other:?}: the container ran:\n{}", rt.logs(id))
        }
    }
}

/// The attack: a resource package whose directory `evil` is a symlink to "/", mounted by
/// another container. Resolved in the runtime's view, the container would see the host.
#[test]
fn a_resource_directory_that_is_a_symlink_out_of_its_image_is_refused() {
    let world = World::new();
    world.package_with(
        "name: evil\nversion: 0.0.1\nuid: 1000\ngid: 1000\n",
        |root| {
            std::os::unix::fs::symlink("/", root.join("evil")).unwrap();
            // A /proc magic link reached by a relative symlink that stays inside the image.
            std::os::unix::fs::symlink("/proc/self/root", root.join("magic")).unwrap();
            std::os::unix::fs::symlink("magic", root.join("hop")).unwrap();
        },
    );
    let resource = |dir: &str| {
        format!("  /host:\n    type: resource\n    name: evil\n    version: '>=0.0.1'\n    dir: {dir}\n")
    };
    let evil = world.container("victim", &["escape", "exit:0"], &resource("/evil"));
    let hop = world.container("hopper", &["escape", "exit:0"], &resource("/hop"));
    let rt = world.start();
    let message = refused(&rt, &evil);
    for part in ["victim:0.0.1", "/host", "/evil", "leaves the image"] {
        assert!(message.contains(part), "{part}: {message}");
    }
    let message = refused(&rt, &hop);
    for part in ["hopper:0.0.1", "/host", "/hop", "leaves the image"] {
        assert!(message.contains(part), "{part}: {message}");
    }
    rt.shutdown();
}

/// The attack: a container that can write an allowed bind directory leaves a symlink to
/// "/" there; another container binds that path.
#[test]
fn a_symlink_in_an_allowed_bind_directory_does_not_redirect_a_bind() {
    let world = World::new();
    std::os::unix::fs::symlink("/", world.reports.join("link")).unwrap();
    let id = world.container(
        "redirected",
        &["escape", "exit:0"],
        &format!(
            "  /host:\n    type: bind\n    host: {}/link\n",
            world.reports.display()
        ),
    );
    let rt = world.start();
    let message = refused(&rt, &id);
    for part in ["redirected:0.0.1", "/host", "/link", "leaves the image"] {
        assert!(message.contains(part), "{part}: {message}");
    }
    rt.shutdown();
}

/// The attack: a container copies its program to its tmpfs and to its persistent
/// directory and executes the copies.
#[test]
fn code_written_to_tmpfs_or_persist_does_not_run() {
    let world = World::new();
    let mounts = "  /tmp:\n    type: tmpfs\n    size: 64M\n  /data:\n    type: persist\n";
    let id = world.container("writer", &["escape", "exit:0"], mounts);
    // The manifest's `exec` option allows it: the attempt itself works.
    let allowed = world.container(
        "allowed",
        &["escape", "exit:0"],
        "  /tmp:\n    type: tmpfs\n    size: 64M\n    options: exec\n  /data:\n    \
         type: persist\n    options: exec\n",
    );
    let rt = world.start();
    assert_eq!(rt.run(&id), ExitStatus::Exit(0));
    let logs = rt.logs(&id);
    let lines = escape_lines(&logs, "exec-copy");
    assert_eq!(lines.len(), 2, "{logs}");
    for r in lines {
        assert_eq!(r["ok"], false, "{r}");
        assert_eq!(r["step"], "execve", "{r}");
        assert_eq!(r["error"], "EACCES", "{r}");
    }
    assert_eq!(rt.run(&allowed), ExitStatus::Exit(0));
    let logs = rt.logs(&allowed);
    let lines = escape_lines(&logs, "exec-copy");
    assert_eq!(lines.len(), 2, "{logs}");
    assert!(lines.iter().all(|r| r["ok"] == true), "{logs}");
    rt.shutdown();
}

/// The attack: a recursive bind whose source has a writable, setuid-capable submount;
/// the container writes there.
#[test]
fn recursive_binds_apply_their_flags_to_every_submount() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).unwrap();
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .unwrap();
    let world = World::new();
    let sub = world.reports.join("tree/sub");
    std::fs::create_dir_all(&sub).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &sub,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=1m,mode=0777"),
    )
    .unwrap();
    let id = world.container(
        "recursive",
        &["report:/report/recursive.json", "write:/tree/sub/x,escaped"],
        &format!(
            "  /tree:\n    type: bind\n    host: {}/tree\n    options: rec,noexec\n",
            world.reports.display()
        ),
    );
    let rt = world.start();
    let status = rt.run(&id);
    let r = world.report("recursive.json");
    let mounts = r["mounts"].as_array().unwrap();
    let sub_mount = mounts
        .iter()
        .find(|m| m["mount_point"] == "/tree/sub")
        .unwrap_or_else(|| panic!("/tree/sub not mounted: {mounts:?}"));
    for flag in ["ro", "nosuid", "nodev", "noexec"] {
        assert_eq!(sub_mount[flag], true, "{flag}: {sub_mount}");
    }
    assert!(
        !sub.join("x").exists(),
        "the container wrote to the submount"
    );
    assert_eq!(status, ExitStatus::Exit(2), "{}", rt.logs(&id));
    rt.shutdown();
    nix::mount::umount(&sub).unwrap();
}

/// The `dev` mount: a tmpfs made on the mount point opened inside the image, its nodes and
/// links made in the opened directory, then remounted read-only.
#[test]
fn dev_is_a_read_only_tmpfs_with_its_nodes() {
    let world = World::new();
    let id = world.container(
        "devices",
        &[
            "report:/report/dev.json",
            "stat:/dev/null",
            "stat:/dev/stdout",
            "exit:0",
        ],
        "  /dev:\n    type: dev\n",
    );
    let rt = world.start();
    assert_eq!(rt.run(&id), ExitStatus::Exit(0), "{}", rt.logs(&id));
    let r = world.report("dev.json");
    let mounts = r["mounts"].as_array().unwrap();
    let dev = mounts
        .iter()
        .find(|m| m["mount_point"] == "/dev")
        .unwrap_or_else(|| panic!("/dev not mounted: {mounts:?}"));
    assert_eq!(dev["fs_type"], "tmpfs");
    for flag in ["ro", "nosuid", "noexec"] {
        assert_eq!(dev[flag], true, "{flag}: {dev}");
    }
    let logs = rt.logs(&id);
    let stats: Vec<serde_json::Value> = logs
        .lines()
        .filter(|l| l.contains("\"path\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(stats.len(), 2, "{logs}");
    assert_eq!(stats[0]["type"], "char", "{logs}");
    assert_eq!(stats[0]["mode_octal"], "666", "{logs}");
    rt.shutdown();
}
