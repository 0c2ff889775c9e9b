//! One connection: its socket, decoder, queue of outgoing bytes, permissions, limits and
//! deadlines. Memory is bounded: the decoder holds at most one frame; while the queue is
//! over `write_buffer` the connection is not read and notifications are dropped and
//! counted for `lagged`; a queue over [`Conn::hard_limit`] closes the connection.

use super::{deadline::after, install::Upload, rate::Rate, transport::Transport};
use northstar_api::{
    codec::{Decoder, Encoder, MAX_SERVER_FRAME},
    ClientMessage, Notification, Permissions, ProtocolVersion, RequestId, ServerMessage,
    PROTOCOL_VERSION,
};
use std::time::{Duration, Instant};

/// Where a connection is in its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Waiting for `hello` until the deadline.
    Handshake(Instant),
    /// Requests are served.
    Ready,
    /// A final error is queued: no more reading, closed once it is written.
    Closing,
}

/// What becomes of raw bytes after an install or update request.
#[derive(Debug)]
pub(super) enum Raw {
    None,
    /// Spooled for the install or update with this id.
    Spool(Box<Upload>, RequestId),
    /// Read and dropped until the deadline (the install was refused early; the stream
    /// stays in step).
    Discard(Instant),
}

/// Limits of one connection.
#[derive(Debug)]
pub(super) struct Limits {
    pub rate: Rate,
    pub max_install: u64,
    pub install_timeout: Duration,
    pub write_buffer: usize,
}

/// A connection.
#[derive(Debug)]
pub(super) struct Conn {
    pub stream: Transport,
    pub peer: String,
    pub decoder: Decoder<ClientMessage>,
    pub out: Vec<u8>,
    pub permissions: Permissions,
    /// The session's protocol version (the client's, from its `hello`).
    pub version: ProtocolVersion,
    pub limits: Limits,
    pub phase: Phase,
    pub subscribed: bool,
    /// Notifications dropped since the last one sent.
    pub lagged: u64,
    /// Requests sent to the runtime and not answered yet.
    pub in_flight: u32,
    /// Followed logs.
    pub follows: Vec<super::dispatch::Follow>,
    /// The peer closed its sending side.
    pub eof: bool,
    pub raw: Raw,
    /// Last byte read.
    pub last_read: Instant,
    /// Last byte written, or when the queue became non-empty.
    pub last_write: Instant,
    /// A container's console: it lives as long as the container, whether it speaks or
    /// not (no handshake or idle time limit).
    pub console: bool,
}

/// Why a connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Close {
    Gone,
    Handshake,
    Idle,
    Write,
    Install,
    Queue,
    Done,
}

impl std::fmt::Display for Close {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Close::Gone => "closed by the peer",
            Close::Handshake => "no hello in time",
            Close::Idle => "idle",
            Close::Write => "does not read its answers",
            Close::Install => "install bytes did not arrive in time",
            Close::Queue => "answers queued beyond the limit",
            Close::Done => "session ended",
        })
    }
}

/// Requests in flight per connection before it is no longer read.
pub(super) const MAX_IN_FLIGHT: u32 = 32;

impl Conn {
    pub(super) fn new(
        stream: Transport,
        peer: String,
        permissions: Permissions,
        max_frame: usize,
        limits: Limits,
        handshake: Option<Duration>,
    ) -> Conn {
        let now = Instant::now();
        let console = handshake.is_none();
        // A console's "deadline" is never looked at.
        let handshake = handshake.unwrap_or_default();
        Conn {
            stream,
            peer,
            decoder: Decoder::new(max_frame),
            out: Vec::new(),
            permissions,
            version: PROTOCOL_VERSION,
            limits,
            phase: Phase::Handshake(after(now, handshake)),
            subscribed: false,
            lagged: 0,
            in_flight: 0,
            follows: Vec::new(),
            eof: false,
            raw: Raw::None,
            last_read: now,
            last_write: now,
            console,
        }
    }

    fn encode(message: &ServerMessage, out: &mut Vec<u8>) -> bool {
        match Encoder::new(MAX_SERVER_FRAME).encode(message, out) {
            Ok(()) => true,
            Err(e) => {
                log::error!("api: cannot encode an answer: {e}");
                false
            }
        }
    }

    /// Queue an answer. Answers are never refused: the connection is not read while its
    /// queue is over `write_buffer` or it has [`MAX_IN_FLIGHT`] requests in flight, which
    /// bounds them; the loop closes a connection whose queue still grows past
    /// [`Conn::hard_limit`]. `false` when nothing could be encoded.
    pub(super) fn answer(&mut self, message: &ServerMessage) -> bool {
        if self.out.is_empty() {
            self.last_write = Instant::now();
        }
        // What the session's version has instead of what was added after it.
        let older = message.for_version(self.version);
        let message = older.as_ref().unwrap_or(message);
        if !Self::encode(message, &mut self.out) {
            let fallback = ServerMessage::error(
                message_id(message),
                northstar_api::ApiError::Internal {
                    message: "the answer is too large".into(),
                },
            );
            return Self::encode(&fallback, &mut self.out);
        }
        true
    }

    /// Queue a final error and close once it is written.
    pub(super) fn fail(&mut self, id: Option<RequestId>, error: northstar_api::ApiError) {
        let _ = self.answer(&ServerMessage::error(id, error));
        self.phase = Phase::Closing;
        self.raw = Raw::None;
    }

    /// Queue a notification, or count it as lagged when the queue is full.
    pub(super) fn notify(&mut self, notification: &Notification) {
        if notification.since() > self.version {
            // Added after the session's version: not for it.
            return;
        }
        let mut frame = Vec::new();
        if self.lagged > 0 {
            let lagged = ServerMessage::Notification {
                notification: Notification::Lagged {
                    missed: self.lagged,
                },
            };
            Self::encode(&lagged, &mut frame);
        }
        let message = ServerMessage::Notification {
            notification: notification.clone(),
        };
        if !Self::encode(&message, &mut frame) {
            return;
        }
        if self.out.len().saturating_add(frame.len()) > self.limits.write_buffer {
            self.lagged = self.lagged.saturating_add(1);
            return;
        }
        if self.out.is_empty() {
            self.last_write = Instant::now();
        }
        self.lagged = 0;
        self.out.extend_from_slice(&frame);
    }

    /// Write what the socket takes. `Err` when the peer is gone.
    pub(super) fn flush(&mut self) -> Result<(), Close> {
        self.stream.flush().map_err(|_| Close::Gone)?;
        while !self.out.is_empty() {
            match self.stream.send(&self.out) {
                Ok(0) => return Err(Close::Gone),
                Ok(n) => {
                    self.out.drain(..n);
                    self.last_write = Instant::now();
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => return Err(Close::Gone),
            }
        }
        if self.out.capacity() > 64 * 1024 && self.out.len() < 16 * 1024 {
            self.out.shrink_to(16 * 1024);
        }
        if self.out.is_empty()
            && !self.stream.wants_write()
            && (self.phase == Phase::Closing || self.done())
        {
            return Err(Close::Done);
        }
        Ok(())
    }

    /// The peer stopped sending and everything it asked is answered.
    fn done(&self) -> bool {
        self.eof && self.in_flight == 0
    }

    /// The most bytes queued before the connection is closed: the queue's limit, the
    /// answers in flight (small but for `inspect` and `logs`) and one frame.
    pub(super) fn hard_limit(&self) -> usize {
        self.limits
            .write_buffer
            .saturating_mul(2)
            .saturating_add(MAX_SERVER_FRAME + 1)
    }

    /// Whether to read from the socket now.
    pub(super) fn wants_read(&self) -> bool {
        self.phase != Phase::Closing
            && !self.eof
            && self.out.len() <= self.limits.write_buffer
            && self.in_flight < MAX_IN_FLIGHT
    }

    /// The first deadline that passed at `now`, if any.
    pub(super) fn expired(&self, now: Instant, idle: Duration, write: Duration) -> Option<Close> {
        if let Phase::Handshake(deadline) = self.phase {
            if deadline <= now && !self.console {
                return Some(Close::Handshake);
            }
        }
        if !self.out.is_empty() && after(self.last_write, write) <= now {
            return Some(Close::Write);
        }
        if self.raw_deadline().is_some_and(|d| d <= now) {
            return Some(Close::Install);
        }
        if self.idle() && after(self.last_read, idle) <= now {
            return Some(Close::Idle);
        }
        None
    }

    /// When the raw bytes of an install must have arrived.
    fn raw_deadline(&self) -> Option<Instant> {
        match &self.raw {
            Raw::None => None,
            Raw::Spool(upload, _) => Some(upload.deadline),
            Raw::Discard(deadline) => Some(*deadline),
        }
    }

    /// Raw bytes to drop, which must arrive within the install time limit.
    pub(super) fn discard(&self) -> Raw {
        Raw::Discard(after(Instant::now(), self.limits.install_timeout))
    }

    /// Nothing in flight, queued, subscribed or followed.
    fn idle(&self) -> bool {
        !self.console
            && self.phase == Phase::Ready
            && self.in_flight == 0
            && self.out.is_empty()
            && !self.subscribed
            && self.follows.is_empty()
            && matches!(self.raw, Raw::None)
    }

    /// The next deadline.
    pub(super) fn deadline(&self, idle: Duration, write: Duration) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut at = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        if let Phase::Handshake(deadline) = self.phase {
            if !self.console {
                at(deadline);
            }
        }
        if !self.out.is_empty() {
            at(after(self.last_write, write));
        }
        if let Some(deadline) = self.raw_deadline() {
            at(deadline);
        }
        if self.idle() {
            at(after(self.last_read, idle));
        }
        next
    }
}

fn message_id(message: &ServerMessage) -> Option<RequestId> {
    match message {
        ServerMessage::Response { id, .. }
        | ServerMessage::Log { id, .. }
        | ServerMessage::LogEnd { id } => Some(*id),
        ServerMessage::Error { id, .. } => *id,
        ServerMessage::Welcome(_) | ServerMessage::Notification { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use northstar_api::{codec::Frame, Permission};
    use std::os::unix::net::UnixStream;

    fn conn(write_buffer: usize) -> (Conn, UnixStream) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let limits = Limits {
            rate: Rate::new(10),
            max_install: 1 << 20,
            install_timeout: Duration::from_secs(1),
            write_buffer,
        };
        let permissions = [Permission::List].into_iter().collect();
        let conn = Conn::new(
            Transport::Unix(ours),
            "test".into(),
            permissions,
            1024,
            limits,
            Some(Duration::from_secs(1)),
        );
        (conn, theirs)
    }

    fn frames(bytes: &[u8]) -> Vec<ServerMessage> {
        let mut decoder = Decoder::<ServerMessage>::new(MAX_SERVER_FRAME);
        assert_eq!(decoder.push(bytes), bytes.len());
        let mut out = Vec::new();
        while let Some(Frame::Message(m)) = decoder.next_frame().unwrap() {
            out.push(m);
        }
        out
    }

    #[test]
    fn notifications_beyond_the_queue_are_counted_then_reported() {
        let (mut c, _peer) = conn(4096);
        let n = Notification::Shutdown {};
        for _ in 0..1000 {
            c.notify(&n);
        }
        assert!(c.out.len() <= 4096);
        let queued = frames(&c.out).len() as u64;
        assert_eq!(c.lagged, 1000 - queued);
        let missed = c.lagged;
        c.out.clear();
        c.notify(&n);
        let sent = frames(&c.out);
        assert_eq!(
            sent[0],
            ServerMessage::Notification {
                notification: Notification::Lagged { missed }
            }
        );
        assert_eq!(sent.len(), 2);
        assert_eq!(c.lagged, 0);
    }

    #[test]
    fn a_full_queue_stops_reading_and_deadlines_apply() {
        let (mut c, _peer) = conn(4096);
        let now = Instant::now();
        assert!(c.wants_read());
        assert_eq!(
            c.expired(now, Duration::from_secs(60), Duration::from_secs(60)),
            None
        );
        assert_eq!(
            c.expired(
                now + Duration::from_secs(2),
                Duration::from_secs(60),
                Duration::from_secs(60)
            ),
            Some(Close::Handshake)
        );
        c.phase = Phase::Ready;
        c.out = vec![b'x'; 5000];
        assert!(!c.wants_read());
        assert_eq!(
            c.expired(
                c.last_write + Duration::from_secs(3),
                Duration::from_secs(60),
                Duration::from_secs(2)
            ),
            Some(Close::Write)
        );
        c.out.clear();
        assert_eq!(
            c.expired(
                c.last_read + Duration::from_secs(3),
                Duration::from_secs(2),
                Duration::from_secs(60)
            ),
            Some(Close::Idle)
        );
        c.subscribed = true;
        assert_eq!(
            c.expired(
                c.last_read + Duration::from_secs(3),
                Duration::from_secs(2),
                Duration::from_secs(60)
            ),
            None
        );
    }
}
