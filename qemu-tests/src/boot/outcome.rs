//! What a boot showed ([`BootRun`]) and how it differs from the contract
//! ([`BootRun::problems`]).

use std::path::PathBuf;
use std::time::Duration;

use super::{BootReport, Trigger, HELLO_OUTPUT};
use crate::image::data;
use crate::kernels::Kernel;

/// What a boot showed.
#[derive(Debug)]
pub struct BootRun {
    pub kernel: Kernel,
    /// The init's start line.
    pub started: String,
    pub report: Option<BootReport>,
    /// The steps the report must list, in order.
    pub expected_steps: Vec<&'static str>,
    /// The autostart containers the report must show started.
    pub autostart: Vec<String>,
    /// hello-world's output line.
    pub hello: String,
    /// What ended the system.
    pub trigger: Trigger,
    /// The shutdown's steps the console did not show in order (empty: all there).
    pub shutdown_missing: Vec<String>,
    /// QEMU's exit code after the reboot, where the machine ends by itself.
    pub qemu_exit: Option<i32>,
    /// Whether the machine ends by itself after the reboot (`-no-reboot`); raspi2b does
    /// not, and the harness stops it.
    pub exits_by_itself: bool,
    /// `HOLD` or `boot failed` lines of the init.
    pub fatal_lines: Vec<String>,
    pub fsck: data::Fsck,
    pub superblock: data::Superblock,
    /// The directories the init lays out at boot (relative to the data partition) that
    /// the data image lacks after the boot.
    pub missing_data_dirs: Vec<String>,
    /// From QEMU's start to hello-world's output (and the report).
    pub up_after: Duration,
    /// From the shutdown's trigger (Ctrl-Alt-Del pressed, or the init's line for the
    /// container's request) to the kernel's last line and, where it ends by itself,
    /// QEMU's exit.
    pub shutdown: Duration,
    /// From QEMU's start until it was gone.
    pub total: Duration,
    pub log: PathBuf,
}

impl BootRun {
    /// Every way the boot differs from what the contract promises; empty when it passed.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for line in &self.fatal_lines {
            problems.push(format!("the init reported a fatal error: {line}"));
        }
        match &self.report {
            None => problems.push("no boot report could be read from the console".into()),
            Some(report) => {
                if report.step_names() != self.expected_steps {
                    problems.push(format!(
                        "boot report steps {:?}, expected {:?}",
                        report.step_names(),
                        self.expected_steps
                    ));
                }
                for id in &self.autostart {
                    match report.container(id) {
                        Some(c) if c.outcome == "started" => {}
                        Some(c) => problems.push(format!("container {id}: {}", c.outcome)),
                        None => problems.push(format!("container {id} is not in the report")),
                    }
                }
            }
        }
        if !self.hello.contains(HELLO_OUTPUT) {
            problems.push(format!("hello-world printed {:?}", self.hello));
        }
        for missing in &self.shutdown_missing {
            problems.push(format!(
                "shutdown after {}: {missing}",
                self.trigger.describe()
            ));
        }
        if self.exits_by_itself && self.qemu_exit != Some(0) {
            problems.push(format!("qemu exited with {:?}, expected 0", self.qemu_exit));
        }
        if !self.fsck.clean() {
            problems.push(format!(
                "e2fsck -fn on the data image: status {}\n{}",
                self.fsck.status, self.fsck.output
            ));
        }
        if self.superblock.state != "clean"
            || self
                .superblock
                .features
                .iter()
                .any(|f| f == "needs_recovery")
        {
            problems.push(format!(
                "data image superblock: state {:?}, features {}",
                self.superblock.state,
                self.superblock.features.join(" ")
            ));
        }
        for dir in &self.missing_data_dirs {
            problems.push(format!(
                "the data image has no directory {dir} after the boot"
            ));
        }
        problems
    }
}
