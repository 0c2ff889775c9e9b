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
    /// The message as a session of `version` may see it, when it differs: a 1.3 (or
    /// older) session gets no permission added in 1.4; a 1.2 (or older) session gets no
    /// permission added in 1.3; a 1.1 (or older) session gets no
    /// permission, field or notification added in 1.2; a 1.0
    /// session gets no limited grant in `welcome` (only the unlimited ones) and
    /// `permission_denied` for the errors of limited grants. A notification the session
    /// does not know is not for it at all ([`ServerMessage::visible_in`]).
    pub fn for_version(&self, version: ProtocolVersion) -> Option<ServerMessage> {
        if version >= ProtocolVersion::new(1, 4) {
            return None;
        }
        if version >= ProtocolVersion::new(1, 3) {
            // 1.4 added permissions, requests, their answer and an error: only `welcome`
            // differs (the server refuses the requests, so the rest never comes).
            return match self {
                ServerMessage::Welcome(welcome) => Some(ServerMessage::Welcome(Welcome {
                    version: welcome.version,
                    permissions: welcome.permissions.before_1_4(),
                })),
                _ => None,
            };
        }
        if version >= ProtocolVersion::new(1, 2) {
            // 1.3 added a permission, a request and its answer, a notification: only
            // `welcome` differs (the server refuses the request and filters the rest).
            return match self {
                ServerMessage::Welcome(welcome) => Some(ServerMessage::Welcome(Welcome {
                    version: welcome.version,
                    permissions: welcome.permissions.before_1_3().before_1_4(),
                })),
                _ => None,
            };
        }
        let old_1_0 = version < ProtocolVersion::new(1, 1);
        match self {
            ServerMessage::Welcome(welcome) => {
                let permissions = welcome.permissions.before_1_2().before_1_3().before_1_4();
                Some(ServerMessage::Welcome(Welcome {
                    version: welcome.version,
                    permissions: if old_1_0 {
                        permissions.unlimited()
                    } else {
                        permissions
                    },
                }))
            }
            ServerMessage::Response {
                id,
                response: Response::Containers { containers },
            } => Some(ServerMessage::Response {
                id: *id,
                response: Response::Containers {
                    containers: containers.iter().map(|c| c.before_1_2()).collect(),
                },
            }),
            ServerMessage::Response {
                id,
                response: Response::Inspect(inspection),
            } => {
                let mut inspection = inspection.clone();
                inspection.info = inspection.info.before_1_2();
                Some(ServerMessage::Response {
                    id: *id,
                    response: Response::Inspect(inspection),
                })
            }
            ServerMessage::Error {
                id,
                message,
                error:
                    ApiError::RepositoryNotGranted { permission, .. }
                    | ApiError::ContainerNotGranted { permission, .. },
            } if old_1_0 => Some(ServerMessage::Error {
                id: *id,
                message: message.clone(),
                error: ApiError::PermissionDenied {
                    permission: *permission,
                },
            }),
            _ => None,
        }
    }

    /// Whether a session of `version` gets the message: not a notification added after
    /// its version.
    pub fn visible_in(&self, version: ProtocolVersion) -> bool {
        match self {
            ServerMessage::Notification { notification } => notification.since() <= version,
            _ => true,
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Permission, RepositoryName};

    #[test]
    fn a_1_0_session_gets_what_1_0_has() {
        let old = ProtocolVersion::new(1, 0);
        let mut permissions: Permissions = [Permission::List].into_iter().collect();
        permissions.insert_for(Permission::Install, "apps").unwrap();
        let welcome = ServerMessage::Welcome(Welcome {
            version: crate::PROTOCOL_VERSION,
            permissions: permissions.clone(),
        });
        let Some(ServerMessage::Welcome(seen)) = welcome.for_version(old) else {
            panic!("a 1.0 welcome")
        };
        assert_eq!(seen.permissions, [Permission::List].into_iter().collect());
        assert_eq!(welcome.for_version(crate::PROTOCOL_VERSION), None);
        let error = ServerMessage::error(
            Some(RequestId(1)),
            ApiError::RepositoryNotGranted {
                permission: Permission::Install,
                repository: RepositoryName::new("system").unwrap(),
            },
        );
        let Some(ServerMessage::Error { error: seen, .. }) = error.for_version(old) else {
            panic!("a 1.0 error")
        };
        assert_eq!(
            seen,
            ApiError::PermissionDenied {
                permission: Permission::Install
            }
        );
    }

    #[test]
    fn a_1_3_session_gets_what_1_3_has() {
        let old = ProtocolVersion::new(1, 3);
        let permissions: Permissions = [
            Permission::Verify,
            Permission::SystemStatus,
            Permission::SystemUpdate,
        ]
        .into_iter()
        .collect();
        let welcome = ServerMessage::Welcome(Welcome {
            version: crate::PROTOCOL_VERSION,
            permissions,
        });
        let Some(ServerMessage::Welcome(seen)) = welcome.for_version(old) else {
            panic!("a 1.3 welcome")
        };
        assert_eq!(seen.permissions.to_string(), "verify");
        assert_eq!(welcome.for_version(crate::PROTOCOL_VERSION), None);
        // Older sessions neither.
        for older in [ProtocolVersion::new(1, 2), ProtocolVersion::new(1, 0)] {
            let Some(ServerMessage::Welcome(seen)) = welcome.for_version(older) else {
                panic!("a {older} welcome")
            };
            assert!(seen.permissions.is_empty(), "{older}: {}", seen.permissions);
        }
    }

    #[test]
    fn a_1_2_session_gets_what_1_2_has() {
        let old = ProtocolVersion::new(1, 2);
        let mut permissions: Permissions = [
            Permission::Update,
            Permission::Verify,
            Permission::SystemStatus,
        ]
        .into_iter()
        .collect();
        permissions.insert_for(Permission::Inspect, "a").unwrap();
        let welcome = ServerMessage::Welcome(Welcome {
            version: crate::PROTOCOL_VERSION,
            permissions,
        });
        let Some(ServerMessage::Welcome(seen)) = welcome.for_version(old) else {
            panic!("a 1.2 welcome")
        };
        assert_eq!(seen.permissions.to_string(), "inspect:a, update");
        assert_eq!(welcome.for_version(crate::PROTOCOL_VERSION), None);
        let failed = ServerMessage::Notification {
            notification: crate::Notification::VerifyFailed {
                container: "a:1.0.0".parse().unwrap(),
                reason: "block 1".into(),
            },
        };
        assert!(!failed.visible_in(old));
        assert!(failed.visible_in(crate::PROTOCOL_VERSION));
        assert_eq!(failed.for_version(old), None);
    }

    #[test]
    fn a_1_1_session_gets_what_1_1_has() {
        let old = ProtocolVersion::new(1, 1);
        let mut permissions: Permissions = [Permission::List, Permission::Downgrade]
            .into_iter()
            .collect();
        permissions.insert_for(Permission::Update, "apps").unwrap();
        permissions.insert_for(Permission::Install, "apps").unwrap();
        let welcome = ServerMessage::Welcome(Welcome {
            version: crate::PROTOCOL_VERSION,
            permissions,
        });
        let Some(ServerMessage::Welcome(seen)) = welcome.for_version(old) else {
            panic!("a 1.1 welcome")
        };
        assert_eq!(seen.permissions.to_string(), "list, install:apps");
        let ready = ServerMessage::Notification {
            notification: crate::Notification::Ready {
                container: "a:1.0.0".parse().unwrap(),
            },
        };
        assert!(!ready.visible_in(old));
        assert!(ready.visible_in(crate::PROTOCOL_VERSION));
        let info = crate::ContainerInfo {
            container: "a:1.0.0".parse().unwrap(),
            repository: RepositoryName::new("apps").unwrap(),
            resource: false,
            state: crate::ContainerState::Running,
            pid: Some(1),
            uptime_ms: None,
            mounted: true,
            last_exit: None,
            restarts: 0,
            ready: true,
            status: Some("up".into()),
            active: true,
        };
        let list = ServerMessage::Response {
            id: RequestId(1),
            response: Response::Containers {
                containers: vec![info.clone()],
            },
        };
        let Some(ServerMessage::Response {
            response: Response::Containers { containers },
            ..
        }) = list.for_version(old)
        else {
            panic!("a 1.1 list")
        };
        assert_eq!(containers, [info.before_1_2()]);
        let json = serde_json::to_value(&containers[0]).unwrap();
        for field in ["ready", "status", "active"] {
            assert!(json.get(field).is_none(), "{field}");
        }
    }
}
