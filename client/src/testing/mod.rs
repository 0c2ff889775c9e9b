//! An in-process fake server for tests (feature `test-server`): a unix socket in the
//! temporary directory, a thread that accepts connections, and one thread per connection
//! running a handler on a [`Peer`], the server's side of the protocol built on the api
//! crate's codec.
//!
//! [`FakeServer::runtime`] serves a canned runtime ([`runtime`]) that answers every
//! request and records what it received; [`FakeServer::start`] runs any handler, for
//! misbehaving servers (hanging, closing mid-frame, another protocol version).

pub mod pki;
pub mod runtime;

use northstar_api::{
    codec::{Decoder, Encoder, Frame, MAX_CLIENT_FRAME, MAX_SERVER_FRAME},
    ApiError, ClientMessage, Hello, Notification, Permissions, ProtocolVersion, Request, RequestId,
    Response, ServerMessage, Welcome, PROTOCOL_VERSION,
};
use std::{
    io::{self, Read, Write},
    os::unix::net::{UnixListener, UnixStream},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread::{self, JoinHandle},
};

/// A fake server listening on a unix socket until dropped.
#[derive(Debug)]
pub struct FakeServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    record: Arc<runtime::Record>,
}

impl FakeServer {
    /// Serve every connection with `handler`, each in its own thread.
    pub fn start<F>(handler: F) -> io::Result<FakeServer>
    where
        F: Fn(Peer) + Send + Sync + 'static,
    {
        Self::start_recording(Arc::default(), handler)
    }

    /// Serve the canned runtime, granting every permission.
    pub fn runtime() -> io::Result<FakeServer> {
        Self::runtime_with(Permissions::all())
    }

    /// Serve the canned runtime, granting `permissions`.
    pub fn runtime_with(permissions: Permissions) -> io::Result<FakeServer> {
        let record = Arc::new(runtime::Record::default());
        let shared = record.clone();
        Self::start_recording(record, move |peer| {
            // A failing connection only ends itself, as on a real server.
            let _ = runtime::serve(peer, permissions.clone(), &shared);
        })
    }

    fn start_recording<F>(record: Arc<runtime::Record>, handler: F) -> io::Result<FakeServer>
    where
        F: Fn(Peer) + Send + Sync + 'static,
    {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "northstar-fake-{}-{}.sock",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let handler = Arc::new(handler);
        let accept = thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let handler = handler.clone();
                thread::spawn(move || handler(Peer::new(stream)));
            }
        });
        Ok(FakeServer {
            path,
            stop,
            accept: Some(accept),
            record,
        })
    }

    /// `unix://<socket>`.
    pub fn url(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The requests the canned runtime received, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.record.requests()
    }

    /// The package bytes the canned runtime received, one entry per install.
    pub fn packages(&self) -> Vec<Vec<u8>> {
        self.record.packages()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = UnixStream::connect(&self.path);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What a client sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// A message.
    Message(ClientMessage),
    /// Raw bytes of an install.
    Raw(Vec<u8>),
}

/// The server's side of one connection.
#[derive(Debug)]
pub struct Peer {
    stream: UnixStream,
    decoder: Decoder<ClientMessage>,
    encoder: Encoder,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl Peer {
    fn new(stream: UnixStream) -> Peer {
        Peer {
            stream,
            decoder: Decoder::new(MAX_CLIENT_FRAME),
            encoder: Encoder::new(MAX_SERVER_FRAME),
            buf: vec![0; 64 * 1024],
            pos: 0,
            len: 0,
        }
    }

    /// The next message or raw chunk; `None` when the client closed the connection.
    pub fn receive(&mut self) -> io::Result<Option<Received>> {
        loop {
            self.pos += self.decoder.push(&self.buf[self.pos..self.len]);
            match self.decoder.next_frame().map_err(invalid)? {
                Some(Frame::Message(m)) => return Ok(Some(Received::Message(m))),
                Some(Frame::Raw { data, .. }) => return Ok(Some(Received::Raw(data.to_vec()))),
                None if self.pos < self.len => continue,
                None => {}
            }
            let n = self.stream.read(&mut self.buf)?;
            if n == 0 {
                self.decoder.finish().map_err(invalid)?;
                return Ok(None);
            }
            self.pos = 0;
            self.len = n;
        }
    }

    /// The next message; raw bytes here are an error.
    pub fn message(&mut self) -> io::Result<Option<ClientMessage>> {
        match self.receive()? {
            Some(Received::Message(m)) => Ok(Some(m)),
            Some(Received::Raw(_)) => Err(invalid("unexpected raw bytes")),
            None => Ok(None),
        }
    }

    /// The client's `hello`.
    pub fn hello(&mut self) -> io::Result<Option<Hello>> {
        match self.message()? {
            Some(ClientMessage::Hello(hello)) => Ok(Some(hello)),
            Some(other) => Err(invalid(format!("expected hello, got {other:?}"))),
            None => Ok(None),
        }
    }

    /// Do the server's handshake as a server of `version` that grants `permissions`.
    /// `false` when the client went away or was refused (version mismatch).
    pub fn welcome_as(
        &mut self,
        version: ProtocolVersion,
        permissions: Permissions,
    ) -> io::Result<bool> {
        let Some(hello) = self.hello()? else {
            return Ok(false);
        };
        match version.negotiate(hello.version) {
            Ok(_) => {
                self.send(&ServerMessage::Welcome(Welcome {
                    version,
                    permissions,
                }))?;
                Ok(true)
            }
            Err(error) => {
                self.send(&ServerMessage::error(None, error))?;
                Ok(false)
            }
        }
    }

    /// The handshake as a server of this crate's protocol version.
    pub fn welcome(&mut self, permissions: Permissions) -> io::Result<bool> {
        self.welcome_as(PROTOCOL_VERSION, permissions)
    }

    /// The next request; `None` when the client closed the connection.
    pub fn request(&mut self) -> io::Result<Option<(RequestId, Request)>> {
        match self.message()? {
            Some(ClientMessage::Request { id, request }) => Ok(Some((id, request))),
            Some(other) => Err(invalid(format!("expected a request, got {other:?}"))),
            None => Ok(None),
        }
    }

    /// The `size` raw bytes of an install.
    pub fn package(&mut self, size: u64) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        while (bytes.len() as u64) < size {
            match self.receive()? {
                Some(Received::Raw(chunk)) => bytes.extend_from_slice(&chunk),
                Some(Received::Message(m)) => {
                    return Err(invalid(format!("expected raw bytes, got {m:?}")))
                }
                None => return Err(io::ErrorKind::UnexpectedEof.into()),
            }
        }
        Ok(bytes)
    }

    /// Send a message.
    pub fn send(&mut self, message: &ServerMessage) -> io::Result<()> {
        let frame = self.encoder.to_vec(message).map_err(invalid)?;
        self.stream.write_all(&frame)
    }

    /// Answer request `id`.
    pub fn answer(&mut self, id: RequestId, result: Result<Response, ApiError>) -> io::Result<()> {
        self.send(&match result {
            Ok(response) => ServerMessage::Response { id, response },
            Err(error) => ServerMessage::error(Some(id), error),
        })
    }

    /// Send a notification.
    pub fn notify(&mut self, notification: Notification) -> io::Result<()> {
        self.send(&ServerMessage::Notification { notification })
    }

    /// Send bytes as they are (broken frames, half frames).
    pub fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Read and drop everything until the client closes the connection.
    pub fn wait_closed(&mut self) {
        let mut buf = [0u8; 4096];
        while matches!(self.stream.read(&mut buf), Ok(n) if n > 0) {}
    }
}
