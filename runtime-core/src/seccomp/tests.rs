//! Compiled filters run in the test interpreter, for all three architectures: the default
//! profile's decisions, argument rules on both 32-bit halves, foreign ABIs, the length
//! limit, and a property test against a direct reading of the allow list.

use super::{
    bpf::{RET_ALLOW, RET_ERRNO, RET_KILL},
    interp::{self, Data},
    rules::RUNTIME,
    *,
};
use npk::manifest::{ArgRule, SyscallName, SyscallRule};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn allow(rules: &[(&str, SyscallRule)]) -> Seccomp {
    Seccomp {
        profile: None,
        allow: Some(
            rules
                .iter()
                .map(|(name, rule)| (SyscallName::new(name).unwrap(), rule.clone()))
                .collect(),
        ),
    }
}

fn args(index: u8, values: Option<Vec<u64>>, mask: Option<u64>) -> SyscallRule {
    SyscallRule::Args(ArgRule {
        index,
        values,
        mask,
    })
}

/// Compile and check like the kernel would.
fn filter(arch: Arch, seccomp: &Seccomp) -> Filter {
    let filter = compile_for(arch, seccomp).unwrap();
    interp::check(filter.instructions()).unwrap();
    assert_eq!(filter.arch(), arch);
    filter
}

/// The action of `filter` for a native call of `name` with `args`.
fn call(filter: &Filter, name: &str, args: [u64; 6]) -> u32 {
    let nr = filter.arch().syscall(name).unwrap().unwrap();
    call_nr(filter, nr, args)
}

fn call_nr(filter: &Filter, nr: u32, args: [u64; 6]) -> u32 {
    let data = Data {
        nr,
        arch: filter.arch().audit_arch(),
        instruction_pointer: 0x1000,
        args,
    };
    interp::run(filter.instructions(), &data)
}

const NO_ARGS: [u64; 6] = [0; 6];

fn arg0(value: u64) -> [u64; 6] {
    [value, 0, 0, 0, 0, 0]
}

#[test]
fn default_profile_allows_a_programs_needs_and_kills_the_rest() {
    let section = Seccomp {
        profile: Some(Profile::Default),
        allow: None,
    };
    for arch in Arch::ALL {
        let f = filter(arch, &section);
        assert!(f.len() > 400 && f.len() < 1000, "{arch}: {}", f.len());
        for name in [
            "read",
            "write",
            "openat",
            "close",
            "exit_group",
            "getpid",
            "futex",
        ] {
            assert_eq!(call(&f, name, NO_ARGS), RET_ALLOW, "{arch}: {name}");
        }
        let mmap = if arch == Arch::Arm { "mmap2" } else { "mmap" };
        assert_eq!(call(&f, mmap, NO_ARGS), RET_ALLOW, "{arch}");
        for name in [
            "mount", "ptrace", "unshare", "chroot", "setns", "bpf", "reboot",
        ] {
            assert_eq!(call(&f, name, NO_ARGS), RET_KILL, "{arch}: {name}");
        }
        // Threads, but no namespaces through clone's flags.
        let thread = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_THREAD
            | libc::CLONE_SIGHAND
            | libc::CLONE_SETTLS) as u64;
        assert_eq!(call(&f, "clone", arg0(thread)), RET_ALLOW, "{arch}");
        assert_eq!(
            call(&f, "clone", arg0(libc::SIGCHLD as u64)),
            RET_ALLOW,
            "{arch}"
        );
        for ns in [libc::CLONE_NEWUSER, libc::CLONE_NEWNS, libc::CLONE_NEWNET] {
            let flags = libc::SIGCHLD as u64 | ns as u32 as u64;
            assert_eq!(call(&f, "clone", arg0(flags)), RET_KILL, "{arch}: {ns:#x}");
        }
        assert_eq!(
            call(&f, "clone3", NO_ARGS),
            RET_ERRNO | libc::ENOSYS as u32,
            "{arch}"
        );
        assert_eq!(
            call(&f, "personality", arg0(0xffff_ffff)),
            RET_ALLOW,
            "{arch}"
        );
        let no_aslr = libc::ADDR_NO_RANDOMIZE as u64;
        assert_eq!(call(&f, "personality", arg0(no_aslr)), RET_KILL, "{arch}");
        // A number no table has.
        assert_eq!(call_nr(&f, 0xfff0, NO_ARGS), RET_KILL, "{arch}");
    }
}

/// No anonymous code: `memfd_create` and `execveat` fail with ENOSYS (a C library's
/// `fexecve` may then fall back to `execve` of /proc/self/fd/N, which the mount's `noexec`
/// decides); `execve` itself stays allowed.
#[test]
fn default_profile_refuses_anonymous_code() {
    for arch in Arch::ALL {
        let f = default_filter_for(arch);
        for name in ["memfd_create", "execveat"] {
            assert_eq!(
                call(&f, name, NO_ARGS),
                RET_ERRNO | libc::ENOSYS as u32,
                "{arch}: {name}"
            );
        }
        assert_eq!(call(&f, "execve", NO_ARGS), RET_ALLOW, "{arch}");
    }
}

#[test]
fn board_specific_calls_of_the_default_profile() {
    let f = default_filter_for(Arch::Arm);
    for name in [
        "set_tls",
        "cacheflush",
        "clock_gettime64",
        "futex_time64",
        "_llseek",
    ] {
        assert_eq!(call(&f, name, NO_ARGS), RET_ALLOW, "{name}");
    }
    assert_eq!(call(&f, "clock_settime64", NO_ARGS), RET_KILL);
    let f = default_filter_for(Arch::X86_64);
    assert_eq!(call(&f, "arch_prctl", NO_ARGS), RET_ALLOW);
}

fn default_filter_for(arch: Arch) -> Filter {
    filter(
        arch,
        &Seccomp {
            profile: Some(Profile::Default),
            allow: None,
        },
    )
}

#[test]
fn the_native_default_filter_is_the_default_profile() {
    let native = default_filter().unwrap();
    let expected = default_filter_for(Arch::native().unwrap());
    let words = |f: &Filter| -> Vec<(u16, u8, u8, u32)> {
        f.instructions()
            .iter()
            .map(|i| (i.code, i.jt, i.jf, i.k))
            .collect()
    };
    assert_eq!(words(&native), words(&expected));
}

#[test]
fn other_abis_are_killed() {
    for arch in Arch::ALL {
        let f = default_filter_for(arch);
        let getpid = arch.syscall("getpid").unwrap().unwrap();
        for other in Arch::ALL.into_iter().filter(|a| *a != arch) {
            let data = Data {
                nr: getpid,
                arch: other.audit_arch(),
                instruction_pointer: 0,
                args: NO_ARGS,
            };
            assert_eq!(
                interp::run(f.instructions(), &data),
                RET_KILL,
                "{arch} ← {other}"
            );
        }
        // i386 on x86_64 kernels, and any unknown value.
        for audit in [0x4000_0003, 0] {
            let data = Data {
                nr: getpid,
                arch: audit,
                instruction_pointer: 0,
                args: NO_ARGS,
            };
            assert_eq!(interp::run(f.instructions(), &data), RET_KILL, "{arch}");
        }
    }
    // x32 calls carry the x86_64 audit arch and bit 30 in the number.
    let f = default_filter_for(Arch::X86_64);
    let getpid = Arch::X86_64.syscall("getpid").unwrap().unwrap();
    assert_eq!(call_nr(&f, getpid, NO_ARGS), RET_ALLOW);
    assert_eq!(
        call_nr(&f, getpid | arch::X32_SYSCALL_BIT, NO_ARGS),
        RET_KILL
    );
}

#[test]
fn argument_rules_compare_both_halves() {
    let seccomp = allow(&[
        (
            "personality",
            args(0, Some(vec![0xffff_ffff, 0x1_0000_0008]), None),
        ),
        ("umask", args(0, None, Some(0o777))),
        (
            "ioctl",
            args(1, Some(vec![0x5401]), Some(0xff00_0000_0000_0000)),
        ),
    ]);
    for arch in Arch::ALL {
        let f = filter(arch, &seccomp);
        let personality = |v| call(&f, "personality", arg0(v));
        assert_eq!(personality(0xffff_ffff), RET_ALLOW, "{arch}");
        assert_eq!(personality(0x1_0000_0008), RET_ALLOW, "{arch}");
        assert_eq!(personality(0x8), RET_KILL, "{arch}: high half differs");
        assert_eq!(
            personality(0x1_ffff_ffff),
            RET_KILL,
            "{arch}: high half differs"
        );
        assert_eq!(
            personality(0x1_0000_0000),
            RET_KILL,
            "{arch}: low half differs"
        );
        let umask = |v| call(&f, "umask", arg0(v));
        assert_eq!(umask(0o022), RET_ALLOW, "{arch}");
        assert_eq!(umask(0o777), RET_ALLOW, "{arch}");
        assert_eq!(umask(0), RET_ALLOW, "{arch}");
        assert_eq!(umask(0o1000), RET_KILL, "{arch}: low bit outside the mask");
        assert_eq!(
            umask(1 << 40),
            RET_KILL,
            "{arch}: high bit outside the mask"
        );
        // Values or mask: either allows.
        let ioctl = |v| call(&f, "ioctl", [3, v, 0, 0, 0, 0]);
        assert_eq!(ioctl(0x5401), RET_ALLOW, "{arch}");
        assert_eq!(ioctl(0x0100_0000_0000_0000), RET_ALLOW, "{arch}");
        assert_eq!(ioctl(0x5402), RET_KILL, "{arch}");
        // Only the named argument is looked at.
        assert_eq!(
            call(&f, "umask", [0o22, 1 << 40, 1, 1, 1, 1]),
            RET_ALLOW,
            "{arch}"
        );
    }
}

#[test]
fn runtime_calls_are_allowed_in_every_filter() {
    for arch in Arch::ALL {
        let f = filter(arch, &Seccomp::default());
        assert_eq!(
            f.len(),
            if arch == Arch::X86_64 { 6 } else { 4 } + 2 * RUNTIME.len() + 1
        );
        for name in RUNTIME {
            assert_eq!(call(&f, name, NO_ARGS), RET_ALLOW, "{arch}: {name}");
        }
        assert_eq!(call(&f, "getpid", NO_ARGS), RET_KILL, "{arch}");
    }
}

#[test]
fn names_unknown_on_the_architecture_are_skipped() {
    let only_elsewhere = allow(&[
        ("mmap2", SyscallRule::Any),
        ("arch_prctl", SyscallRule::Any),
    ]);
    let empty = filter(Arch::Aarch64, &Seccomp::default());
    assert_eq!(filter(Arch::Aarch64, &only_elsewhere).len(), empty.len());
    assert_eq!(filter(Arch::Arm, &only_elsewhere).len(), empty.len() + 2);
}

#[test]
fn programs_over_the_kernel_limit_are_an_error() {
    // 17 syscalls with 50 values each: 17 * (1 + 50 * 5 + 1) = 4284 instructions.
    let names = [
        "read", "close", "dup", "dup3", "fcntl", "ioctl", "lseek", "getpid", "kill", "umask",
        "prctl", "socket", "bind", "listen", "connect", "accept4", "getuid",
    ];
    let values: Vec<u64> = (0..50).collect();
    let rules: Vec<_> = names
        .iter()
        .map(|name| (*name, args(0, Some(values.clone()), None)))
        .collect();
    match compile_for(Arch::X86_64, &allow(&rules)) {
        Err(Error::TooLong { arch, len, max }) => {
            assert_eq!(
                (arch, len, max),
                ("x86_64", 6 + 2 * RUNTIME.len() + 17 * 252 + 1, 4096)
            );
        }
        other => panic!("{other:?}"),
    }
    // 16 of them fit.
    let f = filter(Arch::X86_64, &allow(&rules[..16]));
    assert_eq!(f.len(), 6 + 2 * RUNTIME.len() + 16 * 252 + 1);
    assert_eq!(call(&f, "getuid", NO_ARGS), RET_KILL);
    assert_eq!(call(&f, "listen", arg0(49)), RET_ALLOW);
    assert_eq!(call(&f, "listen", arg0(50)), RET_KILL);
}

#[test]
fn blocks_longer_than_a_short_jump_are_skipped_correctly() {
    // 60 values (more than a manifest may list, but a profile and an allow list can add up):
    // the block is 302 instructions, jumped over with `ja`.
    let seccomp = allow(&[
        ("personality", args(0, Some((0..60).collect()), None)),
        ("umask", SyscallRule::Any),
        ("getpid", SyscallRule::Any),
    ]);
    for arch in Arch::ALL {
        let f = filter(arch, &seccomp);
        assert_eq!(call(&f, "personality", arg0(59)), RET_ALLOW, "{arch}");
        assert_eq!(call(&f, "personality", arg0(60)), RET_KILL, "{arch}");
        assert_eq!(call(&f, "umask", NO_ARGS), RET_ALLOW, "{arch}");
        assert_eq!(call(&f, "getpid", NO_ARGS), RET_ALLOW, "{arch}");
        assert_eq!(call(&f, "getuid", NO_ARGS), RET_KILL, "{arch}");
    }
}

/// What a filter compiled from `seccomp` (no profile) must answer, read directly from the
/// allow list.
fn expected(arch: Arch, seccomp: &Seccomp, data: &Data) -> u32 {
    if data.arch != arch.audit_arch() || arch.foreign_abi_from().is_some_and(|n| data.nr >= n) {
        return RET_KILL;
    }
    let named = |name: &str| arch.syscall(name).unwrap() == Some(data.nr);
    if RUNTIME.iter().any(|name| named(name)) {
        return RET_ALLOW;
    }
    let allowed = seccomp.allow.iter().flatten().any(|(name, rule)| {
        named(name.as_str())
            && match rule {
                SyscallRule::Any => true,
                SyscallRule::Args(a) => rules::Cond {
                    index: a.index,
                    values: a.values.clone().unwrap_or_default(),
                    mask: a.mask,
                }
                .holds(&data.args),
            }
    });
    if allowed {
        RET_ALLOW
    } else {
        RET_KILL
    }
}

fn arb_rule() -> impl Strategy<Value = SyscallRule> {
    let value = prop_oneof![
        0u64..8,
        Just(u64::MAX),
        any::<u64>(),
        (0u64..4).prop_map(|v| v << 32)
    ];
    prop_oneof![
        Just(SyscallRule::Any),
        (
            0u8..=5,
            proptest::collection::vec(value, 1..6),
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(index, values, mask)| args(index, Some(values), mask)),
        (
            0u8..=5,
            prop_oneof![Just(0u64), Just(0xff), Just(0xffff_ffff), any::<u64>()]
        )
            .prop_map(|(index, mask)| args(index, None, Some(mask))),
    ]
}

fn arb_case() -> impl Strategy<Value = (Arch, Seccomp, Vec<Data>)> {
    let names: Vec<&'static str> = npk::manifest::known_syscalls().iter().copied().collect();
    let arch = prop_oneof![Just(Arch::X86_64), Just(Arch::Aarch64), Just(Arch::Arm)];
    let allow = proptest::collection::btree_map(proptest::sample::select(names), arb_rule(), 0..12);
    (arch, allow).prop_flat_map(|(arch, allow)| {
        let seccomp = Seccomp {
            profile: None,
            allow: Some(
                allow
                    .into_iter()
                    .map(|(name, rule)| (SyscallName::new(name).unwrap(), rule))
                    .collect::<BTreeMap<_, _>>(),
            ),
        };
        // Calls of the allowed names (and neighbours), of runtime calls, foreign ABIs.
        let mut numbers: Vec<u32> = seccomp
            .allow
            .iter()
            .flatten()
            .filter_map(|(name, _)| arch.syscall(name.as_str()).unwrap())
            .flat_map(|nr| [nr, nr + 1])
            .collect();
        numbers.extend(RUNTIME.iter().filter_map(|n| arch.syscall(n).unwrap()));
        numbers.extend([0, 1, arch::X32_SYSCALL_BIT, arch::X32_SYSCALL_BIT + 39]);
        let audit = prop_oneof![8 => Just(arch.audit_arch()), 1 => any::<u32>()];
        let value = prop_oneof![
            0u64..8,
            Just(0xffff_ffff),
            any::<u64>(),
            (0u64..4).prop_map(|v| v << 32)
        ];
        let data = (
            proptest::sample::select(numbers),
            audit,
            proptest::array::uniform6(value),
        )
            .prop_map(|(nr, arch, args)| Data {
                nr,
                arch,
                instruction_pointer: 0,
                args,
            });
        (
            Just(arch),
            Just(seccomp),
            proptest::collection::vec(data, 1..40),
        )
    })
}

proptest! {
    #[test]
    fn compiled_filters_decide_like_the_allow_list((arch, seccomp, calls) in arb_case()) {
        let f = compile_for(arch, &seccomp).unwrap();
        prop_assert!(interp::check(f.instructions()).is_ok());
        for data in &calls {
            prop_assert_eq!(
                interp::run(f.instructions(), data),
                expected(arch, &seccomp, data),
                "{:?}", data
            );
        }
    }
}
