//! The boot report: how long the kernel took until it started the init (the boot-time
//! clock, which `/proc/uptime` shows, read first thing), when each boot step started and
//! how long it took (milliseconds since the init started), and when each autostart
//! container's program ran (from the runtime's notifications). Kept as data for a
//! management API; written to the log as a table once every autostart container has
//! started or failed, or when the runtime has not settled after [`SETTLE`].

use runtime_core::id::ContainerId;
use std::{fmt::Write, time::Duration};

/// Longest wait for the autostart containers before the report is written anyway.
pub const SETTLE: Duration = Duration::from_secs(60);

/// One boot step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub name: &'static str,
    /// Since the init started.
    pub start: Duration,
    pub took: Duration,
}

/// How an autostart container's start ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not known yet.
    Pending,
    /// The program runs (`at`: since the init started).
    Started { at: Duration },
    /// The start failed or the container ended before it was seen running.
    Failed { at: Duration, reason: String },
}

/// The whole report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootReport {
    /// The kernel's uptime when the init started.
    pub kernel: Duration,
    pub steps: Vec<Step>,
    pub containers: Vec<(ContainerId, Outcome)>,
    /// When the report was completed (since the init started).
    pub finished: Option<Duration>,
    /// The init's memory when the report was completed (the runtime and the management
    /// server are threads of the init, so this is all of Northstar's own memory).
    pub memory: Option<Memory>,
    /// The panic that ended the previous boot, from its record on the data partition.
    pub previous_panic: Option<String>,
    /// The runtime configuration says `development = true`: unverified repositories are
    /// accepted next to keyed ones.
    pub development: bool,
    /// The A/B slot this boot runs.
    pub slot: Option<String>,
    /// How the previous boot of the A/B system ended, when it was not marked good.
    pub previous_slot: Option<String>,
}

/// Resident memory of a process, from `/proc/<pid>/status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`, KiB.
    pub rss_kib: u64,
    /// `VmHWM`, the peak resident size, KiB.
    pub peak_kib: u64,
}

impl Memory {
    /// The calling process's memory; `None` when `/proc` does not say.
    pub fn current() -> Option<Memory> {
        Memory::parse(&std::fs::read_to_string("/proc/self/status").ok()?)
    }

    /// `VmRSS` and `VmHWM` of a `/proc/<pid>/status` text.
    pub fn parse(status: &str) -> Option<Memory> {
        let kib = |key: &str| {
            status.lines().find_map(|line| {
                let value = line.strip_prefix(key)?.strip_prefix(':')?;
                value.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
            })
        };
        Some(Memory {
            rss_kib: kib("VmRSS")?,
            peak_kib: kib("VmHWM")?,
        })
    }
}

impl BootReport {
    /// A report for an init started at kernel uptime `kernel`.
    pub fn new(kernel: Duration) -> BootReport {
        BootReport {
            kernel,
            ..BootReport::default()
        }
    }

    /// Record a step.
    pub fn step(&mut self, name: &'static str, start: Duration, took: Duration) {
        self.steps.push(Step { name, start, took });
    }

    /// Expect the start of `id`.
    pub fn expect(&mut self, id: ContainerId) {
        if !self.containers.iter().any(|(c, _)| *c == id) {
            self.containers.push((id, Outcome::Pending));
        }
    }

    /// Record how the start of `id` ended (the first outcome counts).
    pub fn outcome(&mut self, id: &ContainerId, outcome: Outcome) {
        match self.containers.iter_mut().find(|(c, _)| c == id) {
            Some((_, o @ Outcome::Pending)) => *o = outcome,
            Some(_) => {}
            None => self.containers.push((id.clone(), outcome)),
        }
    }

    /// Whether every expected container has an outcome.
    pub fn settled(&self) -> bool {
        self.containers
            .iter()
            .all(|(_, o)| !matches!(o, Outcome::Pending))
    }

    /// The table, in the style of `systemd-analyze`.
    pub fn render(&self) -> String {
        let init = self.finished.unwrap_or_else(|| {
            self.steps
                .last()
                .map(|s| s.start.saturating_add(s.took))
                .unwrap_or_default()
        });
        let mut out = format!(
            "Startup finished in {} (kernel) + {} (init) = {}\n",
            seconds(self.kernel),
            seconds(init),
            seconds(self.kernel.saturating_add(init))
        );
        if self.development {
            out.push_str("development image: unverified repositories accepted\n");
        }
        if let Some(slot) = &self.slot {
            let _ = writeln!(out, "slot: {slot}");
        }
        if let Some(m) = self.memory {
            let _ = writeln!(
                out,
                "init memory: {} KiB resident, peak {} KiB",
                m.rss_kib, m.peak_kib
            );
        }
        let _ = writeln!(out, "{:>9} {:>9}  step", "at (ms)", "took (ms)");
        for s in &self.steps {
            let _ = writeln!(
                out,
                "{:>9} {:>9}  {}",
                s.start.as_millis(),
                s.took.as_millis(),
                s.name
            );
        }
        for (id, outcome) in &self.containers {
            let (at, what) = match outcome {
                Outcome::Pending => ("-".to_string(), "still starting".to_string()),
                Outcome::Started { at } => (at.as_millis().to_string(), "started".to_string()),
                Outcome::Failed { at, reason } => {
                    (at.as_millis().to_string(), format!("failed: {reason}"))
                }
            };
            let _ = writeln!(out, "{at:>9} {:>9}  container {id} {what}", "");
        }
        // Last: readers of the table stop at the first line that is not a step.
        if let Some(panic) = &self.previous_panic {
            let _ = writeln!(out, "previous boot ended in a panic: {panic}");
        }
        if let Some(previous) = &self.previous_slot {
            let _ = writeln!(out, "previous boot: {previous}");
        }
        out
    }
}

fn seconds(d: Duration) -> String {
    format!("{}.{:03}s", d.as_secs(), d.subsec_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_from_proc_status() {
        let status = "Name:\tnorthstar\nVmHWM:\t    2480 kB\nVmRSS:\t    2112 kB\nThreads:\t3\n";
        assert_eq!(
            Memory::parse(status),
            Some(Memory {
                rss_kib: 2112,
                peak_kib: 2480
            })
        );
        assert_eq!(Memory::parse("Name:\tkthread\n"), None);
        assert!(Memory::current().is_some_and(|m| m.rss_kib > 0 && m.peak_kib >= m.rss_kib));
        let mut r = BootReport::new(Duration::from_millis(900));
        r.memory = Memory::parse(status);
        assert!(r
            .render()
            .contains("init memory: 2112 KiB resident, peak 2480 KiB\n"));
    }

    fn id(s: &str) -> ContainerId {
        s.parse().unwrap()
    }

    #[test]
    fn table() {
        let ms = Duration::from_millis;
        let mut r = BootReport::new(ms(1234));
        r.step("early", ms(0), ms(3));
        r.step("modules", ms(3), ms(120));
        r.expect(id("hello:0.0.1"));
        r.expect(id("crash:1.0.0"));
        assert!(!r.settled());
        r.outcome(&id("hello:0.0.1"), Outcome::Started { at: ms(400) });
        r.outcome(
            &id("hello:0.0.1"),
            Outcome::Failed {
                at: ms(500),
                reason: "x".into(),
            },
        );
        assert!(!r.settled());
        r.outcome(
            &id("crash:1.0.0"),
            Outcome::Failed {
                at: ms(410),
                reason: "exit code 1".into(),
            },
        );
        assert!(r.settled());
        r.finished = Some(ms(450));
        let without = r.render();
        r.previous_panic = Some("panicked at src/x.rs:1:2: boom".into());
        assert_eq!(
            r.render(),
            format!("{without}previous boot ended in a panic: panicked at src/x.rs:1:2: boom\n")
        );
        r.previous_panic = None;
        assert_eq!(
            r.render(),
            "Startup finished in 1.234s (kernel) + 0.450s (init) = 1.684s\n\
             \x20 at (ms) took (ms)  step\n\
             \x20       0         3  early\n\
             \x20       3       120  modules\n\
             \x20     400            container hello:0.0.1 started\n\
             \x20     410            container crash:1.0.0 failed: exit code 1\n"
        );
    }

    #[test]
    fn a_development_image_says_so_under_the_first_line() {
        let mut r = BootReport::new(Duration::from_secs(1));
        assert!(!r.render().contains("development image"));
        r.development = true;
        let shown = r.render();
        let lines: Vec<&str> = shown.lines().collect();
        assert!(lines[0].starts_with("Startup finished in"), "{shown}");
        assert_eq!(
            lines[1], "development image: unverified repositories accepted",
            "{shown}"
        );
    }

    #[test]
    fn unsettled_and_empty() {
        let mut r = BootReport::new(Duration::from_secs(2));
        assert!(r.settled());
        r.expect(id("a:1.0.0"));
        r.expect(id("a:1.0.0"));
        assert_eq!(r.containers.len(), 1);
        assert!(r
            .render()
            .contains("-            container a:1.0.0 still starting"));
        assert!(r
            .render()
            .starts_with("Startup finished in 2.000s (kernel) + 0.000s (init)"));
    }
}
