//! The init's boot report as it reaches the console (`doc/boot.md`, "The boot report"):
//! one kernel-log record per line, each `[ time] northstar: <text>`.
//!
//! ```text
//! [    9.1] northstar: Startup finished in 1.843s (kernel) + 0.912s (init) = 2.755s
//! [    9.1] northstar:   at (ms) took (ms)  step
//! [    9.1] northstar:         0         4  early
//! [    9.1] northstar:       903            container hello-world:0.0.1 started
//! ```
//!
//! Records of the runtime (`northstar: runtime_core::…: …`) and the kernel may come
//! between the report's lines; they are skipped. The report ends at the first other line
//! of the init.

use std::time::Duration;

/// What the console shows of the init's log: the text after this.
pub const LOG_TAG: &str = "northstar: ";
/// The report's first line starts with this.
pub const FIRST_LINE: &str = "Startup finished in ";

/// One boot step of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    /// Milliseconds since the init started.
    pub at: u64,
    pub took: u64,
}

/// One autostart container of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    /// Milliseconds since the init started; `None` while still starting.
    pub at: Option<u64>,
    /// `started`, `failed: <reason>` or `still starting`.
    pub outcome: String,
}

/// The parsed report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootReport {
    pub kernel: Duration,
    pub init: Duration,
    pub total: Duration,
    pub steps: Vec<Step>,
    pub containers: Vec<Container>,
    /// The init's memory when it wrote the report: (resident, peak) KiB.
    pub memory: Option<(u64, u64)>,
    /// The A/B slot the init booted, when the boot loader named one.
    pub slot: Option<String>,
    /// What the report says of the previous boot of the A/B system (`previous boot: `),
    /// when it was not marked good or the boot loader fell back from it.
    pub previous_slot: Option<String>,
}

/// `init memory: 2112 KiB resident, peak 2480 KiB`
fn memory(text: &str) -> Option<(u64, u64)> {
    let rest = text.strip_prefix("init memory: ")?;
    let (rss, rest) = rest.split_once(" KiB resident, peak ")?;
    Some((rss.parse().ok()?, rest.strip_suffix(" KiB")?.parse().ok()?))
}

impl BootReport {
    /// The report in `transcript` (the last one, if the init wrote several), or `None`
    /// when there is none or its first line does not parse.
    pub fn parse(transcript: &str) -> Option<BootReport> {
        let lines: Vec<&str> = transcript.lines().collect();
        let start = lines
            .iter()
            .rposition(|l| message(l).is_some_and(|m| m.starts_with(FIRST_LINE)))?;
        let mut report = first_line(message(lines[start])?)?;
        for line in &lines[start + 1..] {
            let Some(text) = message(line) else {
                continue; // the kernel's
            };
            if text.trim_start().starts_with("at (ms)") {
                continue;
            }
            if let Some(m) = memory(text) {
                report.memory = Some(m);
                continue;
            }
            if let Some(slot) = text.strip_prefix("slot: ") {
                report.slot = Some(slot.trim().to_owned());
                continue;
            }
            if text.starts_with("development image: ") {
                continue;
            }
            // The lines after the table.
            if let Some(previous) = text.strip_prefix("previous boot: ") {
                report.previous_slot = Some(previous.trim().to_owned());
                continue;
            }
            if text.starts_with("previous boot ended in a panic: ") {
                continue;
            }
            let words: Vec<&str> = text.split_whitespace().collect();
            match words.as_slice() {
                [at, "container", id, outcome @ ..] if !outcome.is_empty() => {
                    report.containers.push(Container {
                        id: (*id).to_owned(),
                        at: at.parse().ok(),
                        outcome: outcome.join(" "),
                    });
                }
                [at, took, name] if at.parse::<u64>().is_ok() => {
                    report.steps.push(Step {
                        name: (*name).to_owned(),
                        at: at.parse().ok()?,
                        took: took.parse().ok()?,
                    });
                }
                // Another thread's record (it names its module): not the report's.
                [origin, ..] if origin.contains("::") => continue,
                _ => break,
            }
        }
        Some(report)
    }

    /// The names of the steps, in order.
    pub fn step_names(&self) -> Vec<&str> {
        self.steps.iter().map(|s| s.name.as_str()).collect()
    }

    /// The container `id`'s line.
    pub fn container(&self, id: &str) -> Option<&Container> {
        self.containers.iter().find(|c| c.id == id)
    }
}

/// The text of an init's log line on the console, after `northstar: `.
fn message(line: &str) -> Option<&str> {
    let line = line.trim_end_matches(['\r', '\n']);
    line.find(LOG_TAG).map(|i| &line[i + LOG_TAG.len()..])
}

/// `Startup finished in 1.843s (kernel) + 0.912s (init) = 2.755s`
fn first_line(text: &str) -> Option<BootReport> {
    let rest = text.strip_prefix(FIRST_LINE)?;
    let (kernel, rest) = rest.split_once(" (kernel) + ")?;
    let (init, rest) = rest.split_once(" (init) = ")?;
    Some(BootReport {
        kernel: seconds(kernel)?,
        init: seconds(init)?,
        total: seconds(rest.trim())?,
        ..BootReport::default()
    })
}

/// `1.843s`
fn seconds(text: &str) -> Option<Duration> {
    let (secs, millis) = text.strip_suffix('s')?.split_once('.')?;
    if millis.len() != 3 {
        return None;
    }
    Some(Duration::from_secs(secs.parse().ok()?) + Duration::from_millis(millis.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "\
[    3.100000] northstar: northstar 0.1.0 starting as PID 1 of the machine, 3090 ms after the kernel started\r
[    9.000000] northstar: runtime_core::runtime::events: hello-world:0.0.1: started (pid 201)\r
[    9.100000] northstar: Startup finished in 3.090s (kernel) + 5.912s (init) = 9.002s\r
[    9.100000] northstar: slot: B\r
[    9.100000] northstar: init memory: 2112 KiB resident, peak 2480 KiB\r
[    9.100001] northstar:   at (ms) took (ms)  step\r
[    9.100002] northstar:         0         4  early\r
[    9.100003] northstar:         4         1  board\r
[    9.100004] virtio_blk virtio1: [vdb] 131072 512-byte logical blocks\r
[    9.100005] northstar: runtime_core::runtime::events: hello-world:0.0.1: Hello, embedded world!\r
[    9.100006] northstar:      5000       900  runtime\r
[    9.100007] northstar:      5903            container hello-world:0.0.1 started\r
[    9.100008] northstar:         -            container late:1.0.0 still starting\r
[    9.100009] northstar:      5950            container bad:1.0.0 failed: exit code 1\r
[    9.100010] northstar: previous boot ended in a panic: panicked at src/x.rs:1:2: boom\r
[    9.100011] northstar: previous boot: the boot loader booted slot B instead of A, the last good one: x\r
[    9.200000] northstar: SIGINT: reboot requested\r
[    9.300000] northstar:         1         2  looks-like-a-step\r
";

    #[test]
    fn parses_the_report_between_other_records() {
        let r = BootReport::parse(CONSOLE).unwrap();
        assert_eq!(r.kernel, Duration::from_millis(3090));
        assert_eq!(r.init, Duration::from_millis(5912));
        assert_eq!(r.total, Duration::from_millis(9002));
        assert_eq!(r.step_names(), ["early", "board", "runtime"]);
        assert_eq!(
            r.steps[2],
            Step {
                name: "runtime".into(),
                at: 5000,
                took: 900
            }
        );
        let hello = r.container("hello-world:0.0.1").unwrap();
        assert_eq!((hello.at, hello.outcome.as_str()), (Some(5903), "started"));
        let late = r.container("late:1.0.0").unwrap();
        assert_eq!((late.at, late.outcome.as_str()), (None, "still starting"));
        assert_eq!(
            r.container("bad:1.0.0").unwrap().outcome,
            "failed: exit code 1"
        );
        assert_eq!(r.containers.len(), 3);
        assert_eq!(r.memory, Some((2112, 2480)));
        assert_eq!(r.slot.as_deref(), Some("B"));
        assert_eq!(
            r.previous_slot.as_deref(),
            Some("the boot loader booted slot B instead of A, the last good one: x")
        );
    }

    #[test]
    fn no_report_or_a_broken_first_line() {
        assert_eq!(BootReport::parse("[ 1.0] northstar: hello\n"), None);
        assert_eq!(
            BootReport::parse(
                "northstar: Startup finished in 1.5s (kernel) + 1.000s (init) = 2.500s\n"
            ),
            None
        );
        assert!(BootReport::parse(
            "northstar: Startup finished in 1.500s (kernel) + 1.000s (init) = 2.500s"
        )
        .is_some_and(|r| r.steps.is_empty()));
    }
}
