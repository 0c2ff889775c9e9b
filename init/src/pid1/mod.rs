//! PID 1: the boot sequence, the main loop and the shutdown (`doc/boot.md` is the
//! contract). Each step lives in its own module; this one runs them in order, times them
//! for the boot report and turns a failing step into the board's reaction.
//!
//! PID 1 never exits and never unwinds: every error is logged (to the kernel log) and
//! leads to the configured reaction: reboot, power-off or hold. If even the reaction
//! fails, the init keeps reaping forever.

mod board;
mod channel;
mod cmdline;
mod data;
mod device;
mod early;
#[cfg(feature = "fault-injection")]
mod fault;
mod kmsg;
mod mainloop;
mod modules;
mod panic;
mod partition;
mod reaper;
mod report;
mod root;
mod runtime;
mod shutdown;
mod slot;
mod slot_install;
#[cfg(test)]
mod slot_install_tests;
mod slot_payload;
mod slot_record;
mod switch;
mod watchdog;

use crate::logger::chain;
use board::{Board, Reaction};
use nix::sys::signalfd::SignalFd;
use report::BootReport;
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use mainloop::Phase;

/// Why the boot stopped: the step and its error.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("early file systems")]
    Early(#[from] early::Error),
    #[error("kernel command line")]
    Cmdline(#[from] cmdline::Error),
    #[error("board configuration")]
    Board(#[from] board::Error),
    #[error("kernel modules")]
    Modules(#[from] modules::Error),
    #[error("watchdog")]
    Watchdog(#[from] watchdog::Error),
    #[error("root file system")]
    Root(#[from] switch::Error),
    #[error("runtime configuration")]
    Config(#[from] runtime_core::config::Error),
    #[error("data partition")]
    Data(#[from] data::Error),
    #[error("runtime")]
    Runtime(#[from] runtime::Error),
}

/// Everything the init holds between the steps and in the main loop.
pub struct Init {
    /// When the init started.
    pub start: Instant,
    pub scope: early::Scope,
    /// SIGCHLD, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGPWR.
    pub signals: SignalFd,
    pub watchdog: Option<watchdog::Watchdog>,
    /// The board's reaction to fatal errors.
    pub reaction: Reaction,
    /// The data partition's mount point, once mounted.
    pub data: Option<PathBuf>,
    /// Runtime notifications and the runtime's shutdown.
    pub events: Option<runtime::Events>,
    pub report: BootReport,
    /// Whether the boot report has been written to the log.
    pub reported: bool,
    /// The A/B slots, on a board that has them.
    pub slots: Option<std::sync::Arc<slot::Keeper>>,
}

/// Run as PID 1. Never returns.
pub fn run() -> ! {
    let start = Instant::now();
    let kernel = boottime();
    // Before anything else, and before any thread exists: threads inherit the mask.
    let signals = match reaper::block() {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("northstar: cannot block signals: {e}; reaping only");
            shutdown::last_resort(None)
        }
    };
    kmsg::install(start);
    panic::install();
    let mut init = Init {
        start,
        scope: early::Scope::Machine,
        signals,
        watchdog: None,
        reaction: Reaction::default(),
        data: None,
        events: None,
        report: BootReport::new(kernel),
        reported: false,
        slots: None,
    };
    match boot(&mut init) {
        Ok(running) => mainloop::run(init, Some(running), Phase::Running),
        Err(e) => {
            let message = format!("boot failed: {}", chain(&e));
            log::error!("{message}");
            record_failure(&init, &message);
            mainloop::write_report(&mut init);
            // The board's reaction, or the fallback when the board configuration itself
            // could not be used (stored by `boot`).
            let reaction = init.reaction;
            mainloop::react(init, None, reaction, message)
        }
    }
}

/// The kernel's uptime now (`CLOCK_BOOTTIME`, the clock of `/proc/uptime`).
fn boottime() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .map(Duration::from)
        .unwrap_or_default()
}

/// The instant `wait` from now. A wait the clock cannot hold (a timeout of centuries) is
/// as good as forever: a year.
fn deadline(wait: Duration) -> Instant {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
    let now = Instant::now();
    now.checked_add(wait)
        .or_else(|| now.checked_add(YEAR))
        .unwrap_or(now)
}

/// Time `f` as the boot step `name` and feed the watchdog after it.
fn step<T, E>(
    init: &mut Init,
    name: &'static str,
    f: impl FnOnce(&mut Init) -> Result<T, E>,
) -> Result<T, E> {
    let at = init.start.elapsed();
    let begin = Instant::now();
    let result = f(init);
    init.report.step(name, at, begin.elapsed());
    if let Some(watchdog) = &init.watchdog {
        watchdog.feed();
    }
    result
}

/// Record why this boot gave up, for the next boot's report (A/B boards only).
pub fn record_failure(init: &Init, message: &str) {
    if let Some(keeper) = &init.slots {
        keeper.record(slot_record::State::Failed(message.to_string()));
    }
}

/// The boot sequence of `doc/boot.md`, up to a running runtime.
fn boot(init: &mut Init) -> Result<runtime::Running, BootError> {
    step(init, "early", |init| {
        early::mount_all()?;
        if let Err(e) = early::stdio(Path::new("/dev/console")) {
            // Not fatal: the log goes to the kernel.
            log::warn!("cannot open /dev/console for stdio: {e}");
        }
        init.scope = early::scope(Path::new("/proc"));
        if init.scope == early::Scope::Machine {
            if let Err(e) = kmsg::open_kmsg(Path::new("/dev/kmsg")) {
                log::warn!("cannot open /dev/kmsg, logging to the console: {e}");
            }
            early::machine_settings();
        }
        Ok::<_, BootError>(())
    })?;
    log::info!(
        "northstar {} starting as PID 1 of {}, {} ms after the kernel started",
        env!("CARGO_PKG_VERSION"),
        match init.scope {
            early::Scope::Machine => "the machine",
            early::Scope::Namespace => "a PID namespace",
        },
        init.report.kernel.as_millis()
    );
    let board = step(init, "board", |init| {
        let cmdline = cmdline::Cmdline::read(Path::new("/proc/cmdline"))?;
        let params = cmdline.northstar();
        #[cfg(feature = "fault-injection")]
        let params = fault::take(params, init.start);
        let path = Path::new(board::PATH);
        let loaded = Board::load(path, &params).and_then(|mut board| {
            let booted = board::slots::booted(&cmdline, board.lockdown);
            board.select_slot(booted.as_ref())?;
            init.report.slot = booted.map(|b| b.name);
            init.slots = board.slots.clone().map(|slots| {
                std::sync::Arc::new(slot::Keeper::new(slots, init.report.slot.clone()))
            });
            Ok(board)
        });
        match loaded {
            Ok(board) => Ok(board),
            Err(e) => {
                let text = board::read(path).ok();
                init.reaction = board::fallback_reaction(text.as_deref(), &params);
                panic::set_reaction(init.reaction);
                Err(BootError::from(e))
            }
        }
    })?;
    init.reaction = board.reaction;
    panic::set_reaction(board.reaction);
    kmsg::set_level(board.log.filter());
    for key in &board.ignored {
        log::warn!("lockdown: {key} on the kernel command line is ignored");
    }
    if let Some(slot) = &init.report.slot {
        log::info!("slot {slot}: root {}", board.root.device.display());
    }
    log::info!(
        "board {}: reaction {}, modules {}",
        board.name,
        board.reaction,
        board.modules.join(" ")
    );
    step(init, "modules", |_| {
        if board.modules.is_empty() {
            return Ok(());
        }
        let dir = modules::directory(
            Path::new("/lib/modules"),
            Path::new("/proc/sys/kernel/osrelease"),
        )?;
        let loaded = modules::load_all(&dir, &board.modules)?;
        log::info!(
            "modules: {} loaded, {} already present, built in: {}",
            loaded.loaded.len(),
            loaded.present.len(),
            if loaded.builtin.is_empty() {
                "none".to_string()
            } else {
                loaded.builtin.join(" ")
            }
        );
        Ok::<_, BootError>(())
    })?;
    if let Some(config) = &board.watchdog {
        step(init, "watchdog", |init| {
            let watchdog = watchdog::Watchdog::open(config)?;
            log::info!(
                "watchdog {}: timeout {} s",
                watchdog.device().display(),
                watchdog.timeout().as_secs()
            );
            init.watchdog = Some(watchdog);
            Ok::<_, BootError>(())
        })?;
    }
    step(init, "root", |_| {
        let switched = switch::switch_root(&board)?;
        log::info!(
            "root: {} verified, mounted from {} (device found after {} ms)",
            switched.device.display(),
            switched.node.display(),
            switched.waited.as_millis()
        );
        Ok::<_, BootError>(())
    })?;
    let config = step(init, "config", |_| {
        runtime_core::config::Config::load(&board.runtime.config)
    })?;
    init.report.development = config.development;
    if let Some(data) = &board.data {
        step(init, "data", |init| {
            let target = Path::new(data::MOUNT_POINT);
            let waited = data::mount_data(data, target)?;
            init.data = Some(target.to_owned());
            data::layout(&config, target)?;
            match panic::take_record(target) {
                Ok(None) => {}
                Ok(Some(text)) => {
                    log::error!("the previous boot ended in a panic: {text}");
                    init.report.previous_panic = Some(text);
                }
                Err(e) => log::warn!("cannot read the record of a panic: {e}"),
            }
            panic::set_data(target);
            if let Some(keeper) = &init.slots {
                init.report.previous_slot = keeper.attach_data(target);
                if let Some(text) = &init.report.previous_slot {
                    log::warn!("previous boot: {text}");
                }
            }
            log::info!(
                "data: {} mounted at {} (device found after {} ms)",
                data.device.display(),
                target.display(),
                waited.as_millis()
            );
            Ok::<_, BootError>(())
        })?;
    }
    let api = config.api.clone();
    let running = step(init, "runtime", |init| {
        let events = runtime::Events::new()?;
        let (running, started) = runtime::start(config, &events, init.slots.clone())?;
        init.events = Some(events);
        let now = init.start.elapsed();
        for container in started {
            match (container.state, container.uptime) {
                // Already running: started `uptime` ago (the notification may have come
                // before the subscription).
                (runtime_core::runtime::ContainerState::Running, Some(uptime)) => {
                    init.report.outcome(
                        &container.id,
                        report::Outcome::Started {
                            at: now.saturating_sub(uptime),
                        },
                    );
                }
                _ => init.report.expect(container.id),
            }
        }
        Ok::<_, BootError>(running)
    })?;
    // The runtime step's parts, as the runtime measured them.
    for phase in running.handle.startup() {
        let name = match phase.name {
            "registry" => "runtime.registry",
            "setup" => "runtime.setup",
            "mounts" => "runtime.mounts",
            "starts" => "runtime.starts",
            _ => "runtime.other",
        };
        let at = phase.start.saturating_duration_since(init.start);
        init.report.step(name, at, phase.took);
    }
    // After the server bound its socket; not a boot step: the channel's errors are logged
    // and the system runs on without it.
    if let Some(channel) = &board.channel {
        channel::start(channel, api.as_ref());
    }
    Ok(running)
}
