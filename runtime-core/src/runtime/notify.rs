//! The notify socket of a running container (sd_notify): the loop reads its datagrams,
//! keeps readiness and the last status, and runs the watchdog.
//!
//! A datagram holds newline-separated `KEY=VALUE` assignments. `READY=1` marks the run
//! ready (once per run: [`Notification::Ready`]); `STATUS=` is kept (bounded);
//! `WATCHDOG=1` moves the watchdog's deadline. Everything else (`STOPPING=1`,
//! `RELOADING=1`, `MAINPID=`, `ERRNO=`, unknown keys) is ignored. Passed descriptors and
//! credentials are never accepted: the socket is read without a control buffer, so the
//! kernel closes any descriptor a sender attaches.
//!
//! The watchdog is armed when the program has executed and at every `WATCHDOG=1`. When its
//! deadline passes, the runtime sends SIGABRT and SIGKILL after the stop grace period; the
//! end is a failure for the restart policy, not a requested stop.

use super::{
    api::Notification,
    state::{deadline, Source, State},
};
use crate::id::ContainerId;
use nix::sys::socket::{recv, MsgFlags};
use northstar_sys::clone::pidfd_signal;
use std::{
    os::fd::{AsFd, AsRawFd, OwnedFd},
    path::PathBuf,
    time::{Duration, Instant},
};

/// Largest datagram read; a longer one is dropped whole.
pub(crate) const MAX_DATAGRAM: usize = 4096;
/// Most datagrams read per wake-up: a flooding container cannot starve the loop (the rest
/// wait for the next turn).
const MAX_PER_WAKE: usize = 16;
/// Longest status kept, in bytes.
pub(crate) const MAX_STATUS: usize = 256;
/// Most ignored keys named in one debug line.
const MAX_IGNORED_NAMED: usize = 4;

/// What one datagram says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Message {
    /// `READY=1`.
    pub ready: bool,
    /// The last `STATUS=` of the datagram, bounded and without control characters.
    pub status: Option<String>,
    /// `WATCHDOG=1`.
    pub watchdog: bool,
    /// Keys ignored (at most [`MAX_IGNORED_NAMED`], for the debug log), and how many.
    pub ignored: Vec<String>,
    pub ignored_count: usize,
}

/// Parse a datagram: newline-separated `KEY=VALUE`; lines without `=` are ignored.
pub(crate) fn parse(datagram: &[u8]) -> Message {
    let mut message = Message::default();
    for line in datagram.split(|b| *b == b'\n') {
        if line.is_empty() {
            continue;
        }
        let Some(eq) = line.iter().position(|b| *b == b'=') else {
            message.ignore(line);
            continue;
        };
        let (key, value) = line.split_at(eq);
        let value = value.get(1..).unwrap_or_default();
        match key {
            b"READY" if value == b"1" => message.ready = true,
            b"WATCHDOG" if value == b"1" => message.watchdog = true,
            b"STATUS" => message.status = Some(status(value)),
            _ => message.ignore(key),
        }
    }
    message
}

impl Message {
    fn ignore(&mut self, key: &[u8]) {
        self.ignored_count = self.ignored_count.saturating_add(1);
        if self.ignored.len() < MAX_IGNORED_NAMED {
            self.ignored.push(status(key));
        }
    }
}

/// `bytes` as text of at most [`MAX_STATUS`] bytes (cut at a character boundary), with
/// control characters replaced.
fn status(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for c in text.chars() {
        let c = if c.is_control() { '?' } else { c };
        if out.len().saturating_add(c.len_utf8()) > MAX_STATUS {
            break;
        }
        out.push(c);
    }
    out
}

/// The watchdog of a run.
#[derive(Debug)]
pub(crate) struct Watchdog {
    pub interval: Duration,
    /// When a keep-alive is due; `None` until the program has executed.
    pub due: Option<Instant>,
    /// After a timeout: SIGKILL at this instant.
    pub kill: Option<Instant>,
}

/// The notify socket of a run and what it was told.
#[derive(Debug)]
pub(crate) struct Notify {
    pub fd: OwnedFd,
    pub token: u64,
    /// The socket file, removed when the run ends.
    pub path: PathBuf,
    pub ready: bool,
    pub status: Option<String>,
    pub watchdog: Option<Watchdog>,
}

impl Notify {
    /// The watchdog's next deadline: a keep-alive due, or the SIGKILL after a timeout.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let w = self.watchdog.as_ref()?;
        w.kill.or(w.due)
    }
}

/// Watch the notify socket `fd` (bound at `path`) of the running `id`.
pub(crate) fn watch(
    state: &mut State,
    id: &ContainerId,
    fd: OwnedFd,
    path: PathBuf,
    watchdog: Option<Duration>,
) -> nix::Result<()> {
    let token = state.watch(&fd, Source::Notify(id.clone()))?;
    let notify = Notify {
        fd,
        token,
        path,
        ready: false,
        status: None,
        watchdog: watchdog.map(|interval| Watchdog {
            interval,
            due: None,
            kill: None,
        }),
    };
    match state
        .containers
        .get_mut(id)
        .and_then(|c| c.process.as_mut())
    {
        Some(process) => process.notify = Some(notify),
        None => close(state, notify),
    }
    Ok(())
}

/// Stop watching the socket, close it and remove its file.
pub(crate) fn close(state: &mut State, notify: Notify) {
    state.unwatch(&notify.fd, notify.token);
    if let Err(e) = std::fs::remove_file(&notify.path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            log::debug!("remove {}: {e}", notify.path.display());
        }
    }
}

/// The program of `id` has executed: arm the watchdog.
pub(crate) fn executed(state: &mut State, id: &ContainerId) {
    if let Some(w) = state
        .containers
        .get_mut(id)
        .and_then(|c| c.process.as_mut())
        .and_then(|p| p.notify.as_mut())
        .and_then(|n| n.watchdog.as_mut())
    {
        w.due = Some(deadline(Instant::now(), w.interval));
    }
}

/// The notify socket of `id` is readable: read a bounded number of datagrams.
pub(crate) fn readable(state: &mut State, id: &ContainerId) {
    let Some(container) = state.containers.get_mut(id) else {
        return;
    };
    let Some(notify) = container.process.as_mut().and_then(|p| p.notify.as_mut()) else {
        return;
    };
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut became_ready = false;
    for _ in 0..MAX_PER_WAKE {
        let n = match recv(
            notify.fd.as_raw_fd(),
            &mut buf,
            MsgFlags::MSG_TRUNC | MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(nix::errno::Errno::EAGAIN) => break,
            Err(e) => {
                log::debug!("{id}: read the notify socket: {e}");
                break;
            }
        };
        // With MSG_TRUNC the datagram's real length: a longer one than the buffer is cut.
        let Some(datagram) = buf.get(..n) else {
            if container.log_limit.allow(Instant::now()) {
                log::debug!("{id}: notify datagram of {n} bytes dropped (at most {MAX_DATAGRAM})");
            }
            continue;
        };
        let message = parse(datagram);
        if message.ignored_count > 0 && container.log_limit.allow(Instant::now()) {
            log::debug!(
                "{id}: notify: {} assignments ignored ({})",
                message.ignored_count,
                message.ignored.join(", ")
            );
        }
        if message.ready && !notify.ready {
            notify.ready = true;
            became_ready = true;
        }
        if let Some(status) = message.status {
            notify.status = Some(status);
        }
        if message.watchdog {
            if let Some(w) = notify.watchdog.as_mut().filter(|w| w.kill.is_none()) {
                w.due = Some(deadline(Instant::now(), w.interval));
            }
        }
    }
    if became_ready {
        log::info!("{id}: ready");
        state.notify(Notification::Ready { id: id.clone() });
        super::update::ready(state, id);
    }
}

/// Watchdog deadlines that passed: SIGABRT at a missed keep-alive, SIGKILL after the stop
/// grace period. A run being stopped on request is left to the stop.
pub(crate) fn timers(state: &mut State, now: Instant) {
    let grace = state.config.stop_timeout;
    for (id, c) in &mut state.containers {
        if matches!(c.life.phase, super::lifecycle::Phase::Stopping { .. }) {
            continue;
        }
        let Some(process) = c.process.as_mut() else {
            continue;
        };
        let Some(w) = process.notify.as_mut().and_then(|n| n.watchdog.as_mut()) else {
            continue;
        };
        if w.kill.is_some_and(|at| at <= now) {
            log::warn!("{id}: did not end after the watchdog timeout, killing it");
            let _ = pidfd_signal(process.pidfd.as_fd(), libc::SIGKILL);
            w.kill = Some(deadline(now, Duration::from_secs(3600)));
        } else if w.kill.is_none() && w.due.is_some_and(|at| at <= now) {
            log::warn!("{id}: watchdog timeout after {:?}", w.interval);
            let _ = pidfd_signal(process.pidfd.as_fd(), libc::SIGABRT);
            w.due = None;
            w.kill = Some(deadline(now, grace));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_are_parsed() {
        let m = parse(b"READY=1\nSTATUS=serving 3 clients\nWATCHDOG=1\n");
        assert!(m.ready);
        assert!(m.watchdog);
        assert_eq!(m.status.as_deref(), Some("serving 3 clients"));
        assert_eq!(m.ignored_count, 0);
    }

    #[test]
    fn only_the_value_1_counts() {
        let m = parse(b"READY=0\nWATCHDOG=trigger\nREADY=\nWATCHDOG");
        assert!(!m.ready);
        assert!(!m.watchdog);
        assert_eq!(m.ignored_count, 4);
        assert_eq!(m.ignored, ["READY", "WATCHDOG", "READY", "WATCHDOG"]);
    }

    #[test]
    fn other_keys_are_ignored() {
        let m = parse(b"STOPPING=1\nRELOADING=1\nMAINPID=42\nERRNO=5\nFOO=bar\nREADY=1");
        assert!(m.ready);
        assert!(!m.watchdog);
        assert_eq!(m.status, None);
        assert_eq!(m.ignored_count, 5);
        assert_eq!(m.ignored.len(), MAX_IGNORED_NAMED);
    }

    #[test]
    fn the_last_status_wins_and_may_be_empty() {
        assert_eq!(
            parse(b"STATUS=a\nSTATUS=b=c").status.as_deref(),
            Some("b=c")
        );
        assert_eq!(parse(b"STATUS=").status.as_deref(), Some(""));
        assert_eq!(parse(b"").status, None);
        assert_eq!(parse(b"\n\n"), Message::default());
    }

    #[test]
    fn status_is_bounded_and_printable() {
        let long = format!("STATUS={}", "x".repeat(MAX_STATUS * 2));
        assert_eq!(parse(long.as_bytes()).status.unwrap().len(), MAX_STATUS);
        // A multi-byte character at the bound is dropped whole.
        let wide = format!("STATUS={}é", "x".repeat(MAX_STATUS - 1));
        assert_eq!(
            parse(wide.as_bytes()).status.unwrap(),
            "x".repeat(MAX_STATUS - 1)
        );
        let m = parse(b"STATUS=a\x1b[2Jb\r\tc\xff");
        assert_eq!(m.status.as_deref(), Some("a?[2Jb??c\u{fffd}"));
    }

    proptest::proptest! {
        #[test]
        fn any_datagram_is_bounded(datagram in proptest::collection::vec(
            proptest::prelude::any::<u8>(), 0..MAX_DATAGRAM,
        )) {
            let m = parse(&datagram);
            let status = m.status.unwrap_or_default();
            proptest::prop_assert!(status.len() <= MAX_STATUS);
            proptest::prop_assert!(!status.chars().any(char::is_control));
            proptest::prop_assert!(m.ignored.len() <= MAX_IGNORED_NAMED);
            proptest::prop_assert!(m.ignored.len() <= m.ignored_count);
        }

        #[test]
        fn what_a_daemon_sends_is_what_is_read(
            ready: bool,
            watchdog: bool,
            status in proptest::option::of("[^\\p{Cc}]{0,64}"),
            noise in proptest::collection::vec("[A-Z_]{1,8}=[a-z0-9]{0,8}", 0..4),
        ) {
            let mut lines: Vec<String> = noise
                .iter()
                .filter(|l| !["READY=", "WATCHDOG=", "STATUS="].iter().any(|k| l.starts_with(k)))
                .cloned()
                .collect();
            let expected_ignored = lines.len();
            if ready {
                lines.push("READY=1".into());
            }
            if watchdog {
                lines.push("WATCHDOG=1".into());
            }
            if let Some(status) = &status {
                lines.push(format!("STATUS={status}"));
            }
            let m = parse(lines.join("\n").as_bytes());
            proptest::prop_assert_eq!(m.ready, ready);
            proptest::prop_assert_eq!(m.watchdog, watchdog);
            proptest::prop_assert_eq!(m.status, status);
            proptest::prop_assert_eq!(m.ignored_count, expected_ignored);
        }
    }

    #[test]
    fn carriage_returns_are_part_of_the_value() {
        // sd_notify separates by newline only.
        assert!(!parse(b"READY=1\r\n").ready);
    }
}
