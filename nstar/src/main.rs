//! `nstar`: the Northstar command-line tool.
//!
//! Packaging commands: `pack`, `inspect`, `unpack`, `verify`, `keygen`, `manifest check`,
//! `manifest schema`, `completions` and `bundle create|info` (system update bundles),
//! each in its own module. Management commands
//! (`list`, `start`, `install`, `logs`, ...: a request to a running runtime) in `manage`;
//! `inspect` and `verify` of a `name:version` that is not a file (and `verify --installed`)
//! ask the runtime too. This file parses
//! the command line, dispatches, and turns the outcome into an exit status: 0 success,
//! 1 the operation failed or the runtime refused the request, 2 usage error (clap's
//! default), 3 connection or protocol error, 4 timeout. Errors are printed once, here, as
//! `nstar: error: ...` with their whole source chain.
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

mod bundle;
mod channel;
mod cli;
mod error;
mod fs_list;
mod inspect;
mod keygen;
mod manage;
mod manifest;
mod pack;
mod probe;
mod unpack;
mod verify;

use clap::{CommandFactory, Parser};
use cli::{BundleCommand, Cli, Command, ManifestCommand};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let global = &cli.global;
    check_global_options(&cli);
    let result = match &cli.command {
        Command::Pack(args) => pack::run(args),
        Command::Inspect(args) => match container_of(args) {
            Some(container) => manage::inspect(&container, global),
            None => inspect::run(args, global.json),
        },
        Command::Unpack(args) => unpack::run(args),
        Command::Verify(args) => match verify_target(args) {
            VerifyTarget::File(npk, key) => verify::run(npk, key),
            VerifyTarget::Runtime(container) => manage::verify(container.as_ref(), global),
        },
        Command::Keygen(args) => keygen::run(args),
        Command::Manifest(ManifestCommand::Check(args)) => manifest::check(args),
        Command::Manifest(ManifestCommand::Schema(_)) => manifest::schema(),
        Command::Completions(args) => completions(args.shell),
        Command::Channel(args) => channel::run(args),
        Command::Bundle(BundleCommand::Create(args)) => bundle::create(args, global.json),
        Command::Bundle(BundleCommand::Info(args)) => bundle::info(args, global.json),
        Command::Manage(command) => manage::run(command, global),
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
        Err(e) => manage::report(&e, global.json).unwrap_or_else(|| {
            err!("nstar: error: {}", error::chain(e.as_ref()));
            ExitCode::FAILURE
        }),
    }
}

/// The container `nstar inspect` names: an argument that is not an existing file and
/// reads as `name:version`.
fn container_of(args: &cli::InspectArgs) -> Option<northstar_client::api::ContainerId> {
    if args.npk.exists() {
        return None;
    }
    args.npk.to_str()?.parse().ok()
}

/// What `nstar verify` checks.
enum VerifyTarget<'a> {
    /// A package file, with the key (missing: a usage error, reported before).
    File(&'a std::path::Path, &'a std::path::Path),
    /// Installed packages, by the runtime: one container, or every one (`--installed`).
    Runtime(Option<northstar_client::api::ContainerId>),
}

/// The target of `nstar verify`: `--installed`, a container (an argument that is not an
/// existing file and reads as `name:version`), or a package file.
fn verify_target(args: &cli::VerifyArgs) -> VerifyTarget<'_> {
    let Some(npk) = args.npk.as_deref().filter(|_| !args.installed) else {
        return VerifyTarget::Runtime(None);
    };
    if !npk.exists() {
        if let Some(container) = npk.to_str().and_then(|s| s.parse().ok()) {
            return VerifyTarget::Runtime(Some(container));
        }
    }
    match &args.key {
        Some(key) => VerifyTarget::File(npk, key),
        None => usage("--key is required to verify a package file"),
    }
}

/// The global options apply to the management subcommands (and `--json` to `inspect`):
/// anywhere else they are a usage error rather than silently ignored.
fn check_global_options(cli: &Cli) {
    let g = &cli.global;
    let (name, json_ok, connects) = match &cli.command {
        Command::Manage(_) => return,
        Command::Inspect(args) => {
            let container = container_of(args).is_some();
            if container && args.key.is_some() {
                usage("--key applies to packages, not to containers of the runtime");
            }
            ("inspect", true, container)
        }
        Command::Pack(_) => ("pack", false, false),
        Command::Unpack(_) => ("unpack", false, false),
        Command::Verify(args) => {
            let runtime = matches!(verify_target(args), VerifyTarget::Runtime(_));
            if runtime && args.key.is_some() {
                usage("--key applies to packages, not to containers of the runtime");
            }
            ("verify", runtime, runtime)
        }
        Command::Keygen(_) => ("keygen", false, false),
        Command::Manifest(_) => ("manifest", false, false),
        Command::Completions(_) => ("completions", false, false),
        Command::Channel(_) => ("channel", false, false),
        Command::Bundle(BundleCommand::Create(_)) => ("bundle create", true, false),
        Command::Bundle(BundleCommand::Info(_)) => ("bundle info", true, false),
    };
    if g.json && !json_ok {
        usage(&format!("--json is not supported by `{name}`"));
    }
    let tls = g.tls_ca.is_some() || g.tls_cert.is_some() || g.tls_key.is_some();
    if !connects && (g.url.is_some() || g.timeout.is_some() || g.unauthenticated_tcp || tls) {
        usage(&format!(
            "--url, --timeout, --tls-* and --unauthenticated-tcp do not apply to `{name}`"
        ));
    }
}

/// Report a usage error as clap does (exit status 2).
fn usage(message: &str) -> ! {
    Cli::command()
        .error(clap::error::ErrorKind::ArgumentConflict, message)
        .exit()
}

/// `nstar completions`: generated into memory first, since clap_complete panics when its
/// writer fails.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "nstar", &mut script);
    std::io::Write::write_all(&mut std::io::stdout(), &script).map_err(error::Stdout)?;
    Ok(())
}
