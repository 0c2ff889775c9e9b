//! `qemu-tests`: the boot-test harness's command line.
//!
//! ```text
//! qemu-tests fetch [--refresh] [--board B]...      fetch (or find cached) kernels
//! qemu-tests modules --board B NAME...             module load order for a board's kernel
//! qemu-tests boot-probe --board B [--timeout S] [--probe-init PATH] [--append KERNEL-ARG]...
//!                       [--module NAME]... [NAME]...
//! qemu-tests boot --board B [--timeout S] [--init PATH] [--append KERNEL-ARG]...
//! qemu-tests scenario --board B [--timeout S] [--append KERNEL-ARG]... NAME...|all
//! qemu-tests demo [--check] [--timeout S]
//! ```
//! Boards: x86_64, aarch64, rpi2. The kernel cache is `NORTHSTAR_QEMU_CACHE` or
//! `target/qemu-cache`; `QEMU_TESTS_LOG=debug` shows the QEMU command lines.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use qemu_tests::boot::{self, BootOptions};
use qemu_tests::demo;
use qemu_tests::kernels::KernelCache;
use qemu_tests::modules::ModuleIndex;
use qemu_tests::probe::{self, ProbeOptions};
use qemu_tests::scenario::{self, Scenario};
use qemu_tests::Board;

const USAGE: &str = "usage:
  qemu-tests fetch [--refresh] [--board x86_64|aarch64|rpi2]...
  qemu-tests modules --board B NAME...
  qemu-tests boot-probe --board B [--timeout SECS] [--probe-init PATH]
                        [--append KERNEL-ARG]... [--module NAME]... [NAME]...
  qemu-tests boot --board B [--timeout SECS] [--init PATH] [--append KERNEL-ARG]...
  qemu-tests scenario --board x86_64 [--timeout SECS] [--append KERNEL-ARG]... NAME...|all
  qemu-tests demo [--check] [--timeout SECS]
Module names (positional or --module) replace boot-probe's default: loop dm-verity.
boot boots Northstar's init with a verified root, a data partition and the example
containers, reboots it (Ctrl-Alt-Del on x86_64, a container's request elsewhere) and
checks the shutdown's steps and the data partition.
scenario runs the named boot scenarios (ten, tampered-root, tampered-package, oom,
orphans, watchdog-fed, watchdog-hang, install-power-cut; all: every one) with binaries
built once.
demo boots the examples on the x86_64 image with the serial console on this terminal and
prints the nstar command line for its management channel; --check boots it twice without
a terminal and checks the examples, nstar over the channel and the data partition.";

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
    let board = args.one_board()?;
    if !args.names.is_empty() || args.probe_init.is_some() {
        bail!("boot takes no module names and no --probe-init\n{USAGE}");
    }
    let mut options = BootOptions::default();
    if let Some(secs) = args.timeout {
        options.boot_timeout = Duration::from_secs(secs);
    }
    options.init = args.init.clone();
    options.cmdline = args.append.clone();
    let run = boot::run(board, cache, &options)?;
    println!(
        "{board}: {} booted Northstar's init; up (report and container output) after {:.1} s, \
         {} to the machine's end {:.1} s, machine gone after {:.1} s (wall); log {}",
        run.kernel.release,
        run.up_after.as_secs_f64(),
        run.trigger.describe(),
        run.shutdown.as_secs_f64(),
        run.total.as_secs_f64(),
        run.log.display()
    );
    if let Some(report) = &run.report {
        println!(
            "  boot report: {:.3} s (kernel) + {:.3} s (init)",
            report.kernel.as_secs_f64(),
            report.init.as_secs_f64()
        );
        for step in &report.steps {
            println!("  {:>6} ms {:>6} ms  {}", step.at, step.took, step.name);
        }
        for c in &report.containers {
            println!("  container {} {}", c.id, c.outcome);
        }
    }
    println!("  {}", run.hello.trim());
    println!(
        "  data image: e2fsck -fn status {}, state {}",
        run.fsck.status, run.superblock.state
    );
    let problems = run.problems();
    for problem in &problems {
        eprintln!("{board}: FAILED: {problem}");
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn demo(cache: &KernelCache, args: &Args) -> Result<ExitCode> {
    if !args.boards.is_empty()
        || !args.names.is_empty()
        || !args.append.is_empty()
        || args.init.is_some()
        || args.probe_init.is_some()
    {
        bail!("demo takes only --check and --timeout\n{USAGE}");
    }
    let mut options = demo::Options::default();
    if let Some(secs) = args.timeout {
        options.boot_timeout = Duration::from_secs(secs);
    }
    let started = Instant::now();
    let prepared = demo::prepare(cache, &options)?;
    println!(
        "x86_64 demo: binaries and images ready after {:.1} s ({} packages: {})",
        started.elapsed().as_secs_f64(),
        prepared.images.packages.len(),
        prepared.images.packages.join(" ")
    );
    if !args.check {
        let status = demo::run(&prepared)?;
        println!("x86_64 demo: QEMU ended ({status})");
        return Ok(ExitCode::SUCCESS);
    }
    let run = demo::check(&prepared, &options)?;
    for line in &run.lines {
        println!("  {}: {}", line.what, line.seen);
    }
    let boots: Vec<String> = run
        .boots
        .iter()
        .map(|b| format!("{:.1} s", b.as_secs_f64()))
        .collect();
    println!(
        "x86_64 demo --check: {} in {:.1} s (machines {}); logs {}",
        if run.problems.is_empty() {
            "passed"
        } else {
            "FAILED"
        },
        started.elapsed().as_secs_f64(),
        boots.join(", "),
        run.logs
            .iter()
            .map(|l| l.display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "  manage it as the demo does: {}",
        prepared.nstar.command_line()
    );
    for problem in &run.problems {
        eprintln!("x86_64 demo: FAILED: {problem}");
    }
    Ok(if run.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn scenarios(cache: &KernelCache, args: &Args) -> Result<ExitCode> {
    let board = args.one_board()?;
    if args.init.is_some() || args.probe_init.is_some() {
        bail!("scenario takes no --init and no --probe-init\n{USAGE}");
    }
    let chosen: Vec<Scenario> = match args.names.as_slice() {
        [] => bail!("name the scenarios (or all)\n{USAGE}"),
        [all] if all == "all" => Scenario::ALL.to_vec(),
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
    let started = Instant::now();
    let shared = scenario::Shared::prepare(board, cache)?;
    println!(
        "{board}: binaries ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut failed = Vec::new();
    for s in chosen {
        let began = Instant::now();
        let outcome = scenario::run(&shared, s, &options);
        let wall = began.elapsed().as_secs_f64();
        match outcome {
            Ok(outcome) => {
                let verdict = if outcome.problems.is_empty() {
                    "passed"
                } else {
                    "FAILED"
                };
                println!(
                    "{board} {s}: {verdict} in {wall:.1} s (machine {:.1} s); log {}",
                    outcome.machine.as_secs_f64(),
                    outcome.log.display()
                );
                for note in &outcome.notes {
                    println!("  {}", note.trim());
                }
                for problem in &outcome.problems {
                    eprintln!("{board} {s}: FAILED: {problem}");
                }
                if !outcome.problems.is_empty() {
                    failed.push(s);
                }
            }
            Err(err) => {
                eprintln!("{board} {s}: FAILED after {wall:.1} s: {err:#}");
                failed.push(s);
            }
        }
    }
    println!(
        "{board}: scenarios done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        let names: Vec<&str> = failed.iter().map(|s| s.name()).collect();
        eprintln!("{board}: failed scenarios: {}", names.join(" "));
        Ok(ExitCode::FAILURE)
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
