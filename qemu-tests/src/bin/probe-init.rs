//! PID 1 of the harness's probe scenario (not Northstar's init): proves that a kernel boots
//! our initramfs, runs a static binary of ours as init, loads modules with
//! `finit_module(2)`, prints on the console and powers the machine off.
//!
//! It reads `/etc/probe/modules` (one `<name> <path>` a line, in load order), loads each
//! module, checks `/proc/modules` for it, and prints one line per module, then the marker
//! `NORTHSTAR-QEMU-OK <arch>`, then calls `reboot(RB_POWER_OFF)`. Every line it prints
//! starts with `NORTHSTAR-`, so the harness can tell them from kernel messages. Run as
//! anything but PID 1 it does nothing (it would power off the host).
#![forbid(unsafe_code)]

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::process::ExitCode;

use nix::kmod::{finit_module, ModuleInitFlags};
use nix::mount::{mount, MsFlags};
use nix::sys::reboot::{reboot, RebootMode};

const MODULE_LIST: &str = "/etc/probe/modules";

/// Writes one line to the console. There is nowhere to report a failed write.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn main() -> ExitCode {
    let arch = std::env::consts::ARCH;
    let pid = std::process::id();
    if pid != 1 {
        eprintln!("probe-init: runs only as PID 1 inside a test guest (pid is {pid})");
        return ExitCode::from(2);
    }
    say(&format!("NORTHSTAR-PROBE start arch={arch}"));

    let proc_ok = mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    );
    match proc_ok {
        Ok(()) => {
            let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|r| r.trim().to_owned())
                .unwrap_or_else(|e| format!("unknown({e})"));
            say(&format!("NORTHSTAR-PROBE release={release}"));
        }
        Err(errno) => say(&format!("NORTHSTAR-PROBE proc={errno:?}")),
    }

    let list = std::fs::read_to_string(MODULE_LIST).unwrap_or_default();
    for line in list.lines().filter(|l| !l.trim().is_empty()) {
        let (name, path) = line.split_once(' ').unwrap_or((line, ""));
        let load = match load_module(path) {
            Ok(()) => "ok".to_owned(),
            Err(reason) => reason,
        };
        let listed = if proc_ok.is_err() {
            "unknown"
        } else if is_listed(name) {
            "yes"
        } else {
            "no"
        };
        say(&format!(
            "NORTHSTAR-PROBE module={name} load={load} listed={listed}"
        ));
    }

    say(&format!("NORTHSTAR-QEMU-OK {arch}"));
    match reboot(RebootMode::RB_POWER_OFF) {
        Ok(never) => match never {},
        Err(errno) => {
            say(&format!("NORTHSTAR-PROBE poweroff={errno:?}"));
            ExitCode::FAILURE
        }
    }
}

/// Loads one module file; the error is the errno's name (`EEXIST`, `ENOENT`, …).
fn load_module(path: &str) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("open:{}", e.kind()))?;
    let params = CString::default();
    finit_module(&file, &params, ModuleInitFlags::empty()).map_err(|errno| format!("{errno:?}"))
}

/// Whether `/proc/modules` lists the module (canonical name, `_` for `-`).
fn is_listed(name: &str) -> bool {
    let name = name.replace('-', "_");
    std::fs::read_to_string("/proc/modules")
        .map(|m| {
            m.lines()
                .any(|l| l.split(' ').next() == Some(name.as_str()))
        })
        .unwrap_or(false)
}
