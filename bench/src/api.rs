//! Helpers of the management API benchmark: the release daemon serving the API on a
//! socket, a raw protocol connection for pipelined requests, and the baseline: an echo
//! server that answers every frame with the same bytes the daemon sent, without doing
//! anything, over the same kind of socket.

use anyhow::{bail, Context, Result};
use northstar_api::{
    codec::{Decoder, Encoder, Frame, MAX_CLIENT_FRAME, MAX_SERVER_FRAME},
    ClientMessage, ClientName, Hello, Request, RequestId, ServerMessage, PROTOCOL_VERSION,
};
use std::{
    io::{BufRead, BufReader, Read, Write},
    os::unix::net::{UnixListener, UnixStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The `northstar` daemon as a child process.
pub struct Daemon {
    child: Child,
    /// The API socket.
    pub socket: PathBuf,
}

impl Daemon {
    /// Start `binary --config config` and wait until `socket` accepts connections.
    pub fn start(binary: &Path, config: &Path, socket: &Path) -> Result<Daemon> {
        let child = Command::new(binary)
            .arg("--config")
            .arg(config)
            .env("NORTHSTAR_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let mut daemon = Daemon {
            child,
            socket: socket.to_owned(),
        };
        let begin = Instant::now();
        while UnixStream::connect(socket).is_err() {
            if let Some(status) = daemon.child.try_wait()? {
                bail!("the daemon ended: {status}");
            }
            if begin.elapsed() > Duration::from_secs(60) {
                bail!("the daemon does not listen on {}", socket.display());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(daemon)
    }

    /// SIGTERM (orderly shutdown) and wait for exit 0.
    pub fn stop(mut self) -> Result<()> {
        crate::run(Command::new("kill").args(["-TERM", &self.child.id().to_string()]))?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("the daemon ended with {status}");
        }
        Ok(())
    }
}

/// A connection that speaks frames directly, for pipelining.
pub struct Raw {
    stream: UnixStream,
    decoder: Decoder<ServerMessage>,
    buf: Vec<u8>,
}

impl Raw {
    /// Connect to `socket` and do the handshake.
    pub fn connect(socket: &Path) -> Result<Raw> {
        let stream =
            UnixStream::connect(socket).with_context(|| format!("connect {}", socket.display()))?;
        let mut raw = Raw {
            stream,
            decoder: Decoder::new(MAX_SERVER_FRAME),
            buf: vec![0; 64 * 1024],
        };
        let hello = ClientMessage::Hello(Hello {
            version: PROTOCOL_VERSION,
            client: ClientName::new("bench")?,
        });
        raw.stream
            .write_all(&Encoder::new(MAX_CLIENT_FRAME).to_vec(&hello)?)?;
        match raw.next()? {
            ServerMessage::Welcome(_) => Ok(raw),
            other => bail!("no welcome: {other:?}"),
        }
    }

    /// The frames of `count` requests with ids from 1.
    pub fn frames(request: &Request, count: u64) -> Result<Vec<u8>> {
        let encoder = Encoder::new(MAX_CLIENT_FRAME);
        let mut out = Vec::new();
        for id in 1..=count {
            let message = ClientMessage::Request {
                id: RequestId(id),
                request: request.clone(),
            };
            encoder.encode(&message, &mut out)?;
        }
        Ok(out)
    }

    /// Send `count` requests at once from a second thread while reading the answers; the
    /// time from the first byte sent to the last answer read.
    pub fn pipelined(&mut self, request: &Request, count: u64) -> Result<Duration> {
        let frames = Raw::frames(request, count)?;
        let mut writer = self.stream.try_clone()?;
        let begin = Instant::now();
        let sender = std::thread::spawn(move || writer.write_all(&frames));
        for _ in 0..count {
            match self.next()? {
                ServerMessage::Response { .. } => {}
                other => bail!("not an answer: {other:?}"),
            }
        }
        let elapsed = begin.elapsed();
        match sender.join() {
            Ok(result) => result?,
            Err(_) => bail!("the sending thread panicked"),
        }
        Ok(elapsed)
    }

    /// The next frame.
    fn next(&mut self) -> Result<ServerMessage> {
        loop {
            match self.decoder.next_frame()? {
                Some(Frame::Message(message)) => return Ok(message),
                Some(Frame::Raw { .. }) => bail!("raw bytes from the server"),
                None => {}
            }
            let room = self.decoder.capacity() - self.decoder.buffered();
            let want = room.min(self.buf.len());
            let n = self.stream.read(&mut self.buf[..want])?;
            if n == 0 {
                bail!("the server closed the connection");
            }
            let taken = self.decoder.push(&self.buf[..n]);
            if taken != n {
                bail!("the decoder took {taken} of {n} bytes");
            }
        }
    }
}

/// The baseline server: answers `hello` with `welcome` and every other frame with
/// `answer`, in which `{id}` is replaced by the frame's id. One thread per connection;
/// it does nothing else, so its round trip is the floor of a request over a unix socket
/// with answers of that size.
pub struct Echo {
    pub socket: PathBuf,
}

impl Echo {
    pub fn start(socket: &Path, welcome: String, answer: String) -> Result<Echo> {
        let listener = UnixListener::bind(socket)?;
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (welcome, answer) = (welcome.clone(), answer.clone());
                std::thread::spawn(move || serve(stream, &welcome, &answer));
            }
        });
        Ok(Echo {
            socket: socket.to_owned(),
        })
    }
}

fn serve(stream: UnixStream, welcome: &str, answer: &str) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let (before, after) = answer.split_once("{id}").unwrap_or((answer, ""));
    let mut line = String::new();
    let mut out = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line.contains(r#""type":"hello""#) {
            out.extend_from_slice(welcome.as_bytes());
        } else {
            out.extend_from_slice(before.as_bytes());
            out.extend_from_slice(id_of(&line).as_bytes());
            out.extend_from_slice(after.as_bytes());
        }
        out.push(b'\n');
        // Answers to the frames that came together go out together, as the daemon's do.
        if reader.buffer().is_empty() {
            writer.write_all(&out)?;
            out.clear();
        }
    }
}

/// The digits of a request frame's `"id":`.
fn id_of(line: &str) -> &str {
    line.split_once(r#""id":"#)
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .unwrap_or("0")
}
