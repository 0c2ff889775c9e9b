//! `channel://`: the client speaks the link protocol of a management channel itself, on a
//! QEMU chardev socket or a serial line, with one session (`doc/channel.md`).
//!
//! A thread runs the host's end of the link and relays its one session to one end of a
//! socket pair; the client reads and writes the other end as it would a unix socket. The
//! thread ends with the session (the client closed its end, or the device ended it) or
//! with the link, and the client then reads the end of its stream.

use northstar_channel::{serial, OnEof, Pump, Role, Sessions};
use std::{io, os::unix::net::UnixStream, path::Path};

/// Open the link at `path` (a tty at `baud` bits per second, or a unix socket) and start
/// its session; the client's end of it.
pub(crate) fn connect(path: &Path, baud: u32) -> io::Result<UnixStream> {
    let (mine, theirs) = UnixStream::pair()?;
    let mut pump =
        Pump::new(Role::Host, Sessions::One(Some(theirs)), 1).map_err(io::Error::other)?;
    let thread = std::thread::Builder::new().name("channel".into());
    if serial::is_tty(path) {
        let mut tty = serial::open(path, baud).map_err(io::Error::other)?;
        thread.spawn(move || pump.run(&mut tty, OnEof::End))?;
    } else {
        let mut socket = UnixStream::connect(path)?;
        socket.set_nonblocking(true)?;
        thread.spawn(move || pump.run(&mut socket, OnEof::End))?;
    }
    Ok(mine)
}
