//! The server's event loop: epoll over the listening socket, the inbox's eventfd and every
//! connection; deadlines of connections are its timeout. Level-triggered: a connection is
//! watched for input only while it may send (see [`Conn::wants_read`]) and for output
//! only while bytes are queued.

use super::{
    conn::{Close, Conn, Limits, Phase, Raw},
    dispatch,
    event::{Ctx, Event},
    rate::Rate,
    tls::TcpListening,
    transport::Transport,
    Host, Mailbox,
};
use crate::{
    config::ApiConfig,
    id::ContainerId,
    runtime::{Notification, Requester},
};
use nix::sys::{
    epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout},
    socket::{getsockopt, sockopt::PeerCredentials},
};
use northstar_api::{codec::Frame, ApiError, ServerMessage};
use std::{
    collections::BTreeMap,
    os::{fd::OwnedFd, unix::net::UnixListener},
    path::PathBuf,
    sync::Arc,
    time::Instant,
};

const LISTENER: u64 = 0;
const WAKE: u64 = 1;
const TCP_LISTENER: u64 = 2;
/// The first connection's token.
const FIRST: u64 = 3;
/// Connections accepted per wake-up (the others wait in the backlog).
const ACCEPT_BATCH: usize = 64;
/// Bytes read from one connection per wake-up.
const READ_CHUNK: usize = 64 * 1024;

/// What the server listens on.
pub(super) struct Listeners {
    pub unix: UnixListener,
    pub tcp: Option<TcpListening>,
}

pub(super) struct Server {
    ctx: Ctx,
    epoll: Epoll,
    listener: UnixListener,
    tcp: Option<TcpListening>,
    mailbox: Mailbox,
    conns: BTreeMap<u64, Conn>,
    /// Interest registered per connection.
    watched: BTreeMap<u64, EpollFlags>,
    next: u64,
    buf: Vec<u8>,
}

fn os(what: &'static str) -> impl FnOnce(nix::Error) -> super::Error {
    move |e| super::Error::Os {
        what,
        source: e.into(),
    }
}

impl Server {
    pub(super) fn new(
        api: ApiConfig,
        repositories: BTreeMap<String, PathBuf>,
        listeners: Listeners,
        requester: Requester,
        host: Arc<dyn Host>,
        inbox: super::Inbox,
        mailbox: Mailbox,
    ) -> Result<Server, super::Error> {
        let Listeners {
            unix: listener,
            tcp,
        } = listeners;
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(os("create epoll"))?;
        epoll
            .add(&listener, EpollEvent::new(EpollFlags::EPOLLIN, LISTENER))
            .map_err(os("watch the socket"))?;
        epoll
            .add(
                mailbox.events.fd(),
                EpollEvent::new(EpollFlags::EPOLLIN, WAKE),
            )
            .map_err(os("watch the eventfd"))?;
        if let Some(tcp) = &tcp {
            epoll
                .add(
                    tcp.listener(),
                    EpollEvent::new(EpollFlags::EPOLLIN, TCP_LISTENER),
                )
                .map_err(os("watch the tcp listener"))?;
        }
        Ok(Server {
            ctx: Ctx {
                api,
                repositories,
                requester,
                host,
                inbox,
                installing: None,
                system_busy: Default::default(),
                shutting_down: false,
            },
            epoll,
            listener,
            tcp,
            mailbox,
            conns: BTreeMap::new(),
            watched: BTreeMap::new(),
            next: FIRST,
            buf: vec![0; READ_CHUNK],
        })
    }

    /// Serve until [`Event::Stop`].
    pub(super) fn run(mut self) {
        log::info!("api: serving {}", self.ctx.api.socket.display());
        if let Some(tcp) = &self.tcp {
            if let Ok(address) = tcp.listener().local_addr() {
                log::info!("api: serving tcp {address} (TLS 1.3, client certificates)");
            }
        }
        let mut events = vec![EpollEvent::empty(); 256];
        loop {
            let timeout = self.timeout();
            let n = match self.epoll.wait(&mut events, timeout) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => 0,
                Err(e) => {
                    log::error!("api: epoll: {e}; the server stops");
                    break;
                }
            };
            for event in events.iter().take(n) {
                match event.data() {
                    LISTENER => self.accept(),
                    TCP_LISTENER => self.accept_tcp(),
                    WAKE => {
                        if !self.drain() {
                            self.stop();
                            return;
                        }
                    }
                    token => self.ready(token, event.events()),
                }
            }
            self.timers();
        }
        self.stop();
    }

    fn stop(&mut self) {
        for conn in self.conns.values_mut() {
            // Best effort: what is queued (the last notifications) goes if the peer reads.
            let _ = conn.flush();
        }
        for token in self.conns.keys().copied().collect::<Vec<_>>() {
            self.close(token, Close::Done);
        }
        super::listener::remove(&self.ctx.api.socket);
        log::info!("api: stopped");
    }

    fn timeout(&self) -> EpollTimeout {
        let (idle, write) = (self.ctx.api.idle_timeout, self.ctx.api.write_timeout);
        let next = self
            .conns
            .values()
            .filter_map(|c| c.deadline(idle, write))
            .min();
        match next {
            None => EpollTimeout::NONE,
            Some(at) => {
                let ms = at
                    .saturating_duration_since(Instant::now())
                    .as_millis()
                    .saturating_add(1);
                EpollTimeout::from(u16::try_from(ms).unwrap_or(u16::MAX))
            }
        }
    }

    fn timers(&mut self) {
        let now = Instant::now();
        let (idle, write) = (self.ctx.api.idle_timeout, self.ctx.api.write_timeout);
        let expired: Vec<(u64, Close)> = self
            .conns
            .iter()
            .filter_map(|(t, c)| c.expired(now, idle, write).map(|why| (*t, why)))
            .collect();
        for (token, why) in expired {
            self.close(token, why);
        }
    }

    fn accept(&mut self) {
        for _ in 0..ACCEPT_BATCH {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::warn!("api: accept: {e}");
                    return;
                }
            };
            let (uid, gid, pid) = match getsockopt(&stream, PeerCredentials) {
                Ok(c) => (c.uid(), c.gid(), c.pid()),
                Err(e) => {
                    log::warn!("api: peer credentials: {e}");
                    continue;
                }
            };
            let peer = format!("pid {pid} uid {uid}");
            let permissions = self.ctx.api.permissions(uid, gid);
            let max_frame = usize::try_from(self.ctx.api.max_frame).unwrap_or(usize::MAX);
            let limits = self.limits();
            let handshake = Some(self.ctx.api.handshake_timeout);
            self.admit(
                Transport::Unix(stream),
                peer,
                permissions,
                max_frame,
                limits,
                handshake,
            );
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            rate: Rate::new(self.ctx.api.max_requests_per_sec),
            max_install: self.ctx.api.max_install_size,
            install_timeout: self.ctx.api.install_timeout,
            write_buffer: self.write_buffer(),
        }
    }

    /// Accept TCP connections: each starts a TLS session and has no permissions until its
    /// client certificate is verified (see [`Server::read`]). Over a limit, a connection
    /// is closed at once, before any TLS.
    fn accept_tcp(&mut self) {
        for _ in 0..ACCEPT_BATCH {
            let Some(tcp) = &self.tcp else {
                return;
            };
            let (stream, address) = match tcp.listener().accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::warn!("api: tcp accept: {e}");
                    return;
                }
            };
            let ip = address.ip();
            let (total, same) = self
                .conns
                .values()
                .filter_map(|c| c.stream.address())
                .fold((0u32, 0u32), |(t, s), a| {
                    (t.saturating_add(1), s.saturating_add(u32::from(a == ip)))
                });
            if total >= tcp.config().max_connections {
                log::warn!("api: tcp {address}: refused, too many tcp connections");
                continue;
            }
            if same >= tcp.config().max_per_address {
                log::warn!("api: tcp {address}: refused, too many connections from {ip}");
                continue;
            }
            // Frames are small and answered: do not delay them.
            let _ = stream.set_nodelay(true);
            let session = match tcp.session(stream, ip) {
                Ok(session) => session,
                Err(e) => {
                    log::warn!("api: tcp {address}: tls: {e}");
                    continue;
                }
            };
            let transport = Transport::Tls(Box::new(session));
            let max_frame = usize::try_from(self.ctx.api.max_frame).unwrap_or(usize::MAX);
            let limits = self.limits();
            let handshake = Some(self.ctx.api.handshake_timeout);
            let none = northstar_api::Permissions::NONE;
            self.admit(
                transport,
                format!("tcp {address}"),
                none,
                max_frame,
                limits,
                handshake,
            );
        }
    }

    fn write_buffer(&self) -> usize {
        usize::try_from(self.ctx.api.write_buffer).unwrap_or(usize::MAX)
    }

    /// Take a new connection, or refuse it with `busy` when there are too many.
    fn admit(
        &mut self,
        stream: Transport,
        peer: String,
        permissions: northstar_api::Permissions,
        max_frame: usize,
        limits: Limits,
        handshake: Option<std::time::Duration>,
    ) {
        let nonblocking = stream.set_nonblocking();
        if nonblocking.is_err() {
            return;
        }
        let mut conn = Conn::new(stream, peer, permissions, max_frame, limits, handshake);
        if self.conns.len() >= self.ctx.api.max_connections as usize {
            log::warn!("api: {}: refused, too many connections", conn.peer);
            conn.fail(
                None,
                ApiError::Busy {
                    reason: "too many connections".into(),
                },
            );
            let _ = conn.flush();
            return;
        }
        let Some(next) = self.next.checked_add(1) else {
            log::error!("api: {}: refused, no connection token left", conn.peer);
            return;
        };
        let token = std::mem::replace(&mut self.next, next);
        log::debug!("api: {}: connected", conn.peer);
        self.conns.insert(token, conn);
        self.update(token);
    }

    /// Handle the inbox; `false` on [`Event::Stop`].
    fn drain(&mut self) -> bool {
        self.mailbox.events.clear();
        while let Some(event) = self.mailbox.events.next() {
            match event {
                Event::Stop => return false,
                Event::Answer(answered) => {
                    let token = answered.conn;
                    dispatch::answered(&mut self.ctx, self.conns.get_mut(&token), *answered);
                    self.after(token);
                }
                Event::System(answered) => {
                    let token = answered.conn();
                    super::bundle::answered(self.conns.get_mut(&token), *answered);
                    self.after(token);
                }
                Event::Notification(n) => self.notification(n),
                Event::Console { id, console, fd } => self.console(id, &console, fd),
                Event::Log { conn, id, lines } => {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        dispatch::log(c, id, lines);
                        self.after(conn);
                    }
                }
            }
        }
        true
    }

    fn notification(&mut self, n: Notification) {
        if matches!(n, Notification::Shutdown) {
            self.ctx.shutting_down = true;
        }
        let Some(n) = super::convert::notification(n) else {
            return;
        };
        let tokens: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| c.subscribed && c.phase == Phase::Ready)
            .map(|(t, _)| *t)
            .collect();
        for token in tokens {
            if let Some(c) = self.conns.get_mut(&token) {
                c.notify(&n);
            }
            self.after(token);
        }
    }

    fn console(&mut self, id: ContainerId, console: &npk::manifest::Console, fd: OwnedFd) {
        let stream = std::os::unix::net::UnixStream::from(fd);
        let api = &self.ctx.api;
        let permissions = super::convert::console_permissions(&console.permissions, &id.name);
        let cap = |value: Option<u64>, max: u64| value.map_or(max, |v| v.min(max));
        // The configuration's frame limit; the manifest may only lower it.
        let max_frame = cap(console.max_request_size, api.max_frame);
        let limits = Limits {
            rate: Rate::new(
                console
                    .max_requests_per_sec
                    .map_or(api.max_requests_per_sec, |r| {
                        u32::try_from(r.max(1)).unwrap_or(u32::MAX)
                    }),
            ),
            max_install: cap(console.max_npk_install_size, api.max_install_size),
            // Capped like the configuration's timeouts, whatever the manifest says.
            install_timeout: console
                .npk_stream_timeout
                .map_or(api.install_timeout, std::time::Duration::from_secs)
                .min(super::deadline::MAX_WAIT),
            write_buffer: self.write_buffer(),
        };
        let max_frame = usize::try_from(max_frame).unwrap_or(usize::MAX);
        self.admit(
            Transport::Unix(stream),
            id.to_string(),
            permissions,
            max_frame,
            limits,
            None,
        );
    }

    fn ready(&mut self, token: u64, flags: EpollFlags) {
        if flags.intersects(EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP)
            && !flags.contains(EpollFlags::EPOLLIN)
        {
            self.close(token, Close::Gone);
            return;
        }
        if flags.contains(EpollFlags::EPOLLIN) {
            self.read(token);
        }
        if flags.contains(EpollFlags::EPOLLOUT) {
            self.after(token);
        }
    }

    fn read(&mut self, token: u64) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        if !conn.wants_read() {
            return;
        }
        // Never more than the decoder takes: bytes are held nowhere else.
        let room = conn
            .decoder
            .capacity()
            .saturating_sub(conn.decoder.buffered());
        if room == 0 {
            self.pump(token);
            return;
        }
        // At most the buffer's length.
        let want = room.min(self.buf.len());
        let buf = self.buf.get_mut(..want).unwrap_or_default();
        let n = match conn.stream.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // A TLS handshake may have queued records for the peer.
                self.after(token);
                return;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return,
            Err(e) => {
                if e.kind() == std::io::ErrorKind::InvalidData {
                    log::info!("api: {}: tls: {e}", conn.peer);
                }
                self.close(token, Close::Gone);
                return;
            }
        };
        conn.last_read = Instant::now();
        if let Some(name) = conn.stream.take_identity() {
            let tcp = self.tcp.as_ref().map(|t| t.config());
            conn.permissions = tcp
                .map(|t| t.permissions(name.as_deref()))
                .unwrap_or_default();
            conn.peer = match &name {
                Some(name) => format!("{} CN={name}", conn.peer),
                None => format!("{} (no common name)", conn.peer),
            };
            log::info!("api: {}: authenticated", conn.peer);
        }
        if n == 0 {
            conn.eof = true;
            if let Err(e) = conn.decoder.finish() {
                log::debug!("api: {}: {e}", conn.peer);
                // Inside raw bytes or a frame: nothing of it is done.
                conn.raw = Raw::None;
                if self.ctx.installing == Some(token) {
                    self.ctx.installing = None;
                }
            }
            self.after(token);
            return;
        }
        let taken = conn.decoder.push(self.buf.get(..n).unwrap_or_default());
        debug_assert_eq!(taken, n);
        self.pump(token);
        self.after(token);
    }

    /// Handle the frames the decoder holds while the connection may be answered: its
    /// queue has room and it has not too many requests in flight.
    fn pump(&mut self, token: u64) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        while conn.phase != Phase::Closing
            && conn.out.len() <= conn.limits.write_buffer
            && conn.in_flight < super::conn::MAX_IN_FLIGHT
        {
            match conn.decoder.next_frame() {
                Ok(None) => break,
                Ok(Some(Frame::Message(message))) => {
                    dispatch::message(&mut self.ctx, token, conn, message)
                }
                Ok(Some(Frame::Raw { data, remaining })) => {
                    // The install's state leaves the connection while the bytes, which
                    // its decoder holds, are written.
                    let mut raw = std::mem::replace(&mut conn.raw, Raw::None);
                    let written = super::install::write(&mut raw, data);
                    super::install::after_write(&mut self.ctx, token, conn, raw, written, remaining)
                }
                Err(e) => {
                    log::debug!("api: {}: {e}", conn.peer);
                    conn.fail(e.request_id(), e.to_api_error());
                    if self.ctx.installing == Some(token) {
                        self.ctx.installing = None;
                    }
                }
            }
        }
    }

    /// After something changed on a connection: write, close if done, update interest.
    fn after(&mut self, token: u64) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        if let Err(why) = conn.flush() {
            self.close(token, why);
            return;
        }
        if conn.decoder.buffered() > 0 && conn.out.len() <= conn.limits.write_buffer {
            // Frames held back while the queue was full.
            self.pump(token);
            let Some(conn) = self.conns.get_mut(&token) else {
                return;
            };
            if let Err(why) = conn.flush() {
                self.close(token, why);
                return;
            }
        }
        let Some(conn) = self.conns.get(&token) else {
            return;
        };
        if conn.out.len() > conn.hard_limit() {
            self.close(token, Close::Queue);
            return;
        }
        self.update(token);
    }

    fn update(&mut self, token: u64) {
        let Some(conn) = self.conns.get(&token) else {
            return;
        };
        let mut flags = EpollFlags::empty();
        if conn.wants_read() {
            flags |= EpollFlags::EPOLLIN;
        }
        if !conn.out.is_empty() || conn.stream.wants_write() {
            flags |= EpollFlags::EPOLLOUT;
        }
        let mut event = EpollEvent::new(flags, token);
        let result = match self.watched.get(&token) {
            None => self.epoll.add(&conn.stream, event),
            Some(old) if *old == flags => return,
            Some(_) => self.epoll.modify(&conn.stream, &mut event),
        };
        match result {
            Ok(()) => {
                self.watched.insert(token, flags);
            }
            Err(e) => {
                log::warn!("api: {}: watch: {e}", conn.peer);
                self.close(token, Close::Gone);
            }
        }
    }

    fn close(&mut self, token: u64, why: Close) {
        let Some(mut conn) = self.conns.remove(&token) else {
            return;
        };
        conn.stream.close();
        if self.watched.remove(&token).is_some() {
            let _ = self.epoll.delete(&conn.stream);
        }
        if self.ctx.installing == Some(token) && matches!(conn.raw, Raw::Spool(..)) {
            self.ctx.installing = None;
        }
        match why {
            Close::Gone | Close::Done => log::debug!("api: {}: {why}", conn.peer),
            _ => log::info!("api: {}: closed: {why}", conn.peer),
        }
    }
}

/// Queue an answer on `conn` (closed when it cannot be encoded at all).
pub(super) fn reply(conn: &mut Conn, message: ServerMessage) {
    if !conn.answer(&message) {
        conn.phase = Phase::Closing;
    }
}
