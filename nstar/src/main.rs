//! `nstar`: the Northstar command-line tool.
//!
//! Packaging commands: `pack`, `inspect`, `unpack`, `verify`, `keygen`, `manifest check`,
//! `manifest schema` and `completions`. Each subcommand lives in its own module; this file
//! parses the command line, dispatches, and turns the outcome into an exit status:
//! 0 success, 1 the operation failed, 2 usage error (clap's default). Errors are printed
//! once, here, as `nstar: error: ...` with their whole source chain.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

/// `println!` that returns [`error::Stdout`] instead of panicking when stdout is closed.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).map_err(crate::error::Stdout)
    }};
}

/// `eprintln!` that ignores a failure: there is nowhere left to report it.
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod cli;
mod error;
mod fs_list;
mod inspect;
mod keygen;
mod manifest;
mod pack;
mod probe;
mod unpack;
mod verify;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command, ManifestCommand};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Pack(args) => pack::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Unpack(args) => unpack::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Keygen(args) => keygen::run(&args),
        Command::Manifest(ManifestCommand::Check(args)) => manifest::check(&args),
        Command::Manifest(ManifestCommand::Schema(_)) => manifest::schema(),
        Command::Completions(args) => completions(args.shell),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<error::Reported>() => ExitCode::FAILURE,
        Err(e)
            if e.downcast_ref::<error::Stdout>()
                .is_some_and(|e| e.is_broken_pipe()) =>
        {
            ExitCode::FAILURE
        }
        Err(e) => {
            err!("nstar: error: {}", error::chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// `nstar completions`: generated into memory first, since clap_complete panics when its
/// writer fails.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "nstar", &mut script);
    std::io::Write::write_all(&mut std::io::stdout(), &script).map_err(error::Stdout)?;
    Ok(())
}
