//! The orderly shutdown of a boot: what starts it ([`Trigger`]) and the lines its steps
//! leave on the console, in order (`doc/boot.md`, "Shutdown"), checked by
//! [`missing_steps`]:
//!
//! 1. the request: `SIGINT: reboot requested` (Ctrl-Alt-Del) or `management API: Reboot
//!    requested` (a container's console);
//! 2. the init hands over to the runtime: `reboot: shutting the runtime down`, and the
//!    runtime's `shutting down`;
//! 3. every container still running is stopped: `<id>: stopping`, `<id>: ended with …`;
//! 4. every package is unmounted, its dm-verity device removed and its loop device
//!    detached: `<id>: unmounted …, dm-verity device … removed, … detached`;
//! 5. `runtime shut down`; the processes left are ended (`reboot: ending the remaining
//!    processes`); `/data unmounted`; `reboot: file systems synced`; the init's last
//!    line `reboot`; the kernel's `reboot: Restarting system`.
//!
//! The lines of one step may come in any order among themselves; each step's lines all
//! come after every line of the step before.

use super::report::LOG_TAG;

/// How the harness ends a running system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// QEMU's `send-key ctrl alt delete` (QMP): the kernel sends SIGINT to the init.
    CtrlAltDel,
    /// A container sends `reboot` through its console connection (the management API).
    Console,
}

impl Trigger {
    /// The init's line that acknowledges the request.
    pub fn request_line(self) -> &'static str {
        match self {
            Trigger::CtrlAltDel => "SIGINT: reboot requested",
            Trigger::Console => "management API: Reboot requested",
        }
    }

    /// How the trigger is called in reports.
    pub fn describe(self) -> &'static str {
        match self {
            Trigger::CtrlAltDel => "Ctrl-Alt-Del",
            Trigger::Console => "a container's reboot request",
        }
    }
}

/// One line of a step: the init's or runtime's message (after `northstar: ` and a module
/// path) starts with `prefix`, or, for the kernel's lines, the line contains it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Expected {
    prefix: String,
    kernel: bool,
}

/// What the shutdown must show, step by step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShutdownSteps {
    steps: Vec<(&'static str, Vec<Expected>)>,
}

impl ShutdownSteps {
    /// The reboot's steps: `stopped` are the containers running when it was requested,
    /// `mounted` every package the runtime had mounted, `data` whether a data partition
    /// is mounted.
    pub fn reboot(trigger: Trigger, stopped: &[String], mounted: &[String], data: bool) -> Self {
        let init = |prefixes: &[&str]| {
            prefixes
                .iter()
                .map(|p| Expected {
                    prefix: (*p).to_owned(),
                    kernel: false,
                })
                .collect::<Vec<_>>()
        };
        let per = |ids: &[String], suffix: &str| {
            ids.iter()
                .map(|id| Expected {
                    prefix: format!("{id}: {suffix}"),
                    kernel: false,
                })
                .collect::<Vec<_>>()
        };
        let mut steps = vec![
            ("request", init(&[trigger.request_line()])),
            (
                "runtime shutdown",
                init(&["reboot: shutting the runtime down", "shutting down"]),
            ),
            ("containers stopping", per(stopped, "stopping")),
            ("containers ended", per(stopped, "ended with ")),
            ("packages unmounted", per(mounted, "unmounted ")),
            ("runtime down", init(&["runtime shut down"])),
            (
                "processes ended",
                init(&["reboot: ending the remaining processes"]),
            ),
        ];
        if data {
            steps.push(("data unmounted", init(&["/data unmounted"])));
        }
        steps.extend([
            ("sync", init(&["reboot: file systems synced"])),
            ("reboot(2)", init(&["reboot"])),
            (
                "kernel",
                vec![Expected {
                    prefix: super::RESTARTING.to_owned(),
                    kernel: true,
                }],
            ),
        ]);
        steps.retain(|(_, lines)| !lines.is_empty());
        ShutdownSteps { steps }
    }

    /// The steps whose lines `transcript` does not show in order (from the last
    /// `request` line on), each with the line that is missing.
    pub fn missing(&self, transcript: &str) -> Vec<String> {
        let lines: Vec<&str> = transcript.lines().collect();
        let Some((_, request)) = self.steps.first() else {
            return Vec::new();
        };
        let Some(mut from) = lines
            .iter()
            .rposition(|l| request.iter().any(|e| matches(l, e)))
        else {
            return vec![format!(
                "request: no line {:?}",
                request.first().map(|e| e.prefix.as_str()).unwrap_or("")
            )];
        };
        let mut missing = Vec::new();
        for (name, expected) in &self.steps[1..] {
            let mut last = from;
            for e in expected {
                match lines[from + 1..].iter().position(|l| matches(l, e)) {
                    Some(i) => last = last.max(from + 1 + i),
                    None => missing.push(format!("{name}: no line {:?} in order", e.prefix)),
                }
            }
            from = last;
        }
        missing
    }
}

/// Whether `line` is the expected one.
fn matches(line: &str, expected: &Expected) -> bool {
    if expected.kernel {
        return line.contains(&expected.prefix);
    }
    message(line).is_some_and(|m| {
        if expected.prefix == "reboot" {
            m.trim_end() == "reboot" // the init's last line, exactly
        } else {
            m.starts_with(&expected.prefix)
        }
    })
}

/// The message of an init's or runtime's line: after `northstar: ` and, for the
/// runtime's records, after their module path (`runtime_core::runtime::requests: `).
fn message(line: &str) -> Option<&str> {
    let line = line.trim_end_matches(['\r', '\n']);
    let text = &line[line.find(LOG_TAG)? + LOG_TAG.len()..];
    match text.split_once(": ") {
        Some((module, rest)) if module.contains("::") && !module.contains(' ') => Some(rest),
        _ => Some(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "\
[ 5.0] northstar: runtime_core::runtime::events: hello-world:0.0.1: ended with exit code 0\r
[ 6.0] northstar: management API: Reboot requested\r
[ 6.0] northstar: reboot: shutting the runtime down\r
[ 6.0] northstar: runtime_core::runtime::requests: shutting down\r
[ 6.0] northstar: runtime_core::runtime::requests: rebooter:0.0.1: stopping\r
[ 6.1] northstar: runtime_core::runtime::events: rebooter:0.0.1: ended with signal SIGTERM\r
[ 6.2] northstar: runtime_core::runtime: message:0.1.0: unmounted /run/northstar/message:0.1.0, dm-verity device npk-2 removed, /dev/loop2 detached\r
[ 6.2] northstar: runtime_core::runtime: hello-world:0.0.1: unmounted /run/northstar/hello-world:0.0.1, dm-verity device npk-0 removed, /dev/loop0 detached\r
[ 6.2] northstar: runtime_core::runtime: rebooter:0.0.1: unmounted /run/northstar/rebooter:0.0.1, dm-verity device npk-1 removed, /dev/loop1 detached\r
[ 6.3] northstar: runtime shut down\r
[ 6.3] northstar: reboot: ending the remaining processes\r
[ 6.4] EXT4-fs (mmcblk0p3): unmounting filesystem.\r
[ 6.4] northstar: /data unmounted\r
[ 6.4] northstar: reboot: file systems synced\r
[ 6.4] northstar: reboot\r
[ 6.5] reboot: Restarting system\r
";

    fn steps(data: bool) -> ShutdownSteps {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        ShutdownSteps::reboot(
            Trigger::Console,
            &ids(&["rebooter:0.0.1"]),
            &ids(&["hello-world:0.0.1", "message:0.1.0", "rebooter:0.0.1"]),
            data,
        )
    }

    #[test]
    fn an_orderly_reboot_shows_every_step() {
        assert_eq!(steps(true).missing(CONSOLE), Vec::<String>::new());
        assert_eq!(steps(false).missing(CONSOLE), Vec::<String>::new());
    }

    #[test]
    fn a_missing_or_misplaced_step_is_named() {
        let no_unmount = CONSOLE.replace("northstar: /data unmounted", "northstar: /data is busy");
        assert_eq!(
            steps(true).missing(&no_unmount),
            ["data unmounted: no line \"/data unmounted\" in order"]
        );
        // The sync before the data's unmount is out of order.
        let swapped = CONSOLE
            .replace("/data unmounted", "XX")
            .replace("reboot: file systems synced", "/data unmounted")
            .replace("XX", "reboot: file systems synced");
        let missing = steps(true).missing(&swapped);
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(missing[0].starts_with("sync: "), "{missing:?}");
        let lingering = CONSOLE.replace("message:0.1.0: unmounted", "message:0.1.0: unmount: busy");
        assert_eq!(
            steps(true).missing(&lingering),
            ["packages unmounted: no line \"message:0.1.0: unmounted \" in order"]
        );
        let other_trigger =
            ShutdownSteps::reboot(Trigger::CtrlAltDel, &[], &[], false).missing(CONSOLE);
        assert_eq!(
            other_trigger,
            ["request: no line \"SIGINT: reboot requested\""]
        );
    }

    #[test]
    fn messages_lose_the_tag_and_the_module() {
        assert_eq!(
            message("[ 1.0] northstar: runtime_core::runtime: a:1: unmounted x"),
            Some("a:1: unmounted x")
        );
        assert_eq!(message("[ 1.0] northstar: reboot\r"), Some("reboot"));
        assert_eq!(message("[ 1.0] reboot: Restarting system"), None);
        assert_eq!(
            message("northstar: management API: Reboot requested"),
            Some("management API: Reboot requested")
        );
    }
}
