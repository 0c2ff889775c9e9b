//! Userspace boot of the x86_64 image under QEMU against a shell-init baseline booted on
//! the same kernel with the same disks in the same run: from the init's start to ten
//! autostart containers started from signed packages mounted through dm-verity (the
//! `ten` scenario of qemu-tests, read from the init's boot report), and from the
//! baseline's start to the tenth of the same programs started by `losetup`,
//! `veritysetup open`, `mount`, `unshare` and `chroot` (`qemu_tests::baseline`). Guest
//! time, medians of the boots, with 1 and 2 vCPUs; each step's median; the init's
//! resident memory once the containers run.
//!
//! `cargo run --release -p bench --bin boot [-- BOOTS]` (default 5 boots of each side per
//! vCPU count, alternating)
//! Goals: ≤ 0.3× the baseline from the init's start to the tenth container; ≤ 4 MiB
//! resident init.
//!
//! `cargo run --release -p bench --bin boot -- --size [BOOTS]`: the `ten` image with a
//! 1 MiB and with a 64 MiB incompressible file in each package, alternating, 1 vCPU.
//! Goal: the 64 MiB boot within 1.1× the 1 MiB boot.
//!
//! The images are built once per package size; every boot starts from the same disks
//! (QEMU's `-snapshot`). QEMU runs without acceleration (TCG) here, so every guest figure
//! is inflated by the emulation; the ratios are what the goals are about.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use qemu_tests::binaries::Binaries;
use qemu_tests::boot::report::BootReport as Report;
use qemu_tests::kernels::KernelCache;
use qemu_tests::scenario::bench::{self, Prepared};
use qemu_tests::scenario::{Options, Shared, BOARD};

const GOAL_RATIO: f64 = 0.3;
const GOAL_SIZE_RATIO: f64 = 1.1;
const GOAL_RSS_KIB: f64 = 4096.0;
const MIB: u64 = 1 << 20;

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let size = args.first().is_some_and(|a| a == "--size");
    if size {
        args.remove(0);
    }
    let boots: usize = match args.first() {
        Some(n) => n.parse().context("the number of boots")?,
        None => 5,
    };
    if boots == 0 {
        bail!("at least one boot");
    }
    let mut options = Options {
        boot_timeout: Duration::from_secs(300),
        ..Options::default()
    };
    let binaries = Binaries::build(&Shared::needs(BOARD), &options.work_dir)?;
    let mut shared = Shared::prepare(BOARD, &KernelCache::from_env(), &binaries)?;
    if size {
        return sizes(&mut shared, &options, boots);
    }
    let prepared = bench::prepare(&shared, "boot", &options)?;
    for smp in [1, 2] {
        options.smp = smp;
        let mut northstar = Vec::new();
        let mut shell = Vec::new();
        for boot in 1..=boots {
            let report = boot_northstar(&shared, &prepared, &options, boot)?;
            let base = bench::boot_baseline(&shared, &prepared, &options)
                .with_context(|| format!("baseline boot {boot}, {smp} vCPU"))?;
            let base_ms = base.last_started_ms().unwrap_or(f64::NAN);
            println!(
                "{smp} vCPU, boot {boot}: northstar {} ms, baseline {base_ms:.0} ms",
                last(&report)
            );
            northstar.push(report);
            shell.push(base_ms);
        }
        summary(smp, &northstar, &shell);
    }
    Ok(())
}

/// Boots Northstar's init once and checks that the ten containers started.
fn boot_northstar(
    shared: &Shared,
    prepared: &Prepared,
    options: &Options,
    boot: usize,
) -> Result<Report> {
    let report = bench::boot_northstar(shared, prepared, options)
        .with_context(|| format!("northstar boot {boot}, {} vCPU", options.smp))?;
    let started = started(&report);
    if started.len() != prepared.ids.len() {
        bail!(
            "boot {boot}: {} of {} containers started",
            started.len(),
            prepared.ids.len()
        );
    }
    Ok(report)
}

fn summary(smp: u32, reports: &[Report], shell: &[f64]) {
    let of = |f: &dyn Fn(&Report) -> f64| median(reports.iter().map(f).collect());
    println!(
        "\n{smp} vCPU, median of {} boots (guest time, ms):",
        reports.len()
    );
    for name in reports[0].step_names() {
        let took = of(&|r: &Report| {
            r.steps
                .iter()
                .find(|s| s.name == name)
                .map_or(f64::NAN, |s| s.took as f64)
        });
        println!("  {name:<10} {took:>8.0}");
    }
    let kernel = of(&|r: &Report| r.kernel.as_millis() as f64);
    let first = of(&|r: &Report| started(r).into_iter().min().unwrap_or(0) as f64);
    let tenth = of(&|r: &Report| last(r) as f64);
    let rss = of(&|r: &Report| r.memory.map_or(0, |m| m.0) as f64);
    let peak = of(&|r: &Report| r.memory.map_or(0, |m| m.1) as f64);
    let base = median(shell.to_vec());
    println!("  first container started at {first:.0}");
    println!("  tenth container started at {tenth:.0}");
    println!("  kernel until the init       {kernel:.0}");
    println!("  baseline: tenth program at  {base:.0}");
    println!(
        "{smp} vCPU: init start to ten containers: northstar {tenth:.0} ms, shell baseline \
         {base:.0} ms = {:.2}× (goal ≤ {GOAL_RATIO}×)",
        tenth / base
    );
    println!(
        "{smp} vCPU: init memory with ten containers: {rss:.0} KiB resident (peak {peak:.0} \
         KiB) = {:.2}× the goal of 4 MiB\n",
        rss / GOAL_RSS_KIB
    );
}

/// `--size`: the `ten` image with 1 MiB and with 64 MiB in each package.
fn sizes(shared: &mut Shared, options: &Options, boots: usize) -> Result<()> {
    let mut prepared = Vec::new();
    for mib in [1, 64] {
        shared.payload = mib * MIB;
        prepared.push((
            mib,
            bench::prepare(shared, &format!("size-{mib}"), options)?,
        ));
    }
    let mut tenth: Vec<Vec<f64>> = vec![Vec::new(), Vec::new()];
    for boot in 1..=boots {
        for (i, (mib, images)) in prepared.iter().enumerate() {
            let report = boot_northstar(shared, images, options, boot)?;
            println!("{mib} MiB packages, boot {boot}: {} ms", last(&report));
            tenth[i].push(last(&report) as f64);
        }
    }
    let small = median(tenth[0].clone());
    let large = median(tenth[1].clone());
    println!(
        "\ninit start to ten containers, median of {boots} boots: 1 MiB packages {small:.0} ms, \
         64 MiB packages {large:.0} ms = {:.2}× (goal ≤ {GOAL_SIZE_RATIO}×)",
        large / small
    );
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// When the last container started, ms since the init started.
fn last(report: &Report) -> u64 {
    started(report).into_iter().max().unwrap_or(0)
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
