//! A classic BPF interpreter for tests: checks a program the way the kernel's seccomp
//! loader does (for the instructions the compiler emits) and runs it on a `seccomp_data`,
//! so filters for every architecture can be tested on any host. Only the instructions
//! the compiler emits are known; it is no general BPF implementation and never loads.

use libc::sock_filter;

/// The fields of `struct seccomp_data`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Data {
    pub nr: u32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

impl Data {
    /// The little-endian bytes of `struct seccomp_data`.
    fn bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..4].copy_from_slice(&self.nr.to_le_bytes());
        b[4..8].copy_from_slice(&self.arch.to_le_bytes());
        b[8..16].copy_from_slice(&self.instruction_pointer.to_le_bytes());
        for (i, arg) in self.args.iter().enumerate() {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&arg.to_le_bytes());
        }
        b
    }
}

const LD_ABS: u16 = 0x20;
const JA: u16 = 0x05;
const JEQ: u16 = 0x15;
const JGE: u16 = 0x35;
const JSET: u16 = 0x45;
const RET: u16 = 0x06;

/// Reject what the kernel would: empty or too long programs, unknown instructions, loads
/// outside `seccomp_data` or unaligned, jumps past the end, a last instruction that is not
/// `ret`.
pub(crate) fn check(program: &[sock_filter]) -> Result<(), String> {
    if program.is_empty() || program.len() > 4096 {
        return Err(format!("length {}", program.len()));
    }
    for (pc, insn) in program.iter().enumerate() {
        let after = program.len() - pc - 1;
        match insn.code {
            LD_ABS if insn.k % 4 != 0 || insn.k >= 64 => {
                return Err(format!("{pc}: load {}", insn.k))
            }
            LD_ABS | RET => {}
            JA if insn.k as usize >= after => return Err(format!("{pc}: ja past the end")),
            JA => {}
            JEQ | JGE | JSET => {
                if usize::from(insn.jt) >= after || usize::from(insn.jf) >= after {
                    return Err(format!("{pc}: jump past the end"));
                }
            }
            code => return Err(format!("{pc}: code {code:#x}")),
        }
    }
    match program.last() {
        Some(insn) if insn.code == RET => Ok(()),
        _ => Err("does not end in ret".into()),
    }
}

/// Run a checked program; returns the action and data (`SECCOMP_RET_*`).
pub(crate) fn run(program: &[sock_filter], data: &Data) -> u32 {
    let bytes = data.bytes();
    let mut a = 0u32;
    let mut pc = 0usize;
    loop {
        let insn = program[pc];
        pc += 1;
        let branch = |taken: bool| usize::from(if taken { insn.jt } else { insn.jf });
        match insn.code {
            LD_ABS => {
                let k = insn.k as usize;
                a = u32::from_le_bytes([bytes[k], bytes[k + 1], bytes[k + 2], bytes[k + 3]]);
            }
            JA => pc += insn.k as usize,
            JEQ => pc += branch(a == insn.k),
            JGE => pc += branch(a >= insn.k),
            JSET => pc += branch(a & insn.k != 0),
            RET => return insn.k,
            code => panic!("unchecked program: code {code:#x}"),
        }
    }
}
