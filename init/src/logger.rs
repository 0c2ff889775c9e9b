//! The log: records of the `log` facade written to stderr, one line each, with the time
//! since start, the level and the module. `RUST_LOG`-style filtering by one level
//! (`NORTHSTAR_LOG=debug`).

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::{io::Write, time::Instant};

struct Logger {
    start: Instant,
    level: LevelFilter,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_line(self.start, record, &record.args().to_string());
        // One write per line so lines of different threads do not interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// One log line: seconds.milliseconds since `start`, the level, the module, the message.
pub fn format_line(start: Instant, record: &Record<'_>, message: &str) -> String {
    let t = start.elapsed();
    let level = match record.level() {
        Level::Error => "E",
        Level::Warn => "W",
        Level::Info => "I",
        Level::Debug => "D",
        Level::Trace => "T",
    };
    format!(
        "{:>5}.{:03} {level} {}: {message}\n",
        t.as_secs(),
        t.subsec_millis(),
        record.target(),
    )
}

/// An error with all its sources, `: `-separated (the project's one printer).
pub use runtime_core::error_chain as chain;

/// Install the logger; the level comes from `NORTHSTAR_LOG` (default `info`).
pub fn init() {
    let level = std::env::var("NORTHSTAR_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(LevelFilter::Info);
    let logger = Logger {
        start: Instant::now(),
        level,
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(level);
    }
}
