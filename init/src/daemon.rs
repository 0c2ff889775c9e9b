//! Host daemon mode (`northstar --config <file>`): the runtime on a development host, not
//! as PID 1. SIGTERM and SIGINT shut it down in order (containers stopped, images
//! unmounted); a critical container failure applies the configured reaction, which for a
//! daemon means ending with an error (reboot and power-off are PID 1's business).

use crate::logger::chain;
use runtime_core::{
    config::{Config, Reaction},
    runtime::{Notification, Runtime},
};
use signal_hook::{consts::signal::*, iterator::Signals};
use std::{path::Path, process::ExitCode, sync::mpsc};

enum Event {
    Signal(i32),
    Critical(String),
}

/// Run the daemon until a signal or a critical failure.
pub fn run(config: &Path) -> ExitCode {
    let config = match Config::load(config) {
        Ok(config) => config,
        Err(e) => {
            log::error!("{}", chain(&e));
            return ExitCode::from(2);
        }
    };
    let reaction = config.critical;
    let (tx, rx) = mpsc::channel();
    let mut signals = match Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            log::error!("install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let signal_tx = tx.clone();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal_tx.send(Event::Signal(signal)).is_err() {
                break;
            }
        }
    });
    let (runtime, notifications) = match Runtime::start_subscribed(config) {
        Ok(started) => started,
        Err(e) => {
            log::error!("{}", chain(&e));
            return ExitCode::FAILURE;
        }
    };
    std::thread::spawn(move || {
        for n in notifications {
            if let Notification::Critical { id, reason } = n {
                let _ = tx.send(Event::Critical(format!("{id}: {reason}")));
            }
        }
    });
    log::info!("running; SIGTERM or SIGINT stops");
    let code = match rx.recv() {
        Ok(Event::Signal(signal)) => {
            log::info!("signal {signal}: shutting down");
            ExitCode::SUCCESS
        }
        Ok(Event::Critical(what)) => {
            if reaction != Reaction::Exit {
                log::warn!("reaction {reaction:?} applies to PID 1 only; a daemon exits");
            }
            log::error!("critical container failed ({what}): shutting down");
            ExitCode::FAILURE
        }
        Err(_) => ExitCode::FAILURE,
    };
    match runtime.shutdown() {
        Ok(()) => code,
        Err(e) => {
            log::error!("shutdown: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}
