//! The captured console: two reader threads copy QEMU's stdout (the guest's serial
//! console) and stderr into memory and into the log file as bytes arrive; `expect` scans
//! the transcript from the end of the previous match for a line containing a pattern,
//! `seen` the whole transcript.

use std::fs::File;
use std::io::{Read, Write};
use std::process::{ChildStderr, ChildStdout};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// Why `expect` gave up.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    Timeout,
    /// The console closed (QEMU exited) without the pattern.
    Ended,
}

#[derive(Default)]
struct State {
    out: Vec<u8>,
    err: Vec<u8>,
    out_closed: bool,
    log: Option<File>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub struct Console {
    shared: Arc<Shared>,
    /// Offset in `out` after the last matched line.
    cursor: usize,
    /// Where [`Console::seen`] begins to look.
    mark: usize,
}

impl Console {
    /// Starts the reader threads; they end when QEMU closes its pipes.
    pub fn start(stdout: Option<ChildStdout>, stderr: Option<ChildStderr>, log: File) -> Self {
        let shared = Arc::new(Shared::default());
        shared.lock().log = Some(log);
        if let Some(stdout) = stdout {
            spawn_reader(stdout, Arc::clone(&shared), false);
        } else {
            shared.lock().out_closed = true;
        }
        if let Some(stderr) = stderr {
            spawn_reader(stderr, Arc::clone(&shared), true);
        }
        Self {
            shared,
            cursor: 0,
            mark: 0,
        }
    }

    /// Waits for a complete line containing `pattern` after the cursor, until `deadline`,
    /// and moves the cursor past it.
    pub fn expect(&mut self, pattern: &str, deadline: Instant) -> Result<String, Failure> {
        let (line, end) = self.wait_line(self.cursor, pattern, deadline)?;
        self.cursor = end;
        Ok(line)
    }

    /// Waits for a complete line containing `pattern` anywhere in the transcript since the
    /// mark ([`Console::mark`]; its start until then), until `deadline`; the cursor stays
    /// where it is. For lines whose order relative to others is not fixed.
    pub fn seen(&self, pattern: &str, deadline: Instant) -> Result<String, Failure> {
        Ok(self.wait_line(self.mark, pattern, deadline)?.0)
    }

    /// From now on [`Console::seen`] looks only after the cursor (e.g. after a machine's
    /// reboot line, for the lines of its next boot).
    pub fn mark(&mut self) {
        self.mark = self.cursor;
    }

    fn wait_line(
        &self,
        from: usize,
        pattern: &str,
        deadline: Instant,
    ) -> Result<(String, usize), Failure> {
        let mut state = self.shared.lock();
        loop {
            if let Some(found) = find_line(&state.out, from, pattern, state.out_closed) {
                return Ok(found);
            }
            if state.out_closed {
                return Err(Failure::Ended);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Failure::Timeout);
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.shared.lock().out).into_owned()
    }

    pub fn tail(&self, lines: usize) -> String {
        crate::cargo::tail(&self.transcript(), lines)
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.shared.lock().err).into_owned()
    }
}

fn spawn_reader<R: Read + Send + 'static>(mut pipe: R, shared: Arc<Shared>, is_err: bool) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            let n = match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut state = shared.lock();
            if is_err {
                state.err.extend_from_slice(&buf[..n]);
            } else {
                state.out.extend_from_slice(&buf[..n]);
            }
            if let Some(log) = state.log.as_mut() {
                if let Err(err) = log.write_all(&buf[..n]) {
                    log::warn!("console log write failed, not logging further: {err}");
                    state.log = None;
                }
            }
            drop(state);
            shared.changed.notify_all();
        }
        if !is_err {
            shared.lock().out_closed = true;
            shared.changed.notify_all();
        }
    });
}

/// The first line at or after `from` containing `pattern`, without its line ending, and
/// the offset after it. A line still being written counts only once output has ended.
fn find_line(out: &[u8], from: usize, pattern: &str, ended: bool) -> Option<(String, usize)> {
    let hay = out.get(from..)?;
    let needle = pattern.as_bytes();
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let at = from + hay.windows(needle.len()).position(|w| w == needle)?;
    let start = out[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let end = match out[at..].iter().position(|&b| b == b'\n') {
        Some(i) => at + i + 1,
        None if ended => out.len(),
        None => return None,
    };
    let line = String::from_utf8_lossy(&out[start..end]);
    Some((line.trim_end_matches(['\r', '\n']).to_owned(), end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_whole_lines_in_order() {
        let out = b"boot\r\nNORTHSTAR-PROBE module=loop load=ok\r\nNORTHSTAR-QEMU-OK x86_64\r\n";
        let (line, end) = find_line(out, 0, "module=", false).unwrap();
        assert_eq!(line, "NORTHSTAR-PROBE module=loop load=ok");
        assert_eq!(find_line(out, end, "module=", false), None);
        let (line, _) = find_line(out, end, "QEMU-OK", false).unwrap();
        assert_eq!(line, "NORTHSTAR-QEMU-OK x86_64");
    }

    #[test]
    fn an_unfinished_line_matches_only_after_the_end() {
        let out = b"x\nNORTHSTAR-QEMU-OK aar";
        assert_eq!(find_line(out, 0, "QEMU-OK", false), None);
        let (line, end) = find_line(out, 0, "QEMU-OK", true).unwrap();
        assert_eq!((line.as_str(), end), ("NORTHSTAR-QEMU-OK aar", out.len()));
    }

    #[test]
    fn expect_times_out_and_sees_the_end() {
        let shared = Arc::new(Shared::default());
        let mut console = Console {
            shared: Arc::clone(&shared),
            cursor: 0,
            mark: 0,
        };
        shared.lock().out.extend_from_slice(b"hello\n");
        let soon = Instant::now() + std::time::Duration::from_millis(10);
        assert_eq!(console.expect("world", soon), Err(Failure::Timeout));
        assert_eq!(console.expect("hel", soon).unwrap(), "hello");
        assert_eq!(console.expect("hel", soon), Err(Failure::Timeout));
        assert_eq!(console.seen("hel", soon).unwrap(), "hello");
        shared.lock().out_closed = true;
        let later = Instant::now() + std::time::Duration::from_secs(60);
        assert_eq!(console.expect("world", later), Err(Failure::Ended));
    }
}
