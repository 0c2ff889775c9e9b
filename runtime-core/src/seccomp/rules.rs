//! The rule set of one filter: per syscall number what is allowed, as the union of the
//! runtime's own needs, the profile and the manifest's allow list.
//!
//! Names are resolved with the architecture's table here; names the architecture lacks are
//! skipped (and logged at debug level). This module does not emit BPF (see `bpf`).

use super::{profile, Arch, Error};
use log::debug;
use npk::manifest::{Profile, Seccomp, SyscallRule};
use std::collections::BTreeMap;

/// Calls the runtime itself makes after the filter is loaded and before the program runs:
/// restore the signal mask, execute the program, and on failure report the step on the
/// error pipe and exit (see `container::child`). Allowed in every filter.
pub(crate) const RUNTIME: [&str; 4] = ["rt_sigprocmask", "execve", "write", "exit_group"];

/// Highest argument index (`seccomp_data.args` has six).
pub(crate) const MAX_ARG_INDEX: u8 = 5;

/// An argument condition: argument `index` is one of `values`, or has no bit outside
/// `mask`. Compared on all 64 bits of the argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cond {
    pub index: u8,
    pub values: Vec<u64>,
    pub mask: Option<u64>,
}

impl Cond {
    /// Whether `args` satisfy the condition (the reference the BPF program is tested
    /// against).
    #[cfg(test)]
    pub(crate) fn holds(&self, args: &[u64; 6]) -> bool {
        let arg = args[usize::from(self.index)];
        self.values.contains(&arg) || self.mask.is_some_and(|mask| arg & !mask == 0)
    }
}

/// What the filter does with one syscall number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Allowed with any arguments.
    pub any: bool,
    /// Otherwise allowed when one of these holds.
    pub conds: Vec<Cond>,
    /// Otherwise fail with this errno; `None`: kill the process.
    pub errno: Option<u16>,
}

impl Policy {
    fn allow(&mut self, cond: Option<Cond>) {
        match cond {
            None => self.any = true,
            Some(cond) if !self.conds.contains(&cond) => self.conds.push(cond),
            Some(_) => {}
        }
    }
}

/// Syscall number → policy, sorted by number. Numbers not in the map are killed.
pub(crate) type Rules = BTreeMap<u32, Policy>;

/// The union of the runtime's calls, the profile and the allow list for `arch`.
pub(crate) fn collect(arch: Arch, seccomp: &Seccomp) -> Result<Rules, Error> {
    let table = arch.table()?;
    let mut rules = Rules::new();
    for name in RUNTIME {
        if let Some(nr) = table.get(name) {
            rules.entry(nr).or_default().allow(None);
        }
    }
    if let Some(Profile::Default) = seccomp.profile {
        let mut absent = Vec::new();
        for entry in profile::default()? {
            let Some(nr) = table.get(entry.name) else {
                absent.push(entry.name);
                continue;
            };
            let policy = rules.entry(nr).or_default();
            match &entry.action {
                profile::Action::Allow(cond) => policy.allow(cond.clone()),
                profile::Action::Errno(errno) => policy.errno = Some(*errno),
            }
        }
        debug!(
            "seccomp: {arch} lacks {} calls of the default profile: {absent:?}",
            absent.len()
        );
    }
    for (name, rule) in seccomp.allow.iter().flatten() {
        let name = name.as_str();
        let Some(nr) = table.get(name) else {
            debug!("seccomp: {arch} has no syscall {name}: skipped");
            continue;
        };
        let cond = match rule {
            SyscallRule::Any => None,
            SyscallRule::Args(args) => {
                let fail = |reason: &str| Error::Rule {
                    name: name.to_string(),
                    reason: reason.to_string(),
                };
                if args.index > MAX_ARG_INDEX {
                    return Err(fail("the argument index is not in 0..=5"));
                }
                if args.values.as_ref().is_none_or(Vec::is_empty) && args.mask.is_none() {
                    return Err(fail("an argument rule needs values or a mask"));
                }
                Some(Cond {
                    index: args.index,
                    values: args.values.clone().unwrap_or_default(),
                    mask: args.mask,
                })
            }
        };
        rules.entry(nr).or_default().allow(cond);
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use npk::manifest::{ArgRule, SyscallName};

    fn allow(rules: &[(&str, SyscallRule)]) -> Seccomp {
        let map = rules
            .iter()
            .map(|(name, rule)| (SyscallName::new(name).unwrap(), rule.clone()))
            .collect();
        Seccomp {
            profile: None,
            allow: Some(map),
        }
    }

    fn args(index: u8, values: Option<Vec<u64>>, mask: Option<u64>) -> SyscallRule {
        SyscallRule::Args(ArgRule {
            index,
            values,
            mask,
        })
    }

    #[test]
    fn runtime_calls_are_always_allowed() {
        for arch in Arch::ALL {
            let rules = collect(arch, &Seccomp::default()).unwrap();
            assert_eq!(rules.len(), RUNTIME.len(), "{arch}");
            assert!(rules.values().all(|p| p.any && p.errno.is_none()));
        }
    }

    #[test]
    fn names_absent_on_the_architecture_are_skipped() {
        // mmap2 and _llseek exist on arm only, arch_prctl on x86_64 only.
        let seccomp = allow(&[
            ("mmap2", SyscallRule::Any),
            ("_llseek", SyscallRule::Any),
            ("arch_prctl", SyscallRule::Any),
        ]);
        let count = |arch| collect(arch, &seccomp).unwrap().len() - RUNTIME.len();
        assert_eq!(count(Arch::X86_64), 1);
        assert_eq!(count(Arch::Aarch64), 0);
        assert_eq!(count(Arch::Arm), 2);
    }

    #[test]
    fn union_of_profile_and_allow_list() {
        let arch = Arch::X86_64;
        let nr = |name| arch.syscall(name).unwrap().unwrap();
        let mut seccomp = allow(&[
            ("clone", SyscallRule::Any),
            ("clone3", args(1, Some(vec![88]), None)),
            ("personality", args(0, None, Some(0xff))),
            ("mount", args(3, Some(vec![0]), None)),
        ]);
        seccomp.profile = Some(Profile::Default);
        let rules = collect(arch, &seccomp).unwrap();
        // Any wins over the profile's mask rule.
        assert!(rules[&nr("clone")].any);
        // A manifest condition joins the profile's errno fallback.
        let clone3 = &rules[&nr("clone3")];
        assert_eq!(
            (clone3.any, clone3.conds.len(), clone3.errno),
            (false, 1, Some(38))
        );
        // Conditions of both sources are alternatives.
        assert_eq!(rules[&nr("personality")].conds.len(), 2);
        // What the profile leaves out, the allow list can add.
        assert_eq!(rules[&nr("mount")].conds[0].index, 3);
        assert!(!rules.contains_key(&nr("ptrace")));
    }

    #[test]
    fn invalid_argument_rules_are_errors_naming_the_syscall() {
        for (rule, reason) in [
            (args(6, Some(vec![1]), None), "0..=5"),
            (args(0, None, None), "values or a mask"),
            (args(0, Some(vec![]), None), "values or a mask"),
        ] {
            match collect(Arch::X86_64, &allow(&[("umask", rule)])) {
                Err(Error::Rule { name, reason: r }) => {
                    assert_eq!(name, "umask");
                    assert!(r.contains(reason), "{r}");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
