//! The link's state machine, without I/O: bytes from the peer go in ([`Link::receive`]),
//! bytes for the peer come out ([`Link::output`]), and the sessions' data is read and
//! written through it.
//!
//! Two ends: the **host** (the proxy, or a client speaking to the device directly) opens
//! sessions; the **guest** (the device's init) accepts them and relays each to the
//! management API's socket.
//!
//! The link's state is made unambiguous by the host's handshake. The host sends `Hello`
//! with a fresh nonce behind a run of zeros as long as the largest frame (the preamble:
//! a frame the peer's decoder holds half of, from before a restart, is completed by it
//! and fails its checksum), again every second until the guest answers `Ack` with that
//! nonce. Only then does it open sessions. The guest, at every `Hello`, drops every
//! session it has (they belong to a host end that is gone) and answers. A guest that
//! (re)starts sends its own `Hello` behind a preamble: the host then drops its sessions
//! (their clients see their connections end) and does its handshake again. Nothing else
//! changes the link's state: a virtio port's connect and disconnect events, which the
//! kernel may report late, play no part.
//!
//! Each session has flow control: a side sends at most [`WINDOW`] bytes the other has not
//! granted back with `Credit` frames; more is a violation that aborts that session only.
//! Garbage between frames is skipped, frames with a bad checksum or length are dropped,
//! and frames for sessions that do not exist are answered with `Abort`: no byte from
//! the peer can harm another session.

use crate::frame::{self, Decoder, Frame, Kind, MAX_FRAME, MAX_PAYLOAD};
use std::collections::{BTreeMap, VecDeque};

/// The protocol's version, in `Hello` and `Ack`.
pub const VERSION: u8 = 1;
/// Bytes each side of a session may send ahead of the other's credit.
pub const WINDOW: usize = 64 * 1024;
/// Credit is granted back once this many bytes were taken.
const GRANT: usize = WINDOW / 4;
/// Most bytes queued for the peer by [`Link::send`] (control frames come on top).
pub const OUTPUT: usize = 256 * 1024;
/// Longest reason of an `Abort`.
const REASON: usize = 256;

/// Which end of the link this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Host,
    Guest,
}

/// One session.
#[derive(Debug)]
struct Session {
    /// Bytes we may still send.
    credit: usize,
    /// Bytes received and not taken yet.
    inbound: VecDeque<u8>,
    /// Bytes taken and not granted back yet.
    taken: usize,
    /// We sent `Close`.
    closed: bool,
    /// The peer sent `Close`.
    peer_closed: bool,
    /// The session was aborted (by us or the peer), with the reason.
    aborted: Option<String>,
    /// The host's session of which nothing came back yet: the bytes it sent (at most a
    /// window, as no credit came back either). A guest that restarts before it answered
    /// gets the session again, opened anew with these bytes.
    unanswered: Option<Vec<u8>>,
    /// The guest restarted: the session waits for the new handshake to be opened again.
    held: bool,
}

impl Session {
    /// A new session; `keep` keeps what it sends until something comes back (the host's).
    fn new(keep: bool) -> Session {
        Session {
            credit: WINDOW,
            inbound: VecDeque::new(),
            taken: 0,
            closed: false,
            peer_closed: false,
            aborted: None,
            unanswered: keep.then(Vec::new),
            held: false,
        }
    }
}

/// What a session is doing, for the I/O around the link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Open (each side may have closed its direction; see the flags).
    Open { closed: bool, peer_closed: bool },
    /// Over both ways: both closed, or aborted with a reason.
    Over(Option<String>),
}

/// Counters of what went wrong on the link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Bytes that were not part of a valid frame.
    pub skipped: u64,
    /// Frames that broke the protocol (unknown session, flow control, a guest's `Open`).
    pub violations: u64,
    /// Handshakes done (host) or answered (guest).
    pub handshakes: u64,
}

/// One end of the link.
#[derive(Debug)]
pub struct Link {
    role: Role,
    nonce: u64,
    up: bool,
    decoder: Decoder,
    /// Encoded frames for the peer, the first one possibly written in part.
    output: VecDeque<Vec<u8>>,
    written: usize,
    queued: usize,
    sessions: BTreeMap<u32, Session>,
    next_id: u32,
    max_sessions: usize,
    violations: u64,
    handshakes: u64,
}

impl Link {
    /// A new end of the link with room for `max_sessions` sessions; `nonce` begins the
    /// host's handshake nonces (each handshake takes the next one) or is the guest's.
    /// Its first output is its `Hello`.
    pub fn new(role: Role, nonce: u64, max_sessions: usize) -> Link {
        let mut link = Link {
            role,
            nonce,
            up: role == Role::Guest,
            decoder: Decoder::new(),
            output: VecDeque::new(),
            written: 0,
            queued: 0,
            sessions: BTreeMap::new(),
            next_id: 1,
            max_sessions,
            violations: 0,
            handshakes: 0,
        };
        link.hello();
        link
    }

    /// The host's handshake is done (always true on the guest).
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// What went wrong so far.
    pub fn counters(&self) -> Counters {
        Counters {
            skipped: self.decoder.skipped(),
            violations: self.violations,
            handshakes: self.handshakes,
        }
    }

    /// Send the `Hello` again (the host does this every second until it is answered).
    pub fn hello(&mut self) {
        self.push_raw(vec![0; MAX_FRAME]);
        self.push(Kind::Hello, 0, &self.hello_payload(self.nonce));
    }

    fn hello_payload(&self, nonce: u64) -> Vec<u8> {
        let mut payload = vec![VERSION];
        payload.extend_from_slice(&nonce.to_be_bytes());
        payload
    }

    /// The bytes to write to the peer next (empty: nothing to write).
    pub fn output(&self) -> &[u8] {
        self.output.front().map_or(&[][..], |frame| {
            frame.get(self.written..).unwrap_or_default()
        })
    }

    /// `n` bytes of [`Link::output`] were written.
    pub fn consume_output(&mut self, n: usize) {
        // `n` is at most what `output` gave: `written` stays within the front frame.
        self.written = self.written.saturating_add(n);
        while let Some(front) = self.output.front() {
            if self.written < front.len() {
                break;
            }
            self.written = self.written.saturating_sub(front.len());
            self.queued = self.queued.saturating_sub(front.len());
            self.output.pop_front();
        }
    }

    /// Bytes from the peer.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.decoder.push(bytes);
        while let Some(frame) = self.decoder.next_frame() {
            self.frame(frame);
        }
    }

    /// Open a session (host only, once up, while there is room); its id.
    pub fn open(&mut self) -> Option<u32> {
        if self.role != Role::Host || !self.up || self.sessions.len() >= self.max_sessions {
            return None;
        }
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        self.sessions
            .insert(id, Session::new(self.role == Role::Host));
        self.push(Kind::Open, id, &[]);
        Some(id)
    }

    /// The sessions, in id order.
    pub fn sessions(&self) -> Vec<u32> {
        self.sessions.keys().copied().collect()
    }

    /// What session `id` is doing (`None`: there is no such session).
    pub fn state(&self, id: u32) -> Option<State> {
        let s = self.sessions.get(&id)?;
        Some(match (&s.aborted, s.closed && s.peer_closed) {
            (Some(reason), _) => State::Over(Some(reason.clone())),
            (None, true) => State::Over(None),
            (None, false) => State::Open {
                closed: s.closed,
                peer_closed: s.peer_closed,
            },
        })
    }

    /// How many bytes [`Link::send`] takes for session `id` now.
    pub fn can_send(&self, id: u32) -> usize {
        match self.sessions.get(&id) {
            Some(s) if !s.closed && !s.held && s.aborted.is_none() => {
                s.credit.min(OUTPUT.saturating_sub(self.queued))
            }
            _ => 0,
        }
    }

    /// Queue bytes of session `id` for the peer; how many were taken (see
    /// [`Link::can_send`]).
    pub fn send(&mut self, id: u32, data: &[u8]) -> usize {
        let data = data.get(..self.can_send(id)).unwrap_or(data);
        let n = data.len();
        for chunk in data.chunks(MAX_PAYLOAD) {
            self.push(Kind::Data, id, chunk);
        }
        if let Some(s) = self.sessions.get_mut(&id) {
            // `n` is at most the credit (`can_send`).
            s.credit = s.credit.saturating_sub(n);
            if let Some(sent) = s.unanswered.as_mut() {
                sent.extend_from_slice(data);
            }
        }
        n
    }

    /// The bytes of session `id` received and not taken yet (in up to two pieces).
    pub fn inbound(&self, id: u32) -> (&[u8], &[u8]) {
        self.sessions
            .get(&id)
            .map_or((&[][..], &[][..]), |s| s.inbound.as_slices())
    }

    /// `n` bytes of [`Link::inbound`] were taken: drop them and grant credit.
    pub fn take(&mut self, id: u32, n: usize) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let n = n.min(s.inbound.len());
        s.inbound.drain(..n);
        s.taken = s.taken.saturating_add(n);
        if s.taken >= GRANT && !s.peer_closed && s.aborted.is_none() {
            let grant = u32::try_from(s.taken).unwrap_or(u32::MAX);
            s.taken = 0;
            self.push(Kind::Credit, id, &grant.to_be_bytes());
        }
    }

    /// We send nothing more on session `id`.
    pub fn close(&mut self, id: u32) {
        if let Some(s) = self.sessions.get_mut(&id) {
            if !s.closed && s.aborted.is_none() {
                s.closed = true;
                // A held session's close goes out when it is opened again.
                if !s.held {
                    self.push(Kind::Close, id, &[]);
                }
            }
        }
    }

    /// End session `id` both ways, telling the peer why.
    pub fn abort(&mut self, id: u32, reason: &str) {
        if let Some(s) = self.sessions.get_mut(&id) {
            if s.aborted.is_none() {
                s.aborted = Some(reason.to_owned());
                s.inbound.clear();
                self.push(Kind::Abort, id, truncate(reason).as_bytes());
            }
        }
    }

    /// Forget session `id` (its state is [`State::Over`] and the I/O is done with it).
    pub fn release(&mut self, id: u32) {
        self.sessions.remove(&id);
    }

    /// Take one frame from the peer.
    fn frame(&mut self, frame: Frame) {
        let id = frame.session;
        // Until the guest answered the host's latest hello, what comes belongs to an
        // earlier link: the sessions are the new handshake's business.
        let session = !matches!(frame.kind, Kind::Hello | Kind::Ack);
        if session && self.role == Role::Host && !self.up {
            return;
        }
        match frame.kind {
            Kind::Hello => self.peer_hello(&frame.payload),
            Kind::Ack => {
                if self.role == Role::Host
                    && !self.up
                    && frame.payload == self.hello_payload(self.nonce)
                {
                    self.up = true;
                    self.handshakes = self.handshakes.saturating_add(1);
                    self.reopen();
                }
            }
            Kind::Open => {
                if self.role == Role::Host {
                    self.violation(id, "the guest opened a session");
                } else if self.sessions.contains_key(&id) {
                    self.violations = self.violations.saturating_add(1);
                    self.push(Kind::Abort, id, b"the session id is in use");
                } else if self.sessions.len() >= self.max_sessions {
                    let reason = format!("too many sessions (at most {})", self.max_sessions);
                    self.push(Kind::Abort, id, reason.as_bytes());
                } else {
                    self.sessions
                        .insert(id, Session::new(self.role == Role::Host));
                }
            }
            Kind::Data => self.data(id, frame.payload),
            Kind::Credit => {
                self.answered(id);
                let grant = <[u8; 4]>::try_from(frame.payload.as_slice())
                    .map(|b| u32::from_be_bytes(b) as usize);
                match (self.sessions.get_mut(&id), grant) {
                    (Some(s), Ok(grant)) => {
                        s.credit = s.credit.saturating_add(grant).min(WINDOW);
                    }
                    (Some(_), Err(_)) => self.violation(id, "a credit frame of the wrong size"),
                    // A late grant for a session that ended: nothing to do.
                    (None, _) => {}
                }
            }
            Kind::Close => match self.answered(id) {
                Some(s) => s.peer_closed = true,
                None => self.violation(id, "no such session"),
            },
            Kind::Abort => {
                if let Some(s) = self.sessions.get_mut(&id) {
                    if s.aborted.is_none() {
                        let reason = String::from_utf8_lossy(&frame.payload);
                        s.aborted = Some(format!("the peer ended the session: {reason}"));
                        s.inbound.clear();
                    }
                }
            }
        }
    }

    /// The peer (re)started its end.
    fn peer_hello(&mut self, payload: &[u8]) {
        if payload.len() != 9 || payload.first() != Some(&VERSION) {
            self.violations = self.violations.saturating_add(1);
            log::warn!(
                "management channel: a hello of another version ({:?}) ignored",
                payload.first()
            );
            return;
        }
        match self.role {
            Role::Guest => self.sessions.clear(),
            // Sessions the old guest answered are gone with it; those it never answered
            // are held for the new one.
            Role::Host => {
                self.sessions
                    .retain(|_, s| s.unanswered.is_some() && s.aborted.is_none());
                for s in self.sessions.values_mut() {
                    s.held = true;
                }
            }
        }
        self.drop_output();
        match self.role {
            // The host end is new: answer, with nothing of the old one left.
            // The host's decoder may hold the start of a frame cut off when an earlier
            // host end went away: the preamble completes it.
            Role::Guest => {
                self.handshakes = self.handshakes.saturating_add(1);
                self.push_raw(vec![0; MAX_FRAME]);
                self.push(Kind::Ack, 0, payload);
            }
            // The guest restarted: a new handshake, whose nonce no answer to an older
            // `Hello` carries.
            Role::Host => {
                self.up = false;
                self.nonce = self.nonce.wrapping_add(1);
                self.hello();
            }
        }
    }

    /// Something of session `id` came back from the peer: its bytes need not be kept.
    fn answered(&mut self, id: u32) -> Option<&mut Session> {
        let s = self.sessions.get_mut(&id)?;
        s.unanswered = None;
        Some(s)
    }

    /// After the handshake with a guest that restarted: open the held sessions again with
    /// what they had sent (the same ids: the new guest has no session).
    fn reopen(&mut self) {
        let held: Vec<u32> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.held)
            .map(|(id, _)| *id)
            .collect();
        for id in held {
            let Some(s) = self.sessions.get_mut(&id) else {
                continue;
            };
            s.held = false;
            let sent = s.unanswered.clone().unwrap_or_default();
            s.credit = WINDOW.saturating_sub(sent.len());
            let closed = s.closed;
            self.push(Kind::Open, id, &[]);
            for chunk in sent.chunks(MAX_PAYLOAD) {
                self.push(Kind::Data, id, chunk);
            }
            if closed {
                self.push(Kind::Close, id, &[]);
            }
        }
    }

    /// Bytes of session `id`.
    fn data(&mut self, id: u32, payload: Vec<u8>) {
        let Some(s) = self.answered(id) else {
            // Frames of a session the host opened before a guest restarted, or noise
            // that checked: the sender learns the session is gone.
            self.violation(id, "no such session");
            return;
        };
        if s.aborted.is_some() {
            return;
        }
        // Received, taken but not granted back, and the new bytes.
        let held = s.inbound.len().saturating_add(s.taken);
        if s.peer_closed {
            self.violation(id, "data after the sender closed the session");
        } else if held.saturating_add(payload.len()) > WINDOW {
            self.violation(id, "more data than the credit allowed");
        } else {
            s.inbound.extend(payload);
        }
    }

    /// The peer broke the protocol on session `id`: that session (if it exists) ends.
    fn violation(&mut self, id: u32, reason: &str) {
        self.violations = self.violations.saturating_add(1);
        if self.sessions.contains_key(&id) {
            self.abort(id, reason);
        } else if self.up {
            self.push(Kind::Abort, id, reason.as_bytes());
        }
    }

    /// Drop what is queued for the peer, except the rest of a frame written in part.
    fn drop_output(&mut self) {
        let keep = if self.written > 0 {
            self.output.pop_front()
        } else {
            None
        };
        self.output.clear();
        self.queued = 0;
        if let Some(front) = keep {
            self.queued = front.len();
            self.output.push_back(front);
        } else {
            self.written = 0;
        }
    }

    fn push(&mut self, kind: Kind, id: u32, payload: &[u8]) {
        self.push_raw(frame::frame(kind, id, payload));
    }

    fn push_raw(&mut self, bytes: Vec<u8>) {
        self.queued = self.queued.saturating_add(bytes.len());
        self.output.push_back(bytes);
    }
}

/// `reason` cut to [`REASON`] bytes at a character boundary.
fn truncate(reason: &str) -> &str {
    reason
        .get(..reason.floor_char_boundary(REASON))
        .unwrap_or(reason)
}

#[cfg(test)]
mod tests;
