//! The sd_notify protocol as a daemon speaks it: datagrams to the unix socket named by
//! `NOTIFY_SOCKET`, keep-alives at half of `WATCHDOG_USEC`.

use crate::out::{self, Failure};
use std::{os::unix::net::UnixDatagram, time::Duration};

/// The socket named by `NOTIFY_SOCKET` (a path; abstract names are not used here).
fn socket() -> Result<(UnixDatagram, String), Failure> {
    let path = std::env::var("NOTIFY_SOCKET")
        .map_err(|_| Failure("NOTIFY_SOCKET is not set".to_string()))?;
    let socket = UnixDatagram::unbound().map_err(|e| out::failure("create a socket", e))?;
    Ok((socket, path))
}

/// Sends `text` as one datagram and prints `{"notify":"<text>"}`.
pub fn send(text: &str) -> Result<(), Failure> {
    let (socket, path) = socket()?;
    socket
        .send_to(text.as_bytes(), &path)
        .map_err(|e| out::failure(format_args!("send to {path}"), e))?;
    out::line(&format!("{{\"notify\":{:?}}}", text))
}

/// Sends `WATCHDOG=1` `n` times, sleeping half of `WATCHDOG_USEC` before each.
pub fn watchdog(n: u32) -> Result<(), Failure> {
    let usec: u64 = std::env::var("WATCHDOG_USEC")
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Failure("WATCHDOG_USEC is not set or not a number".to_string()))?;
    let (socket, path) = socket()?;
    for _ in 0..n {
        std::thread::sleep(Duration::from_micros(usec / 2));
        socket
            .send_to(b"WATCHDOG=1", &path)
            .map_err(|e| out::failure(format_args!("send to {path}"), e))?;
    }
    out::line(&format!("{{\"watchdog\":{n}}}"))
}
