//! What a connection's frames do: the handshake, the checks every request passes (rate,
//! permission, shutdown), each request mapped to the runtime, and the runtime's answers
//! turned into frames.

use super::{
    conn::{Conn, Phase},
    convert,
    event::{Answered, Ctx, Event},
    install::{Then, Upload},
    run::reply,
    Power, SystemRequest,
};
use crate::runtime::{self as rt, Response};
use northstar_api::{
    codec::MAX_SERVER_FRAME, ApiError, ClientMessage, ContainerId, ExitStatus, Permission, Request,
    RequestId, Scope, ServerMessage, Welcome, PROTOCOL_VERSION,
};
use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

/// What an answer of the runtime completes.
pub(super) enum Pending {
    /// A request answered as is (`container`: the request's).
    Plain(Option<ContainerId>),
    /// `logs`.
    Logs {
        container: ContainerId,
        tail: Option<u32>,
        follow: Option<Arc<AtomicBool>>,
    },
    /// `restart`: stopping (no status yet), then starting again.
    Restart {
        container: ContainerId,
        status: Option<ExitStatus>,
    },
    /// `install` or `update`: the spools are removed when the answer has come (those
    /// the runtime took over are gone already).
    Install { _upload: Box<Upload> },
}

impl Pending {
    fn container(&self) -> Option<&ContainerId> {
        match self {
            Pending::Plain(c) => c.as_ref(),
            Pending::Logs { container, .. } | Pending::Restart { container, .. } => Some(container),
            Pending::Install { .. } => None,
        }
    }
}

/// A followed log of a connection; the follower in the runtime ends when it is dropped.
#[derive(Debug)]
pub(super) struct Follow {
    pub id: RequestId,
    alive: Arc<AtomicBool>,
}

impl Drop for Follow {
    fn drop(&mut self) {
        self.alive.store(false, Ordering::Relaxed);
    }
}

/// A frame of `conn` (connection `token`).
pub(super) fn message(ctx: &mut Ctx, token: u64, conn: &mut Conn, message: ClientMessage) {
    match (conn.phase, message) {
        (Phase::Handshake(_), ClientMessage::Hello(hello)) => {
            match PROTOCOL_VERSION.negotiate(hello.version) {
                Ok(version) => {
                    conn.version = version;
                    log::debug!("api: {}: {} connected", conn.peer, hello.client);
                    conn.phase = Phase::Ready;
                    reply(
                        conn,
                        ServerMessage::Welcome(Welcome {
                            version: PROTOCOL_VERSION,
                            permissions: conn.permissions.clone(),
                        }),
                    );
                }
                Err(e) => {
                    log::info!("api: {}: {e}", conn.peer);
                    conn.fail(None, e);
                }
            }
        }
        (Phase::Handshake(_), ClientMessage::Request { id, .. }) => conn.fail(
            Some(id),
            ApiError::InvalidRequest {
                what: "a request before the handshake".into(),
                field: None,
                offset: None,
            },
        ),
        (_, ClientMessage::Hello(_)) => conn.fail(
            None,
            ApiError::InvalidRequest {
                what: "a second hello".into(),
                field: None,
                offset: None,
            },
        ),
        (Phase::Ready, ClientMessage::Request { id, request }) => {
            self::request(ctx, token, conn, id, request)
        }
        (Phase::Closing, ClientMessage::Request { .. }) => {}
    }
}

pub(super) fn error(conn: &mut Conn, id: RequestId, e: ApiError) {
    if e.closes_connection() {
        conn.fail(Some(id), e);
    } else {
        reply(conn, ServerMessage::error(Some(id), e));
    }
}

fn ok(conn: &mut Conn, id: RequestId, response: northstar_api::Response) {
    reply(conn, ServerMessage::Response { id, response });
}

/// A request: the checks, then what it does.
fn request(ctx: &mut Ctx, token: u64, conn: &mut Conn, id: RequestId, request: Request) {
    if request.since() > conn.version {
        // What a server of the session's version answers: the type is unknown to it.
        let what = format!(
            "unknown variant `{}` in protocol {}",
            request.name(),
            conn.version
        );
        let e = ApiError::InvalidRequest {
            what,
            field: None,
            offset: None,
        };
        return error(conn, id, e);
    }
    let refused = if !conn.limits.rate.allow(Instant::now()) {
        Some(ApiError::RateLimited {
            per_second: conn.limits.rate.per_second(),
        })
    } else if let Err(e) = conn.permissions.check(&request) {
        Some(e)
    } else if ctx.shutting_down {
        Some(ApiError::ShuttingDown {})
    } else {
        None
    };
    if let Some(e) = refused {
        if request.raw_len().is_some_and(|n| n > 0) {
            // The bytes follow anyway: read and drop them, the stream stays in step.
            conn.raw = conn.discard();
        }
        return error(conn, id, e);
    }
    let container = request.container().cloned();
    let plain = Pending::Plain(container.clone());
    let internal = match request {
        Request::List {} => rt::Request::List,
        Request::Inspect { container } => rt::Request::Inspect { id: container },
        Request::Start {
            container,
            args,
            env,
        } => rt::Request::Start {
            id: container,
            args: args.map(Into::into),
            env: env.map(Into::into),
        },
        Request::Kill { container, signal } => rt::Request::Kill {
            id: container,
            signal: signal.number(),
        },
        Request::Stop {
            container,
            timeout_ms,
        } => rt::Request::Stop {
            id: container,
            timeout: timeout_ms.map(|t| t.as_duration()),
        },
        Request::Restart {
            container,
            timeout_ms,
        } => {
            let stop = rt::Request::Stop {
                id: container.clone(),
                timeout: timeout_ms.map(|t| t.as_duration()),
            };
            let pending = Pending::Restart {
                container,
                status: None,
            };
            send(ctx, token, conn, id, stop, pending);
            return;
        }
        Request::Install {
            repository,
            size,
            sha256,
        } => {
            let packages = [(size, sha256.map(|d| d.0))];
            let repository = repository.as_str();
            return super::install::request(
                ctx,
                token,
                conn,
                id,
                repository,
                &packages,
                Then::Install,
            );
        }
        Request::Update {
            repository,
            packages,
            options,
        } => {
            let packages: Vec<_> = packages
                .as_slice()
                .iter()
                .map(|p| (p.size, p.sha256.map(|d| d.0)))
                .collect();
            let then = Then::Update(update_options(conn, options));
            let repository = repository.as_str();
            return super::install::request(ctx, token, conn, id, repository, &packages, then);
        }
        Request::Rollback {
            name,
            repository,
            options,
        } => rt::Request::Rollback {
            repository: repository.map(String::from),
            name: name.to_string(),
            options: update_options(conn, options),
        },
        Request::Enable { name, repository } => rt::Request::Enable {
            repository: repository.map(String::from),
            name: name.to_string(),
            enabled: Some(true),
        },
        Request::Disable { name, repository } => rt::Request::Enable {
            repository: repository.map(String::from),
            name: name.to_string(),
            enabled: Some(false),
        },
        Request::Uninstall { container, wipe } => rt::Request::Uninstall {
            id: container,
            wipe,
            repositories: match conn.permissions.scope(Permission::Uninstall) {
                Some(Scope::Only(repositories)) => Some(repositories.clone()),
                Some(Scope::All) | None => None,
            },
        },
        Request::Verify { container } => rt::Request::Verify { id: container },
        Request::Mount { container } => rt::Request::Mount { id: container },
        Request::Umount { container } => rt::Request::Umount { id: container },
        Request::Repositories {} => rt::Request::Repositories,
        Request::Logs {
            container,
            tail,
            follow,
        } => return logs(ctx, token, conn, id, container, tail, follow),
        Request::BootReport {} => {
            return match ctx.host.boot_report() {
                Some(report) => {
                    let report = Box::new(report);
                    ok(conn, id, northstar_api::Response::BootReport { report })
                }
                None => unsupported(conn, id, "boot_report"),
            }
        }
        Request::SystemInstall { size, sha256 } => {
            let sha256 = sha256.map(|d| d.0);
            return super::bundle::request(ctx, conn, token, id, size, sha256);
        }
        Request::SystemStatus {} => return system(ctx, conn, id, SystemRequest::Status),
        Request::SystemMark { mark, slot } => {
            return system(ctx, conn, id, SystemRequest::Mark { mark, slot })
        }
        Request::Shutdown {} => return power(ctx, conn, id, Power::Shutdown, "shutdown"),
        Request::Reboot {} => return power(ctx, conn, id, Power::Reboot, "reboot"),
        Request::Subscribe {} => {
            conn.subscribed = true;
            return ok(conn, id, northstar_api::Response::Ok {});
        }
    };
    send(ctx, token, conn, id, internal, plain);
}

/// The runtime's options of an update or rollback. `downgrade` only with the permission
/// (the check refused the request without it; this keeps it so whatever the check does).
fn update_options(conn: &Conn, options: northstar_api::UpdateOptions) -> rt::UpdateOptions {
    let health = options.health.map(|h| match h {
        northstar_api::Health::Ready => crate::config::Health::Ready,
        northstar_api::Health::Running => crate::config::Health::Running,
        northstar_api::Health::Exited => crate::config::Health::Exited,
    });
    rt::UpdateOptions {
        health,
        window: options.window_ms.map(Duration::from_millis),
        deadline: options.deadline_ms.map(Duration::from_millis),
        snapshot: options.snapshot,
        downgrade: options.downgrade && conn.permissions.contains(Permission::Downgrade),
    }
}

fn unsupported(conn: &mut Conn, id: RequestId, request: &str) {
    error(
        conn,
        id,
        ApiError::Unsupported {
            request: request.into(),
        },
    )
}

/// `system_status` and `system_mark`: the owner of the runtime answers at once.
fn system(ctx: &mut Ctx, conn: &mut Conn, id: RequestId, request: SystemRequest) {
    let name = match request {
        SystemRequest::Status => "system_status",
        SystemRequest::Mark { .. } => "system_mark",
    };
    let mark = match &request {
        SystemRequest::Mark { mark, slot } => Some(format!("slot {slot} {mark}")),
        SystemRequest::Status => None,
    };
    match ctx.host.system(request) {
        Some(Ok(status)) => {
            if let Some(mark) = mark {
                log::info!("api: {}: marked {mark}", conn.peer);
            }
            ok(conn, id, northstar_api::Response::System { status })
        }
        Some(Err(reason)) => error(conn, id, ApiError::SystemFailed { reason }),
        None => unsupported(conn, id, name),
    }
}

fn power(ctx: &mut Ctx, conn: &mut Conn, id: RequestId, power: Power, name: &str) {
    if ctx.host.power(power) {
        log::info!("api: {}: {name} requested", conn.peer);
        ctx.shutting_down = true;
        ok(conn, id, northstar_api::Response::Ok {});
    } else {
        unsupported(conn, id, name);
    }
}

/// Send `request` to the runtime; its answer comes back as [`Event::Answer`] (when the
/// runtime has ended, at once, as an error).
pub(super) fn send(
    ctx: &mut Ctx,
    token: u64,
    conn: &mut Conn,
    id: RequestId,
    request: rt::Request,
    pending: Pending,
) {
    let inbox = ctx.inbox.clone();
    ctx.requester.request_then(request, move |answer| {
        inbox.send(Event::Answer(Box::new(Answered {
            conn: token,
            id,
            pending,
            answer,
        })))
    });
    conn.in_flight = conn.in_flight.saturating_add(1);
}

fn logs(
    ctx: &mut Ctx,
    token: u64,
    conn: &mut Conn,
    id: RequestId,
    container: ContainerId,
    tail: Option<u32>,
    follow: bool,
) {
    if !follow {
        let request = rt::Request::Logs {
            id: container.clone(),
        };
        let pending = Pending::Logs {
            container,
            tail,
            follow: None,
        };
        send(ctx, token, conn, id, request, pending);
        return;
    }
    let alive = Arc::new(AtomicBool::new(true));
    let pending = Pending::Logs {
        container: container.clone(),
        tail,
        follow: Some(alive.clone()),
    };
    let (inbox, lines_inbox) = (ctx.inbox.clone(), ctx.inbox.clone());
    let follower = move |lines: Option<&[String]>| {
        if !alive.load(Ordering::Relaxed) {
            return false;
        }
        if lines.is_some_and(<[String]>::is_empty) {
            return true;
        }
        let end = lines.is_none();
        lines_inbox.send(Event::Log {
            conn: token,
            id,
            lines: lines.map(<[String]>::to_vec),
        });
        !end
    };
    ctx.requester.follow(container, follower, move |answer| {
        inbox.send(Event::Answer(Box::new(Answered {
            conn: token,
            id,
            pending,
            answer,
        })))
    });
    conn.in_flight = conn.in_flight.saturating_add(1);
}

/// Lines of a followed log.
pub(super) fn log(conn: &mut Conn, id: RequestId, lines: Option<Vec<String>>) {
    let Some(at) = conn.follows.iter().position(|f| f.id == id) else {
        return;
    };
    let Some(lines) = lines else {
        conn.follows.remove(at);
        reply(conn, ServerMessage::LogEnd { id });
        return;
    };
    if conn.out.len() > conn.limits.write_buffer {
        // A follower that does not read loses lines, never the runtime's memory.
        return;
    }
    reply(conn, ServerMessage::Log { id, lines });
}

/// The runtime answered a request of connection `a.conn` (gone: `conn` is `None`).
pub(super) fn answered(ctx: &mut Ctx, conn: Option<&mut Conn>, a: Answered) {
    if matches!(a.pending, Pending::Install { .. }) && ctx.installing == Some(a.conn) {
        ctx.installing = None;
    }
    let Some(conn) = conn else {
        return;
    };
    conn.in_flight = conn.in_flight.saturating_sub(1);
    let id = a.id;
    let container = a.pending.container().cloned();
    let result: Result<northstar_api::Response, ApiError> = match (a.pending, a.answer) {
        (
            Pending::Restart {
                container,
                status: None,
            },
            Ok(Response::Stopped { status }),
        ) => {
            let again = rt::Request::StartAgain {
                id: container.clone(),
            };
            let pending = Pending::Restart {
                container,
                status: Some(convert::exit(status)),
            };
            send(ctx, a.conn, conn, id, again, pending);
            return;
        }
        (
            Pending::Restart {
                container,
                status: Some(status),
            },
            Ok(Response::Started { pid }),
        ) => Ok(northstar_api::Response::Restarted {
            container,
            status,
            pid,
        }),
        (Pending::Logs { tail, follow, .. }, Ok(Response::Logs { output })) => {
            let budget = MAX_SERVER_FRAME
                .min(conn.limits.write_buffer)
                .saturating_sub(256);
            if let Some(alive) = follow {
                conn.follows.push(Follow { id, alive });
            }
            Ok(convert::logs(&output, tail, budget))
        }
        (pending, Ok(response)) => convert::response(pending.container(), response),
        (_, Err(e)) => Err(convert::error(container.as_ref(), e)),
    };
    match result {
        Ok(response) => ok(conn, id, response),
        Err(e) => error(conn, id, e),
    }
}
