//! What the commands print about a run of a boot, the demo's check or a scenario: a
//! [`Report`] of lines for standard output and problems for standard error, with the
//! run's wall time. The single commands print it as it comes; the suite prints each as
//! one block when its run ends, since several run at the same time.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::boot::BootRun;
use crate::demo::{CheckRun, Prepared};
use crate::scenario::Outcome;
use crate::Board;

/// What one run printed.
#[derive(Debug, Default)]
pub struct Report {
    /// What ran, e.g. `x86_64 boot`, `x86_64 scenario oom`.
    pub name: String,
    /// Wall time of the run, its images included.
    pub wall: Duration,
    /// For standard output.
    pub lines: Vec<String>,
    /// Every deviation (an error included); empty when it passed.
    pub problems: Vec<String>,
}

impl Report {
    /// A report of `name` that took `wall` so far.
    pub fn new(name: impl Into<String>, wall: Duration) -> Report {
        Report {
            name: name.into(),
            wall,
            ..Report::default()
        }
    }

    /// A run that ended with an error instead of a result: the problem names the error
    /// and each of its sources.
    pub fn error(
        name: impl Into<String>,
        wall: Duration,
        error: &(dyn std::error::Error + 'static),
    ) -> Report {
        let mut report = Report::new(name, wall);
        let mut text = format!("failed after {:.1} s: {error}", wall.as_secs_f64());
        let mut source = error.source();
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        report.problems.push(text);
        report
    }

    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// `passed` or `FAILED`.
    pub fn verdict(&self) -> &'static str {
        if self.passed() {
            "passed"
        } else {
            "FAILED"
        }
    }

    /// Prints the lines to standard output and each problem as `<name>: FAILED: …` to
    /// standard error, both locked for the whole report.
    pub fn print(&self) {
        let mut out = std::io::stdout().lock();
        let mut err = std::io::stderr().lock();
        for line in &self.lines {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
        for problem in &self.problems {
            let _ = writeln!(err, "{}: FAILED: {problem}", self.name);
        }
    }

    fn line(&mut self, line: String) {
        self.lines.push(line);
    }
}

/// A boot of Northstar's init on `board` ([`crate::boot::run`]) that took `wall`.
pub fn boot(board: Board, run: &BootRun, wall: Duration) -> Report {
    let mut report = Report::new(format!("{board} boot"), wall);
    report.problems = run.problems();
    report.line(format!(
        "{board} boot: {} in {:.1} s. {} booted Northstar's init; up (report and container \
         output) after {:.1} s, {} to the machine's end {:.1} s, machine gone after {:.1} s; \
         log {}",
        report.verdict(),
        wall.as_secs_f64(),
        run.kernel.release,
        run.up_after.as_secs_f64(),
        run.trigger.describe(),
        run.shutdown.as_secs_f64(),
        run.total.as_secs_f64(),
        run.log.display()
    ));
    if let Some(boot_report) = &run.report {
        report.line(format!(
            "  boot report: {:.3} s (kernel) + {:.3} s (init)",
            boot_report.kernel.as_secs_f64(),
            boot_report.init.as_secs_f64()
        ));
        for step in &boot_report.steps {
            report.line(format!(
                "  {:>6} ms {:>6} ms  {}",
                step.at, step.took, step.name
            ));
        }
        for c in &boot_report.containers {
            report.line(format!("  container {} {}", c.id, c.outcome));
        }
    }
    report.line(format!("  {}", run.hello.trim()));
    report.line(format!(
        "  data image: e2fsck -fn status {}, state {}",
        run.fsck.status, run.superblock.state
    ));
    report
}

/// `demo --check` ([`crate::demo::check`]) of `prepared` that took `wall`, the images
/// included.
pub fn demo_check(prepared: &Prepared, run: &CheckRun, wall: Duration) -> Report {
    let mut report = Report::new("x86_64 demo --check", wall);
    report.problems = run.problems.clone();
    let machines: Vec<String> = run
        .boots
        .iter()
        .map(|b| format!("{:.1} s", b.as_secs_f64()))
        .collect();
    report.line(format!(
        "x86_64 demo --check: {} in {:.1} s (machines {}); logs {}",
        report.verdict(),
        wall.as_secs_f64(),
        machines.join(", "),
        paths(&run.logs)
    ));
    for line in &run.lines {
        report.line(format!("  {}: {}", line.what, line.seen));
    }
    report.line(format!(
        "  manage it as the demo does: {}",
        prepared.nstar.command_line()
    ));
    report
}

/// A scenario's outcome ([`crate::scenario::run`]) on `board` that took `wall`, its
/// images included.
pub fn scenario(board: Board, outcome: &Outcome, wall: Duration) -> Report {
    let mut report = Report::new(format!("{board} scenario {}", outcome.scenario), wall);
    report.problems = outcome.problems.clone();
    report.line(format!(
        "{board} scenario {}: {} in {:.1} s (machine {:.1} s); log {}",
        outcome.scenario,
        report.verdict(),
        wall.as_secs_f64(),
        outcome.machine.as_secs_f64(),
        outcome.log.display()
    ));
    for note in &outcome.notes {
        report.line(format!("  {}", note.trim()));
    }
    report
}

/// The table of a group of runs: verdict, wall time and name of each, in the order
/// given, then the sum of their times against `elapsed`, the group's own wall time.
pub fn table(title: &str, reports: &[Report], elapsed: Duration) -> Vec<String> {
    let sum: Duration = reports.iter().map(|r| r.wall).sum();
    let failed = reports.iter().filter(|r| !r.passed()).count();
    let mut lines = vec![format!(
        "{title}: {} runs, {} failed, in {:.1} s (one after the other: {:.1} s)",
        reports.len(),
        failed,
        elapsed.as_secs_f64(),
        sum.as_secs_f64()
    )];
    for r in reports {
        lines.push(format!(
            "  {:<6} {:>7.1} s  {}",
            r.verdict(),
            r.wall.as_secs_f64(),
            r.name
        ));
    }
    lines
}

/// Longest part of a problem repeated by [`recap`].
const RECAP_CHARS: usize = 600;

/// The problems of the failed runs again, each cut to its first lines, for the end of a
/// group's output: a log read from its end shows why a run failed next to the verdict.
pub fn recap(reports: &[Report]) -> Vec<String> {
    let mut lines = Vec::new();
    for r in reports.iter().filter(|r| !r.passed()) {
        for problem in &r.problems {
            let first: String = problem.lines().take(3).collect::<Vec<_>>().join(" | ");
            let cut: String = first.chars().take(RECAP_CHARS).collect();
            let shortened = problem.lines().count() > 3 || cut.len() < first.len();
            let more = if shortened { " …" } else { "" };
            lines.push(format!("{}: {cut}{more}", r.name));
        }
    }
    lines
}

fn paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_every_run_with_its_time_and_verdict() {
        let mut failed = Report::new("x86_64 scenario oom", Duration::from_secs(20));
        failed.problems.push("no OOM kill".into());
        let reports = [
            Report::new("x86_64 boot", Duration::from_millis(12_340)),
            failed,
        ];
        let lines = table("suite", &reports, Duration::from_secs(25));
        assert_eq!(
            lines,
            [
                "suite: 2 runs, 1 failed, in 25.0 s (one after the other: 32.3 s)",
                "  passed    12.3 s  x86_64 boot",
                "  FAILED    20.0 s  x86_64 scenario oom",
            ]
        );
    }

    #[test]
    fn the_recap_repeats_the_first_lines_of_each_failure() {
        let mut failed = Report::new("x86_64 scenario update", Duration::from_secs(20));
        failed
            .problems
            .push("boot 2: no answer\n--- console tail ---\na\nb\nc".into());
        failed.problems.push("boot 3: gone".into());
        let reports = [Report::new("x86_64 boot", Duration::from_secs(9)), failed];
        assert_eq!(
            recap(&reports),
            [
                "x86_64 scenario update: boot 2: no answer | --- console tail --- | a …",
                "x86_64 scenario update: boot 3: gone",
            ]
        );
        assert!(recap(&reports[..1]).is_empty());
    }

    #[test]
    fn an_error_is_a_problem_with_the_time_it_took() {
        let error = crate::error::Error::Io {
            step: "create",
            path: "/x".into(),
            source: std::io::Error::other("no space"),
        };
        let report = Report::error("rpi2 boot", Duration::from_secs(3), &error);
        assert!(!report.passed());
        assert_eq!(
            report.problems,
            ["failed after 3.0 s: cannot create /x: no space"]
        );
    }
}
