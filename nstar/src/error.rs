//! Error reporting: the whole source chain on one line, without repeating itself.
//!
//! npk's errors follow the house style of naming their context *and* embedding the
//! source's message in their own (`hello.npk: signature.yaml: signature does not
//! verify`), while also returning the source from `source()`. Printing every level would
//! repeat text, so a level is printed only when its message is not already part of the
//! text printed so far.

use std::{error::Error, fmt, io};

/// The command has already printed why it failed (e.g. `verify`'s list of checks, or
/// `manifest check`'s diagnostics): exit with 1 without printing anything more.
#[derive(Debug)]
pub struct Reported;

impl fmt::Display for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("failure already reported")
    }
}

impl Error for Reported {}

/// Writing to stdout failed. A closed pipe (`nstar inspect x.npk | head`) ends the command
/// quietly, with exit status 1 since it did not finish; anything else is reported.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to stdout")]
pub struct Stdout(#[source] pub io::Error);

impl Stdout {
    /// Whether the reader of stdout went away.
    pub fn is_broken_pipe(&self) -> bool {
        self.0.kind() == io::ErrorKind::BrokenPipe
    }
}

/// `error: cause: cause ...`, each level once (the project's one printer).
pub use northstar_client::api::chain;
