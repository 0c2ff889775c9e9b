//! A guest for tests (feature `testing`, and this crate's own tests): the guest's end of
//! the link relaying to a given API socket, behind a stand-in of QEMU's `-chardev socket`
//! (a unix socket that serves one connection at a time and keeps the guest's stream in
//! between, as a virtio port does). Not for production builds.

use crate::{pump::Refusal, OnEof, Pump, Role, Sessions};
use std::{
    io::{self, Read, Write},
    os::unix::net::{UnixListener, UnixStream},
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

/// Starts a guest whose sessions go to the socket `api`, reachable through the listening
/// socket `chardev`; both run on threads until the process ends.
pub fn guest_behind_chardev(api: &Path, chardev: &Path, refusal: Refusal) -> io::Result<()> {
    let (guest, host) = UnixStream::pair()?;
    guest.set_nonblocking(true)?;
    let socket = api.to_owned();
    let mut pump = Pump::new(Role::Guest, Sessions::Connect { socket, refusal }, 32)
        .map_err(io::Error::other)?;
    thread::spawn(move || {
        let mut guest = guest;
        let _ = pump.run(&mut guest, OnEof::Wait);
    });
    let listener = UnixListener::bind(chardev)?;
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let _ = serve(client, &host);
        }
    });
    Ok(())
}

/// Copy between one client of the chardev and the guest's stream until the client goes.
fn serve(client: UnixStream, guest: &UnixStream) -> io::Result<()> {
    let gone = Arc::new(AtomicBool::new(false));
    let (mut from_client, mut to_guest) = (client.try_clone()?, guest.try_clone()?);
    let flag = gone.clone();
    let up = thread::spawn(move || {
        let _ = io::copy(&mut from_client, &mut to_guest);
        flag.store(true, Ordering::SeqCst);
    });
    // Guest to client until the client is gone; what the guest writes meanwhile waits in
    // the socket pair for the next client.
    let mut from_guest = guest.try_clone()?;
    from_guest.set_read_timeout(Some(Duration::from_millis(20)))?;
    let mut to_client = client;
    let mut buf = [0u8; 8192];
    while !gone.load(Ordering::SeqCst) {
        if let Ok(n @ 1..) = from_guest.read(&mut buf) {
            if to_client
                .write_all(buf.get(..n).unwrap_or_default())
                .is_err()
            {
                break;
            }
        }
    }
    let _ = up.join();
    Ok(())
}
