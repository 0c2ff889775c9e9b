//! `qemu-tests`: the boot-test harness's command line.
//!
//! ```text
//! qemu-tests fetch [--refresh] [--board B]...      fetch (or find cached) kernels
//! qemu-tests modules --board B NAME...             module load order for a board's kernel
//! qemu-tests boot-probe --board B [--timeout S] [--probe-init PATH] [--append KERNEL-ARG]...
//!                       [--module NAME]... [NAME]...
//! qemu-tests boot --board B... [--jobs N] [--timeout S] [--init PATH] [--append KERNEL-ARG]...
//! qemu-tests scenario --board B [--jobs N] [--timeout S] [--smp N] [--append KERNEL-ARG]...
//!                     NAME...|all
//! qemu-tests demo [--check] [--timeout S]
//! qemu-tests suite [--jobs N]                      the boots, the demo's check, the scenarios
//! ```
//! Boards: x86_64, aarch64, rpi2. The kernel cache is `NORTHSTAR_QEMU_CACHE` or
//! `target/qemu-cache`; `QEMU_TESTS_LOG=debug` shows the QEMU command lines.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use qemu_tests::binaries::{Binaries, Needs};
use qemu_tests::boot::{self, BootOptions};
use qemu_tests::demo;
use qemu_tests::kernels::KernelCache;
use qemu_tests::modules::ModuleIndex;
use qemu_tests::probe::{self, ProbeOptions};
use qemu_tests::report::{self, Report};
use qemu_tests::scenario::{self, Scenario, Shared};
use qemu_tests::suite::{self, Run};
use qemu_tests::Board;

const USAGE: &str = "usage:
  qemu-tests fetch [--refresh] [--board x86_64|aarch64|rpi2]...
  qemu-tests modules --board B NAME...
  qemu-tests boot-probe --board B [--timeout SECS] [--probe-init PATH]
                        [--append KERNEL-ARG]... [--module NAME]... [NAME]...
  qemu-tests boot --board B... [--jobs N] [--timeout SECS] [--init PATH]
                  [--append KERNEL-ARG]...
  qemu-tests scenario --board x86_64|aarch64 [--jobs N] [--timeout SECS] [--smp N]
                      [--append KERNEL-ARG]... NAME...|all
  qemu-tests demo [--check] [--timeout SECS]
  qemu-tests suite [--jobs N]
Module names (positional or --module) replace boot-probe's default: loop dm-verity.
boot boots Northstar's init with a verified root, a data partition and the example
containers, reboots it (Ctrl-Alt-Del on x86_64, a container's request elsewhere) and
checks the shutdown's steps and the data partition; on each board given, N machines at a
time (default 2).
scenario runs the named boot scenarios (ten, tampered-root, tampered-package, oom,
orphans, watchdog-fed, watchdog-hang, install-power-cut, init-panic, update, update-cuts;
all: every one; on aarch64: ab-uboot, booting through U-Boot) with binaries built once,
N machines at a time (default 2), each with --smp vCPUs (default 1).
demo boots the examples on the x86_64 image with the serial console on this terminal and
prints the nstar command line for its management channel; --check boots it twice without
a terminal and checks the examples, nstar over the channel and the data partition.
suite fetches the three kernels, builds every binary once, then runs the boot on each
board, demo --check and every scenario, N machines at a time (default 2), and prints a
table of their times.";

fn main() -> ExitCode {
    init_logging();
    if let Err(err) = stop_machines_on_signals() {
        eprintln!("qemu-tests: {err:#}");
        return ExitCode::FAILURE;
    }
    match run(std::env::args().skip(1).collect()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("qemu-tests: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<ExitCode> {
    let Some((command, rest)) = args.split_first() else {
        bail!("no command\n{USAGE}");
    };
    let args = Args::parse(rest)?;
    let cache = KernelCache::from_env();
    match command.as_str() {
        "fetch" => {
            let boards = if args.boards.is_empty() {
                Board::ALL.to_vec()
            } else {
                args.boards
            };
            for board in boards {
                let started = Instant::now();
                let kernel = if args.refresh {
                    cache.refresh(board)?
                } else {
                    cache.fetch(board)?
                };
                println!(
                    "{board}: {} ({:.1} s)\n  vmlinuz {}\n  modules {}{}",
                    kernel.package,
                    started.elapsed().as_secs_f64(),
                    kernel.vmlinuz.display(),
                    kernel.modules_dir.display(),
                    kernel
                        .dtb
                        .map(|d| format!("\n  dtb     {}", d.display()))
                        .unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        "modules" => {
            let board = args.one_board()?;
            let kernel = cache.fetch(board)?;
            let resolution = ModuleIndex::load(&kernel.modules_dir)?.resolve(&args.names)?;
            for module in &resolution.load_order {
                println!("{} {}", module.name, module.relative.display());
            }
            for name in &resolution.builtin {
                println!("{name} (built in)");
            }
            Ok(ExitCode::SUCCESS)
        }
        "boot-probe" => boot_probe(&cache, &args),
        "boot" => boot(&cache, &args),
        "scenario" => scenarios(&cache, &args),
        "demo" => demo(&cache, &args),
        "suite" => suite(&cache, &args),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => bail!("unknown command {other:?}\n{USAGE}"),
    }
}

fn boot_probe(cache: &KernelCache, args: &Args) -> Result<ExitCode> {
    let board = args.one_board()?;
    let mut options = ProbeOptions::default();
    if let Some(secs) = args.timeout {
        options.boot_timeout = Duration::from_secs(secs);
    }
    if !args.names.is_empty() {
        options.modules = args.names.clone();
    }
    options.probe_init = args.probe_init.clone();
    options.cmdline = args.append.clone();
    let report = probe::run(board, cache, &options)?;
    println!(
        "{board}: {} booted; marker after {:.1} s, machine gone after {:.1} s (wall); log {}",
        report.kernel.release,
        report.marker_after.as_secs_f64(),
        report.total.as_secs_f64(),
        report.log.display()
    );
    for module in &report.modules {
        println!(
            "  module {} load={} listed={}",
            module.name, module.load, module.listed
        );
    }
    for name in &report.builtin {
        println!("  module {name} built in");
    }
    let problems = report.problems();
    for problem in &problems {
        eprintln!("{board}: FAILED: {problem}");
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn boot(cache: &KernelCache, args: &Args) -> Result<ExitCode> {
    if args.boards.is_empty() || !args.names.is_empty() || args.probe_init.is_some() {
        bail!("boot takes one --board or more, no module names and no --probe-init\n{USAGE}");
    }
    if args.init.is_some() && args.boards.len() > 1 {
        bail!("--init is one board's init: give one --board with it\n{USAGE}");
    }
    let mut options = BootOptions::default();
    if let Some(secs) = args.timeout {
        options.boot_timeout = Duration::from_secs(secs);
    }
    options.init = args.init.clone();
    options.cmdline = args.append.clone();
    let started = Instant::now();
    let needs = Needs {
        boards: args.boards.clone(),
        ..Needs::default()
    };
    let binaries = build(&needs, &options.work_dir)?;
    let began = Instant::now();
    let reports = suite::parallel(
        &args.boards,
        args.jobs(),
        |board| {
            let began = Instant::now();
            match boot::run(*board, cache, &binaries, &options) {
                Ok(run) => report::boot(*board, &run, began.elapsed()),
                Err(err) => Report::error(format!("{board} boot"), began.elapsed(), &err),
            }
        },
        Report::print,
    );
    if reports.len() > 1 {
        for line in report::table("boots", &reports, began.elapsed()) {
            println!("{line}");
        }
    }
    println!(
        "boot: done in {:.1} s with the build",
        started.elapsed().as_secs_f64()
    );
    Ok(exit_code(reports.iter().all(Report::passed)))
}

fn demo(cache: &KernelCache, args: &Args) -> Result<ExitCode> {
    if !args.boards.is_empty()
        || !args.names.is_empty()
        || !args.append.is_empty()
        || args.init.is_some()
        || args.probe_init.is_some()
        || args.jobs.is_some()
    {
        bail!("demo takes only --check and --timeout\n{USAGE}");
    }
    let mut options = demo::Options::default();
    if let Some(secs) = args.timeout {
        options.boot_timeout = Duration::from_secs(secs);
    }
    let needs = Needs {
        boards: vec![demo::BOARD],
        host_nstar: true,
        ..Needs::default()
    };
    let binaries = build(&needs, &options.work_dir)?;
    let started = Instant::now();
    let prepared = demo::prepare(cache, &binaries, &options)?;
    println!(
        "x86_64 demo: images ready after {:.1} s ({} packages: {})",
        started.elapsed().as_secs_f64(),
        prepared.images.packages.len(),
        prepared.images.packages.join(" ")
    );
    if !args.check {
        let status = demo::run(&prepared)?;
        println!("x86_64 demo: QEMU ended ({status})");
        return Ok(ExitCode::SUCCESS);
    }
    let report = match demo::check(&prepared, &options) {
        Ok(run) => report::demo_check(&prepared, &run, started.elapsed()),
        Err(err) => Report::error("x86_64 demo --check", started.elapsed(), &err),
    };
    report.print();
    Ok(exit_code(report.passed()))
}

fn scenarios(cache: &KernelCache, args: &Args) -> Result<ExitCode> {
    let board = args.one_board()?;
    if args.init.is_some() || args.probe_init.is_some() {
        bail!("scenario takes no --init and no --probe-init\n{USAGE}");
    }
    let chosen: Vec<Scenario> = match args.names.as_slice() {
        [] => bail!("name the scenarios (or all)\n{USAGE}"),
        // The longest first, as in the suite: the last two end close together.
        [all] if all == "all" => Run::scenarios(),
        names => names
            .iter()
            .map(|n| n.parse().map_err(anyhow::Error::msg))
            .collect::<Result<_>>()?,
    };
    let mut options = scenario::Options::default();
    if let Some(secs) = args.timeout {
        options.boot_timeout = Duration::from_secs(secs);
    }
    options.cmdline = args.append.clone();
    options.smp = args.smp.unwrap_or(1).max(1);
    let started = Instant::now();
    let binaries = build(&Shared::needs(board), &options.work_dir)?;
    let shared = Shared::prepare(board, cache, &binaries)?;
    let began = Instant::now();
    let reports = suite::parallel(
        &chosen,
        args.jobs(),
        |s| {
            let started = Instant::now();
            match scenario::run(&shared, *s, &options) {
                Ok(outcome) => report::scenario(board, &outcome, started.elapsed()),
                Err(err) => Report::error(format!("{board} scenario {s}"), started.elapsed(), &err),
            }
        },
        Report::print,
    );
    for line in report::table(&format!("{board} scenarios"), &reports, began.elapsed()) {
        println!("{line}");
    }
    println!(
        "{board} scenarios: done in {:.1} s with the build",
        started.elapsed().as_secs_f64()
    );
    let failed: Vec<&str> = reports
        .iter()
        .zip(&chosen)
        .filter(|(r, _)| !r.passed())
        .map(|(_, s)| s.name())
        .collect();
    if !failed.is_empty() {
        for line in report::recap(&reports) {
            eprintln!("{line}");
        }
        eprintln!("{board}: failed scenarios: {}", failed.join(" "));
    }
    Ok(exit_code(failed.is_empty()))
}

fn suite(cache: &KernelCache, args: &Args) -> Result<ExitCode> {
    if !args.boards.is_empty()
        || !args.names.is_empty()
        || !args.append.is_empty()
        || args.timeout.is_some()
        || args.init.is_some()
        || args.probe_init.is_some()
        || args.check
    {
        bail!("suite takes only --jobs\n{USAGE}");
    }
    let started = Instant::now();
    for board in Board::ALL {
        let kernel = cache.fetch(board)?;
        println!("{board}: {}", kernel.package);
    }
    let binaries = build(&suite::needs(), &BootOptions::default().work_dir)?;
    let began = Instant::now();
    let reports = suite::run(cache, &binaries, &Run::all(), args.jobs());
    let mut lines = vec![format!(
        "suite: kernels and binaries ready after {:.1} s",
        (began - started).as_secs_f64()
    )];
    lines.extend(report::table("suite", &reports, began.elapsed()));
    for line in lines {
        println!("{line}");
    }
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| !r.passed())
        .map(|r| r.name.as_str())
        .collect();
    if !failed.is_empty() {
        for line in report::recap(&reports) {
            eprintln!("{line}");
        }
        eprintln!("suite: failed: {}", failed.join(", "));
    }
    Ok(exit_code(failed.is_empty()))
}

/// Builds what `needs` asks for, printing how long it took.
fn build(needs: &Needs, work_dir: &std::path::Path) -> Result<Binaries> {
    let started = Instant::now();
    let binaries = Binaries::build(needs, work_dir)?;
    println!(
        "binaries ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(binaries)
}

fn exit_code(passed: bool) -> ExitCode {
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[derive(Default)]
struct Args {
    boards: Vec<Board>,
    timeout: Option<u64>,
    probe_init: Option<PathBuf>,
    /// `boot --init PATH`: a prebuilt `northstar` for the board.
    init: Option<PathBuf>,
    /// `fetch --refresh`: ask apt for the current version even when a kernel is cached.
    refresh: bool,
    /// `demo --check`: boot without a terminal and check.
    check: bool,
    /// `--append ARG`: extra kernel arguments.
    append: Vec<String>,
    /// `--module NAME` and positional names.
    names: Vec<String>,
    /// `--jobs N`: machines at a time.
    jobs: Option<usize>,
    /// `scenario --smp N`: vCPUs of each machine.
    smp: Option<u32>,
}

impl Args {
    fn parse(args: &[String]) -> Result<Self> {
        let mut parsed = Args::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |flag: &str| it.next().with_context(|| format!("{flag} needs a value"));
            match arg.as_str() {
                "--board" => parsed.boards.push(value("--board")?.parse()?),
                "--timeout" => {
                    let secs = value("--timeout")?;
                    parsed.timeout =
                        Some(secs.parse().with_context(|| format!("--timeout {secs}"))?);
                }
                "--jobs" => {
                    let jobs = value("--jobs")?;
                    parsed.jobs = Some(jobs.parse().with_context(|| format!("--jobs {jobs}"))?);
                }
                "--smp" => {
                    let smp = value("--smp")?;
                    parsed.smp = Some(smp.parse().with_context(|| format!("--smp {smp}"))?);
                }
                "--probe-init" => parsed.probe_init = Some(value("--probe-init")?.into()),
                "--init" => parsed.init = Some(value("--init")?.into()),
                "--append" => parsed.append.push(value("--append")?.clone()),
                "--refresh" => parsed.refresh = true,
                "--check" => parsed.check = true,
                "--module" => parsed.names.push(value("--module")?.clone()),
                flag if flag.starts_with('-') => bail!("unknown option {flag}\n{USAGE}"),
                name => parsed.names.push(name.to_owned()),
            }
        }
        Ok(parsed)
    }

    /// `--jobs`, by default two: the build machines have two cores, and a machine under
    /// TCG keeps one busy.
    fn jobs(&self) -> usize {
        self.jobs.unwrap_or(2).max(1)
    }

    fn one_board(&self) -> Result<Board> {
        match self.boards.as_slice() {
            [board] => Ok(*board),
            _ => bail!("give exactly one --board\n{USAGE}"),
        }
    }
}

/// On SIGINT, SIGTERM or SIGHUP: kill every QEMU this process started, then exit with
/// 128 + the signal, as the default action would (which would leave the machines running
/// until their hard timeouts: they are in process groups of their own).
fn stop_machines_on_signals() -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]).context("signal handler")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                eprintln!("qemu-tests: signal {signal}: stopping the machines");
                qemu_tests::qemu::stop_all();
                std::process::exit(128 + signal);
            }
        })
        .context("signal thread")?;
    Ok(())
}

/// Log lines to stderr, at the level in `QEMU_TESTS_LOG` (default info).
fn init_logging() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.level() <= log::max_level()
        }
        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                eprintln!("[{}] {}", record.level(), record.args());
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    let level = std::env::var("QEMU_TESTS_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(log::LevelFilter::Info);
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}
