//! Output of steps and their failures: lines on stdout or stderr, flushed at once so
//! that nothing is lost or duplicated when the process forks, exits or is killed next.
//! Owns the [`Failure`] type that ends the program with exit code 2.

use crate::{json::Value, names, steps::Stream};
use std::{
    fmt,
    io::{self, Write},
};

/// A step that could not do its job: the message goes to stderr and the program exits 2.
#[derive(Debug)]
pub struct Failure(pub String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Wraps an I/O error with what was being done.
pub fn failure(context: impl fmt::Display, err: io::Error) -> Failure {
    Failure(format!("{context}: {err}"))
}

/// Writes `bytes` to a stream and flushes.
pub fn write(stream: Stream, bytes: &[u8]) -> Result<(), Failure> {
    let result = match stream {
        Stream::Stdout => {
            let mut out = io::stdout().lock();
            out.write_all(bytes).and_then(|()| out.flush())
        }
        Stream::Stderr => io::stderr().lock().write_all(bytes),
    };
    result.map_err(|e| failure(format_args!("write to {stream:?}"), e))
}

/// One line of text on stdout.
pub fn line(text: &str) -> Result<(), Failure> {
    write(Stream::Stdout, format!("{text}\n").as_bytes())
}

/// One JSON value as a line on stdout.
pub fn emit(value: &Value) -> Result<(), Failure> {
    line(&value.to_string())
}

/// Adds `"errno"` and `"error"` (its name) to an object; errno 0 gives `0` and `null`.
pub fn with_errno(value: Value, errno: i32) -> Value {
    let name = (errno != 0).then(|| names::errno_name(errno));
    value.set("errno", errno).set("error", name)
}

/// The errno of an I/O error (`ETIMEDOUT` for std's own timeouts, `EIO` when unknown).
pub fn errno_of(err: &io::Error) -> i32 {
    match (err.raw_os_error(), err.kind()) {
        (Some(errno), _) => errno,
        (None, io::ErrorKind::TimedOut) => libc::ETIMEDOUT,
        (None, _) => libc::EIO,
    }
}

/// Flushes stdout before a fork so a child does not repeat buffered output.
pub fn flush() {
    let _ = io::stdout().flush();
}
