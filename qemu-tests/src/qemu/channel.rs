//! The host's end of a guest's management channel (`doc/boot.md`, "The management
//! channel"): a virtio-serial port named [`PORT`] on a unix socket that QEMU listens on,
//! and the workspace's `nstar` run against that socket, as a user would run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use super::SerialPort;

/// The port's name, as the boards' `[channel] port` expects it.
pub const PORT: &str = "org.northstar.api";
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
    #[error("cargo failed to build nstar for the host ({status}):\n{stderr}")]
    Build {
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("nstar {args} failed ({status}):\n{stderr}")]
    Failed {
        args: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
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

/// Builds `nstar` for the host (release, `Cargo.lock` as it is); returns its path.
pub fn build_nstar() -> Result<PathBuf, Error> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    log::info!("building nstar for the host");
    let output = Command::new(&cargo)
        .current_dir(crate::cargo::workspace_root())
        .args([
            "build",
            "--locked",
            "--release",
            "-p",
            "nstar",
            "--bin",
            "nstar",
        ])
        .output()
        .map_err(|source| Error::Spawn {
            program: cargo.to_string_lossy().into_owned(),
            source,
        })?;
    if !output.status.success() {
        return Err(Error::Build {
            status: output.status,
            stderr: crate::cargo::tail(&String::from_utf8_lossy(&output.stderr), 40),
        });
    }
    Ok(crate::cargo::target_dir().join("release").join("nstar"))
}

/// The pause before each host client of the channel.
pub const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// Runs of one `nstar` command whose handshake was lost to a quick reconnect.
pub const HANDSHAKE_ATTEMPTS: u32 = 3;

/// Whether nstar's error output says it never got the server's answer to its `hello`
/// (and so sent no request).
fn lost_handshake(stderr: &[u8]) -> bool {
    String::from_utf8_lossy(stderr).contains("waiting for the handshake")
}

/// `nstar` against one machine's channel.
#[derive(Clone, Debug)]
pub struct Nstar {
    pub binary: PathBuf,
    pub socket: PathBuf,
    /// `nstar --timeout`: the connection, the handshake and each answer.
    pub timeout: Duration,
}

impl Nstar {
    /// `nstar`'s `-u` for the channel: `unix://` and the socket's absolute path.
    pub fn url(&self) -> String {
        let socket = std::path::absolute(&self.socket).unwrap_or_else(|_| self.socket.clone());
        format!("unix://{}", socket.display())
    }

    /// The command line a user types to manage the machine.
    pub fn command_line(&self) -> String {
        format!("{} -u {}", self.binary.display(), self.url())
    }

    /// Runs `nstar -u <url> --timeout <timeout> <args>` (under `timeout(1)`, twice the
    /// timeout plus 10 s); its output, whatever its status. Waits [`RECONNECT_PAUSE`]
    /// first: the guest learns of a host client's disconnect asynchronously, and a next
    /// client whose first bytes it reads before that news loses its session
    /// (doc/boot.md, "The management channel"). Such a client times out waiting for the
    /// handshake, before any request was sent: that is retried, up to
    /// [`HANDSHAKE_ATTEMPTS`] runs in all.
    pub fn output(&self, args: &[&str]) -> Result<Output, Error> {
        let mut attempt = 1;
        loop {
            let output = self.output_once(args)?;
            if output.status.success()
                || attempt == HANDSHAKE_ATTEMPTS
                || !lost_handshake(&output.stderr)
            {
                return Ok(output);
            }
            log::warn!(
                "nstar {}: no handshake (attempt {attempt} of {HANDSHAKE_ATTEMPTS}), again",
                args.join(" ")
            );
            attempt += 1;
        }
    }

    fn output_once(&self, args: &[&str]) -> Result<Output, Error> {
        std::thread::sleep(RECONNECT_PAUSE);
        let hard = (2 * self.timeout + Duration::from_secs(10))
            .as_secs()
            .to_string();
        let timeout = format!("{}s", self.timeout.as_secs().max(1));
        Command::new("timeout")
            .args(["--kill-after=5", &hard])
            .arg(&self.binary)
            .args(["-u", &self.url(), "--timeout", &timeout])
            .args(args)
            .output()
            .map_err(|source| Error::Spawn {
                program: self.binary.display().to_string(),
                source,
            })
    }

    /// A client library connection to the channel, after [`RECONNECT_PAUSE`]; like
    /// [`Nstar::output`], a handshake lost to a quick reconnect is tried again, up to
    /// [`HANDSHAKE_ATTEMPTS`] in all.
    pub fn client(
        &self,
        options: northstar_client::Options,
    ) -> Result<northstar_client::Client, northstar_client::Error> {
        let mut attempt = 1;
        loop {
            std::thread::sleep(RECONNECT_PAUSE);
            match northstar_client::Client::connect(&self.url(), options.clone()) {
                Err(northstar_client::Error::Timeout { what, .. })
                    if what == "the handshake" && attempt < HANDSHAKE_ATTEMPTS =>
                {
                    log::warn!(
                        "client: no handshake (attempt {attempt} of {HANDSHAKE_ATTEMPTS}), again"
                    );
                    attempt += 1;
                }
                result => return result,
            }
        }
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
    fn only_a_lost_handshake_is_retried() {
        assert!(lost_handshake(
            b"nstar: error: timed out after 30s waiting for the handshake\n"
        ));
        assert!(!lost_handshake(
            b"nstar: error: timed out after 30s waiting for the answer to shutdown\n"
        ));
        assert!(!lost_handshake(b""));
    }

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
        };
        assert!(n.url().starts_with("unix:///"), "{}", n.url());
        assert!(n.url().ends_with("/relative/api.sock"));
        assert!(serial_port(&PathBuf::from("/".repeat(200))).is_err());
        let dir = tempfile::tempdir().unwrap();
        let port = serial_port(&dir.path().join("api.sock")).unwrap();
        assert_eq!(port.name, PORT);
    }
}
