//! Host daemon mode (`northstar --config <file>`): the runtime on a development host, not
//! as PID 1. SIGTERM and SIGINT shut it down in order (containers stopped, images
//! unmounted); a critical container failure applies the configured reaction, which for a
//! daemon means ending with an error (reboot and power-off are PID 1's business).
//!
//! With an `[api]` table the management API is served; its `shutdown` ends the daemon as
//! SIGTERM does, `reboot` and `boot_report` are not supported.

use crate::logger::chain;
use runtime_core::{
    config::{Config, Reaction},
    runtime::{Notification, Runtime},
    server::{self, Server, ShutdownOnly},
};
use signal_hook::{consts::signal::*, iterator::Signals};
use std::{path::Path, process::ExitCode, sync::mpsc};

enum Event {
    Signal(i32),
    Critical(String),
    /// The management API asked for a shutdown.
    Shutdown,
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
    let inbox = match config.api.as_ref().map(|_| server::inbox()).transpose() {
        Ok(inbox) => inbox,
        Err(e) => {
            log::error!("{}", chain(&e));
            return ExitCode::FAILURE;
        }
    };
    let api = config.api.clone();
    let (runtime, notifications) = match Runtime::start_with(
        config.clone(),
        inbox.as_ref().map(|(i, _)| i.console_port()),
    ) {
        Ok(started) => started,
        Err(e) => {
            log::error!("{}", chain(&e));
            return ExitCode::FAILURE;
        }
    };
    let server = match (api, inbox) {
        (Some(api), Some((inbox, mailbox))) => {
            let shutdown_tx = tx.clone();
            let host = ShutdownOnly(move || {
                let _ = shutdown_tx.send(Event::Shutdown);
            });
            let started = Server::start(
                &api,
                &config,
                runtime.requester(),
                std::sync::Arc::new(host),
                inbox,
                mailbox,
            );
            match started {
                Ok(server) => Some(server),
                Err(e) => {
                    log::error!("{}", chain(&e));
                    let _ = runtime.shutdown();
                    return ExitCode::FAILURE;
                }
            }
        }
        _ => None,
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
        Ok(Event::Shutdown) => {
            log::info!("shutdown requested through the management API");
            ExitCode::SUCCESS
        }
        Err(_) => ExitCode::FAILURE,
    };
    // The server answers `shutting down` meanwhile and passes on the containers' exits.
    let result = runtime.shutdown();
    if let Some(server) = server {
        server.stop();
    }
    match result {
        Ok(()) => code,
        Err(e) => {
            log::error!("shutdown: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}
