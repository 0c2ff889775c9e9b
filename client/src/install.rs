//! `install` and `system_install`: the request frame, then the package's (or bundle's)
//! bytes on the stream, then the answer.
//!
//! While the bytes go out, the client looks for an early answer between chunks (the server
//! may refuse at once: `permission_denied`, `repository_not_found`, `busy`, or
//! `package_too_large` and close). On a refusal it stops sending; the connection is then
//! out of step (the server still expects the rest of the bytes) and is not used again.

use crate::{
    client::Client,
    connection::{write_error, Deadline},
    error::Error,
    requests::unexpected,
};
use northstar_api::{ContainerId, RepositoryName, Request, Response, Sha256, SystemInstalled};
use sha2::Digest;
use std::{
    fs::File,
    io::{self, Read},
    path::Path,
    time::Duration,
};

/// Bytes sent at once, and between two looks for an early answer.
const CHUNK: usize = 256 * 1024;

/// Bytes read at once while computing a package's digest.
const DIGEST_CHUNK: usize = 1024 * 1024;

/// How much longer than the request timeout the answer to a `system_install` may take
/// once every byte is sent: the device verifies the bundle and writes a slot.
pub const SYSTEM_INSTALL_WAIT: Duration = Duration::from_secs(30 * 60);

/// How long to look for the server's explanation after it closed the connection while
/// the package was being sent.
const LAST_WORDS: Duration = Duration::from_secs(1);

/// Where the package's bytes come from, for errors.
pub(crate) struct Source<'a> {
    pub reader: &'a mut dyn Read,
    pub path: Option<&'a Path>,
}

/// Where a package's bytes go in a request's raw bytes, for the progress callback.
pub(crate) struct Span {
    /// The request's name, for errors.
    pub request: &'static str,
    /// Bytes of this package.
    pub size: u64,
    /// Bytes of the request sent before this package.
    pub before: u64,
    /// Bytes of the request together.
    pub total: u64,
}

impl Client {
    /// Install the package file at `path` into `repository`. `sha256`, when given, is the
    /// digest the server checks the received bytes against. `progress` is called with
    /// the bytes sent so far and the total after every chunk. Returns the installed
    /// container.
    pub fn install(
        &mut self,
        path: &Path,
        repository: &RepositoryName,
        sha256: Option<Sha256>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ContainerId, Error> {
        let package = |source| Error::Package {
            path: Some(path.to_path_buf()),
            source,
        };
        let mut file = File::open(path).map_err(package)?;
        let size = file.metadata().map_err(package)?.len();
        let source = Source {
            reader: &mut file,
            path: Some(path),
        };
        self.install_source(source, size, repository, sha256, progress)
    }

    /// Install a package of `size` bytes read from `reader`; see [`Client::install`].
    pub fn install_from(
        &mut self,
        reader: &mut dyn Read,
        size: u64,
        repository: &RepositoryName,
        sha256: Option<Sha256>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ContainerId, Error> {
        let source = Source { reader, path: None };
        self.install_source(source, size, repository, sha256, progress)
    }

    fn install_source(
        &mut self,
        source: Source<'_>,
        size: u64,
        repository: &RepositoryName,
        sha256: Option<Sha256>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ContainerId, Error> {
        let request = Request::Install {
            repository: repository.clone(),
            size,
            sha256,
        };
        let id = self.send(&request)?;
        progress(0, size);
        let span = Span {
            request: "install",
            size,
            before: 0,
            total: size,
        };
        self.send_package(id, source, &span, progress)?;
        let timeout = self.options.request_timeout;
        match self.answer(id, "install", timeout)? {
            Response::Installed { container } => Ok(container),
            other => Err(unexpected("install", &other)),
        }
    }

    /// Install the system update bundle (RAUC format) at `path` into the A/B slot that did
    /// not boot (protocol 1.4; needs the `system_update` permission, which no wildcard
    /// grants). `sha256`, when given, is the digest the server checks the received bytes
    /// against. `progress` is called with the bytes sent so far and the total after every
    /// chunk. The answer, once the device has verified the bundle, written the slot and
    /// marked it active, may take [`SYSTEM_INSTALL_WAIT`] longer than the request timeout.
    /// A bundle the device refuses is the error `system_failed` with its reason.
    pub fn system_install(
        &mut self,
        path: &Path,
        sha256: Option<Sha256>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<SystemInstalled, Error> {
        let bundle = |source| Error::Package {
            path: Some(path.to_path_buf()),
            source,
        };
        let mut file = File::open(path).map_err(bundle)?;
        let size = file.metadata().map_err(bundle)?.len();
        let id = self.send(&Request::SystemInstall { size, sha256 })?;
        progress(0, size);
        let span = Span {
            request: "system_install",
            size,
            before: 0,
            total: size,
        };
        let source = Source {
            reader: &mut file,
            path: Some(path),
        };
        self.send_package(id, source, &span, progress)?;
        let timeout = self
            .options
            .request_timeout
            .map(|t| t.saturating_add(SYSTEM_INSTALL_WAIT));
        match self.answer(id, "system_install", timeout)? {
            Response::SystemInstalled { installed } => Ok(*installed),
            other => Err(unexpected("system_install", &other)),
        }
    }

    /// Send the bytes of one package. An answer of the server before the last byte of
    /// the request is an error (a refusal, or a protocol error for anything else).
    pub(crate) fn send_package(
        &mut self,
        id: northstar_api::RequestId,
        source: Source<'_>,
        span: &Span,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(), Error> {
        let Source { reader, path } = source;
        let size = span.size;
        let timeout = self.options.request_timeout;
        let mut chunk = vec![0u8; CHUNK];
        let mut sent = 0u64;
        while sent < size {
            let want = (size - sent).min(CHUNK as u64) as usize;
            let n = match read_some(reader, &mut chunk[..want]) {
                Ok(0) => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the package ended after {sent} of {size} bytes"),
                )),
                other => other,
            }
            .map_err(|source| {
                self.broken = Some(format!("an {} was abandoned part way", span.request));
                Error::Package {
                    path: path.map(Path::to_path_buf),
                    source,
                }
            })?;
            if let Err(e) = self.connection.write_all(&chunk[..n], timeout) {
                let e = write_error(e, "sending the package", timeout);
                self.broken = Some(e.to_string());
                if matches!(e, Error::Closed { .. }) {
                    return Err(self.last_words(id, span.request).unwrap_or(e));
                }
                return Err(e);
            }
            sent += n as u64;
            let done = span.before + sent;
            progress(done, span.total);
            if done < span.total {
                self.early_answer(id, span.request)?;
            }
        }
        Ok(())
    }

    /// An answer that came while the bytes were going out: an error.
    fn early_answer(
        &mut self,
        id: northstar_api::RequestId,
        name: &'static str,
    ) -> Result<(), Error> {
        let waiting = || format!("the answer to `{name}`");
        while let Some(message) = self.connection.poll(&waiting)? {
            if let Some(answer) = self.dispatch(message, id, name)? {
                self.broken = Some(format!("an {name} was abandoned after the server answered"));
                return Err(match answer {
                    Ok(other) => unexpected(name, &other),
                    Err(e) => e,
                });
            }
        }
        if self.connection.closed_by_server() {
            let e = Error::Closed {
                during: "sending the package".into(),
                detail: None,
            };
            self.broken = Some(e.to_string());
            return Err(e);
        }
        Ok(())
    }

    /// After the server closed the connection during the bytes: its error for this
    /// install, if it sent one before closing.
    fn last_words(&mut self, id: northstar_api::RequestId, name: &'static str) -> Option<Error> {
        self.connection.shutdown_write();
        let deadline = Deadline::after(Some(LAST_WORDS));
        let waiting = || format!("the answer to `{name}`");
        while let Ok(message) = self.connection.receive(deadline, &waiting) {
            if let Ok(Some(Err(e))) = self.dispatch(message, id, name) {
                return Some(e);
            }
        }
        None
    }
}

/// The SHA-256 digest of the package file at `path`, for [`Client::install`]'s `sha256`.
pub fn package_sha256(path: &Path) -> Result<Sha256, Error> {
    let package = |source| Error::Package {
        path: Some(path.to_path_buf()),
        source,
    };
    let mut file = File::open(path).map_err(package)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; DIGEST_CHUNK];
    loop {
        match read_some(&mut file, &mut buf).map_err(package)? {
            0 => return Ok(Sha256(hasher.finalize().into())),
            n => hasher.update(&buf[..n]),
        }
    }
}

/// Read at least one byte unless at the end, retrying interrupted reads.
pub(crate) fn read_some(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_of_a_package_spans_several_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.npk");
        let data: Vec<u8> = (0..DIGEST_CHUNK * 2 + 7).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let expected: [u8; 32] = sha2::Sha256::digest(&data).into();
        assert_eq!(package_sha256(&path).unwrap(), Sha256(expected));
        let missing = package_sha256(&dir.path().join("nope.npk")).unwrap_err();
        assert_eq!(missing.kind(), crate::ErrorKind::Local);
        assert!(missing.to_string().contains("nope.npk"), "{missing}");
    }
}
