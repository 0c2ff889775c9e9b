//! Userspace boot of the x86_64 image under QEMU: from the init's start to ten autostart
//! containers started from signed packages mounted through dm-verity, read from the boot
//! report the init writes to the console (guest time), median of the boots; each step's
//! median; the init's resident memory once they run.
//!
//! `cargo run --release -p bench --bin boot [-- BOOTS]` (default 5 boots of the `ten`
//! scenario of qemu-tests)
//! Goals: ≤ 250 ms from the init's start to the tenth container; ≤ 4 MiB resident init.
//!
//! Baseline in the same boot: the kernel's own time until it started the init. QEMU runs
//! without acceleration (TCG) here, so every guest figure is inflated by the emulation;
//! the kernel's time shows by how much against a kernel on hardware.

use anyhow::{bail, Context, Result};
use bench::containers::workspace;
use qemu_tests::boot::report::BootReport as Report;
use std::process::Command;

const GOAL_MS: f64 = 250.0;
const GOAL_RSS_KIB: f64 = 4096.0;

fn main() -> Result<()> {
    let boots: usize = match std::env::args().nth(1) {
        Some(n) => n.parse().context("the number of boots")?,
        None => 5,
    };
    if boots == 0 {
        bail!("at least one boot");
    }
    let mut reports = Vec::new();
    for boot in 1..=boots {
        let status = Command::new(env!("CARGO"))
            .current_dir(workspace())
            .args([
                "run",
                "--quiet",
                "--locked",
                "--release",
                "-p",
                "qemu-tests",
            ])
            .args(["--", "scenario", "--board", "x86_64", "ten"])
            .status()
            .context("run the qemu-tests scenario")?;
        if !status.success() {
            bail!("boot {boot}: the scenario failed");
        }
        let log = workspace().join("target/qemu-tests/x86_64/scenario/ten/console.log");
        let text = std::fs::read_to_string(&log).with_context(|| format!("{}", log.display()))?;
        let Some(report) = Report::parse(&text) else {
            bail!("boot {boot}: no boot report in {}", log.display());
        };
        let started = started(&report);
        if started.len() != 10 {
            bail!("boot {boot}: {} containers started", started.len());
        }
        println!(
            "boot {boot}: kernel {} ms, init to the tenth container {} ms",
            report.kernel.as_millis(),
            started.iter().max().unwrap_or(&0)
        );
        reports.push(report);
    }
    let median = |f: &dyn Fn(&Report) -> f64| {
        let mut v: Vec<f64> = reports.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("\nmedian of {boots} boots (guest time, ms):");
    for name in reports[0].step_names() {
        let took = median(&|r: &Report| {
            r.steps
                .iter()
                .find(|s| s.name == name)
                .map_or(f64::NAN, |s| s.took as f64)
        });
        println!("  {name:<10} {took:>8.0}");
    }
    let kernel = median(&|r: &Report| r.kernel.as_millis() as f64);
    let first = median(&|r: &Report| started(r).into_iter().min().unwrap_or(0) as f64);
    let last = median(&|r: &Report| started(r).into_iter().max().unwrap_or(0) as f64);
    let rss = median(&|r: &Report| r.memory.map_or(0, |m| m.0) as f64);
    let peak = median(&|r: &Report| r.memory.map_or(0, |m| m.1) as f64);
    println!("  first container started at {first:.0}");
    println!("  tenth container started at {last:.0}");
    println!("  kernel until the init       {kernel:.0}");
    println!(
        "\ninit start to ten containers: {last:.0} ms = {:.2}× the goal of {GOAL_MS} ms, {:.2}× the kernel's time",
        last / GOAL_MS,
        last / kernel
    );
    println!(
        "init memory with ten containers: {rss:.0} KiB resident (peak {peak:.0} KiB) = {:.2}× the goal of 4 MiB",
        rss / GOAL_RSS_KIB
    );
    Ok(())
}

/// When each container that started did, ms since the init started.
fn started(report: &Report) -> Vec<u64> {
    report
        .containers
        .iter()
        .filter(|c| c.outcome == "started")
        .filter_map(|c| c.at)
        .collect()
}
