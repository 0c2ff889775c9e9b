//! A minimal QMP client (QEMU Machine Protocol, JSON lines on a unix socket): the
//! capabilities handshake and commands whose replies are checked as JSON, with a timeout
//! on every read and write. Used to act on a running machine from the host, e.g. to press
//! Ctrl-Alt-Del on its keyboard. Asynchronous events between replies are kept for
//! [`Qmp::take_events`]; [`Qmp::read_events`] waits for more.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Errors of a QMP connection.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("QMP socket {path}: cannot {step}")]
    Io {
        path: PathBuf,
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("QMP socket {path}: connection closed while waiting for {what}")]
    Closed { path: PathBuf, what: String },
    #[error("QMP socket {path}: not JSON while waiting for {what}: {line:?}")]
    NotJson {
        path: PathBuf,
        what: String,
        line: String,
    },
    #[error("QMP socket {path}: no greeting (got {line:?})")]
    Greeting { path: PathBuf, line: String },
    #[error("QMP command {command} failed: {reply}")]
    Command { command: String, reply: String },
}

/// A QMP connection in command mode.
pub struct Qmp {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// Events read so far and not yet taken.
    events: Vec<Value>,
    /// The timeout of every read and write.
    timeout: Duration,
}

impl Qmp {
    /// Connects to the QMP socket at `path` (retrying until QEMU listens, at most
    /// `timeout`), reads the greeting and leaves negotiation mode. `timeout` also bounds
    /// every later read and write.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Qmp, Error> {
        let io = |step| {
            move |source| Error::Io {
                path: path.to_path_buf(),
                step,
                source,
            }
        };
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(stream) => break stream,
                Err(e) if Instant::now() < deadline => {
                    log::debug!("QMP {}: {e}; retrying", path.display());
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(io("connect")(e)),
            }
        };
        stream
            .set_read_timeout(Some(timeout))
            .map_err(io("set a read timeout"))?;
        stream
            .set_write_timeout(Some(timeout))
            .map_err(io("set a write timeout"))?;
        let writer = stream.try_clone().map_err(io("clone the stream"))?;
        let mut qmp = Qmp {
            path: path.to_path_buf(),
            reader: BufReader::new(stream),
            writer,
            events: Vec::new(),
            timeout,
        };
        let greeting = qmp.read_value("the greeting")?;
        if greeting.get("QMP").is_none() {
            return Err(Error::Greeting {
                path: qmp.path,
                line: greeting.to_string(),
            });
        }
        qmp.execute("qmp_capabilities", None)?;
        Ok(qmp)
    }

    /// Runs `command` with `arguments` and returns its `return` value.
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, Error> {
        let mut request = json!({ "execute": command });
        if let Some(arguments) = arguments {
            request["arguments"] = arguments;
        }
        let mut line = request.to_string();
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .map_err(|source| Error::Io {
                path: self.path.clone(),
                step: "write a command",
                source,
            })?;
        loop {
            let reply = self.read_value(command)?;
            if let Some(value) = reply.get("return") {
                return Ok(value.clone());
            }
            if reply.get("error").is_some() {
                return Err(Error::Command {
                    command: command.to_owned(),
                    reply: reply.to_string(),
                });
            }
            // An event (`{"event": …}`): not the reply.
            log::debug!("QMP event: {reply}");
            self.events.push(reply);
        }
    }

    /// Presses the keys together and releases them (`send-key`), e.g. `["ctrl", "alt",
    /// "delete"]` (QEMU's `QKeyCode` names).
    pub fn send_keys(&mut self, keys: &[&str]) -> Result<(), Error> {
        let keys: Vec<Value> = keys
            .iter()
            .map(|key| json!({ "type": "qcode", "data": key }))
            .collect();
        self.execute("send-key", Some(json!({ "keys": keys })))?;
        Ok(())
    }

    /// Reads events until `deadline` or until QEMU closes the connection (it exits),
    /// whichever comes first; returns every event not taken before, in order.
    pub fn read_events(&mut self, deadline: Instant) -> Result<Vec<Value>, Error> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.reader
                .get_ref()
                .set_read_timeout(Some(left))
                .map_err(|source| Error::Io {
                    path: self.path.clone(),
                    step: "set a read timeout",
                    source,
                })?;
            match self.read_value("an event") {
                Ok(value) => {
                    log::debug!("QMP event: {value}");
                    self.events.push(value);
                }
                Err(Error::Closed { .. }) => break,
                Err(Error::Io { source, .. })
                    if matches!(
                        source.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(Error::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::ConnectionReset =>
                {
                    break
                }
                Err(e) => return Err(e),
            }
        }
        let _ = self.reader.get_ref().set_read_timeout(Some(self.timeout));
        Ok(self.take_events())
    }

    /// The events read so far (between replies, or by [`Qmp::read_events`]).
    pub fn take_events(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.events)
    }

    fn read_value(&mut self, what: &str) -> Result<Value, Error> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(|source| Error::Io {
                path: self.path.clone(),
                step: "read a reply",
                source,
            })?;
        if n == 0 {
            return Err(Error::Closed {
                path: self.path.clone(),
                what: what.to_owned(),
            });
        }
        serde_json::from_str(line.trim_end()).map_err(|_| Error::NotJson {
            path: self.path.clone(),
            what: what.to_owned(),
            line,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A fake QMP server: greets, then answers each request with the next reply.
    fn serve(
        listener: UnixListener,
        replies: Vec<&'static str>,
    ) -> std::thread::JoinHandle<Vec<String>> {
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            writer
                .write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n")
                .unwrap();
            let mut requests = Vec::new();
            for reply in replies {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                requests.push(line.trim_end().to_owned());
                writer.write_all(reply.as_bytes()).unwrap();
            }
            requests
        })
    }

    /// A fake server (see [`serve`]) on a socket in a fresh directory, and a client
    /// connected to it. The directory lives as long as the returned `TempDir`.
    fn connected(
        replies: Vec<&'static str>,
    ) -> (tempfile::TempDir, Qmp, std::thread::JoinHandle<Vec<String>>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let server = serve(UnixListener::bind(&path).unwrap(), replies);
        let qmp = Qmp::connect(&path, Duration::from_secs(10)).unwrap();
        (dir, qmp, server)
    }

    #[test]
    fn handshake_then_send_key_skipping_events() {
        let (_dir, mut qmp, server) = connected(vec![
            "{\"return\": {}}\r\n",
            "{\"event\": \"X\", \"timestamp\": {}}\r\n{\"return\": {}}\r\n",
        ]);
        qmp.send_keys(&["ctrl", "alt", "delete"]).unwrap();
        let requests = server.join().unwrap();
        assert_eq!(requests[0], r#"{"execute":"qmp_capabilities"}"#);
        let sent: Value = serde_json::from_str(&requests[1]).unwrap();
        assert_eq!(sent["execute"], "send-key");
        assert_eq!(sent["arguments"]["keys"][2]["data"], "delete");
        assert_eq!(sent["arguments"]["keys"][0]["type"], "qcode");
    }

    #[test]
    fn events_are_kept_until_taken() {
        let (_dir, mut qmp, server) = connected(vec![
            "{\"return\": {}}\r\n",
            "{\"event\": \"X\"}\r\n{\"return\": {}}\r\n{\"event\": \"WATCHDOG\", \"data\": {\"action\": \"reset\"}}\r\n",
        ]);
        qmp.send_keys(&["ctrl"]).unwrap();
        server.join().unwrap();
        // The server is gone: read_events ends at the closed connection.
        let events = qmp
            .read_events(Instant::now() + Duration::from_secs(10))
            .unwrap();
        let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
        assert_eq!(names, ["X", "WATCHDOG"]);
        assert!(qmp.take_events().is_empty());
    }

    #[test]
    fn an_error_reply_is_an_error() {
        let (_dir, mut qmp, server) = connected(vec![
            "{\"return\": {}}\n",
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}}\n",
        ]);
        let err = qmp.send_keys(&["nokey"]).unwrap_err();
        assert!(matches!(err, Error::Command { .. }), "{err}");
        server.join().unwrap();
    }

    #[test]
    fn no_server_is_an_error_after_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let err = Qmp::connect(&dir.path().join("none"), Duration::from_millis(300));
        assert!(matches!(
            err,
            Err(Error::Io {
                step: "connect",
                ..
            })
        ));
        assert!(started.elapsed() >= Duration::from_millis(300));
    }
}
