//! The raw bytes of an install: spooled into a file in the target repository's directory
//! (same file system, so the runtime takes the file over by a rename instead of copying
//! it; see `repository::adopt_install`), counted, and hashed
//! while they arrive when the request gave a digest to check. The spool's name ends in
//! `.partial`, so a power cut leaves nothing a repository would load (and the next load
//! removes it); dropping a spool removes its file, so a connection that ends inside the
//! bytes leaves nothing behind.
//!
//! The checks of an install request before its bytes are read ([`request`]) and what
//! becomes of the bytes ([`raw`]) are here too.

use super::{
    conn::{Conn, Raw},
    dispatch::{error, send, Pending},
    event::Ctx,
};
use crate::runtime as rt;
use northstar_api::{ApiError, RequestId};
use sha2::{Digest, Sha256};
use std::{
    fs::{self, File, OpenOptions},
    io::{self, Write},
    os::{fd::AsFd, unix::fs::OpenOptionsExt},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
    time::Instant,
};

/// Bytes written between two starts of the spool's writeback.
const WRITEBACK_CHUNK: u64 = 4 << 20;

/// An install whose bytes are arriving.
#[derive(Debug)]
pub(super) struct Spool {
    pub path: PathBuf,
    file: Option<File>,
    /// Only when there is a digest to check: hashing costs as much as the rest of a
    /// spool's work.
    hasher: Option<Sha256>,
    /// The repository.
    pub repository: String,
    /// Expected digest.
    pub sha256: Option<[u8; 32]>,
    /// Bytes still to come.
    pub remaining: u64,
    /// Bytes written so far, and up to where their writeback was started.
    written: u64,
    flushed: u64,
    /// When the bytes must have arrived.
    pub deadline: Instant,
}

impl Spool {
    /// A new spool file in `dir`.
    pub(super) fn create(
        dir: &Path,
        repository: String,
        size: u64,
        sha256: Option<[u8; 32]>,
        deadline: Instant,
    ) -> io::Result<Spool> {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".upload-{}-{n}.partial", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        Ok(Spool {
            path,
            file: Some(file),
            hasher: sha256.map(|_| Sha256::new()),
            repository,
            sha256,
            remaining: size,
            written: 0,
            flushed: 0,
            deadline,
        })
    }

    /// Append received bytes.
    pub(super) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(data);
        }
        self.remaining = self.remaining.saturating_sub(data.len() as u64);
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("spool closed"));
        };
        file.write_all(data)?;
        self.written = self.written.saturating_add(data.len() as u64);
        // The runtime syncs the package before it takes it: start the writeback now, a
        // chunk at a time, so that sync has little left to wait for. Best effort.
        let unflushed = self.written.saturating_sub(self.flushed);
        if unflushed >= WRITEBACK_CHUNK {
            let _ = northstar_sys::writeback::start(file.as_fd(), self.flushed, unflushed);
            self.flushed = self.written;
        }
        Ok(())
    }

    /// Every byte arrived: close the file; `Err` names a digest mismatch.
    pub(super) fn finish(&mut self) -> Result<(), String> {
        if let Some(mut file) = self.file.take() {
            file.flush().map_err(|e| format!("spool: {e}"))?;
        }
        let digest: Option<[u8; 32]> = self.hasher.take().map(|h| h.finalize().into());
        match (self.sha256, digest) {
            (Some(expected), Some(digest)) if expected != digest => {
                Err("sha256 of the received bytes differs".to_string())
            }
            _ => Ok(()),
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        drop(self.file.take());
        match fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => log::warn!("{}: cannot remove: {e}", self.path.display()),
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn request(
    ctx: &mut Ctx,
    token: u64,
    conn: &mut Conn,
    id: RequestId,
    repository: &str,
    size: u64,
    sha256: Option<northstar_api::Sha256>,
) {
    if size > conn.limits.max_install {
        let limit = conn.limits.max_install;
        return conn.fail(Some(id), ApiError::PackageTooLarge { size, limit });
    }
    let refuse = |conn: &mut Conn, e: ApiError| {
        if size > 0 {
            conn.raw = conn.discard();
        }
        error(conn, id, e);
    };
    let Some(dir) = ctx.repositories.get(repository) else {
        let repository = northstar_api::RepositoryName::new(repository);
        return match repository {
            Ok(repository) => refuse(conn, ApiError::RepositoryNotFound { repository }),
            Err(e) => refuse(
                conn,
                ApiError::Internal {
                    message: e.to_string(),
                },
            ),
        };
    };
    if size == 0 {
        return refuse(
            conn,
            ApiError::InstallFailed {
                reason: "an empty package".into(),
            },
        );
    }
    if ctx.installing.is_some() {
        return refuse(
            conn,
            ApiError::Busy {
                reason: "another install is in progress".into(),
            },
        );
    }
    let deadline = super::deadline::after(Instant::now(), conn.limits.install_timeout);
    match Spool::create(
        dir,
        repository.to_string(),
        size,
        sha256.map(|d| d.0),
        deadline,
    ) {
        Ok(spool) => {
            ctx.installing = Some(token);
            conn.raw = Raw::Spool(Box::new(spool), id);
        }
        Err(e) => refuse(
            conn,
            ApiError::Internal {
                message: format!("spool the package: {e}"),
            },
        ),
    }
}

/// Raw bytes of an install as the decoder hands them out, taken out of the connection
/// (`raw`): written to the spool, or dropped after a refusal. Written straight from the
/// decoder's buffer, which [`after_write`] no longer needs.
pub(super) fn write(raw: &mut Raw, data: &[u8]) -> io::Result<()> {
    match raw {
        Raw::Spool(spool, _) => spool.write(data),
        Raw::None | Raw::Discard(_) => Ok(()),
    }
}

/// After [`write`]: the state goes back into the connection, a failed write is answered,
/// and at the end the spool goes to the runtime.
pub(super) fn after_write(
    ctx: &mut Ctx,
    token: u64,
    conn: &mut Conn,
    raw: Raw,
    written: io::Result<()>,
    remaining: u64,
) {
    match raw {
        Raw::None => {}
        Raw::Discard(deadline) => {
            if remaining > 0 {
                conn.raw = Raw::Discard(deadline);
            }
        }
        Raw::Spool(mut spool, id) => {
            if let Err(e) = written {
                ctx.installing = None;
                if remaining > 0 {
                    conn.raw = conn.discard();
                }
                return error(
                    conn,
                    id,
                    ApiError::InstallFailed {
                        reason: format!("spool the package: {e}"),
                    },
                );
            }
            if remaining > 0 {
                conn.raw = Raw::Spool(spool, id);
                return;
            }
            if let Err(reason) = spool.finish() {
                ctx.installing = None;
                return error(conn, id, ApiError::InstallFailed { reason });
            }
            let request = rt::Request::Upload {
                repository: spool.repository.clone(),
                path: spool.path.clone(),
            };
            send(
                ctx,
                token,
                conn,
                id,
                request,
                Pending::Install { _spool: spool },
            );
            if conn.in_flight == 0 {
                ctx.installing = None;
            }
        }
    }
}
