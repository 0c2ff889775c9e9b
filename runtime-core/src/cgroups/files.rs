//! File system primitives on cgroupfs: write a control file in one `write(2)`, read and
//! parse control files, list a group's processes, create and remove group directories
//! (with the bounded wait for the kernel to finish exits), and empty a stale group. Every
//! error carries the path (and value) concerned. No policy: which files, in what order, is
//! decided by the callers.

use super::Error;
use nix::{
    errno::Errno,
    sys::signal::{kill, Signal},
    unistd::Pid,
};
use std::{
    collections::BTreeSet,
    fs,
    io::{self, ErrorKind, Write},
    path::{Path, PathBuf},
    time::Duration,
};

/// Rounds of "list, then SIGKILL every new process" before giving up on a group whose
/// processes keep forking (each round kills every process it saw; a killed process cannot
/// fork again, so the rounds end once no process escapes a listing).
const KILL_ROUNDS: usize = 64;

/// How long `rmdir` is retried on `EBUSY` while the kernel finishes processes' exits: the
/// sleeps between tries, about one second in all.
const RMDIR_BACKOFF_MS: [u64; 14] = [1, 2, 4, 8, 16, 32, 64, 100, 100, 100, 100, 150, 150, 200];

/// Write `value` to the control file `path` in a single `write(2)`, as cgroupfs expects.
pub(crate) fn write(path: &Path, value: &str) -> Result<(), Error> {
    let error = |source| Error::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(error)?;
    let written = file.write(value.as_bytes()).map_err(error)?;
    if written != value.len() {
        return Err(error(io::Error::new(ErrorKind::WriteZero, "short write")));
    }
    Ok(())
}

/// The content of `path`; `None` when the file does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, Error> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The content of `path`.
pub(crate) fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_error(path: &Path, reason: impl ToString) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// A file holding one number (`memory.current`) or `max`; `Ok(None)` for `max` or when the
/// file does not exist.
pub(crate) fn read_u64(path: &Path) -> Result<Option<u64>, Error> {
    let Some(text) = read_optional(path)? else {
        return Ok(None);
    };
    match text.trim() {
        "max" => Ok(None),
        number => number
            .parse()
            .map(Some)
            .map_err(|e| parse_error(path, format!("{number:?}: {e}"))),
    }
}

/// The value of `key` in a flat keyed file (`key value` lines: `memory.events`,
/// `cpu.stat`, `memory.oom_control`); `Ok(None)` when the file or the key is missing.
pub(crate) fn read_key(path: &Path, key: &str) -> Result<Option<u64>, Error> {
    let Some(text) = read_optional(path)? else {
        return Ok(None);
    };
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some(key) {
            let value = words.next().unwrap_or_default();
            return value
                .parse()
                .map(Some)
                .map_err(|e| parse_error(path, format!("{key} {value:?}: {e}")));
        }
    }
    Ok(None)
}

/// The processes listed in `dir/cgroup.procs` (none when the group does not exist).
pub(crate) fn procs(dir: &Path) -> Result<Vec<Pid>, Error> {
    let path = dir.join("cgroup.procs");
    let Some(text) = read_optional(&path)? else {
        return Ok(Vec::new());
    };
    text.lines()
        .map(|line| {
            line.trim()
                .parse::<i32>()
                .map(Pid::from_raw)
                .map_err(|e| parse_error(&path, format!("{line:?}: {e}")))
        })
        .collect()
}

/// Create the group directory `dir`; `Ok(false)` when it existed already.
pub(crate) fn mkdir(dir: &Path) -> Result<bool, Error> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
        Err(source) => Err(Error::Create {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Remove the group directory `dir` (gone already is fine). `EBUSY` is retried for about a
/// second: the kernel keeps a group busy until its killed processes have fully exited.
pub(crate) fn rmdir(dir: &Path) -> Result<(), Error> {
    let mut backoff = RMDIR_BACKOFF_MS.iter();
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => match backoff.next() {
                Some(ms) => std::thread::sleep(Duration::from_millis(*ms)),
                None => {
                    let pids = procs(dir).unwrap_or_default();
                    return Err(Error::Busy {
                        path: dir.to_path_buf(),
                        pids: pids.iter().map(|p| p.as_raw()).collect(),
                    });
                }
            },
            Err(source) => {
                return Err(Error::Remove {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// Remove `dir` unless other groups or processes still use it (a shared parent group).
pub(crate) fn rmdir_if_unused(dir: &Path) -> Result<(), Error> {
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => Ok(()),
        Err(source) => Err(Error::Remove {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Send `signal` to every process listed by `list`. With SIGKILL, list again and kill the
/// processes that a listing had missed (forked meanwhile), for a bounded number of rounds.
pub(crate) fn signal_listed(
    signal: Signal,
    mut list: impl FnMut() -> Result<Vec<Pid>, Error>,
) -> Result<(), Error> {
    let rounds = if signal == Signal::SIGKILL {
        KILL_ROUNDS
    } else {
        1
    };
    let mut signalled = BTreeSet::new();
    for _ in 0..rounds {
        let fresh: Vec<Pid> = list()?
            .into_iter()
            .filter(|pid| !signalled.contains(pid))
            .collect();
        if fresh.is_empty() {
            break;
        }
        for pid in fresh {
            match kill(pid, signal) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(source) => {
                    return Err(Error::Signal {
                        pid: pid.as_raw(),
                        signal,
                        source,
                    })
                }
            }
            signalled.insert(pid);
        }
    }
    Ok(())
}

/// The group directories below `dir`, deepest first (`dir` itself last).
fn subgroups(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    let entries = fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(subgroups(&entry.path())?);
        }
    }
    out.push(dir.to_path_buf());
    Ok(out)
}

/// Remove `dir` and the groups below it. With `kill`, first SIGKILL every process in them
/// (a group left behind by a runtime that crashed); without, a group in use is an error.
pub(crate) fn remove_tree(dir: &Path, kill: bool) -> Result<(), Error> {
    if !dir.exists() {
        return Ok(());
    }
    let groups = subgroups(dir)?;
    if kill {
        for group in &groups {
            signal_listed(Signal::SIGKILL, || procs(group))?;
        }
    }
    for group in &groups {
        rmdir(group)?;
    }
    Ok(())
}
