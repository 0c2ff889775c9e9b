//! Classic BPF code generation for seccomp: one code path for every architecture.
//!
//! Program layout (every jump is forward; conditional ones fit the 8-bit `jt`/`jf`):
//!
//! ```text
//!       ld  [arch]                      ; seccomp_data.arch
//!       jeq AUDIT_ARCH, 1, 0
//!       ret KILL_PROCESS                ; another ABI (e.g. 32-bit calls on a 64-bit kernel)
//!       ld  [nr]                        ; seccomp_data.nr
//!       jge 0x40000000, 0, 1            ; x86_64 only: x32 calls
//!       ret KILL_PROCESS                ; x86_64 only
//!   per syscall, by ascending number:
//!     any arguments:
//!       jeq NR, 0, 1
//!       ret ALLOW
//!     with conditions (a block of n instructions):
//!       jeq NR, 0, n                    ; or `jeq NR, 1, 0; ja n` when n > 255
//!       <condition>...                  ; each returns ALLOW or falls through
//!       ret KILL_PROCESS | ERRNO(e)     ; no condition held
//!     errno only:
//!       jeq NR, 0, 1
//!       ret ERRNO(e)
//!   last:
//!       ret KILL_PROCESS                ; any other number
//! ```
//!
//! A 64-bit argument is compared as two 32-bit words of the little-endian `seccomp_data`
//! (low word at `args[i]`, high word 4 bytes later). A value condition takes five
//! instructions per value, a mask condition five:
//!
//! ```text
//!   value v:  ld [args[i].lo]; jeq lo(v), 0, 3; ld [args[i].hi]; jeq hi(v), 0, 1; ret ALLOW
//!   mask m:   ld [args[i].lo]; jset lo(!m), 3, 0; ld [args[i].hi]; jset hi(!m), 1, 0; ret ALLOW
//! ```
//!
//! After a block the accumulator no longer holds `nr`, but no later instruction needs it:
//! a block is entered only for its own number and always ends in `ret`. This module does
//! not decide what is allowed (see `rules`) nor load the program (see `northstar_sys`).

use super::{
    rules::{Cond, Policy, Rules},
    Arch,
};
use libc::sock_filter;
use std::mem::{offset_of, size_of};

const LD_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const JSET: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

pub(crate) const RET_KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;
pub(crate) const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
pub(crate) const RET_ERRNO: u32 = libc::SECCOMP_RET_ERRNO;

const OFFSET_NR: u32 = offset_of!(libc::seccomp_data, nr) as u32;
const OFFSET_ARCH: u32 = offset_of!(libc::seccomp_data, arch) as u32;
const OFFSET_ARGS: u32 = offset_of!(libc::seccomp_data, args) as u32;

/// Instructions of one value or mask check.
#[cfg(test)]
pub(crate) const CHECK_LEN: usize = 5;

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// Offsets of the low and high 32-bit words of argument `index` (little-endian layout; all
/// three architectures are little-endian).
fn arg_words(index: u8) -> (u32, u32) {
    // A u8 index keeps the offsets far below u32::MAX: nothing saturates.
    let width = size_of::<u64>() as u32;
    let low = OFFSET_ARGS.saturating_add(u32::from(index).saturating_mul(width));
    (low, low.saturating_add(4))
}

/// The whole program for `rules` on `arch`.
pub(crate) fn generate(arch: Arch, rules: &Rules) -> Vec<sock_filter> {
    let mut program = vec![
        stmt(LD_ABS, OFFSET_ARCH),
        jump(JEQ, arch.audit_arch(), 1, 0),
        stmt(RET, RET_KILL),
        stmt(LD_ABS, OFFSET_NR),
    ];
    if let Some(first_foreign) = arch.foreign_abi_from() {
        program.push(jump(JGE, first_foreign, 0, 1));
        program.push(stmt(RET, RET_KILL));
    }
    for (nr, policy) in rules {
        syscall(&mut program, *nr, policy);
    }
    program.push(stmt(RET, RET_KILL));
    program
}

/// The instructions for one syscall number.
fn syscall(program: &mut Vec<sock_filter>, nr: u32, policy: &Policy) {
    let fallback = match policy.errno {
        Some(errno) => RET_ERRNO | u32::from(errno),
        None => RET_KILL,
    };
    if policy.any || policy.conds.is_empty() {
        let action = if policy.any { RET_ALLOW } else { fallback };
        program.push(jump(JEQ, nr, 0, 1));
        program.push(stmt(RET, action));
        return;
    }
    let mut block = Vec::new();
    for cond in &policy.conds {
        condition(&mut block, cond);
    }
    block.push(stmt(RET, fallback));
    match u8::try_from(block.len()) {
        Ok(skip) => program.push(jump(JEQ, nr, 0, skip)),
        Err(_) => {
            // The block is longer than a conditional jump reaches: jump over it with `ja`,
            // whose offset has 32 bits.
            program.push(jump(JEQ, nr, 1, 0));
            program.push(stmt(JA, block.len() as u32));
        }
    }
    program.extend(block);
}

/// Checks that return ALLOW when `cond` holds and fall through otherwise.
fn condition(block: &mut Vec<sock_filter>, cond: &Cond) {
    let (low, high) = arg_words(cond.index);
    for value in &cond.values {
        block.extend([
            stmt(LD_ABS, low),
            jump(JEQ, *value as u32, 0, 3),
            stmt(LD_ABS, high),
            jump(JEQ, (*value >> 32) as u32, 0, 1),
            stmt(RET, RET_ALLOW),
        ]);
    }
    if let Some(mask) = cond.mask {
        let outside = !mask;
        block.extend([
            stmt(LD_ABS, low),
            jump(JSET, outside as u32, 3, 0),
            stmt(LD_ABS, high),
            jump(JSET, (outside >> 32) as u32, 1, 0),
            stmt(RET, RET_ALLOW),
        ]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::rules::Policy;

    fn any() -> Policy {
        Policy {
            any: true,
            ..Policy::default()
        }
    }

    #[test]
    fn layout_matches_seccomp_data() {
        assert_eq!((OFFSET_NR, OFFSET_ARCH, OFFSET_ARGS), (0, 4, 16));
        assert_eq!(arg_words(0), (16, 20));
        assert_eq!(arg_words(5), (56, 60));
        assert_eq!(size_of::<libc::seccomp_data>(), 64);
    }

    #[test]
    fn instruction_counts() {
        let rules: Rules = [(1, any()), (2, any())].into_iter().collect();
        // Prologue 4 (+2 for the x32 check), 2 per syscall, final ret.
        assert_eq!(generate(Arch::X86_64, &rules).len(), 6 + 4 + 1);
        assert_eq!(generate(Arch::Aarch64, &rules).len(), 4 + 4 + 1);
        assert_eq!(generate(Arch::Arm, &rules).len(), 4 + 4 + 1);

        let cond = Cond {
            index: 2,
            values: vec![1, 2, 3],
            mask: Some(0o777),
        };
        let policy = Policy {
            conds: vec![cond],
            ..Policy::default()
        };
        let rules: Rules = [(7, policy)].into_iter().collect();
        // jeq + (3 values + 1 mask) * 5 + fallback ret.
        assert_eq!(
            generate(Arch::Arm, &rules).len(),
            4 + 1 + 4 * CHECK_LEN + 1 + 1
        );
    }

    #[test]
    fn long_blocks_are_skipped_with_ja() {
        let cond = Cond {
            index: 0,
            values: (0..60).collect(),
            mask: None,
        };
        let policy = Policy {
            conds: vec![cond],
            ..Policy::default()
        };
        let rules: Rules = [(9, policy)].into_iter().collect();
        let program = generate(Arch::Aarch64, &rules);
        let block = 60 * CHECK_LEN + 1;
        assert!(block > usize::from(u8::MAX));
        assert_eq!(program.len(), 4 + 2 + block + 1);
        let head = &program[4];
        assert_eq!((head.code, head.k, head.jt, head.jf), (JEQ, 9, 1, 0));
        let ja = &program[5];
        assert_eq!((ja.code, ja.k), (JA, block as u32));
    }

    #[test]
    fn errno_only_policies_return_the_errno() {
        let policy = Policy {
            errno: Some(38),
            ..Policy::default()
        };
        let rules: Rules = [(435, policy)].into_iter().collect();
        let program = generate(Arch::Aarch64, &rules);
        let ret = &program[5];
        assert_eq!((ret.code, ret.k), (RET, RET_ERRNO | 38));
    }
}
