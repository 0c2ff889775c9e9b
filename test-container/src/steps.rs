//! The command language: one step per program argument, `verb[:arg[,arg...]]`. Owns
//! parsing and validation of every step before anything runs; running them is
//! [`crate::run`]'s job. The last argument of `write`, `append`, `print` and `eprint`
//! takes the rest of the text, commas included.

use crate::names;
use northstar_client::api::ContainerId;
use std::{fmt, net::SocketAddr, time::Duration};

/// Where a step's output goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Which syscall a `syscall:` step makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Getpid,
    Getppid,
    Personality,
    Umask,
    Mount,
    Umount2,
    Chroot,
    PivotRoot,
    Unshare,
    Setns,
    Ptrace,
    Reboot,
    KexecLoad,
    InitModule,
    Setuid,
    Setgid,
    Mknod,
    Keyctl,
    Bpf,
    /// A syscall by its number on this architecture.
    Number(i64),
}

/// Names of the syscalls known by name, with the most integer arguments each takes.
const CALLS: &[(&str, Call, usize)] = &[
    ("getpid", Call::Getpid, 0),
    ("getppid", Call::Getppid, 0),
    ("personality", Call::Personality, 1),
    ("umask", Call::Umask, 1),
    ("mount", Call::Mount, 1),
    ("umount2", Call::Umount2, 1),
    ("chroot", Call::Chroot, 0),
    ("pivot_root", Call::PivotRoot, 0),
    ("unshare", Call::Unshare, 1),
    ("setns", Call::Setns, 2),
    ("ptrace", Call::Ptrace, 2),
    ("reboot", Call::Reboot, 0),
    ("kexec_load", Call::KexecLoad, 0),
    ("init_module", Call::InitModule, 0),
    ("setuid", Call::Setuid, 1),
    ("setgid", Call::Setgid, 1),
    ("mknod", Call::Mknod, 0),
    ("keyctl", Call::Keyctl, 5),
    ("bpf", Call::Bpf, 1),
];

impl Call {
    /// The name printed in the result line.
    pub fn name(self) -> String {
        match self {
            Call::Number(n) => n.to_string(),
            call => CALLS
                .iter()
                .find(|(_, c, _)| *c == call)
                .map_or_else(String::new, |(n, _, _)| (*n).to_string()),
        }
    }
}

/// A request of a `console:` step, sent through the container's console connection.
#[derive(Clone, Debug, PartialEq)]
pub enum ConsoleRequest {
    /// `reboot`: stop every container and reboot (PID 1).
    Reboot,
    /// `shutdown`: stop every container and power off (PID 1) or end the runtime.
    Shutdown,
    /// `wait-exit,<container>`: wait until the container has ended once.
    WaitExit(ContainerId),
    /// `kill,<container>`: SIGTERM to the container.
    Kill(ContainerId),
    /// `inspect,<container>`: the container in detail.
    Inspect(ContainerId),
    /// `logs,<container>`: the container's captured output.
    Logs(ContainerId),
}

impl ConsoleRequest {
    /// The name printed in the result line.
    pub fn name(&self) -> &'static str {
        match self {
            ConsoleRequest::Reboot => "reboot",
            ConsoleRequest::Shutdown => "shutdown",
            ConsoleRequest::WaitExit(_) => "wait-exit",
            ConsoleRequest::Kill(_) => "kill",
            ConsoleRequest::Inspect(_) => "inspect",
            ConsoleRequest::Logs(_) => "logs",
        }
    }
}

/// One step of the program.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Write the JSON report to a file (atomically) or, with `None`, to stdout.
    Report(Option<String>),
    Exit(u8),
    Signal(i32),
    Sleep(Duration),
    SleepForever,
    Print {
        stream: Stream,
        count: u64,
        text: Option<String>,
    },
    Flood {
        stream: Stream,
        bytes: u64,
    },
    Write {
        path: String,
        text: String,
        append: bool,
    },
    Read(String),
    Mkdir(String),
    Stat(String),
    Syscall {
        call: Call,
        args: Vec<i64>,
        /// The path operand of `mknod`.
        path: Option<String>,
    },
    ForkBomb {
        max: u64,
    },
    Orphans(u32),
    Children(u32),
    Zombies(u32),
    /// List the zombies of a proc file system (`scan-zombies:<dir>`).
    ScanZombies(String),
    Alloc {
        mib: u64,
    },
    Spin(Duration),
    Ignore(i32),
    WaitSignal,
    Escape,
    /// Replace this process with `program`, with one optional argument.
    Exec {
        program: String,
        arg: Option<String>,
    },
    Net,
    Connect(SocketAddr),
    Listen(SocketAddr),
    /// A request through the console connection.
    Console(ConsoleRequest),
    /// One datagram of newline-separated assignments to `$NOTIFY_SOCKET`.
    Notify(String),
    /// `WATCHDOG=1` this many times, every half of `$WATCHDOG_USEC`.
    Watchdog(u32),
}

/// Default bound of `fork-bomb` when no limit stops it earlier.
pub const FORK_BOMB_MAX: u64 = 4096;
/// Default path of `syscall:mknod`.
pub const MKNOD_PATH: &str = "/tmp/test-container-null";

/// A step that cannot be parsed: the argument and what is wrong with it.
#[derive(Debug, PartialEq)]
pub struct ParseError {
    pub arg: String,
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid step {:?}: {}", self.arg, self.reason)
    }
}

/// Parses every argument; the first bad one is the error.
pub fn parse_all<S: AsRef<str>>(args: &[S]) -> Result<Vec<Step>, ParseError> {
    args.iter().map(|a| parse(a.as_ref())).collect()
}

/// Parses one argument.
pub fn parse(arg: &str) -> Result<Step, ParseError> {
    let fail = |reason: &str| ParseError {
        arg: arg.to_string(),
        reason: reason.to_string(),
    };
    let (verb, rest) = match arg.split_once(':') {
        Some((verb, rest)) => (verb, Some(rest)),
        None => (arg, None),
    };
    let none = |step: Step| match rest {
        None => Ok(step),
        Some(_) => Err(fail("takes no argument")),
    };
    let need = || {
        rest.filter(|r| !r.is_empty())
            .ok_or_else(|| fail("needs an argument"))
    };
    match verb {
        "report" => match rest {
            None | Some("-") => Ok(Step::Report(None)),
            Some("") => Err(fail("needs a file or -")),
            Some(path) => Ok(Step::Report(Some(path.to_string()))),
        },
        "exit" => need()?
            .parse::<u8>()
            .map(Step::Exit)
            .map_err(|_| fail("exit code must be 0..=255")),
        "signal" => names::signal_number(need()?)
            .map(Step::Signal)
            .ok_or_else(|| fail("unknown signal")),
        "ignore" => match names::signal_number(need()?) {
            Some(s) if s == libc::SIGKILL || s == libc::SIGSTOP => {
                Err(fail("KILL and STOP cannot be ignored"))
            }
            Some(s) => Ok(Step::Ignore(s)),
            None => Err(fail("unknown signal")),
        },
        "sleep" => seconds(need()?)
            .map(Step::Sleep)
            .ok_or_else(|| fail("bad seconds")),
        "spin" => seconds(need()?)
            .map(Step::Spin)
            .ok_or_else(|| fail("bad seconds")),
        "sleep-forever" => none(Step::SleepForever),
        "print" | "eprint" => {
            let stream = if verb == "print" {
                Stream::Stdout
            } else {
                Stream::Stderr
            };
            let (count, text) = match need()?.split_once(',') {
                Some((n, text)) => (n, Some(text.to_string())),
                None => (need()?, None),
            };
            let count = count.parse().map_err(|_| fail("bad line count"))?;
            Ok(Step::Print {
                stream,
                count,
                text,
            })
        }
        "flood" => {
            let (bytes, stream) = match need()?.split_once(',') {
                Some((b, "stdout")) => (b, Stream::Stdout),
                Some((b, "stderr")) => (b, Stream::Stderr),
                Some(_) => return Err(fail("stream must be stdout or stderr")),
                None => (need()?, Stream::Stdout),
            };
            let bytes = bytes.parse().map_err(|_| fail("bad byte count"))?;
            Ok(Step::Flood { stream, bytes })
        }
        "write" | "append" => {
            let (path, text) = need()?
                .split_once(',')
                .ok_or_else(|| fail("needs <file>,<text>"))?;
            if path.is_empty() {
                return Err(fail("empty file name"));
            }
            Ok(Step::Write {
                path: path.to_string(),
                text: text.to_string(),
                append: verb == "append",
            })
        }
        "read" => Ok(Step::Read(need()?.to_string())),
        "mkdir" => Ok(Step::Mkdir(need()?.to_string())),
        "stat" => Ok(Step::Stat(need()?.to_string())),
        "syscall" => syscall(need()?).map_err(|r| fail(&r)),
        "fork-bomb" => match rest {
            None => Ok(Step::ForkBomb { max: FORK_BOMB_MAX }),
            Some(max) => max
                .parse()
                .map(|max| Step::ForkBomb { max })
                .map_err(|_| fail("bad fork count")),
        },
        "orphans" | "children" | "zombies" => {
            let n: u32 = need()?.parse().map_err(|_| fail("bad process count"))?;
            Ok(match verb {
                "orphans" => Step::Orphans(n),
                "children" => Step::Children(n),
                _ => Step::Zombies(n),
            })
        }
        "scan-zombies" => Ok(Step::ScanZombies(need()?.to_string())),
        "alloc" => need()?
            .parse()
            .map(|mib| Step::Alloc { mib })
            .map_err(|_| fail("bad MiB count")),
        "wait-signal" => none(Step::WaitSignal),
        "escape" => none(Step::Escape),
        "exec" => {
            let (program, arg) = match need()?.split_once(',') {
                Some((p, a)) => (p, Some(a.to_string())),
                None => (need()?, None),
            };
            if program.is_empty() {
                return Err(fail("empty program"));
            }
            Ok(Step::Exec {
                program: program.to_string(),
                arg,
            })
        }
        "net" => none(Step::Net),
        "connect" | "listen" => {
            let addr: SocketAddr = need()?
                .parse()
                .map_err(|_| fail("needs <ip>:<port> ([v6]:port for IPv6)"))?;
            Ok(if verb == "connect" {
                Step::Connect(addr)
            } else {
                Step::Listen(addr)
            })
        }
        "console" => console(need()?).map(Step::Console).map_err(|r| fail(&r)),
        // Commas separate the assignments (a datagram has one per line).
        "notify" => Ok(Step::Notify(need()?.replace(',', "\n"))),
        "watchdog" => need()?
            .parse()
            .map(Step::Watchdog)
            .map_err(|_| fail("bad keep-alive count")),
        _ => Err(fail("unknown verb")),
    }
}

/// Non-negative, finite seconds with a fraction.
fn seconds(text: &str) -> Option<Duration> {
    let secs: f64 = text.parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

/// `reboot`, `shutdown`, or `wait-exit`, `kill`, `inspect`, `logs` with
/// `,<name>:<version>`.
fn console(text: &str) -> Result<ConsoleRequest, String> {
    let on = |verb: &str, id: &str, make: fn(ContainerId) -> ConsoleRequest| {
        id.parse().map(make).map_err(|e| format!("{verb}: {e}"))
    };
    match text.split_once(',') {
        None if text == "reboot" => Ok(ConsoleRequest::Reboot),
        None if text == "shutdown" => Ok(ConsoleRequest::Shutdown),
        Some(("wait-exit", id)) => on("wait-exit", id, ConsoleRequest::WaitExit),
        Some(("kill", id)) => on("kill", id, ConsoleRequest::Kill),
        Some(("inspect", id)) => on("inspect", id, ConsoleRequest::Inspect),
        Some(("logs", id)) => on("logs", id, ConsoleRequest::Logs),
        _ => Err(
            "expected reboot, shutdown, or wait-exit, kill, inspect, logs with \
             ,<name>:<version>"
                .to_string(),
        ),
    }
}

/// `<name or number>[,<arg>...]`; `mknod` takes an optional path instead.
fn syscall(text: &str) -> Result<Step, String> {
    let mut parts = text.split(',');
    let name = parts.next().unwrap_or_default();
    let (call, max) = match CALLS.iter().find(|(n, _, _)| *n == name) {
        Some((_, call, max)) => (*call, *max),
        None => match names::integer(name) {
            Some(nr) if name.starts_with(|c: char| c.is_ascii_digit()) => (Call::Number(nr), 6),
            _ => return Err(format!("unknown syscall {name:?}")),
        },
    };
    if call == Call::Mknod {
        let path = parts.next().map(str::to_string);
        if parts.next().is_some() || path.as_deref() == Some("") {
            return Err("mknod takes at most one path".to_string());
        }
        return Ok(Step::Syscall {
            call,
            args: Vec::new(),
            path: Some(path.unwrap_or_else(|| MKNOD_PATH.to_string())),
        });
    }
    let args = parts
        .map(|a| names::integer(a).ok_or_else(|| format!("bad integer argument {a:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    if args.len() > max {
        return Err(format!("{name} takes at most {max} arguments"));
    }
    Ok(Step::Syscall {
        call,
        args,
        path: None,
    })
}

#[cfg(test)]
mod tests;
