//! What reaches the server's loop from other threads ([`Event`]) and what every
//! connection shares ([`Ctx`]).

use super::{dispatch::Pending, Host, Inbox};
use crate::{
    config::ApiConfig,
    id::ContainerId,
    runtime::{Answer, Notification, Requester},
};
use std::{collections::BTreeMap, os::fd::OwnedFd, path::PathBuf, sync::Arc};

/// Something for the server.
pub enum Event {
    /// The runtime answered a request.
    Answer(Box<Answered>),
    /// A runtime notification.
    Notification(Notification),
    /// A container's console: the server's end of a connected socket pair.
    Console {
        /// The container.
        id: ContainerId,
        /// Its manifest's `console`.
        console: npk::manifest::Console,
        /// The server's end.
        fd: OwnedFd,
    },
    /// Lines of a followed log, or its end (`None`).
    Log {
        /// The connection.
        conn: u64,
        /// The request.
        id: northstar_api::RequestId,
        /// The lines.
        lines: Option<Vec<String>>,
    },
    /// The host's answer to a `system_install`.
    System(Box<super::bundle::SystemAnswered>),
    /// Stop serving.
    Stop,
}

/// An answer of the runtime to a connection's request.
pub struct Answered {
    pub(super) conn: u64,
    pub(super) id: northstar_api::RequestId,
    pub(super) pending: Pending,
    pub(super) answer: Answer,
}

/// Shared by every connection.
pub(super) struct Ctx {
    pub api: ApiConfig,
    pub repositories: BTreeMap<String, PathBuf>,
    pub requester: Requester,
    pub host: Arc<dyn Host>,
    pub inbox: Inbox,
    /// The connection whose install is in progress (its bytes are arriving).
    pub installing: Option<u64>,
    /// Set while a system install is spooled or with the host.
    pub system_busy: Arc<std::sync::atomic::AtomicBool>,
    pub shutting_down: bool,
}
