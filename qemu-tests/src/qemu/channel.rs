//! The host's end of a guest's management channel (`doc/channel.md`): a virtio-serial
//! port named [`PORT`] on a unix socket that QEMU listens on ([`CHARDEV`]), the proxy
//! `nstar channel` holding the one connection to it and serving its own socket
//! ([`Proxy`]), and the workspace's `nstar` run against the proxy, as a user would run it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::SerialPort;

/// The port's name, as the boards' `[channel] port` expects it.
pub const PORT: &str = "org.northstar.api";
/// QEMU's socket of the port, in a machine's directory.
pub const CHARDEV: &str = "chardev.sock";
/// The proxy's socket for clients, in a machine's directory.
pub const API: &str = "api.sock";
/// How long the proxy may take to listen.
const PROXY_START: Duration = Duration::from_secs(10);
/// The longest unix socket path (`sun_path` less its NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// Errors of the host's end.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the channel's socket path {path} is longer than {MAX_SOCKET_PATH} bytes")]
    SocketPath { path: PathBuf },
    #[error("cannot run {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("nstar {args} failed ({status}):\n{stderr}")]
    Failed {
        args: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("the proxy (nstar channel) did not listen on {socket} within {PROXY_START:?}:\n{log}")]
    ProxyNotUp { socket: PathBuf, log: String },
    #[error("nstar {args}: not the JSON expected ({reason}):\n{stdout}")]
    Json {
        args: String,
        reason: String,
        stdout: String,
    },
}

/// The virtio-serial port of the channel on the host socket `socket` (removed first, so
/// that QEMU can listen there).
pub fn serial_port(socket: &Path) -> Result<SerialPort, Error> {
    if socket.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(Error::SocketPath {
            path: socket.to_path_buf(),
        });
    }
    let _ = std::fs::remove_file(socket);
    Ok(SerialPort {
        name: PORT.to_owned(),
        socket: socket.to_path_buf(),
    })
}

/// `nstar channel <chardev> --listen <socket>`: the host's end of the link, for as long
/// as it lives (killed when dropped). Its messages go to its log file.
pub struct Proxy {
    child: Child,
    nstar: PathBuf,
    chardev: PathBuf,
    pub socket: PathBuf,
    log: PathBuf,
}

impl Proxy {
    /// Starts the proxy of QEMU's socket `chardev` (which need not exist yet) on
    /// `socket`, and waits until it listens.
    pub fn start(nstar: &Path, chardev: &Path, socket: &Path, log: &Path) -> Result<Proxy, Error> {
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(Error::SocketPath {
                path: socket.to_path_buf(),
            });
        }
        // Each proxy's log begins empty; its restarts add to it.
        let _ = std::fs::remove_file(log);
        let mut proxy = Proxy {
            child: spawn_proxy(nstar, chardev, socket, log)?,
            nstar: nstar.to_path_buf(),
            chardev: chardev.to_path_buf(),
            socket: socket.to_path_buf(),
            log: log.to_path_buf(),
        };
        proxy.wait_listening()?;
        Ok(proxy)
    }

    /// Kills the proxy (QEMU's socket is free for another client then).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the proxy if it runs and starts a new one on the same sockets.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.stop();
        self.child = spawn_proxy(&self.nstar, &self.chardev, &self.socket, &self.log)?;
        self.wait_listening()
    }

    /// QEMU's socket, for `nstar -u channel://…` while the proxy is stopped.
    pub fn chardev(&self) -> &Path {
        &self.chardev
    }

    /// What the proxy said so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_listening(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + PROXY_START;
        while Instant::now() < deadline {
            if self.log().contains("served to clients of") && self.socket.exists() {
                return Ok(());
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(Error::ProxyNotUp {
            socket: self.socket.clone(),
            log: self.log(),
        })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_proxy(nstar: &Path, chardev: &Path, socket: &Path, log: &Path) -> Result<Child, Error> {
    let spawn = |source| Error::Spawn {
        program: format!("{} channel", nstar.display()),
        source,
    };
    // The old socket may be a live one of a proxy being replaced: gone with it.
    let _ = std::fs::remove_file(socket);
    let log = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(spawn)?;
    Command::new(nstar)
        .arg("channel")
        .arg(chardev)
        .arg("--listen")
        .arg(socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(spawn)
}

/// `nstar` against one machine's channel.
#[derive(Clone, Debug)]
pub struct Nstar {
    pub binary: PathBuf,
    pub socket: PathBuf,
    /// `nstar --timeout`: the connection, the handshake and each answer.
    pub timeout: Duration,
    /// `socket` is QEMU's own: `-u channel://`, not `unix://`.
    pub direct: bool,
}

impl Nstar {
    /// `nstar`'s `-u` for the channel: `unix://` (or `channel://`) and the socket's
    /// absolute path.
    pub fn url(&self) -> String {
        let socket = std::path::absolute(&self.socket).unwrap_or_else(|_| self.socket.clone());
        let scheme = if self.direct { "channel" } else { "unix" };
        format!("{scheme}://{}", socket.display())
    }

    /// The command line a user types to manage the machine.
    pub fn command_line(&self) -> String {
        format!("{} -u {}", self.binary.display(), self.url())
    }

    /// `nstar -u <url> --timeout <timeout> <args>`, under `timeout(1)` (twice the
    /// timeout plus 10 s), ready to spawn.
    pub fn command(&self, args: &[&str]) -> Command {
        let hard = (2 * self.timeout + Duration::from_secs(10))
            .as_secs()
            .to_string();
        let timeout = format!("{}s", self.timeout.as_secs().max(1));
        let mut command = Command::new("timeout");
        command
            .args(["--kill-after=5", &hard])
            .arg(&self.binary)
            .args(["-u", &self.url(), "--timeout", &timeout])
            .args(args);
        command
    }

    /// The same `nstar` speaking the link itself to QEMU's socket `chardev`
    /// (`-u channel://…`), for one command.
    pub fn direct(&self, chardev: &Path) -> Nstar {
        Nstar {
            socket: chardev.to_path_buf(),
            direct: true,
            ..self.clone()
        }
    }

    /// Runs `nstar … <args>` once; its output, whatever its status.
    pub fn output(&self, args: &[&str]) -> Result<Output, Error> {
        self.command(args).output().map_err(|source| Error::Spawn {
            program: self.binary.display().to_string(),
            source,
        })
    }

    /// A client library connection to the channel.
    pub fn client(
        &self,
        options: northstar_client::Options,
    ) -> Result<northstar_client::Client, northstar_client::Error> {
        northstar_client::Client::connect(&self.url(), options)
    }

    /// Runs nstar with `args`; its standard output when it succeeded.
    pub fn run(&self, args: &[&str]) -> Result<String, Error> {
        let output = self.output(args)?;
        if !output.status.success() {
            return Err(Error::Failed {
                args: args.join(" "),
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// `nstar list --json`: every container as `(id, state)`.
    pub fn list(&self) -> Result<Vec<(String, String)>, Error> {
        let args = ["list", "--json"];
        let stdout = self.run(&args)?;
        parse_list(&stdout).map_err(|reason| Error::Json {
            args: args.join(" "),
            reason,
            stdout,
        })
    }
}

/// The containers of `nstar list --json`'s output, as `(id, state)`.
pub fn parse_list(stdout: &str) -> Result<Vec<(String, String)>, String> {
    let value: serde_json::Value =
        serde_json::from_str(stdout.trim()).map_err(|e| e.to_string())?;
    let containers = value["containers"]
        .as_array()
        .ok_or("no \"containers\" list")?;
    containers
        .iter()
        .map(|c| {
            let field = |name: &str| {
                c[name]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("a container without {name:?}: {c}"))
            };
            Ok((field("container")?, field("state")?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_of_nstar() {
        let out = r#"{"type":"containers","containers":[{"container":"hello-world:0.0.1","repository":"system","resource":false,"state":"stopped","mounted":true,"restarts":0},{"container":"idle:0.0.1","repository":"system","resource":false,"state":"running","pid":12,"uptime_ms":5,"mounted":true,"restarts":0}]}"#;
        assert_eq!(
            parse_list(out).unwrap(),
            [
                ("hello-world:0.0.1".to_owned(), "stopped".to_owned()),
                ("idle:0.0.1".to_owned(), "running".to_owned())
            ]
        );
        assert!(parse_list("{}").is_err());
        assert!(parse_list("not json").is_err());
    }

    #[test]
    fn the_url_is_absolute() {
        let n = Nstar {
            binary: "nstar".into(),
            socket: "relative/api.sock".into(),
            timeout: Duration::from_secs(30),
            direct: false,
        };
        assert!(n.url().starts_with("unix:///"), "{}", n.url());
        assert!(n.url().ends_with("/relative/api.sock"));
        let d = n.direct(Path::new("/m/chardev.sock"));
        assert_eq!(d.url(), "channel:///m/chardev.sock");
        assert!(serial_port(&PathBuf::from("/".repeat(200))).is_err());
        let dir = tempfile::tempdir().unwrap();
        let port = serial_port(&dir.path().join("api.sock")).unwrap();
        assert_eq!(port.name, PORT);
    }
}
