//! The unix sockets a manifest asks for (`sockets`): the runtime creates, binds and listens
//! on each in `run_dir/sockets/<name>/<socket>` before the container starts, with the
//! manifest's mode and owner. The container gets the directory at its `sockets` mount point
//! and the sockets themselves as inherited file descriptors, named in its environment
//! (`NORTHSTAR_SOCKET_<socket>=<fd>`, from fd 3 on, in the order of the names). Other
//! parties reach a socket by its path.
//!
//! A container with a `sockets` mount also gets the runtime's notify socket there,
//! [`NOTIFY_NAME`]: a datagram socket the runtime receives on (sd_notify: readiness,
//! status, watchdog keep-alives), writable by anyone in the container.

use nix::{
    sys::socket::{bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr},
    unistd::{chown, Gid, Uid},
};
use npk::manifest::{Manifest, Mount, SocketType};
use std::{
    fs, io,
    os::{fd::OwnedFd, unix::fs::PermissionsExt},
    path::{Path, PathBuf},
};

/// Most sockets one container may have.
pub const MAX_SOCKETS: usize = 32;
/// Most descriptors passed to a container: its sockets and its console.
pub const MAX_PASS: usize = MAX_SOCKETS + 1;
/// The file name of the notify socket. The colon is not allowed in a manifest's socket
/// names (`[0-9A-Za-z._-]`), so it never clashes with one of them.
pub const NOTIFY_NAME: &str = ":notify";

/// A failure naming the socket's path.
#[derive(Debug, thiserror::Error)]
#[error("socket {path}: {what}")]
pub struct Error {
    path: PathBuf,
    what: &'static str,
    #[source]
    source: io::Error,
}

/// Created sockets: the directory, each socket's name and listening fd, and the
/// receiving end of the notify socket.
#[derive(Debug)]
pub(crate) struct Sockets {
    pub dir: PathBuf,
    pub fds: Vec<(String, OwnedFd)>,
    /// The notify socket (non-blocking), when the container has a `sockets` mount.
    pub notify: Option<OwnedFd>,
}

/// Create the sockets of `manifest` in `dir` (emptied first), and the notify socket when
/// the manifest mounts the directory.
pub(crate) fn create(manifest: &Manifest, dir: &Path) -> Result<Option<Sockets>, Error> {
    let mounted = manifest
        .mounts
        .values()
        .any(|m| matches!(m, Mount::Sockets));
    if manifest.sockets.is_empty() && !mounted {
        return Ok(None);
    }
    let fail = |path: &Path, what| {
        let path = path.to_path_buf();
        move |source| Error { path, what, source }
    };
    if manifest.sockets.len() > MAX_SOCKETS {
        return Err(Error {
            path: dir.to_path_buf(),
            what: "too many sockets",
            source: io::Error::from_raw_os_error(libc::EMFILE),
        });
    }
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(fail(dir, "remove stale sockets"))?;
    }
    fs::create_dir_all(dir).map_err(fail(dir, "create the directory"))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
        .map_err(fail(dir, "set the directory's mode"))?;
    let mut fds = Vec::new();
    for (name, spec) in &manifest.sockets {
        let path = dir.join(name);
        let kind = match spec.kind {
            SocketType::Stream => SockType::Stream,
            SocketType::Datagram => SockType::Datagram,
            SocketType::SeqPacket => SockType::SeqPacket,
        };
        let fd = socket(AddressFamily::Unix, kind, SockFlag::SOCK_CLOEXEC, None)
            .map_err(|e| fail(&path, "create")(e.into()))?;
        let address = UnixAddr::new(&path).map_err(|e| fail(&path, "address")(e.into()))?;
        bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &address)
            .map_err(|e| fail(&path, "bind")(e.into()))?;
        if kind != SockType::Datagram {
            listen(&fd, Backlog::new(64).unwrap_or(Backlog::MAXCONN))
                .map_err(|e| fail(&path, "listen")(e.into()))?;
        }
        let uid = spec.uid.unwrap_or(manifest.uid);
        let gid = spec.gid.unwrap_or(manifest.gid);
        chown(&path, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
            .map_err(|e| fail(&path, "change the owner")(e.into()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(spec.mode))
            .map_err(fail(&path, "set the mode"))?;
        fds.push((name.clone(), fd));
    }
    let notify = mounted
        .then(|| notify(manifest, &dir.join(NOTIFY_NAME)))
        .transpose()?;
    Ok(Some(Sockets {
        dir: dir.to_path_buf(),
        fds,
        notify,
    }))
}

/// The notify socket at `path`: a datagram socket bound there, owned by the container's
/// uid/gid and writable by every process in it (mode 0666). The runtime keeps the
/// receiving end, non-blocking: the loop reads it when it is readable.
fn notify(manifest: &Manifest, path: &Path) -> Result<OwnedFd, Error> {
    let fail = |what| {
        let path = path.to_path_buf();
        move |source| Error { path, what, source }
    };
    let fd = socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(|e| fail("create")(e.into()))?;
    let address = UnixAddr::new(path).map_err(|e| fail("address")(e.into()))?;
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &address).map_err(|e| fail("bind")(e.into()))?;
    chown(
        path,
        Some(Uid::from_raw(manifest.uid)),
        Some(Gid::from_raw(manifest.gid)),
    )
    .map_err(|e| fail("change the owner")(e.into()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o666)).map_err(fail("set the mode"))?;
    Ok(fd)
}
