//! Real hardware and memory faults, for `signal:` when a plain kill to itself is dropped
//! (PID namespace init). Owns one way per fault signal to make the kernel deliver it by
//! force; a signal with no such way (e.g. KILL, TERM, ABRT) makes [`fault`] return.

/// Causes the fault that raises `signo`, if this target has one; returns otherwise.
pub fn fault(signo: i32) {
    match signo {
        libc::SIGSEGV => segv(),
        libc::SIGBUS => bus(),
        libc::SIGILL => ill(),
        libc::SIGTRAP => trap(),
        libc::SIGFPE => fpe(),
        _ => (),
    }
}

/// Reads from a page mapped without access rights.
fn segv() {
    // SAFETY: a fresh anonymous mapping; no existing memory is affected.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if page != libc::MAP_FAILED {
        // SAFETY: deliberately faulting: the page is mapped but not readable, so the
        // kernel stops the read with SIGSEGV before any value is produced.
        unsafe { std::ptr::read_volatile(page.cast::<u8>()) };
    }
}

/// Reads a mapping of this program's file one page past the file's end (no memfd: the
/// default seccomp profile refuses anonymous files).
fn bus() {
    // SAFETY: a NUL-terminated literal path.
    let fd = unsafe { libc::open(c"/proc/self/exe".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return;
    }
    // SAFETY: `stat` is plain data that fstat fills in; an all-zero value is valid.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `stat` is valid for writes for the call.
    if unsafe { libc::fstat(fd, &mut stat) } != 0 {
        return;
    }
    let past_end = (stat.st_size as usize).div_ceil(4096) * 4096;
    // SAFETY: maps a fresh region of our own file read-only; no existing memory is touched.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            past_end + 4096,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    if map != libc::MAP_FAILED {
        // SAFETY: deliberately faulting: the last page of the mapping lies wholly past
        // the end of the file, so the kernel stops the read with SIGBUS.
        unsafe { std::ptr::read_volatile(map.cast::<u8>().add(past_end)) };
    }
}

/// Executes an undefined instruction.
fn ill() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: deliberately faulting: ud2 raises SIGILL and never completes.
    unsafe {
        std::arch::asm!("ud2")
    };
    #[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
    // SAFETY: deliberately faulting: a permanently undefined instruction raises SIGILL.
    unsafe {
        std::arch::asm!("udf #0")
    };
}

/// Executes a breakpoint instruction.
fn trap() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: int3 raises SIGTRAP; with the default action the process ends there.
    unsafe {
        std::arch::asm!("int3")
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: brk raises SIGTRAP; with the default action the process ends there.
    unsafe {
        std::arch::asm!("brk #0")
    };
}

/// Divides by zero where the CPU traps on it (x86_64 only).
fn fpe() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: deliberately faulting: div by a zero register raises #DE, delivered as
    // SIGFPE before any register is written; rax/rdx are declared clobbered anyway.
    unsafe {
        std::arch::asm!(
            "xor edx, edx",
            "div {zero:e}",
            zero = in(reg) std::hint::black_box(0u32),
            inout("eax") 1u32 => _,
            out("edx") _,
        )
    };
}
