//! The management channel: the link protocol (`northstar-channel`, `doc/channel.md`) on a
//! virtio-serial port or a serial line, each of its sessions relayed to the management
//! API's socket, so that the host of a virtual machine (QEMU: `-device
//! virtserialport,name=…` on a `-chardev socket`) or a lab machine on the board's UART
//! runs `nstar channel` and `nstar -u unix://<its socket> …` against this init.
//!
//! The board configuration names the port (`[channel] port`) or the serial line
//! (`[channel] device`, `baud`). For a port, the kernel names it in
//! `/sys/class/virtio-ports/<vportNpM>/name` and devtmpfs makes `/dev/<vportNpM>`. A
//! thread of its own finds the port or the line (looking every 10 ms up to `[channel]
//! wait`: ports are added after the driver loaded, asynchronously), opens it and runs
//! the guest's end of the link. Every connection it makes to the API socket comes from
//! the init: the server treats the host's clients as uid 0 and gid 0 and gives them what
//! the runtime configuration grants to those.
//!
//! The channel is a convenience, not part of the boot: its errors are logged and the
//! system runs on without it.

use super::{board, device};
use northstar_channel::{serial, OnEof, Pump, Role, Sessions};
use runtime_core::{
    config::ApiConfig,
    server::api::{codec::Encoder, ApiError, ServerMessage},
};
use std::{
    fs::{File, OpenOptions},
    io::{self, ErrorKind},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// Where the kernel lists the virtio ports.
pub const CLASS: &str = "/sys/class/virtio-ports";
/// Where their device nodes are.
const DEV: &str = "/dev";
/// How often the port is looked for while it has not appeared.
const INTERVAL: Duration = Duration::from_millis(10);
/// Most sessions at once (the API server has its own, usually lower, limit).
const MAX_SESSIONS: usize = 64;
/// Largest error frame sent to a host client whose session cannot reach the API socket.
const REFUSAL: usize = 4096;

/// Why the channel is not available.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the runtime configuration has no [api]: there is no socket to relay to")]
    NoApi,
    #[error("no virtio port named {port:?} appeared in {CLASS} within {} ms", waited.as_millis())]
    NotFound { port: String, waited: Duration },
    #[error("cannot read {}", path.display())]
    Sysfs {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{what}")]
    Device {
        what: String,
        #[source]
        source: device::Error,
    },
    #[error("cannot open {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("serial line")]
    Serial(#[from] serial::Error),
    #[error("cannot spawn its thread")]
    Thread(#[source] io::Error),
    #[error("link")]
    Link(#[from] northstar_channel::pump::Error),
}

/// Start the channel of the board on a thread of its own; errors are logged there.
pub fn start(channel: &board::Channel, api: Option<&ApiConfig>) {
    let name = describe(channel);
    let result = match api {
        None => Err(Error::NoApi),
        Some(api) => {
            let channel = channel.clone();
            let socket = api.socket.clone();
            let max = usize::try_from(api.max_connections)
                .unwrap_or(MAX_SESSIONS)
                .min(MAX_SESSIONS);
            let name = name.clone();
            std::thread::Builder::new()
                .name("channel".into())
                .spawn(move || {
                    if let Err(e) = run(&channel, &socket, max) {
                        let message = format!(
                            "management channel {name}: {}; the channel is closed",
                            crate::logger::chain(&e)
                        );
                        // A machine started without the port is not an error of the init.
                        if matches!(e, Error::NotFound { .. }) {
                            log::warn!("{message}");
                        } else {
                            log::error!("{message}");
                        }
                    }
                })
                .map(drop)
                .map_err(Error::Thread)
        }
    };
    if let Err(e) = result {
        log::error!("management channel {name}: {}", crate::logger::chain(&e));
    }
}

/// How the log names the channel: its port, or its serial line.
fn describe(channel: &board::Channel) -> String {
    match (&channel.port, &channel.device) {
        (Some(port), _) => port.clone(),
        (None, Some(device)) => device.display().to_string(),
        (None, None) => "(none)".into(),
    }
}

/// Find and open the port or line, then run the link for as long as it works.
fn run(channel: &board::Channel, socket: &Path, max_sessions: usize) -> Result<(), Error> {
    let (mut stream, path, waited) = match (&channel.port, &channel.device) {
        (Some(port), _) => {
            let (path, waited) = wait(Path::new(CLASS), Path::new(DEV), port, channel.wait)?;
            (open(&path)?, path, waited)
        }
        (None, Some(device)) => {
            let waited = device::wait_for_node(device, device::Kind::Character, channel.wait)
                .map_err(|source| Error::Device {
                    what: format!("serial line {}", device.display()),
                    source,
                })?;
            (serial::open(device, channel.baud)?, device.clone(), waited)
        }
        (None, None) => return Ok(()),
    };
    log::info!(
        "management channel: {} at {}, sessions relayed to {} (found after {} ms)",
        describe(channel),
        path.display(),
        socket.display(),
        waited.as_millis()
    );
    let sessions = Sessions::Connect {
        socket: socket.to_owned(),
        refusal: Box::new(refusal),
    };
    let mut pump = Pump::new(Role::Guest, sessions, max_sessions)?;
    // A port or line whose other end is gone reads as closed until it comes back: the
    // link waits (OnEof::Wait), and only an error ends it.
    pump.run(&mut stream, OnEof::Wait)?;
    Ok(())
}

/// What a host client gets when its session cannot reach the API socket: the protocol's
/// error frame, so that `nstar` says why.
fn refusal(e: &io::Error) -> Vec<u8> {
    let message = format!("the management channel cannot reach the API socket: {e}");
    let frame = ServerMessage::error(None, ApiError::Internal { message });
    Encoder::new(REFUSAL).to_vec(&frame).unwrap_or_default()
}

/// Open the port for reading and writing, non-blocking.
fn open(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(|source| Error::Open {
            path: path.to_owned(),
            source,
        })
}

/// Wait until the port named `name` is listed in `class` and its node in `dev` is a
/// character device, for at most `wait`. Returns the node and how long it took.
fn wait(
    class: &Path,
    dev: &Path,
    name: &str,
    wait: Duration,
) -> Result<(PathBuf, Duration), Error> {
    let start = Instant::now();
    loop {
        if let Some(node) = find(class, dev, name)? {
            let left = wait.saturating_sub(start.elapsed());
            device::wait_for_node(&node, device::Kind::Character, left).map_err(|source| {
                Error::Device {
                    what: format!("port {name:?}"),
                    source,
                }
            })?;
            return Ok((node, start.elapsed()));
        }
        let waited = start.elapsed();
        if waited >= wait {
            return Err(Error::NotFound {
                port: name.to_owned(),
                waited,
            });
        }
        std::thread::sleep(INTERVAL.min(wait.saturating_sub(waited)));
    }
}

/// The device node of the port named `name`, if `class` lists one.
fn find(class: &Path, dev: &Path, name: &str) -> Result<Option<PathBuf>, Error> {
    let sysfs = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Sysfs { path, source }
    };
    let entries = match std::fs::read_dir(class) {
        Ok(entries) => entries,
        // No virtio port yet (or the driver is not loaded).
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(sysfs(class)(e)),
    };
    let mut ports = Vec::new();
    for entry in entries {
        ports.push(entry.map_err(sysfs(class))?.file_name());
    }
    ports.sort();
    for port in ports {
        let file = class.join(&port).join("name");
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            // The port went away, or has no name (a console port).
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(sysfs(&file)(e)),
        };
        if text.trim_end_matches('\n') == name {
            return Ok(Some(dev.join(port)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(class: &Path, dir: &str, name: &str) {
        std::fs::create_dir_all(class.join(dir)).unwrap();
        std::fs::write(class.join(dir).join("name"), format!("{name}\n")).unwrap();
    }

    #[test]
    fn the_port_is_found_by_its_name() {
        let tmp = tempfile::tempdir().unwrap();
        let class = tmp.path().join("virtio-ports");
        let dev = tmp.path().join("dev");
        assert!(find(&class, &dev, "org.northstar.api").unwrap().is_none());
        port(&class, "vport0p0", "");
        port(&class, "vport0p1", "org.qemu.guest_agent.0");
        port(&class, "vport1p1", "org.northstar.api");
        assert_eq!(
            find(&class, &dev, "org.northstar.api").unwrap(),
            Some(dev.join("vport1p1"))
        );
        assert!(find(&class, &dev, "org.northstar").unwrap().is_none());
    }

    #[test]
    fn waiting_names_what_is_missing() {
        let tmp = tempfile::tempdir().unwrap();
        let class = tmp.path().join("virtio-ports");
        let e = wait(&class, tmp.path(), "p", Duration::from_millis(30)).unwrap_err();
        assert!(
            matches!(e, Error::NotFound { waited, .. } if waited >= Duration::from_millis(30)),
            "{e}"
        );
        assert!(
            e.to_string().starts_with("no virtio port named \"p\""),
            "{e}"
        );
        // Listed, but its node is not a character device.
        port(&class, "vport0p1", "p");
        std::fs::write(tmp.path().join("vport0p1"), "").unwrap();
        let e = wait(&class, tmp.path(), "p", Duration::from_millis(30)).unwrap_err();
        assert!(matches!(e, Error::Device { .. }), "{e}");
        // A character device: found.
        port(&class, "null", "q");
        let (node, _) = wait(&class, Path::new("/dev"), "q", Duration::from_secs(1)).unwrap();
        assert_eq!(node, Path::new("/dev/null"));
    }
}
