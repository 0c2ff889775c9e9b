//! The listening socket: bound at the configured path (a stale socket file there is
//! replaced, any other file is an error), given its owner and mode, non-blocking. Until
//! the mode is set the file has the process's default mode, whose write bit is the
//! owner's (root's) only, so nobody else can connect in between.

use super::Error;
use crate::config::ApiConfig;
use nix::unistd::{chown, Gid, Uid};
use std::{
    fs,
    io::ErrorKind,
    os::unix::{
        fs::{FileTypeExt, PermissionsExt},
        net::UnixListener,
    },
    path::Path,
};

fn fail<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Socket {
        path: path.to_owned(),
        what,
        source,
    }
}

/// Bind the socket of `api`.
pub(super) fn bind(api: &ApiConfig) -> Result<UnixListener, Error> {
    let path = api.socket.as_path();
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(fail(path, "create the directory"))?;
    }
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            fs::remove_file(path).map_err(fail(path, "remove the stale socket"))?
        }
        Ok(_) => {
            return Err(fail(path, "refuse to replace")(std::io::Error::from(
                ErrorKind::AlreadyExists,
            )))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(fail(path, "stat")(e)),
    }
    let listener = UnixListener::bind(path).map_err(fail(path, "bind"))?;
    chown(
        path,
        Some(Uid::from_raw(api.uid)),
        Some(Gid::from_raw(api.gid)),
    )
    .map_err(|e| fail(path, "change the owner")(e.into()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(api.mode))
        .map_err(fail(path, "set the mode"))?;
    listener
        .set_nonblocking(true)
        .map_err(fail(path, "make non-blocking"))?;
    Ok(listener)
}

/// Bind the TCP listener of `[api.tcp]` (non-blocking).
#[cfg(feature = "tls")]
pub(super) fn bind_tcp(tcp: &crate::config::TcpConfig) -> Result<std::net::TcpListener, Error> {
    let fail = |what| {
        move |source| Error::Tcp {
            address: tcp.listen,
            what,
            source,
        }
    };
    let listener = std::net::TcpListener::bind(tcp.listen).map_err(fail("bind"))?;
    listener
        .set_nonblocking(true)
        .map_err(fail("make non-blocking"))?;
    Ok(listener)
}

/// Remove the socket file (when the server stops).
pub(super) fn remove(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => log::warn!("{}: cannot remove the api socket: {e}", path.display()),
    }
}
