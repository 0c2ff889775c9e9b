//! Seccomp: compiles a manifest's `seccomp` section into the classic BPF program the
//! container's process loads just before it executes its program.
//!
//! A filter allows the union of the runtime's own calls after loading (restore the signal
//! mask, `execve`, and the failure report), the `default` profile (a data file,
//! `profiles/default.txt`) and the manifest's allow list; every other call kills the
//! process (`SECCOMP_RET_KILL_PROCESS`, seen as `SIGSYS`), and so does a call of another
//! ABI (`seccomp_data.arch` other than the build target's, x32 calls on x86_64). A
//! container without a `seccomp` section gets the `default` profile ([`default_filter`]).
//!
//! The compiler is our own, one code path for x86_64, aarch64 and 32-bit arm (see
//! doc/adr/0005-own-seccomp-bpf-compiler.md). Filters are built before the container's
//! process is cloned; what this module does not own: loading (`northstar_sys::seccomp`,
//! async-signal-safe, in the child), `no_new_privs`, and when a filter is applied.

mod arch;
mod bpf;
mod profile;
mod rules;

#[cfg(test)]
mod interp;
#[cfg(test)]
mod tests;

pub use arch::Arch;

use npk::manifest::{Profile, Seccomp};

/// The kernel's limit on the length of a BPF program (`BPF_MAXINSNS`).
pub const MAX_INSTRUCTIONS: usize = libc::BPF_MAXINSNS as usize;

/// Errors of compiling a filter.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// The runtime was built for an architecture without a syscall table.
    #[error("seccomp filters are not supported on the {0} architecture")]
    UnsupportedArch(&'static str),
    /// A built-in data file (syscall table or profile) is malformed.
    #[error("{file}, line {line}: {reason}")]
    Data {
        file: &'static str,
        line: usize,
        reason: String,
    },
    /// A rule of the manifest's allow list cannot be compiled.
    #[error("seccomp allow list, syscall {name}: {reason}")]
    Rule { name: String, reason: String },
    /// The program is longer than the kernel accepts.
    #[error(
        "the seccomp filter for {arch} has {len} instructions, more than the kernel's limit \
         of {max}: allow fewer syscalls or argument values"
    )]
    TooLong {
        arch: &'static str,
        len: usize,
        max: usize,
    },
}

/// A compiled filter: a BPF program for one architecture, ready for
/// `northstar_sys::seccomp::load`.
#[derive(Clone)]
pub struct Filter {
    arch: Arch,
    program: Vec<libc::sock_filter>,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("arch", &self.arch)
            .field("instructions", &self.program.len())
            .finish()
    }
}

impl Filter {
    /// The architecture the filter accepts calls of.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// The BPF instructions.
    pub fn instructions(&self) -> &[libc::sock_filter] {
        &self.program
    }

    /// The number of instructions.
    pub fn len(&self) -> usize {
        self.program.len()
    }

    /// Never true: every filter ends in a `ret`.
    pub fn is_empty(&self) -> bool {
        self.program.is_empty()
    }
}

/// Compile `seccomp` for the architecture the runtime was built for.
pub fn compile(seccomp: &Seccomp) -> Result<Filter, Error> {
    compile_for(native()?, seccomp)
}

/// The filter of a container whose manifest has no `seccomp` section: the `default`
/// profile.
pub fn default_filter() -> Result<Filter, Error> {
    compile(&default_section())
}

/// Compile `seccomp` for `arch` (e.g. to inspect a board's filter on a build host).
pub fn compile_for(arch: Arch, seccomp: &Seccomp) -> Result<Filter, Error> {
    let rules = rules::collect(arch, seccomp)?;
    let program = bpf::generate(arch, &rules);
    if program.len() > MAX_INSTRUCTIONS {
        return Err(Error::TooLong {
            arch: arch.name(),
            len: program.len(),
            max: MAX_INSTRUCTIONS,
        });
    }
    log::debug!(
        "seccomp: {arch} filter with {} syscalls in {} instructions",
        rules.len(),
        program.len()
    );
    Ok(Filter { arch, program })
}

fn native() -> Result<Arch, Error> {
    Arch::native().ok_or(Error::UnsupportedArch(std::env::consts::ARCH))
}

fn default_section() -> Seccomp {
    Seccomp {
        profile: Some(Profile::Default),
        allow: None,
    }
}
