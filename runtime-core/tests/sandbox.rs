//! The sandbox of a container on the host kernel, as root: seccomp allow and deny lists
//! with argument filters, rlimits, memory and pids limits, and the hostile-container
//! attempts of the threat model that can run on the host.

mod support;

use runtime_core::container::ExitStatus;
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
        assert_eq!(r["ok"], false, "{line}");
    }
    assert!(attempts >= 13, "{logs}");
    rt.shutdown();
}
