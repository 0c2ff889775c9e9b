//! The connection to a server: connect, handshake, one request at a time, and the frames
//! that arrive in between (notifications, lines of a followed log).
//!
//! Requests are sent one after the other, each with a fresh id, and the client reads until
//! the frame with that id comes. What arrives meanwhile is kept: notifications in a bounded
//! queue (overflow becomes a `lagged` notification, as on the server), the lines of the
//! followed log in another; answers to requests given up after a timeout are dropped.

use crate::{
    connection::{Connection, Deadline},
    error::Error,
    transport::{Stream, TcpAuthentication},
    url::Url,
};
use northstar_api::{
    ApiError, ClientMessage, ClientName, Hello, Notification, Permissions, ProtocolVersion,
    Request, RequestId, Response, ServerMessage, Welcome, PROTOCOL_VERSION,
};
use std::{collections::VecDeque, os::unix::net::UnixStream, time::Duration};

/// Notifications kept while the caller waits for answers; more are counted and reported
/// as one [`Notification::Lagged`].
pub const MAX_QUEUED_NOTIFICATIONS: usize = 1024;
/// Frames of the followed log kept while the caller waits for something else.
pub(crate) const MAX_QUEUED_LOG_FRAMES: usize = 1024;

/// How to connect and how long to wait.
#[derive(Clone, Debug)]
pub struct Options {
    /// Longest wait for the TCP connection and for the server's `welcome`. `None`: no limit.
    pub connect_timeout: Option<Duration>,
    /// Longest wait for an answer (the whole answer, after the request is sent), and for
    /// the socket to take each part of a request or package. `None`: no limit.
    pub request_timeout: Option<Duration>,
    /// How the client names itself in the handshake (for the server's log): 1 to 128
    /// bytes without control characters.
    pub client_name: String,
    /// How TCP connections authenticate; the default refuses TCP URLs.
    pub tcp: TcpAuthentication,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            connect_timeout: Some(Duration::from_secs(5)),
            request_timeout: Some(Duration::from_secs(30)),
            client_name: concat!("northstar-client ", env!("CARGO_PKG_VERSION")).into(),
            tcp: TcpAuthentication::Refuse,
        }
    }
}

/// A connection to the management API of a runtime.
#[derive(Debug)]
pub struct Client {
    pub(crate) connection: Connection,
    welcome: Welcome,
    pub(crate) options: Options,
    next_id: u64,
    notifications: VecDeque<Notification>,
    missed: u64,
    /// The followed log: its request's id and the frames that came for it.
    pub(crate) follow: Option<(RequestId, VecDeque<FollowFrame>)>,
    /// Why the connection cannot be used any more.
    pub(crate) broken: Option<String>,
}

/// A frame of a followed log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FollowFrame {
    Lines(Vec<String>),
    End,
}

impl Client {
    /// Connect to `url` (`unix:///path` or `tcp://host:port`) and do the handshake.
    pub fn connect(url: &str, options: Options) -> Result<Client, Error> {
        let url: Url = url.parse()?;
        Client::connect_url(&url, options)
    }

    /// Connect to a parsed URL and do the handshake.
    pub fn connect_url(url: &Url, options: Options) -> Result<Client, Error> {
        ClientName::new(&options.client_name).map_err(Error::ClientName)?;
        let stream = Stream::connect(url, options.connect_timeout, &options.tcp)?;
        Client::handshake(stream, options)
    }

    /// Do the handshake on a socket that is already connected, such as the console
    /// connection a container inherits (the descriptor named by `NORTHSTAR_CONSOLE`).
    pub fn from_unix_stream(stream: UnixStream, options: Options) -> Result<Client, Error> {
        Client::handshake(Stream::Unix(stream), options)
    }

    fn handshake(stream: Stream, options: Options) -> Result<Client, Error> {
        let client = ClientName::new(&options.client_name).map_err(Error::ClientName)?;
        let mut connection = Connection::new(stream);
        let hello = ClientMessage::Hello(Hello {
            version: PROTOCOL_VERSION,
            client,
        });
        connection.send(&hello, "hello", options.connect_timeout)?;
        let deadline = Deadline::after(options.connect_timeout);
        let waiting = || "the handshake".to_string();
        let welcome = match connection.receive(deadline, &waiting)? {
            ServerMessage::Welcome(welcome) => welcome,
            ServerMessage::Error {
                error: ApiError::VersionMismatch { server, client },
                ..
            } => return Err(Error::VersionMismatch { server, client }),
            ServerMessage::Error { error, .. } => {
                return Err(Error::Api {
                    request: "handshake",
                    error: Box::new(error),
                })
            }
            other => {
                return Err(Error::Protocol {
                    during: format!("waiting for {}", waiting()),
                    reason: format!("expected welcome, got {}", describe(&other)),
                })
            }
        };
        if welcome.version.major != PROTOCOL_VERSION.major {
            return Err(Error::VersionMismatch {
                server: welcome.version,
                client: PROTOCOL_VERSION,
            });
        }
        Ok(Client {
            connection,
            welcome,
            options,
            next_id: 1,
            notifications: VecDeque::new(),
            missed: 0,
            follow: None,
            broken: None,
        })
    }

    /// What this connection may ask, as the server said in the handshake.
    pub fn permissions(&self) -> Permissions {
        self.welcome.permissions.clone()
    }

    /// The server's protocol version. The connection speaks the client's
    /// ([`PROTOCOL_VERSION`]).
    pub fn server_version(&self) -> ProtocolVersion {
        self.welcome.version
    }

    /// Change the longest wait for answers from now on (`None`: no limit).
    pub fn set_request_timeout(&mut self, timeout: Option<Duration>) {
        self.options.request_timeout = timeout;
    }

    /// Send any request and wait for its answer: [`Error::Api`] when the server refused.
    /// The typed methods ([`Client::list`], ...) check the answer's type as well.
    /// `install` needs its package bytes: use [`Client::install`].
    pub fn request(&mut self, request: Request) -> Result<Response, Error> {
        if request.raw_len().is_some() {
            return Err(Error::InstallWithoutPackage);
        }
        let id = self.send(&request)?;
        self.answer(id, request.name(), self.options.request_timeout)
    }

    /// Send `request` with a fresh id.
    pub(crate) fn send(&mut self, request: &Request) -> Result<RequestId, Error> {
        self.usable()?;
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let message = ClientMessage::Request {
            id,
            request: request.clone(),
        };
        let result = self
            .connection
            .send(&message, request.name(), self.options.request_timeout);
        if let Err(e) = &result {
            if !matches!(e, Error::Encode { .. }) {
                // A frame may have been sent in part: the stream is out of step.
                self.broken = Some(e.to_string());
            }
        }
        result.map(|()| id)
    }

    /// Wait for the answer to request `id`, at most `timeout`.
    pub(crate) fn answer(
        &mut self,
        id: RequestId,
        name: &'static str,
        timeout: Option<Duration>,
    ) -> Result<Response, Error> {
        let deadline = Deadline::after(timeout);
        let waiting = || format!("the answer to `{name}`");
        loop {
            let message = match self.connection.receive(deadline, &waiting) {
                Ok(message) => message,
                Err(e) => return Err(self.failed(e)),
            };
            if let Some(answer) = self.dispatch(message, id, name)? {
                return answer;
            }
        }
    }

    /// Sort one message: the answer to `id` is returned, anything else is kept or dropped.
    /// Errors that are not about a request end the connection.
    pub(crate) fn dispatch(
        &mut self,
        message: ServerMessage,
        id: RequestId,
        name: &'static str,
    ) -> Result<Option<Result<Response, Error>>, Error> {
        match message {
            ServerMessage::Response { id: got, response } if got == id => Ok(Some(Ok(response))),
            ServerMessage::Error {
                id: Some(got),
                error,
                ..
            } if got == id => {
                if error.closes_connection() {
                    self.broken = Some(error.to_string());
                }
                Ok(Some(Err(Error::Api {
                    request: name,
                    error: Box::new(error),
                })))
            }
            ServerMessage::Error {
                id: None, error, ..
            } => {
                // About the connection, not a request: the server closes it.
                self.broken = Some(error.to_string());
                Ok(Some(Err(Error::Api {
                    request: name,
                    error: Box::new(error),
                })))
            }
            other => {
                self.keep(other)?;
                Ok(None)
            }
        }
    }

    /// Keep a frame that is not the awaited answer.
    pub(crate) fn keep(&mut self, message: ServerMessage) -> Result<(), Error> {
        match message {
            ServerMessage::Notification { notification } => {
                self.queue_notification(notification);
                Ok(())
            }
            ServerMessage::Log { id, lines } => {
                self.queue_log(id, FollowFrame::Lines(lines));
                Ok(())
            }
            ServerMessage::LogEnd { id } => {
                self.queue_log(id, FollowFrame::End);
                Ok(())
            }
            ServerMessage::Response { id, .. } | ServerMessage::Error { id: Some(id), .. }
                if id.0 < self.next_id =>
            {
                // The answer to a request given up after a timeout.
                Ok(())
            }
            other => {
                let reason = format!("unexpected {}", describe(&other));
                self.broken = Some(reason.clone());
                Err(Error::Protocol {
                    during: "reading from the server".into(),
                    reason,
                })
            }
        }
    }

    fn queue_notification(&mut self, notification: Notification) {
        if self.notifications.len() >= MAX_QUEUED_NOTIFICATIONS {
            self.missed += 1;
        } else {
            self.notifications.push_back(notification);
        }
    }

    fn queue_log(&mut self, id: RequestId, frame: FollowFrame) {
        // Frames of a log no longer followed are dropped.
        if let Some((follow, frames)) = &mut self.follow {
            if *follow == id && frames.len() < MAX_QUEUED_LOG_FRAMES {
                frames.push_back(frame);
            }
        }
    }

    /// The next kept notification, without reading.
    pub(crate) fn queued_notification(&mut self) -> Option<Notification> {
        if let Some(notification) = self.notifications.pop_front() {
            return Some(notification);
        }
        if self.missed > 0 {
            let missed = std::mem::take(&mut self.missed);
            return Some(Notification::Lagged { missed });
        }
        None
    }

    /// Wait at most `timeout` (`None`: forever) for the next notification; `Ok(None)` when
    /// none came in time. Notifications come only after [`Client::subscribe`].
    pub fn next_notification(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<Notification>, Error> {
        if let Some(notification) = self.queued_notification() {
            return Ok(Some(notification));
        }
        self.usable()?;
        let deadline = Deadline::after(timeout);
        let waiting = || "a notification".to_string();
        loop {
            let message = match self.connection.receive(deadline, &waiting) {
                Ok(message) => message,
                Err(Error::Timeout { .. }) => return Ok(None),
                Err(e) => return Err(self.failed(e)),
            };
            match message {
                ServerMessage::Notification { notification } => return Ok(Some(notification)),
                ServerMessage::Error {
                    id: None, error, ..
                } => {
                    self.broken = Some(error.to_string());
                    return Err(Error::Api {
                        request: "subscribe",
                        error: Box::new(error),
                    });
                }
                other => self.keep(other)?,
            }
        }
    }

    /// Fail if an earlier error left the connection out of step.
    pub(crate) fn usable(&self) -> Result<(), Error> {
        match &self.broken {
            Some(reason) => Err(Error::Broken {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Note what a read error means for the connection: after a timeout the stream is
    /// still in step (nothing was consumed in part), after anything else it is not.
    pub(crate) fn failed(&mut self, e: Error) -> Error {
        if !e.is_timeout() {
            self.broken = Some(e.to_string());
        }
        e
    }
}

/// A short description of a server frame, for protocol errors.
pub(crate) fn describe(message: &ServerMessage) -> String {
    match message {
        ServerMessage::Welcome(_) => "welcome".into(),
        ServerMessage::Response { id, response } => {
            format!("answer {} to request {id}", response_name(response))
        }
        ServerMessage::Error {
            id: Some(id),
            error,
            ..
        } => {
            format!("error {} for request {id}", error.code())
        }
        ServerMessage::Error {
            id: None, error, ..
        } => format!("error {}", error.code()),
        ServerMessage::Notification { .. } => "notification".into(),
        ServerMessage::Log { id, .. } => format!("log lines for request {id}"),
        ServerMessage::LogEnd { id } => format!("end of log for request {id}"),
    }
}

/// The wire name of an answer's type.
pub(crate) fn response_name(response: &Response) -> &'static str {
    match response {
        Response::Ok {} => "ok",
        Response::Containers { .. } => "containers",
        Response::Inspect(_) => "inspect",
        Response::Started { .. } => "started",
        Response::Stopped { .. } => "stopped",
        Response::Restarted { .. } => "restarted",
        Response::Installed { .. } => "installed",
        Response::Repositories { .. } => "repositories",
        Response::Logs { .. } => "logs",
        Response::BootReport { .. } => "boot_report",
        Response::Committed { .. } => "committed",
        Response::Verified { .. } => "verified",
        Response::System { .. } => "system",
        Response::SystemInstalled { .. } => "system_installed",
    }
}
