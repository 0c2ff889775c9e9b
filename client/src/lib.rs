//! A blocking client of the Northstar management API (`doc/api.md`).
//!
//! This crate owns the client side of a connection:
//! - the transport: a unix socket (`unix:///path`) or TCP (`tcp://host:port`, see
//!   [`TcpAuthentication`]: protocol 1.0 defines no authentication, so TCP is refused
//!   unless explicitly accepted unauthenticated) ([`Url`], [`Client::connect`]);
//! - the handshake, with a clear error on a version mismatch naming the server's version;
//! - one typed method per request ([`Client::list`], [`Client::start_with`],
//!   [`Client::install`] streaming a file with progress (its digest from
//!   [`package_sha256`]), [`Client::update`] (a transaction of several packages, its
//!   notifications passed on live), [`Client::verify`], [`Client::system_status`] and
//!   [`Client::system_mark`] (the A/B slots), [`Client::system_install`] (a bundle into
//!   a slot, streamed as an install), [`Client::follow_logs`],
//!   [`Client::notifications`], ...), requests matched to answers by id, and the
//!   notifications and log lines that arrive in between kept for later;
//! - timeouts (connect, request) and bounded reads (the codec's frame limit);
//! - one error type, [`Error`], which carries the server's [`northstar_api::ApiError`].
//!
//! It does not own the protocol (messages, codec, limits: `northstar-api`), the server
//! (`runtime-core`), the command line and its output (`nstar`), or any async runtime: all
//! I/O is blocking std I/O on the caller's thread, one request at a time.
//!
//! With the `test-server` feature, the `testing` module offers an in-process fake server
//! speaking the protocol, for tests of this crate and of its users.
//!
//! ```no_run
//! use northstar_client::{Client, Options};
//! let mut client = Client::connect("unix:///run/northstar/api.sock", Options::default())?;
//! for container in client.list()? {
//!     println!("{} {:?}", container.container, container.state);
//! }
//! # Ok::<(), northstar_client::Error>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod channel;
mod client;
mod connection;
mod error;
mod install;
mod requests;
mod stream;
#[cfg(feature = "test-server")]
pub mod testing;
mod tls;
mod transport;
mod update;
mod url;

pub use client::{Client, Options, MAX_QUEUED_NOTIFICATIONS};
pub use error::{Error, ErrorKind};
pub use install::{package_sha256, SYSTEM_INSTALL_WAIT};
pub use northstar_api as api;
pub use requests::{Logs, Restarted, VERIFY_WAIT};
pub use stream::{LogFollow, Notifications};
pub use tls::{TlsFileError, TlsIdentity};
pub use transport::TcpAuthentication;
pub use update::{UpdateFile, TRANSACTION_WAIT};
pub use url::{InvalidUrl, Url};
