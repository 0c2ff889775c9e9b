//! Deadlines of connections. A wait can come from a container's manifest
//! (`console.npk_stream_timeout`) or the configuration; adding it to an `Instant` must not
//! overflow, and a panic in the server's thread would end PID 1. Every deadline is
//! computed here: the wait is capped at [`MAX_WAIT`] and added with `checked_add`.

use std::time::{Duration, Instant};

/// Longest wait of any deadline: one hour, the configuration's longest timeout.
pub(super) const MAX_WAIT: Duration = Duration::from_secs(3600);

/// The instant `wait` after `now`, the wait capped at [`MAX_WAIT`].
pub(super) fn after(now: Instant, wait: Duration) -> Instant {
    // `now` plus an hour fits every clock the kernel has; `now` itself is the answer if
    // it did not (a deadline that has passed closes the connection, nothing panics).
    now.checked_add(wait.min(MAX_WAIT)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::{
        super::{
            conn::{Conn, Limits, Raw},
            rate::Rate,
            transport::Transport,
        },
        *,
    };
    use std::os::unix::net::UnixStream;

    fn conn(install_timeout: Duration, handshake: Option<Duration>) -> (Conn, UnixStream) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let limits = Limits {
            rate: Rate::new(10),
            max_install: 1 << 20,
            install_timeout,
            write_buffer: 4096,
        };
        let conn = Conn::new(
            Transport::Unix(ours),
            "test".into(),
            Default::default(),
            1024,
            limits,
            handshake,
        );
        (conn, theirs)
    }

    #[test]
    fn an_overlong_install_timeout_is_capped() {
        // What a manifest's `console.npk_stream_timeout: 18446744073709551615` becomes.
        let (mut c, _peer) = conn(Duration::from_secs(u64::MAX), None);
        let before = Instant::now();
        c.raw = c.discard();
        let Raw::Discard(deadline) = c.raw else {
            panic!("not discarding");
        };
        assert!(deadline >= before + MAX_WAIT);
        assert!(deadline <= Instant::now() + MAX_WAIT);
        assert_eq!(
            c.deadline(Duration::MAX, Duration::MAX),
            Some(deadline),
            "the connection's next deadline"
        );
        assert_eq!(
            c.expired(Instant::now(), Duration::MAX, Duration::MAX),
            None
        );
    }

    #[test]
    fn overlong_connection_timeouts_are_capped() {
        let (mut c, _peer) = conn(Duration::MAX, Some(Duration::MAX));
        let now = Instant::now();
        assert_eq!(c.expired(now, Duration::MAX, Duration::MAX), None);
        c.out = vec![b'x'];
        assert!(c
            .deadline(Duration::MAX, Duration::MAX)
            .is_some_and(|d| d <= Instant::now() + MAX_WAIT));
        assert_eq!(c.expired(now, Duration::MAX, Duration::MAX), None);
    }

    #[test]
    fn waits_up_to_the_cap_are_kept() {
        let now = Instant::now();
        assert_eq!(
            after(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert_eq!(after(now, MAX_WAIT), now + MAX_WAIT);
        assert_eq!(
            after(now, MAX_WAIT + Duration::from_nanos(1)),
            now + MAX_WAIT
        );
        assert_eq!(after(now, Duration::MAX), now + MAX_WAIT);
    }
}
