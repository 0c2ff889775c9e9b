//! `northstar`: the init. On a device it runs as PID 1; on a development host it runs as a
//! daemon with `northstar --config <file>`.
//!
//! This binary stays thin: the boot sequence, main loop and shutdown (`pid1`) call into
//! `runtime-core`. The host daemon mode runs the runtime until SIGTERM or SIGINT.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// PID 1 never panics: no indexing or arithmetic that can panic outside tests
// (doc/design.md, "PID 1 never panics").
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

mod daemon;
mod logger;
mod pid1;

use std::{path::PathBuf, process::ExitCode};

const USAGE: &str = "usage: northstar [--config <file>] [--version] [--help]

As PID 1 (on a device) northstar boots the system. On a development host run it as a
daemon with --config <file>.";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Run { config: Option<PathBuf> },
    Version,
    Help,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut config = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--version" | "-V" => return Ok(Command::Version),
            "--help" | "-h" => return Ok(Command::Help),
            "--config" | "-c" => match args.next() {
                Some(path) => config = Some(PathBuf::from(path)),
                None => return Err("--config needs a file".to_string()),
            },
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Command::Run { config })
}

fn main() -> ExitCode {
    // As PID 1 the arguments are whatever the kernel did not understand on its command
    // line: they are not ours to parse.
    if nix::unistd::getpid().as_raw() == 1 {
        pid1::run()
    }
    match parse(std::env::args().skip(1)) {
        Ok(Command::Version) => {
            println!("northstar {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Run {
            config: Some(config),
        }) => {
            logger::init();
            daemon::run(&config)
        }
        Ok(Command::Run { config: None }) => {
            eprintln!("northstar: not PID 1: run the host daemon with --config <file>\n{USAGE}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("northstar: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> impl Iterator<Item = String> {
        a.iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn command_line() {
        assert_eq!(parse(args(&["--version"])), Ok(Command::Version));
        assert_eq!(
            parse(args(&["--config", "/etc/northstar.toml"])),
            Ok(Command::Run {
                config: Some(PathBuf::from("/etc/northstar.toml"))
            })
        );
        assert!(parse(args(&["--config"])).is_err());
        assert!(parse(args(&["--bogus"])).is_err());
    }
}
