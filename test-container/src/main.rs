//! The test container: a static program that the runtime's integration tests pack into
//! a package and run as a container's init. It reports what it sees inside the
//! container and does what its arguments tell it. The full command language follows.
#![doc = include_str!("../README.md")]

use std::io::Write;

mod actions;
mod console;
mod escape;
mod faults;
mod json;
mod names;
mod net;
mod notify;
mod out;
mod processes;
mod procfs;
mod report;
mod run;
mod signals;
mod steps;
mod sys;
mod syscalls;

/// Exit code for a command line that does not parse.
const EXIT_USAGE: i32 = 64;
/// Exit code for a step that failed.
const EXIT_FAILED: i32 = 2;

fn main() {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let steps = if args.is_empty() {
        vec![steps::Step::Report(None)]
    } else {
        match steps::parse_all(&args) {
            Ok(steps) => steps,
            Err(e) => fail(EXIT_USAGE, &e),
        }
    };
    if let Err(e) = run::all(&steps) {
        fail(EXIT_FAILED, &e);
    }
}

/// One line on stderr (a closed stderr is no reason to crash), then exit.
fn fail(code: i32, error: &dyn std::fmt::Display) -> ! {
    out::flush();
    let _ = writeln!(std::io::stderr(), "test-container: {error}");
    std::process::exit(code)
}
