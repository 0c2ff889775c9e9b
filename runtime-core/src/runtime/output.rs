//! Captured output of containers: read from the pipes by the event loop, split into lines,
//! forwarded to the runtime's log (prefixed by the container, rate-limited) and kept in a
//! bounded ring buffer per container for the management API.
//!
//! `io: inherit` is a pipe too: a container never holds the runtime's own stdout or
//! stderr (on a device, PID 1's console). [`Relay`] copies what it writes, byte for byte,
//! to the runtime's stream, without ever blocking the loop: what the stream cannot take
//! at once is dropped and counted.

use std::{
    collections::VecDeque,
    fs::OpenOptions,
    os::{
        fd::{AsFd, OwnedFd, RawFd},
        unix::fs::OpenOptionsExt,
    },
    time::{Duration, Instant},
};

/// Longest line forwarded; longer ones are split.
pub(crate) const MAX_LINE: usize = 4096;
/// Lines per second a container may write into the runtime's log (the ring buffer keeps
/// everything within its size).
pub(crate) const LOG_LINES_PER_SEC: u32 = 100;

/// The last bytes a container wrote, at most `limit`.
#[derive(Debug)]
pub(crate) struct Ring {
    limit: usize,
    bytes: VecDeque<u8>,
}

impl Ring {
    pub(crate) fn new(limit: usize) -> Ring {
        Ring {
            limit,
            bytes: VecDeque::new(),
        }
    }

    pub(crate) fn push(&mut self, data: &[u8]) {
        let data = data
            .get(data.len().saturating_sub(self.limit)..)
            .unwrap_or_default();
        let excess = self
            .bytes
            .len()
            .saturating_add(data.len())
            .saturating_sub(self.limit);
        self.bytes.drain(..excess);
        self.bytes.extend(data);
    }

    pub(crate) fn contents(&self) -> Vec<u8> {
        self.bytes.iter().copied().collect()
    }
}

/// Splits one stream into lines.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// Feed bytes; returns the complete lines (without the newline). A line longer than
    /// [`MAX_LINE`] is cut into pieces.
    pub(crate) fn feed(&mut self, data: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for &b in data {
            if b == b'\n' {
                out.push(String::from_utf8_lossy(&self.partial).into_owned());
                self.partial.clear();
            } else {
                self.partial.push(b);
                if self.partial.len() >= MAX_LINE {
                    out.push(String::from_utf8_lossy(&self.partial).into_owned());
                    self.partial.clear();
                }
            }
        }
        out
    }

    /// What is left at end of file.
    pub(crate) fn finish(&mut self) -> Option<String> {
        if self.partial.is_empty() {
            return None;
        }
        let line = String::from_utf8_lossy(&self.partial).into_owned();
        self.partial.clear();
        Some(line)
    }
}

/// A token bucket: how many lines may go to the log now.
#[derive(Debug)]
pub(crate) struct RateLimit {
    per_sec: u32,
    tokens: u32,
    refilled: Instant,
    /// Lines dropped since the last report.
    pub dropped: u64,
}

impl RateLimit {
    pub(crate) fn new(per_sec: u32) -> RateLimit {
        RateLimit {
            per_sec,
            tokens: per_sec,
            refilled: Instant::now(),
            dropped: 0,
        }
    }

    /// Whether one more line may be logged at `now`.
    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        if now.duration_since(self.refilled) >= Duration::from_secs(1) {
            self.tokens = self.per_sec;
            self.refilled = now;
        }
        match self.tokens.checked_sub(1) {
            Some(tokens) => {
                self.tokens = tokens;
                true
            }
            None => {
                self.dropped = self.dropped.saturating_add(1);
                false
            }
        }
    }
}

/// The runtime's own stdout and stderr, for streams of containers with `io: inherit`.
#[derive(Debug, Default)]
pub(crate) struct Relay {
    /// Opened at first use: stdout, stderr.
    targets: [Option<OwnedFd>; 2],
    /// Bytes dropped because the runtime's stream could not take them.
    pub dropped: u64,
}

impl Relay {
    /// Write `data` of stream `stream` (1 stdout, 2 stderr) to the runtime's own stream;
    /// returns the bytes dropped (stream full, or the stream cannot be written).
    pub(crate) fn write(&mut self, stream: u8, data: &[u8]) -> usize {
        let [out, err] = &mut self.targets;
        let (slot, fd) = if stream == 2 {
            (err, libc::STDERR_FILENO)
        } else {
            (out, libc::STDOUT_FILENO)
        };
        if slot.is_none() {
            *slot = open_nonblocking(fd);
        }
        let dropped = match slot.as_ref() {
            Some(target) => write_nonblocking(target, data),
            None => data.len(),
        };
        let count = u64::try_from(dropped).unwrap_or(u64::MAX);
        self.dropped = self.dropped.saturating_add(count);
        dropped
    }
}

/// Write as much of `data` to `fd` as it takes now; returns the bytes left over.
fn write_nonblocking(fd: impl AsFd, data: &[u8]) -> usize {
    let mut rest = data;
    while !rest.is_empty() {
        match nix::unistd::write(fd.as_fd(), rest) {
            Ok(0) => break,
            Ok(n) => rest = rest.get(n..).unwrap_or_default(),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    rest.len()
}

/// A description of the runtime's stream `fd` of its own, opened again through
/// `/proc/self/fd` with `O_NONBLOCK` (and `O_APPEND` for a file), so a full console or
/// pipe makes a write fail at once instead of stalling the loop, while the runtime's own
/// `fd` stays as it was. Where that is impossible (no /proc, a socket) a duplicate of
/// `fd` whose description already is non-blocking; otherwise `None`: nothing is relayed.
fn open_nonblocking(fd: RawFd) -> Option<OwnedFd> {
    let reopened = OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(format!("/proc/self/fd/{fd}"));
    match reopened {
        Ok(file) => Some(file.into()),
        Err(e) => {
            let borrowed = if fd == libc::STDERR_FILENO {
                std::io::stderr().as_fd().try_clone_to_owned()
            } else {
                std::io::stdout().as_fd().try_clone_to_owned()
            };
            let dup = borrowed.ok().filter(|d| {
                nix::fcntl::fcntl(d, nix::fcntl::FcntlArg::F_GETFL)
                    .is_ok_and(|flags| flags & libc::O_NONBLOCK != 0)
            });
            if dup.is_none() {
                log::warn!(
                    "containers' inherited output is dropped: fd {fd} cannot be opened \
                     non-blocking ({e})"
                );
            }
            dup
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_last_bytes() {
        let mut r = Ring::new(8);
        r.push(b"hello ");
        r.push(b"world");
        assert_eq!(r.contents(), b"lo world");
        r.push(b"0123456789abc");
        assert_eq!(r.contents(), b"56789abc");
    }

    #[test]
    fn lines_split_and_cut() {
        let mut l = Lines::default();
        assert_eq!(l.feed(b"a\nb"), ["a"]);
        assert_eq!(l.feed(b"c\n\n"), ["bc", ""]);
        let long = vec![b'x'; MAX_LINE + 3];
        let lines = l.feed(&long);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].len(), MAX_LINE);
        assert_eq!(l.finish().as_deref(), Some("xxx"));
        assert_eq!(l.finish(), None);
    }

    #[test]
    fn a_full_stream_drops_instead_of_blocking() {
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)
                .unwrap();
        let capacity = nix::fcntl::fcntl(&write, nix::fcntl::FcntlArg::F_GETPIPE_SZ).unwrap();
        let capacity = usize::try_from(capacity).unwrap();
        let data = vec![b'x'; capacity + 1000];
        assert_eq!(write_nonblocking(&write, &data), 1000);
        assert_eq!(write_nonblocking(&write, b"more"), 4);
        let mut buf = vec![0; capacity];
        assert_eq!(nix::unistd::read(&read, &mut buf).unwrap(), capacity);
        assert_eq!(write_nonblocking(&write, b"more"), 0);
    }

    #[test]
    fn rate_limit_refills() {
        let mut r = RateLimit::new(2);
        let start = Instant::now();
        assert!(r.allow(start));
        assert!(r.allow(start));
        assert!(!r.allow(start));
        assert_eq!(r.dropped, 1);
        assert!(r.allow(start + Duration::from_secs(1)));
    }
}
