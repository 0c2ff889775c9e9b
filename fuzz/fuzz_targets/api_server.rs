//! The management API server end to end, in-process: a runtime (an empty repository) and
//! its server, fed arbitrary bytes on a new connection of its socket or on a container's
//! console connection whose limits are arbitrary (the manifest's values unchecked, as a
//! manifest that escaped validation would give them: the server must cap them itself).
//! Optionally the bytes follow a valid `hello` and an install request of an arbitrary
//! size, which makes the server wait for raw bytes until a deadline.
//!
//! No thread may panic whatever arrives (libFuzzer aborts on a panic in any thread), and
//! the server must answer the `hello` of a new connection afterwards. Runs as root (the
//! runtime creates its cgroup).
#![no_main]
use libfuzzer_sys::fuzz_target;
use northstar_api::{
    codec::{Decoder, Encoder, Frame, MAX_SERVER_FRAME},
    ClientMessage, ClientName, Hello, RepositoryName, Request, RequestId, ServerMessage,
    PROTOCOL_VERSION,
};
use npk::manifest::{Console, Permissions};
use runtime_core::{
    config::Config,
    runtime::{Handle, Runtime},
    server::{self, Event, Inbox, Server},
};
use std::{
    io::{Read, Write},
    net::Shutdown,
    os::unix::net::UnixStream,
    path::PathBuf,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

/// How long a connection is read after the input was written.
const DRAIN: Duration = Duration::from_millis(20);

struct World {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    inbox: Inbox,
    /// Kept for the whole run (behind a mutex: neither is `Sync`).
    _running: Mutex<(Server, Handle)>,
}

struct NoHost;

impl server::Host for NoHost {
    fn boot_report(&self) -> Option<northstar_api::BootReport> {
        None
    }
    fn power(&self, _: server::Power) -> bool {
        false
    }
}

impl World {
    fn start() -> World {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let d = dir.path();
        let repo = d.join("repo");
        std::fs::create_dir_all(&repo).expect("the repository directory");
        let socket = d.join("api.sock");
        let text = format!(
            "run_dir = \"{d}/run\"\ndata_dir = \"{d}/data\"\n\
             [cgroups]\nname = \"northstar-fuzz-{pid}\"\n\
             [repositories.fuzz]\ndir = \"{repo}\"\nunverified = true\n\
             [api]\nsocket = \"{socket}\"\nmax_requests_per_sec = 1000000\n\
             install_timeout = \"1h\"\nidle_timeout = \"1h\"\nwrite_timeout = \"1h\"\n",
            d = d.display(),
            pid = std::process::id(),
            repo = repo.display(),
            socket = socket.display(),
        );
        let config = Config::from_toml_str(&text, &d.join("runtime.toml")).expect("a config");
        let (inbox, mailbox) = server::inbox().expect("an inbox");
        let (handle, _notifications) =
            Runtime::start_with(config.clone(), Some(inbox.console_port())).expect("a runtime");
        let server = Server::start(
            config.api.as_ref().expect("[api]"),
            &config,
            handle.requester(),
            Arc::new(NoHost),
            inbox.clone(),
            mailbox,
        )
        .expect("a server");
        World {
            _dir: dir,
            socket,
            inbox,
            _running: Mutex::new((server, handle)),
        }
    }
}

static WORLD: OnceLock<World> = OnceLock::new();

fn u64_at(bytes: &[u8], i: usize) -> u64 {
    let mut word = [0u8; 8];
    for (w, b) in word.iter_mut().zip(bytes.iter().skip(i * 8)) {
        *w = *b;
    }
    u64::from_le_bytes(word)
}

fn frame(message: &ClientMessage) -> Vec<u8> {
    Encoder::new(usize::MAX)
        .to_vec(message)
        .expect("a client message encodes")
}

fn hello() -> Vec<u8> {
    frame(&ClientMessage::Hello(Hello {
        version: PROTOCOL_VERSION,
        client: ClientName::new("fuzz").expect("a client name"),
    }))
}

/// Read what the server sends until it closes or is quiet for [`DRAIN`].
fn drain(stream: &mut UnixStream) {
    let _ = stream.set_read_timeout(Some(DRAIN));
    let mut buffer = [0u8; 65536];
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
    }
}

/// A new connection's `hello` is answered with `welcome`.
fn still_serving(world: &World) {
    let mut stream = UnixStream::connect(&world.socket).expect("the server accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    stream.write_all(&hello()).expect("hello is written");
    let mut decoder = Decoder::<ServerMessage>::new(MAX_SERVER_FRAME);
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(Frame::Message(message)) = decoder.next_frame().expect("a valid answer") {
            assert!(
                matches!(message, ServerMessage::Welcome(_)),
                "not welcomed: {message:?}"
            );
            return;
        }
        let n = stream.read(&mut buffer).expect("the server answers hello");
        assert!(n > 0, "the server closed the connection before welcome");
        decoder.push(&buffer[..n]);
    }
}

fuzz_target!(|data: &[u8]| {
    let world = WORLD.get_or_init(World::start);
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (limits, bytes) = rest.split_at(rest.len().min(40));
    let mut stream = if selector & 1 == 0 {
        UnixStream::connect(&world.socket).expect("the server accepts")
    } else {
        let (ours, theirs) = UnixStream::pair().expect("a socket pair");
        let console = Console {
            permissions: Permissions::full(),
            max_requests_per_sec: Some(u64_at(limits, 0)),
            max_request_size: Some(u64_at(limits, 1)),
            max_npk_install_size: Some(u64_at(limits, 2)),
            npk_stream_timeout: Some(u64_at(limits, 3)),
        };
        world.inbox.send(Event::Console {
            id: "fuzz:0.0.1".parse().expect("a container id"),
            console,
            fd: ours.into(),
        });
        theirs
    };
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    if selector & 2 != 0 {
        let mut start = hello();
        let repository = if selector & 4 == 0 {
            "fuzz"
        } else {
            "nonesuch"
        };
        start.extend(frame(&ClientMessage::Request {
            id: RequestId(1),
            request: Request::Install {
                repository: RepositoryName::new(repository).expect("a repository name"),
                size: u64_at(limits, 4),
                sha256: None,
            },
        }));
        let _ = stream.write_all(&start);
    }
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(Shutdown::Write);
    drain(&mut stream);
    drop(stream);
    still_serving(world);
});
