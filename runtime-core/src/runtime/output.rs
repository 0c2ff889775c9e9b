//! Captured output of containers: read from the pipes by the event loop, split into lines,
//! forwarded to the runtime's log (prefixed by the container, rate-limited) and kept in a
//! bounded ring buffer per container for the management API.

use std::{
    collections::VecDeque,
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
        let data = &data[data.len().saturating_sub(self.limit)..];
        let excess = (self.bytes.len() + data.len()).saturating_sub(self.limit);
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
        if self.tokens == 0 {
            self.dropped += 1;
            return false;
        }
        self.tokens -= 1;
        true
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
