//! The management channel: a virtio-serial port relayed to the management API's socket,
//! so that the host of a virtual machine (QEMU: `-device virtserialport,name=…` on a
//! `-chardev socket`) can run `nstar -u unix://<host socket> …` against this init
//! (`doc/boot.md`, "The management channel").
//!
//! The board configuration names the port (`[channel] port`); the kernel names it in
//! `/sys/class/virtio-ports/<vportNpM>/name`, and devtmpfs makes `/dev/<vportNpM>`. A
//! thread of its own finds the port (looking every 10 ms up to `[channel] wait`: ports are
//! added after the driver loaded, asynchronously), opens it and relays ([`relay`]). Every
//! connection it makes to the API socket comes from the init: the server treats the host's
//! clients as uid 0 and gid 0 and gives them what the runtime configuration grants to
//! those.
//!
//! The channel is a convenience, not part of the boot: its errors are logged and the
//! system runs on without it.

mod relay;
mod sessions;

use super::{board, device};
use runtime_core::config::ApiConfig;
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

/// Why the channel is not available.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the runtime configuration has no [api]: there is no socket to relay to")]
    NoApi,
    #[error("no virtio port named {port:?} appeared in {CLASS} within {} ms", waited.as_millis())]
    NotFound { port: String, waited: Duration },
    #[error("cannot read {}: {source}", path.display())]
    Sysfs {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("port {port:?}")]
    Device {
        port: String,
        #[source]
        source: device::Error,
    },
    #[error("cannot open {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot spawn its thread: {0}")]
    Thread(#[source] io::Error),
    #[error("relay")]
    Relay(#[from] relay::Error),
}

/// Start the channel of the board on a thread of its own; errors are logged there.
pub fn start(channel: &board::Channel, api: Option<&ApiConfig>) {
    let result = match api {
        None => Err(Error::NoApi),
        Some(api) => {
            let channel = channel.clone();
            let socket = api.socket.clone();
            let max_frame = usize::try_from(api.max_frame).unwrap_or(usize::MAX);
            std::thread::Builder::new()
                .name("channel".into())
                .spawn(move || {
                    if let Err(e) = run(&channel, &socket, max_frame) {
                        let message = format!(
                            "management channel {}: {}; the channel is closed",
                            channel.port,
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
        log::error!(
            "management channel {}: {}",
            channel.port,
            crate::logger::chain(&e)
        );
    }
}

/// Find and open the port, then relay for as long as the port works.
fn run(channel: &board::Channel, socket: &Path, max_frame: usize) -> Result<(), Error> {
    let (path, waited) = wait(
        Path::new(CLASS),
        Path::new(DEV),
        &channel.port,
        channel.wait,
    )?;
    let port = open(&path)?;
    log::info!(
        "management channel: port {} at {}, relayed to {} (found after {} ms)",
        channel.port,
        path.display(),
        socket.display(),
        waited.as_millis()
    );
    match relay::Relay::new(port, socket, max_frame)?.run() {
        Ok(never) => match never {},
        Err(e) => Err(e.into()),
    }
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
                    port: name.to_owned(),
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
        std::thread::sleep(INTERVAL.min(wait - waited));
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
