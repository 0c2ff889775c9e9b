//! The rules checked after parsing: limits, cross-field rules, and what the field types
//! cannot express. Each failure names the field path; the line is looked up in the text.

use super::{
    lines, types::check_abs_path, types::check_identifier, Error, Manifest, Mount, MountOption,
    Network, Policy, Restart, SyscallRule, Watchdog,
};

/// Limits of the manifest's fields. Northstar 0.9's limits where it has them.
pub mod limits {
    /// Most environment variables (0.9: 64).
    pub const MAX_ENV_VARS: usize = 64;
    /// Longest environment variable name (0.9: 64).
    pub const MAX_ENV_KEY_LEN: usize = 64;
    /// Longest environment variable value (0.9: 1024).
    pub const MAX_ENV_VALUE_LEN: usize = 1024;
    /// Most bytes of all `KEY=value\0` strings together.
    pub const MAX_ENV_TOTAL: usize = 32 * 1024;
    /// Environment variable names starting with this are reserved for the runtime.
    pub const RESERVED_ENV_PREFIX: &str = "NORTHSTAR_";
    /// Most arguments.
    pub const MAX_ARGS: usize = 256;
    /// Longest argument.
    pub const MAX_ARG_LEN: usize = 4096;
    /// Most supplementary groups (0.9: 64).
    pub const MAX_SUPPL_GROUPS: usize = 64;
    /// Longest supplementary group name (0.9: 64).
    pub const MAX_GROUP_LEN: usize = 64;
    /// Longest network namespace name (a file name under /run/netns).
    pub const MAX_NETNS_LEN: usize = 255;
    /// Longest socket name (a file name; `sun_path` holds 108 bytes with its directory).
    pub const MAX_SOCKET_NAME_LEN: usize = 64;
    /// Largest uid/gid: Northstar 0.9 stores them as u16.
    pub const MAX_ID: u32 = u16::MAX as u32;
    /// Highest seccomp argument index (`seccomp_data.args` has 6).
    pub const MAX_SECCOMP_ARG_INDEX: u8 = 5;
    /// Most values of one seccomp argument filter (0.9: 50, bounded by BPF jump offsets).
    pub const MAX_SECCOMP_ARG_VALUES: usize = 50;
    /// Longest SELinux context.
    pub const MAX_SELINUX_CONTEXT_LEN: usize = 4096;
    /// Longest restart delay, in milliseconds.
    pub const MAX_RESTART_DELAY_MS: u64 = 3_600_000;
    /// Shortest watchdog interval: the runtime's loop and a busy program need slack.
    pub const MIN_WATCHDOG_MS: u64 = 100;
    /// Longest watchdog interval (one hour).
    pub const MAX_WATCHDOG_MS: u64 = 3_600_000;
    /// Longest `console.npk_stream_timeout`, in seconds: one hour, the runtime
    /// configuration's longest timeout.
    pub const MAX_NPK_STREAM_TIMEOUT: u64 = 3600;
    /// Largest `console.max_request_size`, in bytes: the management API's largest frame.
    pub const MAX_REQUEST_SIZE: u64 = 4 * 1024 * 1024;
    /// Most `console.max_requests_per_sec`.
    pub const MAX_REQUESTS_PER_SEC: u64 = 1_000_000;
}
use limits::*;

/// A broken rule: the field path (segments; `[n]` for sequence indices) and the problem.
#[derive(Debug)]
pub(crate) struct Problem {
    path: Vec<String>,
    problem: String,
}

impl Problem {
    fn new<S: ToString>(path: &[S], problem: impl Into<String>) -> Problem {
        Problem {
            path: path.iter().map(ToString::to_string).collect(),
            problem: problem.into(),
        }
    }

    /// The error, with the line looked up in `text` if given.
    pub(crate) fn into_error(self, text: Option<&str>) -> Error {
        let line = text.and_then(|text| lines::find_line(text, &self.path));
        let mut field = String::new();
        for segment in &self.path {
            if !field.is_empty() && !segment.starts_with('[') {
                field.push('.');
            }
            field.push_str(segment);
        }
        Error::Invalid {
            field,
            line,
            problem: self.problem,
        }
    }
}

pub(crate) type Check = Result<(), Problem>;

pub(crate) fn fail<S: ToString>(path: &[S], problem: impl Into<String>) -> Check {
    Err(Problem::new(path, problem))
}

/// Check every rule of `m`.
pub(crate) fn manifest(m: &Manifest) -> Check {
    ids(m)?;
    init(m)?;
    resource_container(m)?;
    args(m)?;
    env(m)?;
    suppl_groups(m)?;
    sched(m)?;
    mounts(m)?;
    network(m)?;
    seccomp(m)?;
    selinux(m)?;
    rlimits(m)?;
    sockets(m)?;
    restart(m)?;
    watchdog(m)?;
    console(m)?;
    super::cgroups::validate(m)
}

fn ids(m: &Manifest) -> Check {
    for (field, id) in [("uid", m.uid), ("gid", m.gid)] {
        if id == 0 {
            return fail(&[field], "must not be 0 (root)");
        }
        if id > MAX_ID {
            return fail(&[field], format!("must be at most {MAX_ID}"));
        }
    }
    Ok(())
}

fn init(m: &Manifest) -> Check {
    let Some(init) = &m.init else { return Ok(()) };
    let Some(text) = init.to_str() else {
        return fail(&["init"], "must be UTF-8");
    };
    let path = check_abs_path(text).map_err(|e| Problem::new(&["init"], e))?;
    if path.as_os_str() == "/" {
        return fail(&["init"], "must name a file, not \"/\"");
    }
    Ok(())
}

/// A resource container (no `init`) is never started: process settings make no sense there.
fn resource_container(m: &Manifest) -> Check {
    if m.init.is_some() {
        return Ok(());
    }
    let present = [
        ("console", m.console.is_some()),
        ("args", !m.args.is_empty()),
        ("env", !m.env.is_empty()),
        ("sched", m.sched.is_some()),
        ("mounts", !m.mounts.is_empty()),
        ("autostart", m.autostart.is_some()),
        ("cgroups", m.cgroups.is_some()),
        ("network", m.network.is_some()),
        ("seccomp", m.seccomp.is_some()),
        ("selinux", m.selinux.is_some()),
        ("capabilities", !m.capabilities.is_empty()),
        ("suppl_groups", !m.suppl_groups.is_empty()),
        ("rlimits", !m.rlimits.is_empty()),
        ("sockets", !m.sockets.is_empty()),
        ("io", m.io.is_some()),
        ("restart", m.restart.is_some()),
        ("watchdog", m.watchdog.is_some()),
    ];
    match present.iter().find(|(_, present)| *present) {
        Some((field, _)) => fail(
            &[field],
            "not allowed in a resource container (a manifest without init)",
        ),
        None => Ok(()),
    }
}

fn args(m: &Manifest) -> Check {
    if m.args.len() > MAX_ARGS {
        return fail(&["args"], format!("more than {MAX_ARGS} arguments"));
    }
    for (i, arg) in m.args.iter().enumerate() {
        let path = ["args".to_string(), format!("[{i}]")];
        if arg.contains('\0') {
            return fail(&path, "must not contain a NUL byte");
        }
        if arg.len() > MAX_ARG_LEN {
            return fail(&path, format!("is longer than {MAX_ARG_LEN} bytes"));
        }
    }
    Ok(())
}

fn env(m: &Manifest) -> Check {
    if m.env.len() > MAX_ENV_VARS {
        return fail(&["env"], format!("more than {MAX_ENV_VARS} variables"));
    }
    let mut total = 0usize;
    for (key, value) in &m.env {
        let path = ["env", key.as_str()];
        if key.is_empty() {
            return fail(&path, "variable name must not be empty");
        }
        if key.len() > MAX_ENV_KEY_LEN {
            return fail(
                &path,
                format!("name is longer than {MAX_ENV_KEY_LEN} bytes"),
            );
        }
        if let Some(c) = key
            .chars()
            .find(|c| *c == '=' || c.is_control() || c.is_whitespace())
        {
            return fail(&path, format!("name must not contain {c:?}"));
        }
        if key.starts_with(RESERVED_ENV_PREFIX) {
            return fail(
                &path,
                format!("names starting with {RESERVED_ENV_PREFIX} are reserved for the runtime"),
            );
        }
        if value.contains('\0') {
            return fail(&path, "value must not contain a NUL byte");
        }
        if value.len() > MAX_ENV_VALUE_LEN {
            return fail(
                &path,
                format!("value is longer than {MAX_ENV_VALUE_LEN} bytes"),
            );
        }
        // `NAME=value` and the terminating NUL; saturating past the limit still fails.
        total = total
            .saturating_add(key.len())
            .saturating_add(value.len())
            .saturating_add(2);
    }
    if total > MAX_ENV_TOTAL {
        return fail(
            &["env"],
            format!("larger than {MAX_ENV_TOTAL} bytes in total"),
        );
    }
    Ok(())
}

fn suppl_groups(m: &Manifest) -> Check {
    if m.suppl_groups.len() > MAX_SUPPL_GROUPS {
        return fail(
            &["suppl_groups"],
            format!("more than {MAX_SUPPL_GROUPS} groups"),
        );
    }
    for group in &m.suppl_groups {
        check_identifier(group, MAX_GROUP_LEN)
            .or_else(|e| fail(&["suppl_groups"], format!("group {group:?}: {e}")))?;
        if group.starts_with('-') {
            return fail(
                &["suppl_groups"],
                format!("group {group:?} must not start with '-'"),
            );
        }
    }
    Ok(())
}

fn sched(m: &Manifest) -> Check {
    let path = ["sched", "policy"];
    match m.sched.as_ref().and_then(|s| s.policy.as_ref()) {
        Some(Policy::Other { nice } | Policy::Batch { nice }) if !(-20..=19).contains(nice) => {
            fail(&path, format!("nice {nice} is not in -20..=19"))
        }
        Some(Policy::Fifo { priority } | Policy::RoundRobin { priority })
            if !(1..=99).contains(priority) =>
        {
            fail(&path, format!("priority {priority} is not in 1..=99"))
        }
        _ => Ok(()),
    }
}

fn mounts(m: &Manifest) -> Check {
    let mut previous: Option<&std::path::Path> = None;
    for (target, mount) in &m.mounts {
        let name = target.to_string();
        // Sorted by components, a mount inside another directly follows an ancestor or a
        // sibling inside the same ancestor, which then also is inside it.
        if let Some(parent) = previous.filter(|p| target.as_path().starts_with(p)) {
            return fail(
                &["mounts", name.as_str()],
                format!("overlaps the mount at {}", parent.display()),
            );
        }
        previous = Some(target.as_path());
        let options = match mount {
            Mount::Resource(r) => Some(&r.options),
            _ => None,
        };
        if options.is_some_and(|o| o.contains(MountOption::Rec)) {
            return fail(
                &["mounts", name.as_str(), "options"],
                "\"rec\" is only allowed on bind mounts",
            );
        }
    }
    Ok(())
}

fn network(m: &Manifest) -> Check {
    if let Some(Network::Namespace(name)) = &m.network {
        check_identifier(name, MAX_NETNS_LEN)
            .or_else(|e| fail(&["network"], format!("namespace {name:?}: {e}")))?;
    }
    Ok(())
}

fn seccomp(m: &Manifest) -> Check {
    let Some(allow) = m.seccomp.as_ref().and_then(|s| s.allow.as_ref()) else {
        return Ok(());
    };
    for (syscall, rule) in allow {
        let SyscallRule::Args(args) = rule else {
            continue;
        };
        let path = ["seccomp", "allow", syscall.as_str()];
        if args.index > MAX_SECCOMP_ARG_INDEX {
            return fail(
                &path,
                format!(
                    "argument index {} is not in 0..={MAX_SECCOMP_ARG_INDEX}",
                    args.index
                ),
            );
        }
        if args.values.is_none() && args.mask.is_none() {
            return fail(&path, "an argument filter needs `values` or `mask`");
        }
        if args
            .values
            .as_ref()
            .is_some_and(|v| v.len() > MAX_SECCOMP_ARG_VALUES)
        {
            return fail(&path, format!("more than {MAX_SECCOMP_ARG_VALUES} values"));
        }
    }
    Ok(())
}

fn selinux(m: &Manifest) -> Check {
    let Some(selinux) = &m.selinux else {
        return Ok(());
    };
    let path = ["selinux", "context"];
    let context = &selinux.context;
    if context.is_empty() || context.len() > MAX_SELINUX_CONTEXT_LEN {
        return fail(
            &path,
            format!("must be 1..={MAX_SELINUX_CONTEXT_LEN} bytes"),
        );
    }
    if let Some(c) = context
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == ':' || *c == '_'))
    {
        return fail(
            &path,
            format!("invalid character {c:?} (allowed: 0-9 A-Z a-z : _)"),
        );
    }
    Ok(())
}

fn rlimits(m: &Manifest) -> Check {
    for (resource, value) in &m.rlimits {
        // An absent limit is unlimited.
        let too_high = match (value.soft, value.hard) {
            (Some(soft), Some(hard)) => soft > hard,
            (None, Some(_)) => true,
            _ => false,
        };
        if too_high {
            return fail(
                &["rlimits".to_string(), resource.to_string(), "soft".into()],
                "soft limit is higher than the hard limit",
            );
        }
    }
    Ok(())
}

fn sockets(m: &Manifest) -> Check {
    for (name, socket) in &m.sockets {
        check_identifier(name, MAX_SOCKET_NAME_LEN)
            .or_else(|e| fail(&["sockets", name.as_str()], format!("socket name: {e}")))?;
        if socket.mode > 0o777 {
            return fail(&["sockets", name.as_str(), "mode"], "must be at most 0o777");
        }
        for (field, id) in [("uid", socket.uid), ("gid", socket.gid)] {
            if id == Some(0) {
                return fail(&["sockets", name.as_str(), field], "must not be 0 (root)");
            }
        }
    }
    Ok(())
}

fn restart(m: &Manifest) -> Check {
    let Some(restart) = &m.restart else {
        return Ok(());
    };
    if restart.delay_ms == Some(0) {
        return fail(&["restart", "delay_ms"], "must be at least 1");
    }
    let delay = restart.delay_ms.unwrap_or(Restart::DEFAULT_DELAY_MS);
    let max_delay = restart
        .max_delay_ms
        .unwrap_or(Restart::DEFAULT_MAX_DELAY_MS);
    if max_delay < delay {
        return fail(
            &["restart", "max_delay_ms"],
            format!("must be at least delay_ms ({delay})"),
        );
    }
    if max_delay > MAX_RESTART_DELAY_MS {
        return fail(
            &["restart", "max_delay_ms"],
            format!("must be at most {MAX_RESTART_DELAY_MS} (one hour)"),
        );
    }
    Ok(())
}

/// `watchdog`: an interval in bounds, and a `sockets` mount to send the keep-alives
/// through.
fn watchdog(m: &Manifest) -> Check {
    let Some(Watchdog { interval_ms }) = &m.watchdog else {
        return Ok(());
    };
    if !(MIN_WATCHDOG_MS..=MAX_WATCHDOG_MS).contains(interval_ms) {
        return fail(
            &["watchdog", "interval_ms"],
            format!("must be {MIN_WATCHDOG_MS}..={MAX_WATCHDOG_MS} (one hour)"),
        );
    }
    if !m
        .mounts
        .values()
        .any(|mount| matches!(mount, Mount::Sockets))
    {
        return fail(
            &["watchdog"],
            "needs a mount of type sockets (where the notify socket is)",
        );
    }
    Ok(())
}

/// The console's limits: the runtime caps them too, these bounds make an out-of-range
/// value an error that names the field instead of a silent cap.
fn console(m: &Manifest) -> Check {
    let Some(console) = &m.console else {
        return Ok(());
    };
    for (field, value, max, unit) in [
        (
            "npk_stream_timeout",
            console.npk_stream_timeout,
            MAX_NPK_STREAM_TIMEOUT,
            " seconds (one hour)",
        ),
        (
            "max_request_size",
            console.max_request_size,
            MAX_REQUEST_SIZE,
            " bytes",
        ),
        (
            "max_requests_per_sec",
            console.max_requests_per_sec,
            MAX_REQUESTS_PER_SEC,
            "",
        ),
    ] {
        if value.is_some_and(|v| v > max) {
            return fail(&["console", field], format!("must be at most {max}{unit}"));
        }
    }
    Ok(())
}
