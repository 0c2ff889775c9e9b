//! The I/O around a [`Link`]: the byte stream to the peer on one side, a unix socket per
//! session on the other; one thread, one epoll set, edge-triggered.
//!
//! Edge-triggered because a virtio port whose host side is not connected reads as closed
//! (`read` gives 0, `poll` says `POLLHUP`) for as long as nobody connects: a
//! level-triggered loop would spin on it. After each wake-up the pump reads and writes
//! until every descriptor would block or has no room, then waits again; its only timer
//! is the host's `Hello` retry while the handshake is not answered.
//!
//! Memory is bounded: the link's output ([`crate::link::OUTPUT`]), each session's window
//! ([`crate::link::WINDOW`]), one read buffer, and the sessions and waiting clients
//! ([`Pump::new`]'s limits).

use crate::link::{Link, Role, State};
use nix::sys::{
    epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout},
    socket::{recv, MsgFlags},
};
use std::{
    collections::{BTreeMap, VecDeque},
    io::{self, ErrorKind, Read, Write},
    net::Shutdown,
    os::{
        fd::{AsFd, AsRawFd},
        unix::net::{UnixListener, UnixStream},
    },
    path::PathBuf,
    time::{Duration, Instant},
};

/// How often the host sends its `Hello` until the guest answers.
pub const HELLO_INTERVAL: Duration = Duration::from_secs(1);
/// Most clients of the proxy waiting for the handshake.
const WAITING: usize = 64;
/// The read buffer.
const BUFFER: usize = 64 * 1024;
const LINK: u64 = 0;
const LISTENER: u64 = 1;
/// Session `id`'s socket has the token `id + SESSION`.
const SESSION: u64 = 2;

/// Why the pump stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("epoll")]
    Epoll(#[source] nix::errno::Errno),
    #[error("cannot {what} the link")]
    Link {
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

/// Why [`Pump::run`] returned.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The link's stream ended (its peer closed the socket, or the device went away).
    Link,
    /// [`Sessions::One`]: its session is over, or its client left before it began.
    Session,
}

/// What one round of I/O on the link did.
enum Io {
    Progress(bool),
    Ended(Ended),
}

/// What a `read` of 0 bytes (or `EIO`) on the link means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnEof {
    /// Nobody is connected right now (a virtio port, a serial line): wait for more.
    Wait,
    /// The stream is over: [`Pump::run`] returns [`Ended::Link`].
    End,
}

/// What a guest's session that cannot reach its socket sends to its client.
pub type Refusal = Box<dyn Fn(&io::Error) -> Vec<u8> + Send>;

/// Where the sessions' other ends are.
pub enum Sessions {
    /// The guest: each session the host opens is a new connection to `socket`. When that
    /// fails, the session's client gets the bytes `refusal` makes of the error (e.g. an
    /// error frame of the protocol it speaks), then the session closes.
    Connect { socket: PathBuf, refusal: Refusal },
    /// The proxy: each client of the listener gets a session, in the order they came.
    Accept(UnixListener),
    /// One client: its stream is the only session, and the pump ends with it.
    One(Option<UnixStream>),
}

/// Whether a descriptor may have something to read or room to write (edge-triggered: set
/// on each event, cleared when an operation would block).
#[derive(Clone, Copy, Debug)]
struct Ready {
    read: bool,
    write: bool,
}

const READY: Ready = Ready {
    read: true,
    write: true,
};

/// The local end of a session.
struct Local {
    /// `None`: the guest could not connect it; only the refusal goes to the host.
    stream: Option<UnixStream>,
    ready: Ready,
    /// The local side read as closed (and the link was told).
    eof: bool,
    /// The write side was shut down after the peer closed.
    shut: bool,
}

/// The pump: sessions and their sockets; the link is given to each [`Pump::run`].
pub struct Pump {
    role: Role,
    sessions: Sessions,
    max_sessions: usize,
    epoll: Epoll,
    locals: BTreeMap<u32, Local>,
    /// Clients accepted and not given a session yet.
    waiting: VecDeque<UnixStream>,
    buf: Vec<u8>,
    /// The link of the last run (its counters stay readable).
    link: Option<Link>,
}

impl Pump {
    /// A pump for `role` with at most `max_sessions` sessions at once.
    pub fn new(role: Role, sessions: Sessions, max_sessions: usize) -> Result<Pump, Error> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(Error::Epoll)?;
        let mut waiting = VecDeque::new();
        let sessions = match sessions {
            Sessions::Accept(listener) => {
                listener
                    .set_nonblocking(true)
                    .map_err(|source| Error::Link {
                        what: "configure the listener of",
                        source,
                    })?;
                epoll
                    .add(&listener, EpollEvent::new(interest(), LISTENER))
                    .map_err(Error::Epoll)?;
                Sessions::Accept(listener)
            }
            Sessions::One(Some(stream)) => {
                waiting.push_back(stream);
                Sessions::One(None)
            }
            other => other,
        };
        Ok(Pump {
            role,
            sessions,
            max_sessions,
            epoll,
            locals: BTreeMap::new(),
            waiting,
            buf: vec![0; BUFFER],
            link: None,
        })
    }

    /// The state machine of the last run, if any.
    pub fn link(&self) -> Option<&Link> {
        self.link.as_ref()
    }

    /// Relay over `stream` (non-blocking) until it ends ([`OnEof::End`]) or, with
    /// [`Sessions::One`], until the session is over. A new handshake begins each run;
    /// the sessions of an earlier run are gone.
    pub fn run<S: Read + Write + AsFd>(
        &mut self,
        stream: &mut S,
        eof: OnEof,
    ) -> Result<Ended, Error> {
        self.locals.clear();
        self.link = Some(Link::new(self.role, nonce(), self.max_sessions));
        self.epoll
            .add(stream.as_fd(), EpollEvent::new(interest(), LINK))
            .map_err(Error::Epoll)?;
        let result = self.relay(stream, eof);
        let _ = self.epoll.delete(stream.as_fd());
        self.locals.clear();
        result
    }

    fn relay<S: Read + Write + AsFd>(
        &mut self,
        stream: &mut S,
        eof: OnEof,
    ) -> Result<Ended, Error> {
        let mut ready = READY;
        let mut listener_ready = true;
        let mut hello = Instant::now();
        let mut events = [EpollEvent::empty(); 16];
        let mut was_up = false;
        loop {
            loop {
                let mut progress = match self.read_link(stream, &mut ready, eof)? {
                    Io::Ended(ended) => return Ok(ended),
                    Io::Progress(p) => p,
                };
                progress |= self.accept(&mut listener_ready);
                progress |= self.reconcile();
                for id in self.link().map(Link::sessions).unwrap_or_default() {
                    progress |= self.session(id);
                }
                match self.write_link(stream, &mut ready, eof)? {
                    Io::Ended(ended) => return Ok(ended),
                    Io::Progress(p) => progress |= p,
                }
                // One client: done once its session is over and the last frames went out.
                if matches!(self.sessions, Sessions::One(_))
                    && self.locals.is_empty()
                    && self.waiting.is_empty()
                    && self.link().is_none_or(|l| l.output().is_empty())
                {
                    return Ok(Ended::Session);
                }
                if !progress {
                    break;
                }
            }
            let up = self.link().is_some_and(Link::is_up);
            if self.role == Role::Host && up != was_up {
                let held = self.link().map_or(0, |l| l.sessions().len());
                if up {
                    log::info!("management channel: link up ({held} sessions carried over)");
                } else {
                    log::info!("management channel: the device's end restarted; a new handshake");
                }
                was_up = up;
            }
            let timeout = if up {
                EpollTimeout::NONE
            } else {
                let left = HELLO_INTERVAL.saturating_sub(hello.elapsed());
                EpollTimeout::try_from(left).unwrap_or(EpollTimeout::NONE)
            };
            let n = match self.epoll.wait(&mut events, timeout) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => 0,
                Err(e) => return Err(Error::Epoll(e)),
            };
            for event in events.iter().take(n) {
                match event.data() {
                    LINK => ready = READY,
                    LISTENER => listener_ready = true,
                    token => {
                        let id = token
                            .checked_sub(SESSION)
                            .and_then(|id| u32::try_from(id).ok())
                            .unwrap_or(0);
                        if let Some(local) = self.locals.get_mut(&id) {
                            local.ready = READY;
                        }
                    }
                }
            }
            if !up && hello.elapsed() >= HELLO_INTERVAL {
                hello = Instant::now();
                self.drop_departed();
                if let Some(link) = self.link.as_mut() {
                    // One hello at a time: a peer that reads nothing gets no pile of them.
                    if self.role == Role::Host && link.output().is_empty() {
                        link.hello();
                    }
                }
            }
        }
    }

    fn link_mut(&mut self) -> &mut Link {
        self.link
            .get_or_insert_with(|| Link::new(self.role, nonce(), self.max_sessions))
    }

    /// Read what the peer sent.
    fn read_link<S: Read>(
        &mut self,
        stream: &mut S,
        ready: &mut Ready,
        eof: OnEof,
    ) -> Result<Io, Error> {
        let mut progress = false;
        while ready.read {
            let read = stream.read(&mut self.buf);
            if matches!(&read, Ok(0)) || matches!(&read, Err(e) if gone(e)) {
                ready.read = false;
                if eof == OnEof::End {
                    return Ok(Io::Ended(Ended::Link));
                }
                continue;
            }
            match read {
                Ok(n) => {
                    let (role, max) = (self.role, self.max_sessions);
                    self.link
                        .get_or_insert_with(|| Link::new(role, nonce(), max))
                        .receive(self.buf.get(..n).unwrap_or_default());
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => ready.read = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(Error::Link {
                        what: "read",
                        source,
                    })
                }
            }
        }
        Ok(Io::Progress(progress))
    }

    /// Write what is queued for the peer.
    fn write_link<S: Write>(
        &mut self,
        stream: &mut S,
        ready: &mut Ready,
        eof: OnEof,
    ) -> Result<Io, Error> {
        let mut progress = false;
        let link = self.link_mut();
        while ready.write && !link.output().is_empty() {
            match stream.write(link.output()) {
                Ok(n) => {
                    link.consume_output(n);
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => ready.write = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if gone(&e) && eof == OnEof::End => return Ok(Io::Ended(Ended::Link)),
                // Nobody there now: the next wake-up tells when there is.
                Err(e) if gone(&e) => ready.write = false,
                Err(source) => {
                    return Err(Error::Link {
                        what: "write",
                        source,
                    })
                }
            }
        }
        Ok(Io::Progress(progress))
    }

    /// Take the proxy's new clients.
    fn accept(&mut self, ready: &mut bool) -> bool {
        let Sessions::Accept(listener) = &self.sessions else {
            return false;
        };
        let mut progress = false;
        while *ready {
            match listener.accept() {
                Ok((client, _)) => {
                    progress = true;
                    if self.waiting.len() >= WAITING {
                        log::warn!(
                            "management channel: {WAITING} clients wait already; one is turned away"
                        );
                        continue;
                    }
                    self.waiting.push_back(client);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => *ready = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of descriptors or memory: try again at the next event.
                    log::warn!("management channel: cannot accept a client: {e}");
                    *ready = false;
                }
            }
        }
        progress
    }

    /// Give waiting clients their sessions, connect the guest's new sessions, and drop
    /// the sockets of sessions the link no longer has.
    fn reconcile(&mut self) -> bool {
        let mut progress = false;
        let sessions = self.link().map(Link::sessions).unwrap_or_default();
        let before = self.locals.len();
        self.locals
            .retain(|id, _| sessions.binary_search(id).is_ok());
        progress |= self.locals.len() != before;
        match self.role {
            Role::Host => {
                while !self.waiting.is_empty() {
                    let Some(id) = self.link_mut().open() else {
                        break;
                    };
                    if let Some(stream) = self.waiting.pop_front() {
                        self.add(id, Some(stream));
                        progress = true;
                    }
                }
            }
            Role::Guest => {
                for id in sessions {
                    if self.locals.contains_key(&id) {
                        continue;
                    }
                    progress = true;
                    let Sessions::Connect { socket, refusal } = &self.sessions else {
                        continue;
                    };
                    match UnixStream::connect(socket) {
                        Ok(stream) => self.add(id, Some(stream)),
                        Err(e) => {
                            log::warn!(
                                "management channel: cannot reach the API socket {}: {e}",
                                socket.display()
                            );
                            let bytes = refusal(&e);
                            let link = self.link_mut();
                            link.send(id, &bytes);
                            link.close(id);
                            self.add(id, None);
                        }
                    }
                }
            }
        }
        progress
    }

    /// Register the local end of session `id`.
    fn add(&mut self, id: u32, stream: Option<UnixStream>) {
        let stream = stream.and_then(|s| {
            let token = u64::from(id) + SESSION;
            let watched = s
                .set_nonblocking(true)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    self.epoll
                        .add(&s, EpollEvent::new(interest(), token))
                        .map_err(|e| e.to_string())
                });
            match watched {
                Ok(()) => Some(s),
                Err(e) => {
                    log::warn!("management channel: cannot watch session {id}'s socket: {e}");
                    None
                }
            }
        });
        if stream.is_none() {
            if let Some(link) = self.link.as_mut() {
                link.close(id);
            }
        }
        self.locals.insert(
            id,
            Local {
                stream,
                ready: READY,
                eof: false,
                shut: false,
            },
        );
    }

    /// Move session `id`'s bytes both ways; whether anything changed.
    fn session(&mut self, id: u32) -> bool {
        let Some(link) = self.link.as_mut() else {
            return false;
        };
        let Some(local) = self.locals.get_mut(&id) else {
            return false;
        };
        let mut progress = false;
        // From the peer to the socket.
        loop {
            let (a, _) = link.inbound(id);
            if a.is_empty() {
                break;
            }
            let Some(stream) = local.stream.as_mut() else {
                let n = a.len();
                link.take(id, n);
                progress = true;
                continue;
            };
            if !local.ready.write {
                break;
            }
            match stream.write(a) {
                Ok(n) => {
                    link.take(id, n);
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => local.ready.write = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    link.abort(id, &format!("the socket failed: {e}"));
                    progress = true;
                    break;
                }
            }
        }
        let state = link.state(id);
        let drained = link.inbound(id).0.is_empty();
        // The peer sends nothing more: so does the socket's reader learn.
        if let (
            Some(
                State::Open {
                    peer_closed: true, ..
                }
                | State::Over(None),
            ),
            true,
            false,
        ) = (&state, drained, local.shut)
        {
            if let Some(stream) = &local.stream {
                let _ = stream.shutdown(Shutdown::Write);
            }
            local.shut = true;
            progress = true;
        }
        // From the socket to the peer.
        while !local.eof && local.ready.read {
            let room = link.can_send(id).min(self.buf.len());
            if room == 0 {
                break;
            }
            let (Some(stream), Some(buf)) = (local.stream.as_mut(), self.buf.get_mut(..room))
            else {
                break;
            };
            match stream.read(buf) {
                Ok(0) => {
                    local.eof = true;
                    link.close(id);
                    progress = true;
                }
                Ok(n) => {
                    link.send(id, self.buf.get(..n).unwrap_or_default());
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => local.ready.read = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    local.eof = true;
                    link.abort(id, &format!("the socket failed: {e}"));
                    progress = true;
                }
            }
        }
        // Over: forget it once its last bytes went to the socket.
        match link.state(id) {
            Some(State::Over(reason)) if drained || reason.is_some() => {
                if let Some(reason) = reason {
                    log::info!("management channel: session {id} ended: {reason}");
                }
                link.release(id);
                self.locals.remove(&id);
                true
            }
            _ => progress,
        }
    }

    /// Forget waiting clients that left.
    fn drop_departed(&mut self) {
        self.waiting.retain(|client| {
            let mut byte = [0u8; 1];
            let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
            !matches!(recv(client.as_raw_fd(), &mut byte, flags), Ok(0))
        });
    }
}

/// Whether an error of the link's stream means its other end went away: a serial line
/// that hung up (`EIO`), a socket whose peer closed.
fn gone(e: &io::Error) -> bool {
    e.raw_os_error() == Some(nix::libc::EIO)
        || matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset)
}

/// What the pump waits for on each descriptor: edge-triggered reads, writes and hang-ups.
fn interest() -> EpollFlags {
    EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT | EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLET
}

/// A nonce no earlier run of this end is likely to have used.
fn nonce() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::getrandom(&mut bytes).is_ok() {
        return u64::from_be_bytes(bytes);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_nanos() as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

#[cfg(test)]
mod tests;
