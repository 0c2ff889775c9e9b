//! Seccomp filters on the host kernel. A forked child sets `no_new_privs`, loads a compiled
//! filter and makes one call (only async-signal-safe code and plain system calls between
//! the fork and its exit); the parent reads how it ended: exit code 0 when the call was
//! allowed, `SIGSYS` when the filter killed it. A normal program (this test binary
//! itself, executed again) must run to completion under the default filter.

use nix::{
    mount::MsFlags,
    sched::CloneFlags,
    sys::{
        personality::{self, Persona},
        resource::{setrlimit, Resource},
        signal::Signal,
        stat::Mode,
        wait::{waitpid, WaitStatus},
    },
    unistd::Pid,
};
use northstar_sys::{child, clone as sysclone, seccomp as loader};
use npk::manifest::{ArgRule, Profile, Seccomp, SyscallName, SyscallRule};
use runtime_core::seccomp::{compile, default_filter, Filter};
use std::{
    convert::Infallible,
    ffi::CString,
    fs,
    io::{Read, Write},
    os::{fd::AsRawFd, unix::net::UnixStream},
    path::Path,
    process::Command,
    thread,
};

/// How the child ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Exit(i32),
    Signal(Signal),
}

const ALLOWED: End = End::Exit(0);
const KILLED: End = End::Signal(Signal::SIGSYS);

fn wait(pid: i32) -> End {
    match waitpid(Pid::from_raw(pid), None).unwrap() {
        WaitStatus::Exited(_, code) => End::Exit(code),
        WaitStatus::Signaled(_, signal, _) => End::Signal(signal),
        other => panic!("unexpected wait status {other:?}"),
    }
}

/// Prepare the calling child for a filter: no core file for the SIGSYS, no_new_privs, load.
fn enter(filter: &Filter) {
    if setrlimit(Resource::RLIMIT_CORE, 0, 0).is_err() {
        sysclone::exit(100);
    }
    if loader::set_no_new_privs().is_err() {
        sysclone::exit(101);
    }
    if loader::load(filter.instructions()).is_err() {
        sysclone::exit(102);
    }
}

/// Run `call` in a forked child under `filter`; the child exits 0 after the call returns,
/// whatever it returned.
fn run(filter: &Filter, call: impl FnOnce()) -> End {
    let pid = sysclone::fork_in_child(|| -> Infallible {
        enter(filter);
        call();
        sysclone::exit(0)
    })
    .unwrap();
    wait(pid)
}

fn allow(rules: &[(&str, SyscallRule)]) -> Filter {
    let allow = rules
        .iter()
        .map(|(name, rule)| (SyscallName::new(name).unwrap(), rule.clone()))
        .collect();
    compile(&Seccomp {
        profile: None,
        allow: Some(allow),
    })
    .unwrap()
}

fn args(values: Option<Vec<u64>>, mask: Option<u64>) -> SyscallRule {
    SyscallRule::Args(ArgRule {
        index: 0,
        values,
        mask,
    })
}

#[test]
fn allowed_calls_run_and_others_kill_the_process() {
    let filter = allow(&[("getpid", SyscallRule::Any)]);
    assert_eq!(
        run(&filter, || {
            let _ = nix::unistd::getpid();
        }),
        ALLOWED
    );
    assert_eq!(
        run(&filter, || {
            let _ = nix::unistd::getuid();
        }),
        KILLED
    );
    // Without any call the child only exits: the runtime's own calls are always allowed.
    assert_eq!(run(&filter, || ()), ALLOWED);
}

#[test]
fn argument_values() {
    // personality(0xffffffff) only queries; nothing else is allowed.
    let filter = allow(&[("personality", args(Some(vec![0xffff_ffff]), None))]);
    assert_eq!(
        run(&filter, || {
            let _ = personality::get();
        }),
        ALLOWED
    );
    let per_linux32 = Persona::from_bits_retain(0x0008);
    assert_eq!(
        run(&filter, || {
            let _ = personality::set(per_linux32);
        }),
        KILLED
    );
}

#[test]
fn argument_mask() {
    let filter = allow(&[("umask", args(None, Some(0o777)))]);
    assert_eq!(
        run(&filter, || {
            let _ = nix::sys::stat::umask(Mode::from_bits_retain(0o027));
        }),
        ALLOWED
    );
    assert_eq!(
        run(&filter, || {
            let _ = nix::sys::stat::umask(Mode::from_bits_retain(0o777));
        }),
        ALLOWED
    );
    // S_ISVTX lies outside the mask.
    assert_eq!(
        run(&filter, || {
            let _ = nix::sys::stat::umask(Mode::from_bits_retain(0o1022));
        }),
        KILLED
    );
}

#[test]
fn default_profile_allows_everyday_calls() {
    let filter = default_filter().unwrap();
    assert_eq!(
        run(&filter, || {
            let _ = nix::unistd::getpid();
        }),
        ALLOWED
    );
    assert_eq!(
        run(&filter, || {
            let _ = nix::unistd::getuid();
        }),
        ALLOWED
    );
    let (read, write) = nix::unistd::pipe().unwrap();
    assert_eq!(
        run(&filter, || {
            let _ = nix::unistd::write(&write, b"x");
        }),
        ALLOWED
    );
    let mut byte = [0u8; 1];
    assert_eq!(nix::unistd::read(&read, &mut byte), Ok(1));
    assert_eq!(&byte, b"x");
    assert_eq!(
        run(&filter, || {
            let _ = personality::get();
        }),
        ALLOWED
    );
    assert_eq!(
        run(&filter, || {
            let _ = nix::sys::stat::umask(Mode::from_bits_retain(0o022));
        }),
        ALLOWED
    );
}

#[test]
fn default_profile_kills_privileged_calls() {
    let filter = default_filter().unwrap();
    // Each call is harmless if it ever ran: it would fail (missing target) or change only
    // the child.
    let mount = || {
        let target = c"/nonexistent/northstar-seccomp-test";
        let _ = nix::mount::mount(
            Some(c"none"),
            target,
            Some(c"tmpfs"),
            MsFlags::empty(),
            None::<&std::ffi::CStr>,
        );
    };
    assert_eq!(run(&filter, mount), KILLED, "mount");
    let umount = || {
        let _ = nix::mount::umount2(
            c"/nonexistent/northstar-seccomp-test",
            nix::mount::MntFlags::MNT_DETACH,
        );
    };
    assert_eq!(run(&filter, umount), KILLED, "umount2");
    assert_eq!(
        run(&filter, || {
            let _ = nix::sys::ptrace::traceme();
        }),
        KILLED,
        "ptrace"
    );
    let unshare = || {
        let _ = nix::sched::unshare(CloneFlags::CLONE_NEWUTS);
    };
    assert_eq!(run(&filter, unshare), KILLED, "unshare");
    assert_eq!(
        run(&filter, || {
            let _ = nix::unistd::chroot(c"/");
        }),
        KILLED,
        "chroot"
    );
    let no_aslr = || {
        let _ = personality::set(Persona::ADDR_NO_RANDOMIZE);
    };
    assert_eq!(
        run(&filter, no_aslr),
        KILLED,
        "personality(ADDR_NO_RANDOMIZE)"
    );
}

/// Set when this binary runs as the workload of the test below.
const WORKLOAD: &str = "NORTHSTAR_SECCOMP_WORKLOAD";

/// This test binary executes itself under the default filter and runs this same test
/// there, which then takes the workload branch: threads, files, a child process, sockets,
/// clocks, large allocations. The libtest harness around it is a normal Rust program too.
#[test]
fn default_profile_runs_a_normal_program() {
    if let Some(dir) = std::env::var_os(WORKLOAD) {
        workload(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let output = fs::File::create(dir.path().join("output")).unwrap();
    let exe = std::env::current_exe().unwrap();
    let cstring = |s: &str| CString::new(s).unwrap();
    let exec = child::Exec::new(
        cstring(exe.to_str().unwrap()),
        [
            "--exact",
            "default_profile_runs_a_normal_program",
            "--nocapture",
        ]
        .map(cstring)
        .to_vec(),
        vec![
            cstring(&format!("{WORKLOAD}={}", dir.path().display())),
            cstring("PATH=/usr/bin:/bin"),
        ],
    );
    let filter = default_filter().unwrap();
    let fd = output.as_raw_fd();
    let pid = sysclone::fork_in_child(|| -> Infallible {
        if child::dup2(fd, 1).is_err() || child::dup2(fd, 2).is_err() {
            sysclone::exit(103);
        }
        enter(&filter);
        let _ = exec.exec();
        sysclone::exit(104)
    })
    .unwrap();
    let end = wait(pid);
    let log = fs::read_to_string(dir.path().join("output")).unwrap_or_default();
    assert_eq!(end, ALLOWED, "output of the program:\n{log}");
    assert!(log.contains("workload done"), "{log}");
}

fn workload(dir: &Path) {
    // Really filtered (inherited across execve), with no_new_privs.
    let status = fs::read_to_string("/proc/self/status").unwrap();
    assert!(status.lines().any(|l| l == "Seccomp:\t2"), "{status}");
    assert!(status.lines().any(|l| l == "NoNewPrivs:\t1"), "{status}");
    // Threads: clone3 fails with ENOSYS and the libc falls back to clone.
    let sum: u64 = (0..4u64)
        .map(|i| thread::spawn(move || i * 10))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .sum();
    assert_eq!(sum, 60);
    // Large allocations (mmap, munmap, mremap).
    let mut big = vec![1u8; 8 << 20];
    big.resize(16 << 20, 2);
    assert_eq!(
        big.iter().map(|b| u64::from(*b)).sum::<u64>(),
        (8 << 20) * 3
    );
    // Files and directories.
    let sub = dir.join("sub");
    fs::create_dir(&sub).unwrap();
    fs::write(sub.join("a"), b"hello").unwrap();
    fs::rename(sub.join("a"), sub.join("b")).unwrap();
    assert_eq!(fs::read(sub.join("b")).unwrap(), b"hello");
    assert_eq!(fs::read_dir(&sub).unwrap().count(), 1);
    fs::remove_dir_all(&sub).unwrap();
    // A child process with a pipe (fork or vfork, execve, wait4).
    let out = Command::new("/bin/sh")
        .args(["-c", "echo $((6 * 7))"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
    // Sockets.
    let (mut a, mut b) = UnixStream::pair().unwrap();
    a.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    b.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    // Clocks and sleeping.
    let start = std::time::Instant::now();
    thread::sleep(std::time::Duration::from_millis(1));
    assert!(start.elapsed().as_nanos() > 0);
    assert!(std::time::SystemTime::now() > std::time::UNIX_EPOCH);
    println!("workload done");
}

/// The compiled filter of a manifest section with the profile and an allow list is the
/// union: the profile's calls and the added one.
#[test]
fn profile_and_allow_list_together() {
    let mut allow = std::collections::BTreeMap::new();
    allow.insert(SyscallName::new("chroot").unwrap(), SyscallRule::Any);
    let filter = compile(&Seccomp {
        profile: Some(Profile::Default),
        allow: Some(allow),
    })
    .unwrap();
    // chroot runs (and fails or succeeds in the child alone); mount is still killed.
    assert_eq!(
        run(&filter, || {
            let _ = nix::unistd::chroot(c"/");
        }),
        ALLOWED
    );
    assert_eq!(
        run(&filter, || {
            let _ = nix::unistd::getpid();
        }),
        ALLOWED
    );
    assert_eq!(
        run(&filter, || {
            let _ = nix::sched::unshare(CloneFlags::CLONE_NEWUTS);
        }),
        KILLED
    );
}
