//! The management channel's link: sessions of the management API multiplexed over one
//! long-lived byte stream (a virtio-serial port between a QEMU guest and its host, a
//! UART or USB gadget serial port between a board and a lab machine).
//!
//! - [`frame`]: the frames on the wire and a decoder that finds them again after
//!   garbage.
//! - [`link`]: the protocol's state machine without I/O (handshake, sessions, flow
//!   control), testable on an in-memory byte pipe.
//! - [`pump`]: the I/O around it: the stream on one side, a unix socket per session on
//!   the other (the guest connects each session to the API socket; the host proxy
//!   accepts clients on a socket of its own).
//! - [`serial`]: a tty set up for the link (raw, 8N1, a given speed).
//!
//! It does not know the management API: sessions carry bytes. `doc/channel.md` describes
//! the protocol.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
// PID 1 runs the link in its channel thread and never panics: no indexing or arithmetic
// that can panic outside tests (doc/design.md, "PID 1 never panics").
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

pub mod frame;
pub mod link;
pub mod pump;
pub mod serial;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use link::{Link, Role};
pub use pump::{Ended, OnEof, Pump, Sessions};
