//! `report:<file>`: what the process sees inside its container, as one JSON object.
//! Owns gathering (ids, capabilities, limits, mounts, namespaces, fds, environment...)
//! and the atomic write. Everything is read before the output file is opened, so the
//! fd list never shows the report's own file. A missing /proc gives `null` fields, not
//! a failure.

use crate::{
    json::Value,
    out::{self, failure, Failure},
    procfs,
    steps::Stream,
};
use std::{ffi::CStr, fs, io::Write, mem::MaybeUninit, os::unix::ffi::OsStrExt, path::Path};

/// The node name from uname.
pub fn hostname() -> Option<String> {
    let mut uts = MaybeUninit::<libc::utsname>::zeroed();
    // SAFETY: `uts` is valid for writes of a whole utsname.
    if unsafe { libc::uname(uts.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: uname succeeded, so `uts` is initialized and nodename is NUL-terminated.
    let uts = unsafe { uts.assume_init() };
    // SAFETY: nodename is a NUL-terminated array inside `uts`, which outlives the borrow.
    let name = unsafe { CStr::from_ptr(uts.nodename.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

fn read_link(path: impl AsRef<Path>) -> Option<String> {
    fs::read_link(path)
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Real, effective and saved user and group ids, and supplementary groups.
fn ids(v: &mut Value) {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: three valid, writable uid_t places.
    let ok = unsafe { libc::getresuid(&mut r, &mut e, &mut s) } == 0;
    v.insert("uid", ok.then_some(r));
    v.insert("euid", ok.then_some(e));
    v.insert("suid", ok.then_some(s));
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: three valid, writable gid_t places.
    let ok = unsafe { libc::getresgid(&mut r, &mut e, &mut s) } == 0;
    v.insert("gid", ok.then_some(r));
    v.insert("egid", ok.then_some(e));
    v.insert("sgid", ok.then_some(s));
    let mut groups = vec![0 as libc::gid_t; 65536];
    // SAFETY: `groups` is valid for writes of the length passed.
    let n = unsafe { libc::getgroups(groups.len() as i32, groups.as_mut_ptr()) };
    groups.truncate(usize::try_from(n).unwrap_or(0));
    v.insert("groups", (n >= 0).then_some(groups));
}

/// Capabilities, no_new_privs, seccomp mode and umask from /proc/self/status.
fn status(v: &mut Value) {
    let text = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| procfs::status_field(&text, k);
    let mut caps = Value::object();
    for (key, name) in [
        ("CapInh", "inheritable"),
        ("CapPrm", "permitted"),
        ("CapEff", "effective"),
        ("CapBnd", "bounding"),
        ("CapAmb", "ambient"),
    ] {
        caps.insert(name, field(key));
    }
    v.insert("capabilities", caps);
    v.insert("no_new_privs", field("NoNewPrivs").map(|f| f == "1"));
    v.insert(
        "seccomp",
        field("Seccomp").and_then(|f| f.parse::<u32>().ok()),
    );
    v.insert(
        "seccomp_filters",
        field("Seccomp_filters").and_then(|f| f.parse::<u32>().ok()),
    );
    v.insert(
        "umask",
        field("Umask").and_then(|f| u32::from_str_radix(f, 8).ok()),
    );
}

/// A limit, `None` for unlimited.
// rlim_t is u32 on 32-bit ARM (glibc) and u64 elsewhere.
#[allow(clippy::useless_conversion)]
fn limit(l: libc::rlim_t) -> Option<u64> {
    (l != libc::RLIM_INFINITY).then_some(u64::from(l))
}

/// Every getrlimit resource as `{"soft":n,"hard":n}`, `null` meaning unlimited.
fn rlimits() -> Value {
    let resources = [
        ("as", libc::RLIMIT_AS),
        ("core", libc::RLIMIT_CORE),
        ("cpu", libc::RLIMIT_CPU),
        ("data", libc::RLIMIT_DATA),
        ("fsize", libc::RLIMIT_FSIZE),
        ("locks", libc::RLIMIT_LOCKS),
        ("memlock", libc::RLIMIT_MEMLOCK),
        ("msgqueue", libc::RLIMIT_MSGQUEUE),
        ("nice", libc::RLIMIT_NICE),
        ("nofile", libc::RLIMIT_NOFILE),
        ("nproc", libc::RLIMIT_NPROC),
        ("rss", libc::RLIMIT_RSS),
        ("rtprio", libc::RLIMIT_RTPRIO),
        ("rttime", libc::RLIMIT_RTTIME),
        ("sigpending", libc::RLIMIT_SIGPENDING),
        ("stack", libc::RLIMIT_STACK),
    ];
    let mut all = Value::object();
    for (name, resource) in resources {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `lim` is a valid, writable rlimit.
        let value = if unsafe { libc::getrlimit(resource, &mut lim) } == 0 {
            Value::object()
                .set("soft", limit(lim.rlim_cur))
                .set("hard", limit(lim.rlim_max))
        } else {
            Value::Null
        };
        all.insert(name, value);
    }
    all
}

/// Scheduling policy (name), real-time priority and nice value. Raw syscalls: musl's
/// wrappers for the sched_* calls only return ENOSYS.
fn scheduling(v: &mut Value) {
    // SAFETY: an integer argument (0: this process).
    let policy = unsafe { libc::syscall(libc::SYS_sched_getscheduler, 0 as libc::c_long) };
    let name = match policy as i32 & !libc::SCHED_RESET_ON_FORK {
        libc::SCHED_OTHER => "other".to_string(),
        libc::SCHED_FIFO => "fifo".to_string(),
        libc::SCHED_RR => "rr".to_string(),
        libc::SCHED_BATCH => "batch".to_string(),
        libc::SCHED_IDLE => "idle".to_string(),
        6 => "deadline".to_string(),
        p => p.to_string(),
    };
    v.insert("sched_policy", (policy >= 0).then_some(name));
    // struct sched_param as the kernel sees it: one int.
    let mut priority: libc::c_int = 0;
    // SAFETY: `priority` is a valid, writable int, the kernel's whole sched_param.
    let ret = unsafe { libc::syscall(libc::SYS_sched_getparam, 0 as libc::c_long, &mut priority) };
    v.insert("sched_priority", (ret == 0).then_some(priority));
    // The raw syscall returns 20 - nice (1..=40), so -1 is always an error.
    // SAFETY: integer arguments only.
    let raw = unsafe {
        libc::syscall(
            libc::SYS_getpriority,
            libc::PRIO_PROCESS as libc::c_long,
            0 as libc::c_long,
        )
    };
    v.insert("nice", (raw > 0).then(|| 20 - raw as i64));
}

/// Mounts from /proc/self/mountinfo.
fn mounts() -> Value {
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return Value::Null;
    };
    let list: Vec<Value> = procfs::mountinfo(&text)
        .into_iter()
        .map(|m| {
            Value::object()
                .set("mount_point", m.mount_point.as_str())
                .set("fs_type", m.fs_type.as_str())
                .set("source", m.source.as_str())
                .set("ro", m.has("ro"))
                .set("nosuid", m.has("nosuid"))
                .set("nodev", m.has("nodev"))
                .set("noexec", m.has("noexec"))
                .set("options", m.options.as_str())
                .set("super_options", m.super_options.as_str())
        })
        .collect();
    Value::Array(list)
}

/// Namespace inode ids by name (`mnt`, `pid`, `pid_for_children`, ...), sorted.
fn namespaces() -> Value {
    let Ok(dir) = fs::read_dir("/proc/self/ns") else {
        return Value::Null;
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    let mut v = Value::object();
    for name in names {
        let inode = read_link(format!("/proc/self/ns/{name}")).and_then(|t| procfs::ns_inode(&t));
        v.insert(&name, inode);
    }
    v
}

/// Interface names from /proc/net/dev, else /sys/class/net.
fn interfaces() -> Value {
    if let Ok(text) = fs::read_to_string("/proc/net/dev") {
        return procfs::net_dev(&text).into();
    }
    match fs::read_dir("/sys/class/net") {
        Ok(dir) => {
            let mut names: Vec<String> = dir
                .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                .collect();
            names.sort();
            names.into()
        }
        Err(_) => Value::Null,
    }
}

/// Open fds and their link targets. The directory's own fd is closed before the links
/// are read, so it drops out (its readlink fails).
fn fds() -> Value {
    let Ok(dir) = fs::read_dir("/proc/self/fd") else {
        return Value::Null;
    };
    let mut numbers: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    numbers.sort_unstable();
    let mut v = Value::object();
    for fd in numbers {
        if let Some(target) = read_link(format!("/proc/self/fd/{fd}")) {
            v.insert(&fd.to_string(), target);
        }
    }
    v
}

/// The environment as an object (in the order the process has it).
fn environment() -> Value {
    let mut v = Value::object();
    for (k, val) in std::env::vars_os() {
        v.insert(&k.to_string_lossy(), val.to_string_lossy().into_owned());
    }
    v
}

/// Cgroup membership from /proc/self/cgroup.
fn cgroups() -> Value {
    let Ok(text) = fs::read_to_string("/proc/self/cgroup") else {
        return Value::Null;
    };
    let list: Vec<Value> = procfs::cgroups(&text)
        .into_iter()
        .map(|c| {
            Value::object()
                .set("hierarchy", c.hierarchy)
                .set("controllers", c.controllers)
                .set("path", c.path)
        })
        .collect();
    Value::Array(list)
}

/// Gathers the whole report.
pub fn gather() -> Value {
    let mut v = Value::object();
    // SAFETY: these calls take no pointers and cannot fail.
    let (pid, ppid, pgid, sid) = unsafe {
        (
            libc::getpid(),
            libc::getppid(),
            libc::getpgid(0),
            libc::getsid(0),
        )
    };
    v.insert("pid", pid);
    v.insert("ppid", ppid);
    v.insert("pgid", pgid);
    v.insert("sid", sid);
    ids(&mut v);
    status(&mut v);
    v.insert("rlimits", rlimits());
    scheduling(&mut v);
    v.insert("hostname", hostname());
    v.insert(
        "oom_score_adj",
        fs::read_to_string("/proc/self/oom_score_adj")
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok()),
    );
    v.insert("mounts", mounts());
    v.insert("namespaces", namespaces());
    v.insert("interfaces", interfaces());
    v.insert("fds", fds());
    v.insert(
        "cwd",
        std::env::current_dir()
            .ok()
            .map(|p| String::from_utf8_lossy(p.as_os_str().as_bytes()).into_owned()),
    );
    v.insert("exe", read_link("/proc/self/exe"));
    v.insert("cgroups", cgroups());
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    v.insert("argv", argv);
    v.insert("env", environment());
    v
}

/// `report:<file>` (atomic: a temporary file beside it, then rename) or `report:-`.
pub fn run(path: Option<&str>) -> Result<(), Failure> {
    let text = format!("{}\n", gather());
    let Some(path) = path else {
        return out::write(Stream::Stdout, text.as_bytes());
    };
    // SAFETY: getpid takes no arguments.
    let tmp = format!("{path}.tmp.{}", unsafe { libc::getpid() });
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        failure(format_args!("report {path}"), e)
    })
}
