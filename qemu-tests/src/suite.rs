//! The QEMU part of the test suite in one run (`qemu-tests suite`): the boot of
//! Northstar's init on each board, the demo's check and every scenario (x86_64's and
//! aarch64's `ab-uboot`, with the production init the aarch64 boot uses), with the
//! binaries built once for all of them ([`Binaries`]) and a fixed number of machines at a
//! time ([`parallel`]).
//!
//! Under TCG each emulated CPU that works takes a host core; the build machines have two,
//! and two machines at a time finish the suite in a little more than half the time of one
//! after the other. Every run is independent of the others: its own directory, images,
//! sockets and machine. Each machine keeps its own timeouts, counted from its own start,
//! and its hard timeout (`timeout(1)` around QEMU); the limits of the suite leave room for
//! a machine that shares the host with another.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::binaries::{Binaries, Needs};
use crate::boot::{self, BootOptions};
use crate::demo;
use crate::error::Error;
use crate::kernels::KernelCache;
use crate::report::{self, Report};
use crate::scenario::{self, Scenario, Shared};
use crate::Board;

/// One run of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Run {
    Boot(Board),
    DemoCheck,
    Scenario(Scenario),
}

impl Run {
    /// Every run, the longest first, so that the last two end close together (two at a
    /// time on the build machine, each run's wall time with its images: the demo's check
    /// 89 s, `update` 53–73 s (four boots), `update-cuts` 35–37 s (four boots, on a quiet
    /// machine, where `update` took as long), `watchdog-fed` 40 s (30 s of it the watched
    /// window), `install-power-cut` 38 s, `init-panic` 29 s, `watchdog-hang` 24 s,
    /// `ab-uboot` 23 s (five boots through U-Boot), `orphans` 18 s, the rpi2 boot 16 s, `ten` 12 s, the tampered package 10 s, `oom`
    /// 9 s, the x86_64 boot 7 s, the tampered root 6 s, the aarch64 boot 3 s).
    pub const ALL: [Run; 16] = [
        Run::DemoCheck,
        Run::Scenario(Scenario::Update),
        Run::Scenario(Scenario::UpdateCuts),
        Run::Scenario(Scenario::WatchdogFed),
        Run::Scenario(Scenario::InstallPowerCut),
        Run::Scenario(Scenario::InitPanic),
        Run::Scenario(Scenario::WatchdogHang),
        Run::Scenario(Scenario::AbUboot),
        Run::Scenario(Scenario::Orphans),
        Run::Boot(Board::Rpi2),
        Run::Scenario(Scenario::Ten),
        Run::Scenario(Scenario::TamperedPackage),
        Run::Scenario(Scenario::Oom),
        Run::Boot(Board::X86_64),
        Run::Scenario(Scenario::TamperedRoot),
        Run::Boot(Board::Aarch64),
    ];

    /// Every run of the suite: [`Run::ALL`], then any scenario it does not list yet.
    pub fn all() -> Vec<Run> {
        let mut runs = Run::ALL.to_vec();
        for s in Scenario::ALL.into_iter().chain(Scenario::AARCH64) {
            if !runs.contains(&Run::Scenario(s)) {
                runs.push(Run::Scenario(s));
            }
        }
        runs
    }

    /// Every x86_64 scenario (`scenario --board x86_64 all`) in the order of
    /// [`Run::all`].
    pub fn scenarios() -> Vec<Scenario> {
        Run::all()
            .into_iter()
            .filter_map(|run| match run {
                Run::Scenario(s) if s.board() == scenario::BOARD => Some(s),
                _ => None,
            })
            .collect()
    }

    /// The run's name in reports.
    pub fn name(self) -> String {
        match self {
            Run::Boot(board) => format!("{board} boot"),
            Run::DemoCheck => "x86_64 demo --check".to_owned(),
            Run::Scenario(s) => format!("{} scenario {s}", s.board()),
        }
    }
}

/// The boot timeout (QEMU's start to hello-world's output) of each board in the suite:
/// about three times the slowest boot seen with another machine running beside it.
pub fn boot_timeout(board: Board) -> Duration {
    Duration::from_secs(match board {
        Board::X86_64 => 90,
        Board::Aarch64 | Board::Rpi2 => 180,
    })
}

/// What the suite needs built: every board's guest packages, the x86_64 init's test
/// build for the scenarios, `nstar` for the host.
pub fn needs() -> Needs {
    let scenarios = Shared::needs(scenario::BOARD);
    Needs {
        boards: Board::ALL.to_vec(),
        fault_injection: scenarios.fault_injection,
        host_nstar: true,
    }
}

/// Runs `runs` with the binaries of [`needs`], `jobs` machines at a time; prints each
/// run's report as soon as it ends and returns the reports in the order of `runs`.
pub fn run(cache: &KernelCache, binaries: &Binaries, runs: &[Run], jobs: usize) -> Vec<Report> {
    parallel(
        runs,
        jobs,
        |run| {
            let started = Instant::now();
            let outcome = match *run {
                Run::Boot(board) => boot_run(board, cache, binaries, started),
                Run::DemoCheck => demo_check(cache, binaries, started),
                Run::Scenario(s) => scenario_run(s, cache, binaries, started),
            };
            outcome.unwrap_or_else(|err| Report::error(run.name(), started.elapsed(), &err))
        },
        Report::print,
    )
}

fn boot_run(
    board: Board,
    cache: &KernelCache,
    binaries: &Binaries,
    started: Instant,
) -> Result<Report, Error> {
    let options = BootOptions {
        boot_timeout: boot_timeout(board),
        ..BootOptions::default()
    };
    let run = boot::run(board, cache, binaries, &options)?;
    Ok(report::boot(board, &run, started.elapsed()))
}

/// A scenario; what it shares with the others ([`Shared`]) takes no time to prepare
/// once the binaries are built.
fn scenario_run(
    s: Scenario,
    cache: &KernelCache,
    binaries: &Binaries,
    started: Instant,
) -> Result<Report, Error> {
    // The aarch64 scenario takes the production init that [`needs`] builds for the
    // aarch64 boot.
    let shared = Shared::prepare(s.board(), cache, binaries)?;
    let outcome = scenario::run(&shared, s, &scenario::Options::default())?;
    Ok(report::scenario(shared.board, &outcome, started.elapsed()))
}

fn demo_check(cache: &KernelCache, binaries: &Binaries, started: Instant) -> Result<Report, Error> {
    let options = demo::Options::default();
    let prepared = demo::prepare(cache, binaries, &options)?;
    let run = demo::check(&prepared, &options)?;
    Ok(report::demo_check(&prepared, &run, started.elapsed()))
}

/// Runs `work` on every item, at most `workers` (at least one) at a time, each on a
/// thread of its own; calls `done` with each result as soon as it is there (one call at a
/// time) and returns the results in the order of `items`. Items start in their order.
pub fn parallel<T, R>(
    items: &[T],
    workers: usize,
    work: impl Fn(&T) -> R + Sync,
    done: impl Fn(&R) + Sync,
) -> Vec<R>
where
    T: Sync,
    R: Send,
{
    let queue = Mutex::new((0..items.len()).collect::<VecDeque<usize>>());
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    let one_at_a_time = Mutex::new(());
    let next = || {
        queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop_front()
    };
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                while let Some(index) = next() {
                    let result = work(&items[index]);
                    {
                        let _one = one_at_a_time
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        done(&result);
                    }
                    results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)[index] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn runs_at_most_the_workers_at_a_time_and_keeps_the_order() {
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let seen = Mutex::new(Vec::new());
        let items: Vec<u64> = (0..7).collect();
        let results = parallel(
            &items,
            2,
            |i| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                // The first items take longest: later ones end first.
                std::thread::sleep(Duration::from_millis(40 - 5 * i));
                running.fetch_sub(1, Ordering::SeqCst);
                i * 10
            },
            |r| seen.lock().unwrap().push(*r),
        );
        assert_eq!(results, [0, 10, 20, 30, 40, 50, 60]);
        assert_eq!(most.load(Ordering::SeqCst), 2);
        let mut seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 7);
        seen.sort_unstable();
        assert_eq!(seen, results);
    }

    #[test]
    fn no_workers_is_one_worker() {
        let order = Mutex::new(Vec::new());
        let results = parallel(&[3, 1, 2], 0, |i| *i, |r| order.lock().unwrap().push(*r));
        assert_eq!(results, [3, 1, 2]);
        assert_eq!(order.into_inner().unwrap(), [3, 1, 2]);
    }

    #[test]
    fn every_run_once_and_every_scenario_among_them() {
        // A new scenario runs anyway, last; its place in the list keeps the suite short.
        for (i, run) in Run::ALL.iter().enumerate() {
            assert!(!Run::ALL[i + 1..].contains(run), "{run:?} twice");
        }
        for s in Scenario::ALL.into_iter().chain(Scenario::AARCH64) {
            assert!(Run::ALL.contains(&Run::Scenario(s)), "{s}");
        }
        for board in Board::ALL {
            assert!(Run::ALL.contains(&Run::Boot(board)), "{board}");
        }
        assert!(Run::ALL.contains(&Run::DemoCheck));
        assert_eq!(Run::all(), Run::ALL);
        // `scenario --board x86_64 all`: the x86_64 ones only.
        let x86 = Run::scenarios();
        assert_eq!(x86.len(), Scenario::ALL.len());
        assert!(!x86.contains(&Scenario::AbUboot));
    }
}
