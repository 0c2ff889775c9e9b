//! The frames: what a client sends ([`ClientMessage`]) and what a server sends
//! ([`ServerMessage`]). A session begins with [`Hello`] and [`Welcome`]; then requests and
//! their answers, matched by [`RequestId`], interleave with notifications and log lines.

use crate::{
    codec::Message,
    error::ApiError,
    notification::Notification,
    permission::Permissions,
    request::Request,
    response::Response,
    types::{ClientName, RequestId},
    version::ProtocolVersion,
};
use serde::{Deserialize, Serialize};

/// The first frame of a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// The protocol version the client speaks.
    pub version: ProtocolVersion,
    /// Who the client is, for the server's log (`nstar 0.1.0`).
    pub client: ClientName,
}

/// The server's answer to an accepted [`Hello`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Welcome {
    /// The protocol version the server speaks. The session speaks the client's.
    pub version: ProtocolVersion,
    /// What this connection may ask.
    pub permissions: Permissions,
}

/// A frame from a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// The handshake; first and only once.
    Hello(Hello),
    /// A request, answered by a [`ServerMessage::Response`] or [`ServerMessage::Error`]
    /// with the same id.
    Request {
        /// Chosen by the client; the server echoes it.
        id: RequestId,
        /// What is asked.
        request: Request,
    },
}

impl Message for ClientMessage {
    fn raw_len(&self) -> Option<u64> {
        match self {
            ClientMessage::Request { request, .. } => request.raw_len(),
            ClientMessage::Hello(_) => None,
        }
    }
}

/// A frame from a server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServerMessage {
    /// The handshake succeeded.
    Welcome(Welcome),
    /// A request succeeded.
    Response {
        /// The request's id.
        id: RequestId,
        /// The answer.
        response: Response,
    },
    /// A request, the handshake or a frame was refused. `id` is the request's, absent
    /// when the error is not about a request (handshake, framing) or the frame was too
    /// broken to find it. `message` is `error`'s text for people and clients that do not
    /// know the code.
    Error {
        /// The request's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<RequestId>,
        /// Human-readable text of `error`.
        message: String,
        /// The error.
        error: ApiError,
    },
    /// Something happened (after `subscribe`).
    Notification {
        /// What.
        notification: Notification,
    },
    /// New lines of a followed log (`logs` with `follow`).
    Log {
        /// The `logs` request's id.
        id: RequestId,
        /// The lines, oldest first.
        lines: Vec<String>,
    },
    /// A followed log ended: the container was uninstalled or the runtime shuts down.
    LogEnd {
        /// The `logs` request's id.
        id: RequestId,
    },
}

impl ServerMessage {
    /// An error frame, with its message.
    pub fn error(id: Option<RequestId>, error: ApiError) -> ServerMessage {
        ServerMessage::Error {
            id,
            message: error.to_string(),
            error,
        }
    }
}

impl Message for ServerMessage {}
