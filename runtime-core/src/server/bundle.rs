//! `system_install` (1.4): a system update bundle spooled into the host's spool directory
//! (as an install's package is, see `install`), then handed to the owner of the runtime,
//! which verifies it, writes a slot and answers through [`SystemDone`] from a thread of
//! its own: the server's thread never waits for the slot to be written.
//!
//! One system install at a time: from the request until the host's answer, a second one
//! is answered `busy`. The host owns the bundle file once it has it.

use super::{
    conn::{Conn, Raw},
    dispatch::error,
    event::{Ctx, Event},
    install::{Then, Upload},
    run::reply,
    Inbox,
};
use northstar_api::{ApiError, RequestId, Response, ServerMessage, SystemInstalled};
use std::{
    fmt,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Instant,
};

/// The request's name in `unsupported` answers and logs.
const NAME: &str = "system_install";

/// Held from a system install's request until its answer is handled (or the upload is
/// dropped): while it lives, another system install is refused.
#[derive(Debug)]
pub(super) struct Busy(Arc<AtomicBool>);

impl Busy {
    /// The guard, or `None` when one is held already.
    pub(super) fn take(flag: &Arc<AtomicBool>) -> Option<Busy> {
        flag.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Busy(flag.clone()))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// How the host's work on a bundle ended.
enum Outcome {
    Done(Result<SystemInstalled, String>),
    Unsupported,
}

/// The host's answer to a `system_install`, on its way to the server's loop.
pub struct SystemAnswered {
    conn: u64,
    id: RequestId,
    outcome: Outcome,
    _busy: Busy,
}

impl SystemAnswered {
    /// The connection of the request.
    pub(super) fn conn(&self) -> u64 {
        self.conn
    }
}

/// The one-shot answer to a `system_install`, given to [`super::Host::system_install`]
/// with the bundle. Call [`SystemDone::done`] (or [`SystemDone::unsupported`]) once, from
/// any thread: the server answers the request on its connection (dropped quietly when that
/// connection has closed since). Dropped without an answer, it answers `system_failed`.
pub struct SystemDone {
    inbox: Inbox,
    conn: u64,
    id: RequestId,
    busy: Option<Busy>,
}

impl fmt::Debug for SystemDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemDone")
            .field("conn", &self.conn)
            .field("id", &self.id)
            .finish()
    }
}

impl SystemDone {
    /// The slot is written and marked active (`Ok`), or the install failed and nothing
    /// the system boots was changed (`Err(reason)`, answered `system_failed`; the reason
    /// names the bundle or the slot).
    pub fn done(mut self, result: Result<SystemInstalled, String>) {
        self.post(Outcome::Done(result));
    }

    /// The host does not install bundles (answered `unsupported`).
    pub fn unsupported(mut self) {
        self.post(Outcome::Unsupported);
    }

    fn post(&mut self, outcome: Outcome) {
        let Some(busy) = self.busy.take() else {
            return;
        };
        self.inbox.send(Event::System(Box::new(SystemAnswered {
            conn: self.conn,
            id: self.id,
            outcome,
            _busy: busy,
        })));
    }
}

impl Drop for SystemDone {
    fn drop(&mut self) {
        let reason = "the system install ended without an answer".to_string();
        self.post(Outcome::Done(Err(reason)));
    }
}

/// A `system_install` whose `size` bytes follow the frame: the checks before the bytes
/// are read, then the spool that takes them. A refusal is answered at once; the bytes
/// are then read and dropped (none at all when `size` is 0), the stream stays in step.
pub(super) fn request(
    ctx: &mut Ctx,
    conn: &mut Conn,
    token: u64,
    id: RequestId,
    size: u64,
    sha256: Option<[u8; 32]>,
) {
    let refuse = |conn: &mut Conn, e: ApiError| {
        if size > 0 {
            conn.raw = conn.discard();
        }
        error(conn, id, e);
    };
    let Some(dir) = ctx.host.system_spool() else {
        let request = NAME.to_string();
        return refuse(conn, ApiError::Unsupported { request });
    };
    if size == 0 {
        let reason = "an empty bundle".to_string();
        return refuse(conn, ApiError::SystemFailed { reason });
    }
    let Some(busy) = Busy::take(&ctx.system_busy) else {
        let reason = "another system install is in progress".to_string();
        return refuse(conn, ApiError::Busy { reason });
    };
    if ctx.installing.is_some() {
        let reason = "another install is in progress".to_string();
        return refuse(conn, ApiError::Busy { reason });
    }
    let deadline = super::deadline::after(Instant::now(), conn.limits.install_timeout);
    let packages = [(size, sha256)];
    match Upload::create(&dir, String::new(), &packages, Then::System(busy), deadline) {
        Ok(upload) => {
            ctx.installing = Some(token);
            conn.raw = Raw::Spool(Box::new(upload), id);
        }
        Err(e) => {
            let reason = format!("spool the bundle in {}: {e}", dir.display());
            refuse(conn, ApiError::SystemFailed { reason })
        }
    }
}

/// Every byte of the bundle arrived and its digest matched: the host takes the file over.
pub(super) fn hand_over(
    ctx: &mut Ctx,
    conn: &mut Conn,
    token: u64,
    id: RequestId,
    mut upload: Upload,
) {
    let (Some(bundle), Then::System(busy)) = (upload.keep_first(), upload.take_then()) else {
        let reason = "the upload is not a system bundle".to_string();
        return error(conn, id, ApiError::SystemFailed { reason });
    };
    log::info!(
        "api: {}: system install: {} received",
        conn.peer,
        bundle.display()
    );
    conn.in_flight = conn.in_flight.saturating_add(1);
    let done = SystemDone {
        inbox: ctx.inbox.clone(),
        conn: token,
        id,
        busy: Some(busy),
    };
    ctx.host.system_install(bundle, done);
}

/// The host answered a `system_install` of connection `a.conn` (gone: `conn` is `None`,
/// and the answer is dropped).
pub(super) fn answered(conn: Option<&mut Conn>, a: SystemAnswered) {
    let Some(conn) = conn else {
        log::debug!("api: system install answered after its connection closed");
        return;
    };
    conn.in_flight = conn.in_flight.saturating_sub(1);
    let id = a.id;
    match a.outcome {
        Outcome::Done(Ok(installed)) => {
            log::info!(
                "api: {}: system install: version {} written into slot {}",
                conn.peer,
                installed.version,
                installed.slot
            );
            let response = Response::SystemInstalled {
                installed: Box::new(installed),
            };
            reply(conn, ServerMessage::Response { id, response });
        }
        Outcome::Done(Err(reason)) => {
            log::warn!("api: {}: system install failed: {reason}", conn.peer);
            error(conn, id, ApiError::SystemFailed { reason });
        }
        Outcome::Unsupported => {
            let request = NAME.to_string();
            error(conn, id, ApiError::Unsupported { request });
        }
    }
}
