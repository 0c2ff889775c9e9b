//! Names for numbers: signals, errno values and the symbolic integer constants accepted
//! by `syscall:` arguments. Owns only lookups in both directions; nothing here touches
//! the system.

/// Signal names without the `SIG` prefix, with their numbers on this target.
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// Highest signal number the kernel accepts (real-time signals included).
pub const MAX_SIGNAL: i32 = 64;

/// Parses `TERM`, `SIGTERM`, `term` or `15`.
pub fn signal_number(text: &str) -> Option<i32> {
    if let Ok(n) = text.parse::<i32>() {
        return (1..=MAX_SIGNAL).contains(&n).then_some(n);
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    SIGNALS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// `TERM` for 15; `RT<n>` style numbers are returned as their decimal text.
pub fn signal_name(signo: i32) -> String {
    SIGNALS
        .iter()
        .find(|(_, v)| *v == signo)
        .map_or_else(|| signo.to_string(), |(n, _)| (*n).to_string())
}

/// The common errno names.
const ERRNOS: &[(&str, i32)] = &[
    ("EPERM", libc::EPERM),
    ("ENOENT", libc::ENOENT),
    ("ESRCH", libc::ESRCH),
    ("EINTR", libc::EINTR),
    ("EIO", libc::EIO),
    ("ENXIO", libc::ENXIO),
    ("E2BIG", libc::E2BIG),
    ("ENOEXEC", libc::ENOEXEC),
    ("EBADF", libc::EBADF),
    ("ECHILD", libc::ECHILD),
    ("EAGAIN", libc::EAGAIN),
    ("ENOMEM", libc::ENOMEM),
    ("EACCES", libc::EACCES),
    ("EFAULT", libc::EFAULT),
    ("EBUSY", libc::EBUSY),
    ("EEXIST", libc::EEXIST),
    ("EXDEV", libc::EXDEV),
    ("ENODEV", libc::ENODEV),
    ("ENOTDIR", libc::ENOTDIR),
    ("EISDIR", libc::EISDIR),
    ("EINVAL", libc::EINVAL),
    ("ENFILE", libc::ENFILE),
    ("EMFILE", libc::EMFILE),
    ("ENOTTY", libc::ENOTTY),
    ("ETXTBSY", libc::ETXTBSY),
    ("EFBIG", libc::EFBIG),
    ("ENOSPC", libc::ENOSPC),
    ("EROFS", libc::EROFS),
    ("EPIPE", libc::EPIPE),
    ("ERANGE", libc::ERANGE),
    ("ENAMETOOLONG", libc::ENAMETOOLONG),
    ("ENOSYS", libc::ENOSYS),
    ("ELOOP", libc::ELOOP),
    ("ENOKEY", libc::ENOKEY),
    ("EOPNOTSUPP", libc::EOPNOTSUPP),
    ("EAFNOSUPPORT", libc::EAFNOSUPPORT),
    ("EADDRINUSE", libc::EADDRINUSE),
    ("EADDRNOTAVAIL", libc::EADDRNOTAVAIL),
    ("ENETDOWN", libc::ENETDOWN),
    ("ENETUNREACH", libc::ENETUNREACH),
    ("ECONNRESET", libc::ECONNRESET),
    ("ETIMEDOUT", libc::ETIMEDOUT),
    ("ECONNREFUSED", libc::ECONNREFUSED),
    ("EHOSTUNREACH", libc::EHOSTUNREACH),
];

/// `EPERM` for 1; unknown numbers as `E<n>`.
pub fn errno_name(errno: i32) -> String {
    ERRNOS
        .iter()
        .find(|(_, v)| *v == errno)
        .map_or_else(|| format!("E{errno}"), |(n, _)| (*n).to_string())
}

/// Symbolic constants accepted as `syscall:` arguments (combine with `|`).
const CONSTANTS: &[(&str, i64)] = &[
    ("CLONE_NEWNS", libc::CLONE_NEWNS as i64),
    ("CLONE_NEWUTS", libc::CLONE_NEWUTS as i64),
    ("CLONE_NEWIPC", libc::CLONE_NEWIPC as i64),
    ("CLONE_NEWUSER", libc::CLONE_NEWUSER as i64),
    ("CLONE_NEWPID", libc::CLONE_NEWPID as i64),
    ("CLONE_NEWNET", libc::CLONE_NEWNET as i64),
    ("CLONE_NEWCGROUP", libc::CLONE_NEWCGROUP as i64),
    ("CLONE_NEWTIME", 0x80),
    ("MS_RDONLY", libc::MS_RDONLY as i64),
    ("MS_NOSUID", libc::MS_NOSUID as i64),
    ("MS_NODEV", libc::MS_NODEV as i64),
    ("MS_NOEXEC", libc::MS_NOEXEC as i64),
    ("MS_REMOUNT", libc::MS_REMOUNT as i64),
    ("MS_BIND", libc::MS_BIND as i64),
    ("MNT_FORCE", libc::MNT_FORCE as i64),
    ("MNT_DETACH", libc::MNT_DETACH as i64),
    ("PTRACE_TRACEME", 0),
];

/// Parses one integer argument: decimal (`-3`), `0x1f`, `0o755`, a constant name, or
/// several of these joined by `|`.
pub fn integer(text: &str) -> Option<i64> {
    let mut value = 0i64;
    for part in text.split('|') {
        value |= single_integer(part.trim())?;
    }
    Some(value)
}

fn single_integer(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let parsed = if let Some(hex) = digits.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).ok().map(|v| v as i64)
    } else if let Some(oct) = digits.strip_prefix("0o") {
        u64::from_str_radix(oct, 8).ok().map(|v| v as i64)
    } else if digits.starts_with(|c: char| c.is_ascii_digit()) {
        digits.parse::<i64>().ok()
    } else {
        return CONSTANTS.iter().find(|(n, _)| *n == text).map(|(_, v)| *v);
    };
    parsed.map(|v| if negative { v.wrapping_neg() } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_number_and_prefix() {
        assert_eq!(signal_number("TERM"), Some(libc::SIGTERM));
        assert_eq!(signal_number("SIGKILL"), Some(libc::SIGKILL));
        assert_eq!(signal_number("segv"), Some(libc::SIGSEGV));
        assert_eq!(signal_number("6"), Some(6));
        assert_eq!(signal_number("0"), None);
        assert_eq!(signal_number("65"), None);
        assert_eq!(signal_number("NOPE"), None);
        assert_eq!(signal_name(libc::SIGSYS), "SYS");
        assert_eq!(signal_name(40), "40");
    }

    #[test]
    fn errno_names() {
        assert_eq!(errno_name(libc::EPERM), "EPERM");
        assert_eq!(errno_name(4095), "E4095");
    }

    #[test]
    fn integers_in_every_notation() {
        assert_eq!(integer("42"), Some(42));
        assert_eq!(integer("-3"), Some(-3));
        assert_eq!(integer("0x10"), Some(16));
        assert_eq!(integer("0o755"), Some(0o755));
        assert_eq!(integer("0xffffffff"), Some(0xffff_ffff));
        assert_eq!(
            integer("CLONE_NEWNS|CLONE_NEWNET"),
            Some((libc::CLONE_NEWNS | libc::CLONE_NEWNET) as i64)
        );
        assert_eq!(integer("MNT_DETACH | 1"), Some(libc::MNT_DETACH as i64 | 1));
        assert_eq!(integer("CLONE_NOPE"), None);
        assert_eq!(integer(""), None);
        assert_eq!(integer("12abc"), None);
    }
}
