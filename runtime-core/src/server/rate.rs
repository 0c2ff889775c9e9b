//! Requests per second of one connection: a token bucket that holds one second's worth.

use std::time::Instant;

/// A token bucket of `per_second` tokens, refilled continuously.
#[derive(Debug)]
pub(super) struct Rate {
    per_second: u32,
    tokens: f64,
    at: Instant,
}

impl Rate {
    pub(super) fn new(per_second: u32) -> Rate {
        Rate {
            per_second,
            tokens: f64::from(per_second),
            at: Instant::now(),
        }
    }

    /// The limit.
    pub(super) fn per_second(&self) -> u32 {
        self.per_second
    }

    /// Whether one more request may pass at `now`.
    pub(super) fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        let full = f64::from(self.per_second);
        self.tokens = (self.tokens + elapsed * full).min(full);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket() {
        let mut r = Rate::new(2);
        let t = Instant::now();
        assert!(r.allow(t));
        assert!(r.allow(t));
        assert!(!r.allow(t));
        assert!(r.allow(t + Duration::from_millis(600)));
        assert!(!r.allow(t + Duration::from_millis(600)));
        assert!(r.allow(t + Duration::from_secs(10)));
    }
}
