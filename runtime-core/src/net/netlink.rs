//! A minimal rtnetlink client: just the requests the runtime needs to build container
//! networks (veth pairs, bridges, addresses, link state, default routes). Messages are
//! encoded by hand (the layouts of `linux/netlink.h`, `linux/rtnetlink.h`,
//! `linux/if_link.h`, `linux/veth.h`); every request asks for an acknowledgement and an
//! error reply becomes an `io::Error` with the kernel's errno.

use nix::sys::socket::{
    bind, recv, send, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol,
    SockType,
};
use std::{
    io,
    net::Ipv4Addr,
    os::fd::{AsRawFd, OwnedFd, RawFd},
};

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const NLMSG_ERROR: u16 = 2;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;

const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const NLA_F_NESTED: u16 = 0x8000;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_GATEWAY: u16 = 5;

const IFF_UP: u32 = 0x1;

/// A netlink message under construction: header, fixed part, attributes.
struct Message {
    buf: Vec<u8>,
    /// Offsets of open nested attributes.
    nests: Vec<usize>,
}

impl Message {
    fn new(kind: u16, flags: u16) -> Message {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set at the end
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        buf.extend_from_slice(&1u32.to_ne_bytes()); // sequence
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
        Message {
            buf,
            nests: Vec::new(),
        }
    }

    /// `struct ifinfomsg`.
    fn ifinfo(mut self, index: i32, flags: u32, change: u32) -> Message {
        self.buf.push(libc::AF_UNSPEC as u8);
        self.buf.push(0);
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&change.to_ne_bytes());
        self
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn attr(mut self, kind: u16, data: &[u8]) -> Message {
        // Attributes are names and numbers, far below u16::MAX.
        let len = data.len().saturating_add(4) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
        self
    }

    fn attr_str(self, kind: u16, text: &str) -> Message {
        let mut data = text.as_bytes().to_vec();
        data.push(0);
        self.attr(kind, &data)
    }

    fn begin(mut self, kind: u16) -> Message {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self
    }

    fn end(mut self) -> Message {
        if let Some(start) = self.nests.pop() {
            let len = self.buf.len().saturating_sub(start) as u16;
            // `begin` put the length field at `start`.
            if let Some(field) = self.buf.get_mut(start..).and_then(<[u8]>::first_chunk_mut) {
                *field = len.to_ne_bytes();
            }
        }
        self
    }

    /// Raw bytes appended as they are (a nested fixed struct such as the peer's ifinfomsg).
    fn raw(mut self, bytes: &[u8]) -> Message {
        self.buf.extend_from_slice(bytes);
        self
    }

    fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        // `new` put the length field first.
        if let Some(field) = self.buf.first_chunk_mut() {
            *field = len.to_ne_bytes();
        }
        self.buf
    }
}

/// A route netlink socket in the calling thread's network namespace.
pub(crate) struct Netlink {
    fd: OwnedFd,
}

impl Netlink {
    pub(crate) fn open() -> io::Result<Netlink> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        Ok(Netlink { fd })
    }

    /// Send one request and wait for its acknowledgement.
    fn request(&self, message: Vec<u8>) -> io::Result<()> {
        send(self.fd.as_raw_fd(), &message, MsgFlags::empty())?;
        let mut buf = [0u8; 4096];
        let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty())?;
        let reply = buf.get(..n).unwrap_or_default();
        // `struct nlmsghdr` (16 bytes), then the errno of `struct nlmsgerr`.
        let short = || io::Error::new(io::ErrorKind::InvalidData, "short netlink reply");
        let (header, body) = reply.split_first_chunk::<16>().ok_or_else(short)?;
        let (error, _) = body.split_first_chunk::<4>().ok_or_else(short)?;
        let [_, _, _, _, kind_0, kind_1, ..] = *header;
        if u16::from_ne_bytes([kind_0, kind_1]) != NLMSG_ERROR {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "unexpected netlink reply",
            ));
        }
        match i32::from_ne_bytes(*error) {
            0 => Ok(()),
            e => Err(io::Error::from_raw_os_error(e.saturating_neg())),
        }
    }

    /// Create a veth pair: `outer` here, `inner` in the namespace of `netns`.
    pub(crate) fn create_veth(&self, outer: &str, inner: &str, netns: RawFd) -> io::Result<()> {
        let peer = Message::new(0, 0).ifinfo(0, 0, 0);
        // Only the ifinfomsg part of `peer` (after the 16-byte header) is nested.
        let peer_info = peer.buf.get(16..).unwrap_or_default().to_vec();
        let m = Message::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
            .ifinfo(0, 0, 0)
            .attr_str(IFLA_IFNAME, outer)
            .begin(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "veth")
            .begin(IFLA_INFO_DATA)
            .begin(VETH_INFO_PEER)
            .raw(&peer_info)
            .attr_str(IFLA_IFNAME, inner)
            .attr(IFLA_NET_NS_FD, &netns.to_ne_bytes())
            .end()
            .end()
            .end();
        self.request(m.finish())
    }

    /// Create a bridge; an existing one of that name is kept.
    pub(crate) fn create_bridge(&self, name: &str) -> io::Result<()> {
        let m = Message::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
            .ifinfo(0, 0, 0)
            .attr_str(IFLA_IFNAME, name)
            .begin(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "bridge")
            .end();
        match self.request(m.finish()) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            other => other,
        }
    }

    /// Make `link` a port of `master`.
    pub(crate) fn set_master(&self, link: u32, master: u32) -> io::Result<()> {
        let m = Message::new(RTM_NEWLINK, 0)
            .ifinfo(link as i32, 0, 0)
            .attr(IFLA_MASTER, &master.to_ne_bytes());
        self.request(m.finish())
    }

    /// Set a link up.
    pub(crate) fn set_up(&self, link: u32) -> io::Result<()> {
        let m = Message::new(RTM_NEWLINK, 0).ifinfo(link as i32, IFF_UP, IFF_UP);
        self.request(m.finish())
    }

    /// Delete a link (for a veth, both ends).
    pub(crate) fn delete(&self, link: u32) -> io::Result<()> {
        let m = Message::new(RTM_DELLINK, 0).ifinfo(link as i32, 0, 0);
        self.request(m.finish())
    }

    /// Add an IPv4 address with its prefix length to a link.
    pub(crate) fn add_address(&self, link: u32, address: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut m = Message::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
        // struct ifaddrmsg
        m.buf.push(libc::AF_INET as u8);
        m.buf.push(prefix);
        m.buf.push(0);
        m.buf.push(0); // RT_SCOPE_UNIVERSE
        m.buf.extend_from_slice(&link.to_ne_bytes());
        let m = m
            .attr(IFA_LOCAL, &address.octets())
            .attr(IFA_ADDRESS, &address.octets());
        self.request(m.finish())
    }

    /// Add a default IPv4 route through `gateway`.
    pub(crate) fn add_default_route(&self, gateway: Ipv4Addr) -> io::Result<()> {
        let mut m = Message::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        // struct rtmsg: family, dst_len, src_len, tos, table (main), protocol (boot),
        // scope (universe), type (unicast), flags.
        m.buf
            .extend_from_slice(&[libc::AF_INET as u8, 0, 0, 0, 254, 3, 0, 1]);
        m.buf.extend_from_slice(&0u32.to_ne_bytes());
        let m = m.attr(RTA_GATEWAY, &gateway.octets());
        self.request(m.finish())
    }
}

/// The index of the interface `name` in the calling thread's network namespace.
pub(crate) fn index(name: &str) -> io::Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nested_lengths_set() {
        let m = Message::new(RTM_NEWLINK, 0)
            .ifinfo(0, 0, 0)
            .attr_str(IFLA_IFNAME, "abcde")
            .begin(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "veth")
            .end()
            .finish();
        // 16 header + 16 ifinfomsg + (4 + 6 → 12) name + (4 + (4 + 5 → 12)) linkinfo
        assert_eq!(m.len(), 16 + 16 + 12 + 16);
        assert_eq!(
            u32::from_ne_bytes([m[0], m[1], m[2], m[3]]) as usize,
            m.len()
        );
        let nest = 16 + 16 + 12;
        assert_eq!(u16::from_ne_bytes([m[nest], m[nest + 1]]), 16);
        assert_eq!(
            u16::from_ne_bytes([m[nest + 2], m[nest + 3]]),
            IFLA_LINKINFO | NLA_F_NESTED
        );
    }
}
