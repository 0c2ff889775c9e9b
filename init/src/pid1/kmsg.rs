//! PID 1's log: records of the `log` facade written to the kernel log (`/dev/kmsg`), one
//! record per line with the syslog priority prefix (`<3>` error … `<7>` debug), so that
//! they sit in order between the kernel's own messages, reach the console by the kernel's
//! `loglevel` and survive in `dmesg`.
//!
//! Until `/dev/kmsg` is open (before devtmpfs is mounted), and for good when the init is
//! PID 1 of a PID namespace rather than of the machine (the kernel log belongs to the
//! machine), records go to stderr in the host daemon's format instead.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::{
    fs::{File, OpenOptions},
    io::Write,
    path::Path,
    sync::OnceLock,
    time::Instant,
};

/// Longest record written to `/dev/kmsg` before its newline: the kernel refuses longer
/// writes (`EINVAL`) and keeps about 1000 bytes of text per record.
const MAX_RECORD: usize = 976;

struct Logger {
    start: Instant,
    kmsg: OnceLock<File>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Install the logger (stderr until [`open_kmsg`]) at `info`.
pub fn install(start: Instant) {
    let logger = LOGGER.get_or_init(|| Logger {
        start,
        kmsg: OnceLock::new(),
    });
    if log::set_logger(logger).is_ok() {
        log::set_max_level(LevelFilter::Info);
    }
}

/// Send every record from now on to `path` (`/dev/kmsg`).
pub fn open_kmsg(path: &Path) -> std::io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    if let Some(logger) = LOGGER.get() {
        let _ = logger.kmsg.set(file);
    }
    Ok(())
}

/// Change the level.
pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}

/// The syslog priority of a level.
pub fn priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// The kmsg records of one log record: one per line of the message, each with the
/// priority prefix and the `northstar` tag, cut to what the kernel accepts, and ended by
/// a newline: the kernel keeps a record without one open for continuation and shows it
/// on the console only when the next message arrives.
pub fn records(level: Level, target: &str, message: &str) -> Vec<String> {
    let prio = priority(level);
    let origin = if target == "northstar" || target.starts_with("northstar::") {
        String::new()
    } else {
        format!("{target}: ")
    };
    message
        .lines()
        .map(|line| {
            let mut record = format!("<{prio}>northstar: {origin}{line}");
            if record.len() > MAX_RECORD {
                record.truncate(record.floor_char_boundary(MAX_RECORD));
            }
            record.push('\n');
            record
        })
        .collect()
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = record.args().to_string();
        match self.kmsg.get() {
            Some(mut kmsg) => {
                for line in records(record.level(), record.target(), &message) {
                    // One write is one kernel log record.
                    let _ = kmsg.write(line.as_bytes());
                }
            }
            None => {
                let line = crate::logger::format_line(self.start, record, &message);
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_priority_and_tag() {
        assert_eq!(
            records(Level::Error, "northstar::pid1", "root: bad signature"),
            vec!["<3>northstar: root: bad signature\n"]
        );
        assert_eq!(
            records(Level::Info, "runtime_core::runtime", "hello started"),
            vec!["<6>northstar: runtime_core::runtime: hello started\n"]
        );
        assert_eq!(
            records(Level::Warn, "northstar", "a\nb"),
            vec!["<4>northstar: a\n", "<4>northstar: b\n"]
        );
        assert_eq!(priority(Level::Debug), 7);
        assert_eq!(priority(Level::Trace), 7);
    }

    #[test]
    fn long_lines_are_cut_on_a_character_boundary() {
        let long = "é".repeat(1000);
        let out = records(Level::Info, "northstar", &long);
        assert_eq!(out.len(), 1);
        assert!(out[0].len() <= MAX_RECORD + 1 && out[0].len() > MAX_RECORD - 2);
        assert!(out[0].ends_with("é\n"));
        assert!(out[0].starts_with("<6>northstar: éé"));
    }
}
