//! The raw bytes of an install, an update or a system install: each package spooled into a
//! file in the target repository's directory, a system bundle into the host's spool
//! directory (same file system, so the runtime takes the file over by a rename instead of copying
//! it; see `repository::adopt_install`), counted, and hashed
//! while they arrive when the request gave a digest to check. The spool's name ends in
//! `.partial`, so a power cut leaves nothing a repository would load (and the next load
//! removes it); dropping a spool removes its file, so a connection that ends inside the
//! bytes leaves nothing behind.
//!
//! The checks of an install or update request before its bytes are read ([`request`])
//! and what becomes of the bytes ([`write`], [`after_write`]) are here too.

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

/// One package whose bytes are arriving.
#[derive(Debug)]
pub(super) struct Spool {
    pub path: PathBuf,
    file: Option<File>,
    /// Only when there is a digest to check: hashing costs as much as the rest of a
    /// spool's work.
    hasher: Option<Sha256>,
    /// Expected digest.
    sha256: Option<[u8; 32]>,
    /// Bytes still to come.
    remaining: u64,
    /// Bytes written so far, and up to where their writeback was started.
    written: u64,
    flushed: u64,
    /// Someone else owns the file now: dropping the spool leaves it.
    kept: bool,
}

impl Spool {
    /// A new spool file in `dir`.
    fn create(dir: &Path, size: u64, sha256: Option<[u8; 32]>) -> io::Result<Spool> {
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
            sha256,
            remaining: size,
            written: 0,
            flushed: 0,
            kept: false,
        })
    }

    /// Append received bytes.
    fn write(&mut self, data: &[u8]) -> io::Result<()> {
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
    fn finish(&mut self) -> Result<(), String> {
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
        if self.kept {
            return;
        }
        match fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => log::warn!("{}: cannot remove: {e}", self.path.display()),
        }
    }
}

/// What a completed upload becomes.
#[derive(Debug)]
pub(super) enum Then {
    /// An install of its one package.
    Install,
    /// An update transaction of its packages.
    Update(rt::UpdateOptions),
    /// A system install of its one bundle, by the host (`bundle`), while it holds the
    /// server's one system install.
    System(super::bundle::Busy),
}

impl Then {
    /// The error of a failed upload.
    fn failed(&self, reason: String) -> ApiError {
        match self {
            Then::System(_) => ApiError::SystemFailed { reason },
            Then::Install | Then::Update(_) => ApiError::InstallFailed { reason },
        }
    }

    /// What the upload is, for errors.
    fn what(&self) -> &'static str {
        match self {
            Then::System(_) => "bundle",
            Then::Install | Then::Update(_) => "package",
        }
    }
}

/// The raw bytes of one request: an install's package, or an update's packages one after
/// the other, each into its own spool. Dropping it removes every spool file the runtime
/// did not take over.
#[derive(Debug)]
pub(super) struct Upload {
    spools: Vec<Spool>,
    /// The spool the next bytes go to.
    at: usize,
    repository: String,
    then: Then,
    /// When every byte must have arrived.
    pub deadline: Instant,
}

impl Upload {
    /// One spool per package (`size` > 0 each) in `dir`.
    pub(super) fn create(
        dir: &Path,
        repository: String,
        packages: &[(u64, Option<[u8; 32]>)],
        then: Then,
        deadline: Instant,
    ) -> io::Result<Upload> {
        let spools = packages
            .iter()
            .map(|(size, sha256)| Spool::create(dir, *size, *sha256))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Upload {
            spools,
            at: 0,
            repository,
            then,
            deadline,
        })
    }

    /// Received bytes, split among the packages at their sizes.
    fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let Some(spool) = self.spools.get_mut(self.at) else {
                return Err(io::Error::other("more bytes than announced"));
            };
            let n = usize::try_from(spool.remaining)
                .unwrap_or(usize::MAX)
                .min(data.len());
            let (now, rest) = data.split_at(n);
            spool.write(now)?;
            data = rest;
            if spool.remaining == 0 {
                self.at = self.at.saturating_add(1);
            }
        }
        Ok(())
    }

    /// Every byte arrived: close the files; `Err` names a digest mismatch.
    fn finish(&mut self) -> Result<(), String> {
        let several = self.spools.len() > 1;
        for (i, spool) in self.spools.iter_mut().enumerate() {
            spool.finish().map_err(|e| match several {
                true => format!("package {}: {e}", i.saturating_add(1)),
                false => e,
            })?;
        }
        Ok(())
    }

    /// The request to the runtime that takes the spools over (none for a system
    /// install: the host takes it).
    fn request(&self) -> Option<rt::Request> {
        let repository = self.repository.clone();
        let mut paths = self.spools.iter().map(|s| s.path.clone());
        match &self.then {
            Then::Install => Some(rt::Request::Upload {
                repository,
                path: paths.next().unwrap_or_default(),
            }),
            Then::Update(options) => Some(rt::Request::Update {
                repository,
                paths: paths.collect(),
                upload: true,
                options: options.clone(),
            }),
            Then::System(_) => None,
        }
    }

    /// The first spool's file, which is no longer removed with the upload: its new
    /// owner's.
    pub(super) fn keep_first(&mut self) -> Option<PathBuf> {
        let spool = self.spools.first_mut()?;
        spool.kept = true;
        Some(spool.path.clone())
    }

    /// What the upload becomes, taken out of it.
    pub(super) fn take_then(&mut self) -> Then {
        std::mem::replace(&mut self.then, Then::Install)
    }
}

/// An install or update whose `packages` (size, expected digest) follow the frame: the
/// checks before the bytes are read, then the spools that take them.
pub(super) fn request(
    ctx: &mut Ctx,
    token: u64,
    conn: &mut Conn,
    id: RequestId,
    repository: &str,
    packages: &[(u64, Option<[u8; 32]>)],
    then: Then,
) {
    let size = packages
        .iter()
        .fold(0u64, |sum, (size, _)| sum.saturating_add(*size));
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
    if let Some(at) = packages.iter().position(|(size, _)| *size == 0) {
        let reason = match packages.len() {
            1 => "an empty package".to_string(),
            _ => format!("package {} is empty", at.saturating_add(1)),
        };
        return refuse(conn, ApiError::InstallFailed { reason });
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
    match Upload::create(dir, repository.to_string(), packages, then, deadline) {
        Ok(upload) => {
            ctx.installing = Some(token);
            conn.raw = Raw::Spool(Box::new(upload), id);
        }
        Err(e) => refuse(
            conn,
            ApiError::Internal {
                message: format!("spool the package: {e}"),
            },
        ),
    }
}

/// Raw bytes of an install or update as the decoder hands them out, taken out of the
/// connection (`raw`): written to the spools, or dropped after a refusal. Written straight from the
/// decoder's buffer, which [`after_write`] no longer needs.
pub(super) fn write(raw: &mut Raw, data: &[u8]) -> io::Result<()> {
    match raw {
        Raw::Spool(upload, _) => upload.write(data),
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
        Raw::Spool(mut upload, id) => {
            if let Err(e) = written {
                ctx.installing = None;
                if remaining > 0 {
                    conn.raw = conn.discard();
                }
                let reason = format!("spool the {}: {e}", upload.then.what());
                return error(conn, id, upload.then.failed(reason));
            }
            if remaining > 0 {
                conn.raw = Raw::Spool(upload, id);
                return;
            }
            if let Err(reason) = upload.finish() {
                ctx.installing = None;
                return error(conn, id, upload.then.failed(reason));
            }
            let Some(request) = upload.request() else {
                // The host writes the slot: the next install need not wait for it.
                ctx.installing = None;
                return super::bundle::hand_over(ctx, conn, token, id, *upload);
            };
            // An update's answer waits for the health checks: the next install need not.
            let update = matches!(upload.then, Then::Update(_));
            send(
                ctx,
                token,
                conn,
                id,
                request,
                Pending::Install { _upload: upload },
            );
            if conn.in_flight == 0 || update {
                ctx.installing = None;
            }
        }
    }
}
