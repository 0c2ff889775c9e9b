//! The architectures a filter can be compiled for, their audit identifiers, and their
//! syscall name → number tables.
//!
//! The tables are data files (`syscalls/<arch>.txt`, produced by `syscalls/generate.sh`
//! from the `libc` crate's constants), compiled in with `include_str!` and parsed once on
//! first use. All three are built in, so a filter for any board can be compiled and
//! checked on any host; [`Arch::native`] picks the build target's. This module does not
//! decide which calls are allowed (see the profile and the compiler).

use super::Error;
use std::{collections::BTreeMap, fmt, sync::OnceLock};

/// A CPU architecture with a seccomp syscall table. All three are little-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    /// 64-bit x86 (the native x86_64 ABI; x32 calls are refused).
    X86_64,
    /// 64-bit ARM (AArch64).
    Aarch64,
    /// 32-bit ARM, EABI (e.g. armv7 on the Raspberry Pi 2).
    Arm,
}

// <linux/audit.h>: AUDIT_ARCH_* = EM_* machine number | __AUDIT_ARCH_64BIT (0x8000_0000)
// | __AUDIT_ARCH_LE (0x4000_0000). EM_X86_64 = 62, EM_AARCH64 = 183, EM_ARM = 40.
const AUDIT_ARCH_64BIT: u32 = 0x8000_0000;
const AUDIT_ARCH_LE: u32 = 0x4000_0000;
const EM_X86_64: u32 = 62;
const EM_AARCH64: u32 = 183;
const EM_ARM: u32 = 40;

/// `__X32_SYSCALL_BIT`: x32 calls enter the x86_64 kernel with this bit set in `nr` and
/// the x86_64 audit arch.
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

impl Arch {
    /// Every supported architecture.
    pub const ALL: [Arch; 3] = [Arch::X86_64, Arch::Aarch64, Arch::Arm];

    /// The architecture the runtime was built for, if it is one of [`Arch::ALL`].
    pub fn native() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else if cfg!(target_arch = "arm") {
            Some(Arch::Arm)
        } else {
            None
        }
    }

    /// The name used in syscall lists and documentation.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::Arm => "arm",
        }
    }

    /// `AUDIT_ARCH_*`: the value of `seccomp_data.arch` for a native call.
    pub fn audit_arch(self) -> u32 {
        match self {
            Arch::X86_64 => EM_X86_64 | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE,
            Arch::Aarch64 => EM_AARCH64 | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE,
            Arch::Arm => EM_ARM | AUDIT_ARCH_LE,
        }
    }

    /// Syscall numbers at or above this value share the native audit arch but belong to
    /// another ABI (x32 on x86_64) and are refused.
    pub(crate) fn foreign_abi_from(self) -> Option<u32> {
        match self {
            Arch::X86_64 => Some(X32_SYSCALL_BIT),
            Arch::Aarch64 | Arch::Arm => None,
        }
    }

    /// The number of syscall `name` on this architecture, `None` if it has no such call.
    pub fn syscall(self, name: &str) -> Result<Option<u32>, Error> {
        Ok(self.table()?.get(name))
    }

    /// The parsed table, parsed on first use.
    pub(crate) fn table(self) -> Result<&'static Table, Error> {
        static TABLES: [OnceLock<Result<Table, Error>>; 3] =
            [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let [x86_64, aarch64, arm] = &TABLES;
        let (slot, file, text) = match self {
            Arch::X86_64 => (x86_64, "seccomp/syscalls/x86_64.txt", X86_64),
            Arch::Aarch64 => (aarch64, "seccomp/syscalls/aarch64.txt", AARCH64),
            Arch::Arm => (arm, "seccomp/syscalls/arm.txt", ARM),
        };
        slot.get_or_init(|| Table::parse(file, text))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const X86_64: &str = include_str!("syscalls/x86_64.txt");
const AARCH64: &str = include_str!("syscalls/aarch64.txt");
const ARM: &str = include_str!("syscalls/arm.txt");

/// A syscall table: names and numbers, both unique.
#[derive(Debug)]
pub(crate) struct Table {
    by_name: BTreeMap<&'static str, u32>,
}

impl Table {
    /// Parse `name number` lines; `#` starts a comment, blank lines are skipped.
    pub(crate) fn parse(file: &'static str, text: &'static str) -> Result<Table, Error> {
        let mut by_name = BTreeMap::new();
        let mut by_number = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let fail = |reason: String| Error::Data {
                file,
                line: index.saturating_add(1),
                reason,
            };
            let content = line.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let mut fields = content.split_whitespace();
            let (Some(name), Some(number), None) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(fail(format!("expected `name number`, found {content:?}")));
            };
            if !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(fail(format!("invalid syscall name {name:?}")));
            }
            let number: u32 = number
                .parse()
                .map_err(|_| fail(format!("invalid number {number:?} for {name}")))?;
            if let Some(other) = by_number.insert(number, name) {
                return Err(fail(format!(
                    "{name} and {other} both have number {number}"
                )));
            }
            if by_name.insert(name, number).is_some() {
                return Err(fail(format!("{name} is listed twice")));
            }
        }
        Ok(Table { by_name })
    }

    /// The number of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// Every name and number, by name.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'static str, u32)> + '_ {
        self.by_name.iter().map(|(name, number)| (*name, *number))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn every_table_parses_with_unique_names_and_numbers() {
        for arch in Arch::ALL {
            let table = arch.table().unwrap();
            let numbers: BTreeSet<u32> = table.iter().map(|(_, n)| n).collect();
            assert_eq!(numbers.len(), table.iter().count(), "{arch}");
            // Every board has the calls any program makes.
            for name in [
                "read",
                "write",
                "openat",
                "close",
                "exit_group",
                "execve",
                "futex",
            ] {
                assert!(table.get(name).is_some(), "{arch}: {name}");
            }
        }
        assert_eq!(Arch::X86_64.table().unwrap().iter().count(), 360);
        assert_eq!(Arch::Aarch64.table().unwrap().iter().count(), 306);
        assert_eq!(Arch::Arm.table().unwrap().iter().count(), 383 + 20 + 6);
    }

    #[test]
    fn parse_errors_name_the_line() {
        let cases = [
            ("read 0\nwrite\n", 2, "expected `name number`"),
            ("read 0\nwrite 0\n", 2, "both have number 0"),
            ("read 0\n\n# c\nread 1\n", 4, "listed twice"),
            ("read x\n", 1, "invalid number"),
            ("Read 0\n", 1, "invalid syscall name"),
            ("read 0 1\n", 1, "expected `name number`"),
        ];
        for (text, line, reason) in cases {
            match Table::parse("t.txt", text) {
                Err(Error::Data {
                    file,
                    line: l,
                    reason: r,
                }) => {
                    assert_eq!((file, l), ("t.txt", line), "{text:?}");
                    assert!(r.contains(reason), "{text:?}: {r}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let table = Table::parse("t.txt", "# head\nread 0   # trailing\n\nwrite 1\n").unwrap();
        assert_eq!((table.get("read"), table.get("write")), (Some(0), Some(1)));
    }

    #[test]
    fn audit_arch_values_match_the_kernel_headers() {
        assert_eq!(Arch::X86_64.audit_arch(), 0xc000_003e);
        assert_eq!(Arch::Aarch64.audit_arch(), 0xc000_00b7);
        assert_eq!(Arch::Arm.audit_arch(), 0x4000_0028);
        assert!(
            Arch::native().is_some(),
            "the test host is one of the boards' architectures"
        );
    }

    /// The native table agrees with the `libc` crate's constants of the build target.
    #[test]
    fn native_table_agrees_with_libc() {
        macro_rules! sample {
            ($($name:ident),* $(,)?) => {
                [$((stringify!($name), libc::$name)),*]
                    .into_iter()
                    .map(|(name, nr)| (name.trim_start_matches("SYS_"), nr as u32))
                    .collect::<Vec<_>>()
            };
        }
        let mut sample = sample!(
            SYS_read,
            SYS_write,
            SYS_openat,
            SYS_close,
            SYS_exit_group,
            SYS_getpid,
            SYS_clone,
            SYS_clone3,
            SYS_execve,
            SYS_kill,
            SYS_ioctl,
            SYS_mount,
            SYS_umount2,
            SYS_pivot_root,
            SYS_chroot,
            SYS_ptrace,
            SYS_unshare,
            SYS_setns,
            SYS_bpf,
            SYS_seccomp,
            SYS_personality,
            SYS_umask,
            SYS_prctl,
            SYS_futex,
            SYS_mprotect,
            SYS_statx,
            SYS_rseq,
            SYS_mseal,
            SYS_getrandom,
            SYS_init_module,
            SYS_finit_module,
            SYS_kexec_load,
            SYS_keyctl,
            SYS_perf_event_open,
            SYS_reboot,
            SYS_swapon,
            SYS_acct,
            SYS_settimeofday,
        );
        #[cfg(target_arch = "x86_64")]
        sample.extend(sample!(
            SYS_mmap,
            SYS_arch_prctl,
            SYS_open,
            SYS_fork,
            SYS_time
        ));
        #[cfg(target_arch = "aarch64")]
        sample.extend(sample!(SYS_mmap, SYS_renameat, SYS_getrlimit));
        #[cfg(target_arch = "arm")]
        sample.extend(sample!(
            SYS_mmap2,
            SYS__llseek,
            SYS_getuid32,
            SYS_arm_fadvise64_64
        ));
        let native = Arch::native().unwrap().table().unwrap();
        for (name, number) in sample {
            assert_eq!(native.get(name), Some(number), "{name}");
        }
    }

    /// npk's `syscalls.txt` (the names a manifest may use) says per name which of the three
    /// architectures have it: each table holds exactly the names marked for it, and its
    /// only other names are the arm additions documented in `generate.sh`.
    #[test]
    fn tables_agree_with_the_manifest_syscall_list() {
        let list = include_str!("../../../npk/src/manifest/syscalls.txt");
        let mut marked: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for line in list
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let (name, archs) = line.split_once('#').unwrap();
            marked.insert(name.trim(), archs.split_whitespace().collect());
        }
        assert_eq!(marked.len(), npk::manifest::known_syscalls().len());
        for arch in Arch::ALL {
            let table = arch.table().unwrap();
            for (name, archs) in &marked {
                let has = table.get(name).is_some();
                assert_eq!(
                    has,
                    archs.contains(arch.name()),
                    "{arch}: {name} (marked {archs:?})"
                );
            }
            let extra: BTreeSet<&str> = table
                .iter()
                .map(|(name, _)| name)
                .filter(|name| !marked.contains_key(name))
                .collect();
            let expected: BTreeSet<&str> = match arch {
                Arch::X86_64 | Arch::Aarch64 => BTreeSet::new(),
                Arch::Arm => ARM
                    .lines()
                    .skip_while(|l| !l.starts_with("# 64-bit time"))
                    .filter(|l| !l.starts_with('#'))
                    .filter_map(|l| l.split_whitespace().next())
                    .collect(),
            };
            assert_eq!(extra, expected, "{arch}");
        }
        // Every name a manifest may use maps on x86_64 unless the list marks it absent there
        // (the 47 arm-only names, such as mmap2, _llseek and the *32 id calls).
        let absent: Vec<&&str> = marked
            .iter()
            .filter(|(_, a)| !a.contains("x86_64"))
            .map(|(n, _)| n)
            .collect();
        assert_eq!(absent.len(), 47);
        assert!(absent
            .iter()
            .all(|name| Arch::X86_64.table().unwrap().get(name).is_none()));
    }
}
