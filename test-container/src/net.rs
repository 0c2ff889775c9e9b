//! Network steps: `net` (interfaces and addresses from getifaddrs), `connect:` (a TCP
//! connect with a one-second timeout) and `listen:` (accept one TCP connection). Owns
//! only what the container's network namespace shows; addresses come from the test.

use crate::{
    json::Value,
    out::{self, failure, Failure},
};
use std::{
    net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream},
    time::Duration,
};

/// One interface as getifaddrs lists it.
#[derive(Default)]
struct Interface {
    name: String,
    flags: u32,
    ipv4: Vec<String>,
    ipv6: Vec<String>,
}

/// The address and prefix length of one getifaddrs entry, if it is IPv4 or IPv6.
///
/// # Safety
/// `addr` and `mask` must be null or point to socket addresses of their stated family,
/// as getifaddrs guarantees for the entries it returns.
unsafe fn address(
    addr: *const libc::sockaddr,
    mask: *const libc::sockaddr,
) -> Option<(u8, String)> {
    if addr.is_null() {
        return None;
    }
    // SAFETY: `addr` is non-null and points to a sockaddr (caller's contract).
    let family = i32::from(unsafe { (*addr).sa_family });
    match family {
        libc::AF_INET => {
            // SAFETY: family AF_INET means the storage is a sockaddr_in.
            let a = unsafe { &*addr.cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            let prefix = if mask.is_null() {
                32
            } else {
                // SAFETY: the netmask of an AF_INET entry is a sockaddr_in.
                let m = unsafe { &*mask.cast::<libc::sockaddr_in>() };
                m.sin_addr.s_addr.count_ones()
            };
            Some((4, format!("{ip}/{prefix}")))
        }
        libc::AF_INET6 => {
            // SAFETY: family AF_INET6 means the storage is a sockaddr_in6.
            let a = unsafe { &*addr.cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            let prefix = if mask.is_null() {
                128
            } else {
                // SAFETY: the netmask of an AF_INET6 entry is a sockaddr_in6.
                let m = unsafe { &*mask.cast::<libc::sockaddr_in6>() };
                m.sin6_addr.s6_addr.iter().map(|b| b.count_ones()).sum()
            };
            Some((6, format!("{ip}/{prefix}")))
        }
        _ => None,
    }
}

/// All interfaces in order of first appearance.
fn interfaces() -> Result<Vec<Interface>, i32> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `list` is a valid place for the result pointer.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(crate::sys::errno());
    }
    let mut found: Vec<Interface> = Vec::new();
    let mut cur = list;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned and not yet freed.
        let entry = unsafe { &*cur };
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(entry.ifa_name) }
            .to_string_lossy()
            .into_owned();
        let index = match found.iter().position(|i| i.name == name) {
            Some(i) => i,
            None => {
                found.push(Interface {
                    name,
                    flags: entry.ifa_flags,
                    ..Default::default()
                });
                found.len() - 1
            }
        };
        // SAFETY: getifaddrs sets ifa_addr and ifa_netmask to null or to addresses of
        // the entry's family.
        match unsafe { address(entry.ifa_addr, entry.ifa_netmask) } {
            Some((4, a)) => found[index].ipv4.push(a),
            Some((_, a)) => found[index].ipv6.push(a),
            None => (),
        }
        cur = entry.ifa_next;
    }
    // SAFETY: `list` came from getifaddrs and is freed once; no reference into it is
    // kept (names and addresses were copied).
    unsafe { libc::freeifaddrs(list) };
    Ok(found)
}

/// `net`: `{"interfaces":[{"name":..,"up":..,"loopback":..,"ipv4":[..],"ipv6":[..]}]}`.
pub fn net() -> Result<(), Failure> {
    let list = interfaces()
        .map_err(|e| Failure(format!("net: getifaddrs: {}", crate::names::errno_name(e))))?;
    let items: Vec<Value> = list
        .into_iter()
        .map(|i| {
            Value::object()
                .set("name", i.name)
                .set("up", i.flags & libc::IFF_UP as u32 != 0)
                .set("loopback", i.flags & libc::IFF_LOOPBACK as u32 != 0)
                .set("ipv4", i.ipv4)
                .set("ipv6", i.ipv6)
        })
        .collect();
    out::emit(&Value::object().set("interfaces", items))
}

/// `connect:<ip>:<port>`: `{"connect":"<addr>","ok":..,"errno":..,"error":..}`.
pub fn connect(addr: SocketAddr) -> Result<(), Failure> {
    let v = Value::object().set("connect", addr.to_string());
    let v = match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
        Ok(_) => out::with_errno(v.set("ok", true), 0),
        Err(e) => out::with_errno(v.set("ok", false), out::errno_of(&e)),
    };
    out::emit(&v)
}

/// `listen:<ip>:<port>`: prints `listening <addr>` (the bound port when 0 was given),
/// accepts one connection, prints `accepted`.
pub fn listen(addr: SocketAddr) -> Result<(), Failure> {
    let listener = TcpListener::bind(addr).map_err(|e| failure(format_args!("bind {addr}"), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| failure(format_args!("bind {addr}"), e))?;
    out::line(&format!("listening {local}"))?;
    listener
        .accept()
        .map_err(|e| failure(format_args!("accept on {local}"), e))?;
    out::line("accepted")
}
