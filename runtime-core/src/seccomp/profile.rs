//! The predefined profiles: data files of syscall names with their rules, parsed once.
//!
//! `profiles/default.txt` is the `default` profile; its header documents the line format.
//! This module only reads the files into [`Entry`] values: names are not resolved to
//! numbers here (that depends on the architecture, see the compiler).

use super::{rules::Cond, Error};
use std::{collections::BTreeSet, sync::OnceLock};

const DEFAULT_FILE: &str = "seccomp/profiles/default.txt";
const DEFAULT: &str = include_str!("profiles/default.txt");

/// Highest errno a filter may return (`MAX_ERRNO`; the kernel caps larger values).
const MAX_ERRNO: u64 = 4095;

/// What a profile says about one syscall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Allowed: always (`None`) or when the condition holds.
    Allow(Option<Cond>),
    /// Not allowed, but fails with this errno instead of killing the process.
    Errno(u16),
}

/// One line of a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub name: &'static str,
    pub action: Action,
}

/// The entries of the `default` profile, parsed on first use.
pub(crate) fn default() -> Result<&'static [Entry], Error> {
    static ENTRIES: OnceLock<Result<Vec<Entry>, Error>> = OnceLock::new();
    ENTRIES
        .get_or_init(|| parse(DEFAULT_FILE, DEFAULT))
        .as_ref()
        .map(Vec::as_slice)
        .map_err(Clone::clone)
}

/// Parse a profile: one entry a line, each with a comment; names unique.
pub(crate) fn parse(file: &'static str, text: &'static str) -> Result<Vec<Entry>, Error> {
    let mut entries = Vec::new();
    let mut names = BTreeSet::new();
    for (index, line) in text.lines().enumerate() {
        let fail = |reason: String| Error::Data {
            file,
            line: index.saturating_add(1),
            reason,
        };
        let (content, comment) = line.split_once('#').unwrap_or((line, ""));
        let content = content.trim();
        if content.is_empty() {
            continue;
        }
        if comment.trim().is_empty() {
            return Err(fail(
                "every entry needs a comment saying why it is allowed".into(),
            ));
        }
        let entry = parse_entry(content).map_err(fail)?;
        if !names.insert(entry.name) {
            return Err(fail(format!("{} is listed twice", entry.name)));
        }
        entries.push(entry);
    }
    Ok(entries)
}

fn parse_entry(content: &'static str) -> Result<Entry, String> {
    let mut words = content.split_whitespace();
    let name = words.next().unwrap_or_default();
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(format!("invalid syscall name {name:?}"));
    }
    let action = match words.next() {
        None => Action::Allow(None),
        Some("errno") => {
            let value = number(words.next().ok_or("`errno` needs a value")?)?;
            if value == 0 || value > MAX_ERRNO {
                return Err(format!("errno {value} is not in 1..={MAX_ERRNO}"));
            }
            Action::Errno(value as u16)
        }
        Some(arg) => {
            let index = arg
                .strip_prefix("arg")
                .and_then(|i| i.parse::<u8>().ok())
                .filter(|i| *i <= 5)
                .ok_or_else(|| format!("expected `errno` or `arg0`..`arg5`, found {arg:?}"))?;
            let mut cond = Cond {
                index,
                values: Vec::new(),
                mask: None,
            };
            while let Some(word) = words.next() {
                let operand = words.next().ok_or(format!("`{word}` needs a value"))?;
                match word {
                    "in" if cond.values.is_empty() => {
                        cond.values = operand.split(',').map(number).collect::<Result<_, _>>()?;
                    }
                    "mask" if cond.mask.is_none() => cond.mask = Some(number(operand)?),
                    _ => return Err(format!("unexpected {word:?}")),
                }
            }
            if cond.values.is_empty() && cond.mask.is_none() {
                return Err(format!("`{arg}` needs `in` values or a `mask`"));
            }
            Action::Allow(Some(cond))
        }
    };
    if let Some(extra) = words.next() {
        return Err(format!("unexpected {extra:?}"));
    }
    Ok(Entry { name, action })
}

/// A decimal or `0x` hexadecimal number.
fn number(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("invalid number {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::Arch;

    #[test]
    fn default_profile_parses() {
        let entries = default().unwrap();
        assert!(entries.len() > 250, "{}", entries.len());
        let find = |name: &str| entries.iter().find(|e| e.name == name).map(|e| &e.action);
        assert_eq!(find("read"), Some(&Action::Allow(None)));
        assert_eq!(find("clone3"), Some(&Action::Errno(libc::ENOSYS as u16)));
        let clone = Cond {
            index: 0,
            values: vec![],
            mask: Some(0xffff_ffff_81fd_ffff),
        };
        assert_eq!(find("clone"), Some(&Action::Allow(Some(clone))));
        let personality = Cond {
            index: 0,
            values: vec![0, 8, 0x20000, 0x20008, 0xffff_ffff],
            mask: None,
        };
        assert_eq!(find("personality"), Some(&Action::Allow(Some(personality))));
    }

    /// The clone mask is exactly "no namespace flag".
    #[test]
    fn clone_mask_excludes_every_namespace_flag() {
        let namespaces = [
            libc::CLONE_NEWNS,
            libc::CLONE_NEWCGROUP,
            libc::CLONE_NEWUTS,
            libc::CLONE_NEWIPC,
            libc::CLONE_NEWUSER,
            libc::CLONE_NEWPID,
            libc::CLONE_NEWNET,
        ]
        .iter()
        .fold(0u64, |all, flag| all | *flag as u32 as u64);
        assert_eq!(!namespaces, 0xffff_ffff_81fd_ffff);
    }

    /// Every name of the profile exists on at least one board (no typos), and what the
    /// profile must never allow is absent.
    #[test]
    fn default_profile_names_exist_and_exclude_privileged_calls() {
        let entries = default().unwrap();
        for entry in entries {
            let known = Arch::ALL
                .iter()
                .any(|arch| arch.syscall(entry.name).unwrap().is_some());
            assert!(known, "{} is on no architecture", entry.name);
        }
        let forbidden = [
            "mount",
            "umount2",
            "pivot_root",
            "chroot",
            "ptrace",
            "kexec_load",
            "kexec_file_load",
            "init_module",
            "finit_module",
            "delete_module",
            "bpf",
            "perf_event_open",
            "keyctl",
            "add_key",
            "request_key",
            "unshare",
            "setns",
            "reboot",
            "swapon",
            "swapoff",
            "acct",
            "settimeofday",
            "clock_settime",
            "clock_settime64",
            "clock_adjtime",
            "clock_adjtime64",
            "adjtimex",
            "open_tree",
            "move_mount",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "mount_setattr",
            "userfaultfd",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
            "process_vm_readv",
            "process_vm_writev",
            "kcmp",
            "pidfd_getfd",
            "open_by_handle_at",
            "name_to_handle_at",
            "sethostname",
            "setdomainname",
            "syslog",
            "iopl",
            "ioperm",
            "modify_ldt",
            "quotactl",
            "lookup_dcookie",
            "fanotify_init",
            "vhangup",
            "uselib",
        ];
        for name in forbidden {
            assert!(
                entries.iter().all(|e| e.name != name),
                "{name} is in the profile"
            );
        }
    }

    #[test]
    fn parse_errors_name_the_line() {
        let cases = [
            ("read\n", 1, "needs a comment"),
            ("read # a\nread # b\n", 2, "listed twice"),
            ("# x\nclone arg6 mask 1 # c\n", 2, "arg0"),
            ("clone arg0 # c\n", 1, "needs `in` values or a `mask`"),
            ("clone arg0 mask # c\n", 1, "needs a value"),
            ("clone arg0 mask 0xz # c\n", 1, "invalid number"),
            ("clone arg0 in 1,,2 # c\n", 1, "invalid number"),
            ("clone arg0 mask 1 mask 2 # c\n", 1, "unexpected \"mask\""),
            ("clone3 errno 0 # c\n", 1, "not in 1..=4095"),
            ("clone3 errno 38 x # c\n", 1, "unexpected \"x\""),
            ("Clone # c\n", 1, "invalid syscall name"),
        ];
        for (text, line, reason) in cases {
            match parse("p.txt", text) {
                Err(Error::Data {
                    file,
                    line: l,
                    reason: r,
                }) => {
                    assert_eq!((file, l), ("p.txt", line), "{text:?}");
                    assert!(r.contains(reason), "{text:?}: {r}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let entries = parse("p.txt", "x arg1 in 1,0x10 mask 0xff # both\n").unwrap();
        let cond = Cond {
            index: 1,
            values: vec![1, 16],
            mask: Some(255),
        };
        assert_eq!(entries[0].action, Action::Allow(Some(cond)));
    }
}
