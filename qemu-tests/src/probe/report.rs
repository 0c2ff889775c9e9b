//! What the probe found, read from its console lines, and the checks that say whether the
//! board passed.

use std::path::PathBuf;
use std::time::Duration;

use crate::kernels::Kernel;
use crate::Board;

/// One `NORTHSTAR-PROBE module=<name> load=<ok|ERRNO> listed=<yes|no>` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleOutcome {
    pub name: String,
    /// `ok`, or the errno name of the failed `finit_module`.
    pub load: String,
    /// Whether `/proc/modules` listed it afterwards: `yes`, `no` or `unknown`.
    pub listed: String,
}

impl ModuleOutcome {
    /// Parses a module line; missing fields are empty.
    pub fn parse(line: &str) -> Self {
        let get = |key| field(line, key).unwrap_or_default();
        Self {
            name: get("module"),
            load: get("load"),
            listed: get("listed"),
        }
    }

    pub fn loaded(&self) -> bool {
        self.load == "ok" && self.listed == "yes"
    }
}

/// The result of one probe boot.
#[derive(Clone, Debug)]
pub struct ProbeReport {
    pub board: Board,
    pub kernel: Kernel,
    /// `std::env::consts::ARCH` as the guest binary saw it.
    pub guest_arch: String,
    /// The arch named in the marker line.
    pub marker_arch: String,
    /// `uname -r` in the guest.
    pub guest_release: String,
    /// The module names the harness sent, in load order.
    pub expected_modules: Vec<String>,
    /// The module lines the guest printed, in its order.
    pub modules: Vec<ModuleOutcome>,
    /// Requested modules built into the kernel (nothing to load).
    pub builtin: Vec<String>,
    /// QEMU's exit code after the guest powered off (`None`: the harness stopped it, as
    /// it must on raspi2b; `Some(None)`: ended by a signal).
    pub qemu_exit: Option<Option<i32>>,
    /// From QEMU's start to the marker.
    pub marker_after: Duration,
    /// From QEMU's start until it was gone (exited after the power-off, or stopped by the
    /// harness): the boot's wall time.
    pub total: Duration,
    pub log: PathBuf,
}

impl ProbeReport {
    /// Everything that differs from a good run; empty when the board passed.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let arch = self.board.guest_arch();
        if self.guest_arch != arch || self.marker_arch != arch {
            problems.push(format!(
                "guest arch {:?}, marker arch {:?}, expected {arch:?}",
                self.guest_arch, self.marker_arch
            ));
        }
        if self.guest_release != self.kernel.release {
            problems.push(format!(
                "guest runs {:?}, expected {:?}",
                self.guest_release, self.kernel.release
            ));
        }
        let printed: Vec<&str> = self.modules.iter().map(|m| m.name.as_str()).collect();
        if printed != self.expected_modules {
            problems.push(format!(
                "module lines {printed:?}, expected {:?}",
                self.expected_modules
            ));
        }
        for module in self.modules.iter().filter(|m| !m.loaded()) {
            problems.push(format!(
                "module {} load={} listed={}",
                module.name, module.load, module.listed
            ));
        }
        if self.board.powers_off() && self.qemu_exit != Some(Some(0)) {
            problems.push(format!("qemu exit after power-off: {:?}", self.qemu_exit));
        }
        problems
    }
}

/// The value of `key=value` in a probe line (values have no spaces).
pub(crate) fn field(line: &str, key: &str) -> Option<String> {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_owned)
}

/// The first word after `marker` in `line`.
pub(crate) fn after(line: &str, marker: &str) -> Option<String> {
    let (_, rest) = line.split_once(marker)?;
    rest.split_whitespace().next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_probe_lines() {
        let line = "[ 1.2] x NORTHSTAR-PROBE module=dm_mod load=EEXIST listed=yes";
        let outcome = ModuleOutcome::parse(line);
        assert_eq!(outcome.name, "dm_mod");
        assert_eq!(outcome.load, "EEXIST");
        assert!(!outcome.loaded());
        assert!(ModuleOutcome::parse("NORTHSTAR-PROBE module=loop load=ok listed=yes").loaded());
        assert_eq!(
            after("junk NORTHSTAR-QEMU-OK arm", "NORTHSTAR-QEMU-OK").as_deref(),
            Some("arm")
        );
        assert_eq!(
            field("NORTHSTAR-PROBE start arch=aarch64", "arch").as_deref(),
            Some("aarch64")
        );
        assert_eq!(field("NORTHSTAR-PROBE start", "arch"), None);
    }

    fn good(board: Board) -> ProbeReport {
        let release = "6.1.0-1-x".to_owned();
        let module =
            |name: &str| ModuleOutcome::parse(&format!("module={name} load=ok listed=yes"));
        ProbeReport {
            board,
            kernel: Kernel {
                board,
                package: crate::kernels::Package {
                    name: format!("linux-image-{release}"),
                    arch: board.debian_arch().into(),
                    version: "1".into(),
                },
                release: release.clone(),
                vmlinuz: PathBuf::from("/k/vmlinuz"),
                modules_dir: PathBuf::from("/k/modules"),
                dtb: None,
            },
            guest_arch: board.guest_arch().into(),
            marker_arch: board.guest_arch().into(),
            guest_release: release,
            expected_modules: vec!["dm_mod".into(), "dm_verity".into()],
            modules: vec![module("dm_mod"), module("dm_verity")],
            builtin: Vec::new(),
            qemu_exit: board.powers_off().then_some(Some(0)),
            marker_after: Duration::from_secs(1),
            total: Duration::from_secs(2),
            log: PathBuf::from("/l/log"),
        }
    }

    #[test]
    fn a_good_run_has_no_problems() {
        for board in Board::ALL {
            assert_eq!(good(board).problems(), Vec::<String>::new(), "{board}");
        }
    }

    #[test]
    fn every_deviation_is_a_problem() {
        let mut report = good(Board::Aarch64);
        report.guest_arch = "x86_64".into();
        assert_eq!(report.problems().len(), 1, "{:?}", report.problems());

        let mut report = good(Board::X86_64);
        report.guest_release = "6.1.0-2-x".into();
        assert_eq!(report.problems().len(), 1, "{:?}", report.problems());

        // A module missing from the guest's lines, or printed in another order.
        let mut report = good(Board::Rpi2);
        report.modules.reverse();
        assert_eq!(report.problems().len(), 1, "{:?}", report.problems());
        report.modules.pop();
        assert_eq!(report.problems().len(), 1, "{:?}", report.problems());

        let mut report = good(Board::X86_64);
        report.modules[1].load = "ENOEXEC".into();
        report.modules[0].listed = "no".into();
        assert_eq!(report.problems().len(), 2, "{:?}", report.problems());

        // A board that powers off must have ended QEMU by itself, with status 0.
        let mut report = good(Board::X86_64);
        report.qemu_exit = None;
        assert_eq!(report.problems().len(), 1, "{:?}", report.problems());
        report.qemu_exit = Some(Some(1));
        assert_eq!(report.problems().len(), 1, "{:?}", report.problems());
    }
}
