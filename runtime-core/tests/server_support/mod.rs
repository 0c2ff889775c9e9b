//! A management API test client over `UnixStream` with the protocol crate's codec, and a
//! runtime with its server started in-process.
#![allow(dead_code)]

use crate::support::{Running, World, PATIENCE};
use northstar_api::{
    codec::{Decoder, Encoder, Frame, MAX_CLIENT_FRAME, MAX_SERVER_FRAME},
    ApiError, BootReport, ClientMessage, ClientName, Hello, Notification, ProtocolVersion, Request,
    RequestId, Response, ServerMessage, SlotMark, SlotState, SlotStatus, SlotTarget,
    SystemInstalled, SystemStatus, Welcome, PROTOCOL_VERSION,
};
use runtime_core::server::{self, Host, Server};
pub use runtime_core::server::{Power, SystemRequest};
use std::{
    io::{ErrorKind, Read, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// What the host was asked, a boot report to give and A/B slots to serve (`None`: the
/// trait's default, not supported), and where bundles are spooled (`None`: not
/// supported).
#[derive(Default)]
pub struct TestHost {
    pub asked: Mutex<Vec<Power>>,
    pub report: Option<BootReport>,
    pub slots: Option<Mutex<SystemStatus>>,
    pub system_asked: Mutex<Vec<SystemRequest>>,
    pub spool: Option<PathBuf>,
    pub bundles: Arc<Mutex<Bundles>>,
    /// How long the host's thread "writes the slot" before it answers.
    pub install_delay: Duration,
    /// The answer to a system install: the error, or `None` for success.
    pub install_error: Option<String>,
}

/// What the host did with the bundles it was given.
#[derive(Debug, Default)]
pub struct Bundles {
    /// Each bundle's path and bytes, as the host found it.
    pub received: Vec<(PathBuf, Vec<u8>)>,
    /// Answers sent through `SystemDone`.
    pub answered: u32,
}

impl Host for TestHost {
    fn boot_report(&self) -> Option<BootReport> {
        self.report.clone()
    }
    fn power(&self, power: Power) -> bool {
        self.asked.lock().unwrap().push(power);
        power == Power::Shutdown
    }
    fn system(&self, request: SystemRequest) -> Option<Result<SystemStatus, String>> {
        let slots = self.slots.as_ref()?;
        self.system_asked.lock().unwrap().push(request.clone());
        let mut status = slots.lock().unwrap();
        if let SystemRequest::Mark { mark, slot } = request {
            if let Err(reason) = mark_slot(&mut status, mark, &slot) {
                return Some(Err(reason));
            }
        }
        Some(Ok(status.clone()))
    }
    fn system_spool(&self) -> Option<PathBuf> {
        self.spool.clone()
    }
    /// Reads the bundle, then answers from a thread of its own after `install_delay`,
    /// removing the file first (it owns it).
    fn system_install(&self, bundle: PathBuf, done: server::SystemDone) {
        let bytes = std::fs::read(&bundle).unwrap();
        self.bundles
            .lock()
            .unwrap()
            .received
            .push((bundle.clone(), bytes.clone()));
        let (delay, failure) = (self.install_delay, self.install_error.clone());
        let bundles = self.bundles.clone();
        let status = self.slots.as_ref().map(|s| s.lock().unwrap().clone());
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            std::fs::remove_file(&bundle).unwrap();
            let result = match failure {
                Some(reason) => Err(reason),
                None => Ok(SystemInstalled {
                    slot: "B".into(),
                    version: "2.0.0".into(),
                    compatible: "northstar-test".into(),
                    bytes: bytes.len() as u64,
                    status: status.unwrap_or_else(two_slots),
                }),
            };
            bundles.lock().unwrap().answered += 1;
            done.done(result);
        });
    }
}

/// A U-Boot system of two slots, booted from `A`, which is primary and good; `B` is bad.
pub fn two_slots() -> SystemStatus {
    let slot = |name: &str, root: &str, booted: bool, state, attempts| SlotStatus {
        name: name.into(),
        root: root.into(),
        boot: None,
        booted,
        primary: booted,
        state,
        attempts_left: Some(attempts),
    };
    SystemStatus {
        bootloader: "uboot".into(),
        booted: Some("A".into()),
        slots: vec![
            slot("A", "/dev/vda2", true, SlotState::Good, 3),
            slot("B", "/dev/vda3", false, SlotState::Bad, 0),
        ],
    }
}

/// A mark as the init does it, in memory (RAUC's U-Boot rules, three attempts).
fn mark_slot(status: &mut SystemStatus, mark: SlotMark, target: &SlotTarget) -> Result<(), String> {
    let names: Vec<String> = status.slots.iter().map(|s| s.name.clone()).collect();
    let at = match target {
        SlotTarget::Booted => status.slots.iter().position(|s| s.booted),
        SlotTarget::Other => status.slots.iter().position(|s| !s.booted),
        SlotTarget::Named(name) => status.slots.iter().position(|s| s.name == *name),
    }
    .ok_or_else(|| format!("no slot {target} (the slots are {})", names.join(", ")))?;
    match mark {
        SlotMark::Good | SlotMark::Active => {
            status.slots[at].state = SlotState::Good;
            status.slots[at].attempts_left = Some(3);
        }
        SlotMark::Bad => {
            status.slots[at].state = SlotState::Bad;
            status.slots[at].attempts_left = Some(0);
        }
    }
    if mark == SlotMark::Active {
        for (i, slot) in status.slots.iter_mut().enumerate() {
            slot.primary = i == at;
        }
    }
    Ok(())
}

/// A runtime with its API server.
pub struct Served {
    pub rt: Running,
    pub server: Option<Server>,
    pub socket: PathBuf,
    pub host: Arc<TestHost>,
}

impl Served {
    /// `api` is the body of the `[api]` table (without `socket`), `after` more tables.
    pub fn start(world: &mut World, api: &str, after: &str, host: TestHost) -> Served {
        let socket = world.dir.path().join("api.sock");
        world.config_append(&format!(
            "[api]\nsocket = \"{}\"\n{api}\n{after}",
            socket.display()
        ));
        let config = world.config();
        let (inbox, mailbox) = server::inbox().unwrap();
        let (handle, events) =
            runtime_core::runtime::Runtime::start_with(config.clone(), Some(inbox.console_port()))
                .unwrap();
        let host = Arc::new(host);
        let server = Server::start(
            config.api.as_ref().unwrap(),
            &config,
            handle.requester(),
            host.clone(),
            inbox,
            mailbox,
        )
        .unwrap();
        Served {
            rt: Running { handle, events },
            server: Some(server),
            socket,
            host,
        }
    }

    pub fn connect(&self) -> Client {
        Client::connect(&self.socket)
    }

    /// A connected client after the handshake.
    pub fn client(&self) -> Client {
        let mut c = self.connect();
        c.hello();
        c
    }

    /// The runtime first, as the daemon does: subscribers hear its last notifications.
    pub fn shutdown(mut self) {
        let server = self.server.take();
        self.rt.shutdown();
        if let Some(server) = server {
            server.stop();
        }
    }
}

/// A protocol client.
pub struct Client {
    pub stream: UnixStream,
    decoder: Decoder<ServerMessage>,
    next: u64,
    /// Notifications and log frames seen while waiting for answers.
    pub seen: Vec<ServerMessage>,
    pub welcome: Option<Welcome>,
}

impl Client {
    pub fn connect(path: &Path) -> Client {
        Client::from_stream(UnixStream::connect(path).unwrap())
    }

    pub fn from_stream(stream: UnixStream) -> Client {
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        Client {
            stream,
            decoder: Decoder::new(MAX_SERVER_FRAME),
            next: 1,
            seen: Vec::new(),
            welcome: None,
        }
    }

    pub fn send(&mut self, message: &ClientMessage) {
        let bytes = Encoder::new(MAX_CLIENT_FRAME).to_vec(message).unwrap();
        self.stream.write_all(&bytes).unwrap();
    }

    pub fn hello_version(&mut self, version: ProtocolVersion) -> ServerMessage {
        self.send(&ClientMessage::Hello(Hello {
            version,
            client: ClientName::new("server-test").unwrap(),
        }));
        self.next_message().expect("an answer to hello")
    }

    pub fn hello(&mut self) -> Welcome {
        match self.hello_version(PROTOCOL_VERSION) {
            ServerMessage::Welcome(w) => {
                self.welcome = Some(w.clone());
                w
            }
            other => panic!("no welcome: {other:?}"),
        }
    }

    /// The next frame; `None` at the end of the stream.
    pub fn next_message(&mut self) -> Option<ServerMessage> {
        let mut buf = [0u8; 65536];
        loop {
            match self.decoder.next_frame().unwrap() {
                Some(Frame::Message(m)) => return Some(m),
                Some(Frame::Raw { .. }) => panic!("raw bytes from the server"),
                None => {}
            }
            let n = match self.stream.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => 0,
                Err(e) => panic!("read: {e}"),
            };
            if n == 0 {
                return None;
            }
            let mut data = &buf[..n];
            while !data.is_empty() {
                let taken = self.decoder.push(data);
                data = &data[taken..];
                if !data.is_empty() {
                    if let Some(Frame::Message(m)) = self.decoder.next_frame().unwrap() {
                        self.seen.push(m);
                    }
                }
            }
        }
    }

    /// Send a request; its id.
    pub fn send_request(&mut self, request: Request) -> RequestId {
        let id = RequestId(self.next);
        self.next += 1;
        self.send(&ClientMessage::Request { id, request });
        id
    }

    /// Wait for the answer to `id`; other frames go to `seen`.
    pub fn answer(&mut self, id: RequestId) -> Result<Response, ApiError> {
        loop {
            match self
                .next_message()
                .expect("connection closed before the answer")
            {
                ServerMessage::Response { id: i, response } if i == id => return Ok(response),
                ServerMessage::Error {
                    id: Some(i), error, ..
                } if i == id => return Err(error),
                other => self.seen.push(other),
            }
        }
    }

    pub fn request(&mut self, request: Request) -> Result<Response, ApiError> {
        let id = self.send_request(request);
        self.answer(id)
    }

    /// The next notification matching `f` (from `seen` first).
    pub fn notification<T>(&mut self, mut f: impl FnMut(&Notification) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        let mut at = 0;
        loop {
            while at < self.seen.len() {
                if let ServerMessage::Notification { notification } = &self.seen[at] {
                    if let Some(t) = f(notification) {
                        self.seen.remove(at);
                        return t;
                    }
                }
                at += 1;
            }
            assert!(Instant::now() < deadline, "no matching notification");
            let m = self.next_message().expect("closed while waiting");
            self.seen.push(m);
        }
    }

    /// Whether the server closed the connection (reads until end of file).
    pub fn closed(&mut self) -> bool {
        self.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// Resident memory of this process in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// The files in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
