//! The Northstar management API: the wire contract between the runtime's server and its
//! clients (the `nstar` command line, programs inside containers).
//!
//! This crate owns the protocol and nothing else:
//! - the messages: [`ClientMessage`] (handshake [`Hello`], [`Request`]s) and
//!   [`ServerMessage`] ([`Welcome`], [`Response`]s, [`ApiError`]s, [`Notification`]s, log
//!   lines), as JSON objects tagged by `"type"`;
//! - the versioned handshake ([`PROTOCOL_VERSION`], [`ProtocolVersion::negotiate`]);
//! - the permissions a request needs ([`Permission`], [`Permissions`], [`required`]);
//! - the closed set of errors with stable codes ([`ApiError`]);
//! - the framing: newline-delimited JSON with a size limit, and the raw-bytes phase that
//!   carries the packages after an `install` or `update` request (and the bundle after a
//!   `system_install`) ([`codec`]);
//! - the values of update transactions ([`UpdateOptions`], [`Packages`]);
//! - the values of the A/B system slots ([`SystemStatus`], [`SlotMark`], [`SlotTarget`],
//!   [`SystemInstalled`]);
//! - how an error and its sources are written in one line ([`chain`]).
//!
//! It does not own sockets, connections, timeouts, rate limits or the decision which
//! peer gets which permissions: those are the server's (`runtime-core`) and the client's.
//! It does no I/O: the decoder takes bytes and gives frames, the encoder gives bytes.
//!
//! Inbound values are validated while they are parsed: a [`ContainerId`], a
//! [`RepositoryName`], a [`Signal`] or start overrides ([`Args`], [`Env`]) that break
//! their rules are refused by the decoder with the reason, and unknown fields are errors.
//! The protocol is described in `doc/api.md`.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod chain;
pub mod codec;
mod error;
mod message;
mod notification;
mod permission;
mod request;
mod response;
mod system;
mod types;
mod update;
mod version;

pub use chain::chain;
pub use error::ApiError;
pub use message::{ClientMessage, Hello, ServerMessage, Welcome};
pub use notification::Notification;
pub use permission::{required, Permission, Permissions, Scope, Targets};
pub use request::Request;
pub use response::{
    BootOutcome, BootReport, BootStep, CgroupStats, CheckResult, ContainerInfo, ContainerState,
    CpuStats, Inspection, MemoryEvents, MemoryStats, PackageCheck, PidsStats, ProcessInfo,
    RepositoryInfo, Response, SelinuxStatus,
};
pub use system::{
    SlotMark, SlotState, SlotStatus, SlotTarget, SystemInstalled, SystemStatus, MAX_SLOT_NAME,
};
pub use types::{
    Args, ClientName, ContainerId, Env, ExitStatus, InvalidValue, RepositoryName, RequestId,
    Sha256, Signal, StopTimeout,
};
pub use update::{Health, Package, Packages, UpdateOptions};
pub use version::{ProtocolVersion, PROTOCOL_VERSION};

/// The manifest type carried by [`Response::Inspect`].
pub use npk::manifest::Manifest;
/// A container name (`rollback`, `enable`, `disable`).
pub use npk::manifest::Name as ContainerName;
