//! Capabilities of the calling thread: the five sets (bounding, permitted, effective,
//! inheritable, ambient). Every function here is async-signal-safe (plain system calls)
//! so that a freshly cloned container process can drop its capabilities before exec.
//!
//! Capability sets are bit masks (`1 << CAP_*`), as in `/proc/<pid>/status`.

use std::io;

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct Header {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn check(ret: libc::c_long) -> io::Result<()> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The highest capability number the running kernel knows
/// (`/proc/sys/kernel/cap_last_cap`). Reads a file: call it before cloning.
pub fn last_cap() -> io::Result<u32> {
    let text = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")?;
    text.trim()
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "cap_last_cap is not a number"))
}

/// Remove every capability not in `keep` from the bounding set (needs `CAP_SETPCAP`).
pub fn drop_bounding(keep: u64, last_cap: u32) -> io::Result<()> {
    for cap in 0..=last_cap.min(63) {
        if keep & (1 << cap) == 0 {
            // SAFETY: prctl(PR_CAPBSET_DROP, cap) takes integers only.
            check(unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong) } as _)?;
        }
    }
    Ok(())
}

/// Keep the permitted set across a change of all uids away from 0 (`PR_SET_KEEPCAPS`).
pub fn set_keep_caps(on: bool) -> io::Result<()> {
    // SAFETY: prctl(PR_SET_KEEPCAPS, 0|1) takes integers only.
    check(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, on as libc::c_ulong) } as _)
}

/// Set the effective, permitted and inheritable sets to exactly `caps` (`capset(2)`).
pub fn set(caps: u64) -> io::Result<()> {
    let header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let low = Data {
        effective: caps as u32,
        permitted: caps as u32,
        inheritable: caps as u32,
    };
    let high = Data {
        effective: (caps >> 32) as u32,
        permitted: (caps >> 32) as u32,
        inheritable: (caps >> 32) as u32,
    };
    let data = [low, high];
    // SAFETY: header and the two data words of version 3 are valid for reads during the
    // call; pid 0 means the calling thread.
    check(unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) })
}

/// Read the effective, permitted and inheritable sets of the calling thread.
pub fn get() -> io::Result<(u64, u64, u64)> {
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: header and two data words are valid for writes during the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut Header,
            data.as_mut_ptr(),
        )
    })?;
    let join = |f: fn(&Data) -> u32| u64::from(f(&data[0])) | (u64::from(f(&data[1])) << 32);
    Ok((
        join(|d| d.effective),
        join(|d| d.permitted),
        join(|d| d.inheritable),
    ))
}

/// Make the ambient set exactly `caps` (each must be permitted and inheritable), so the
/// capabilities survive `execve` of a program without file capabilities under a non-zero
/// uid.
pub fn set_ambient(caps: u64, last_cap: u32) -> io::Result<()> {
    // SAFETY: prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) takes integers.
    check(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    } as _)?;
    for cap in 0..=last_cap.min(63) {
        if caps & (1 << cap) != 0 {
            // SAFETY: prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) takes integers.
            check(unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    cap as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                )
            } as _)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_own_sets() {
        let (effective, permitted, _) = get().unwrap();
        assert_eq!(
            effective & !permitted,
            0,
            "effective is a subset of permitted"
        );
        assert!(last_cap().unwrap() >= 36);
    }
}
