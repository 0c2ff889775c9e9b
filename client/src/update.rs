//! Update transactions: `update` (the request frame, then the bytes of each package one
//! after the other, as `install` sends one), `rollback`, and the autostart setting
//! (`enable`, `disable`).
//!
//! A transaction's answer comes when the runtime has committed or rolled back, after the
//! health checks: the wait for it is the request timeout plus the transaction's deadline
//! ([`TRANSACTION_WAIT`] when the request leaves it to the runtime's configuration).
//! Meanwhile the notifications that arrive (after [`Client::subscribe`]) go to the
//! caller's callback as they come.

use crate::{
    client::Client,
    error::Error,
    install::{Source, Span},
    requests::unexpected,
};
use northstar_api::{
    ContainerId, ContainerName, Notification, Package, Packages, RepositoryName, Request,
    RequestId, Response, Sha256, UpdateOptions,
};
use std::{fs::File, path::Path, time::Duration};

/// How long a transaction may take, beyond the request timeout, when the request does not
/// say (`options.deadline_ms`): longer than any sensible `[update]` deadline.
pub const TRANSACTION_WAIT: Duration = Duration::from_secs(600);

/// One package of an update: its file and, optionally, the digest the server checks.
#[derive(Clone, Copy, Debug)]
pub struct UpdateFile<'a> {
    /// The package file.
    pub path: &'a Path,
    /// Its expected SHA-256 ([`crate::package_sha256`]).
    pub sha256: Option<Sha256>,
}

impl Client {
    /// An update transaction of the package files `files` into `repository`. `progress`
    /// is called with the bytes sent so far and the total (every package together) after
    /// every chunk; `events` with every notification that arrives until the answer.
    /// Returns the versions now active; a transaction that rolled back is
    /// [`Error::Api`] with [`northstar_api::ApiError::RolledBack`].
    pub fn update(
        &mut self,
        files: &[UpdateFile<'_>],
        repository: &RepositoryName,
        options: UpdateOptions,
        progress: &mut dyn FnMut(u64, u64),
        events: &mut dyn FnMut(&Notification),
    ) -> Result<Vec<ContainerId>, Error> {
        let package = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Package {
                path: Some(path),
                source,
            }
        };
        let mut opened = Vec::with_capacity(files.len());
        let mut list = Vec::with_capacity(files.len());
        for f in files {
            let file = File::open(f.path).map_err(package(f.path))?;
            let size = file.metadata().map_err(package(f.path))?.len();
            list.push(Package {
                size,
                sha256: f.sha256,
            });
            opened.push((file, f.path, size));
        }
        let packages = Packages::new(list).map_err(|e| Error::Package {
            path: None,
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
        })?;
        let total = packages.total();
        let wait = transaction_wait(self.options.request_timeout, &options);
        let request = Request::Update {
            repository: repository.clone(),
            packages,
            options,
        };
        let id = self.send(&request)?;
        progress(0, total);
        let mut before = 0u64;
        for (mut file, path, size) in opened {
            let source = Source {
                reader: &mut file,
                path: Some(path),
            };
            let span = Span {
                request: "update",
                size,
                before,
                total,
            };
            self.send_package(id, source, &span, progress)?;
            before += size;
        }
        self.transaction_answer(id, "update", wait, events)
    }

    /// Switch `name` back to the version active before the current one, as a
    /// transaction; see [`Client::update`] for `events` and the answer. `repository`:
    /// the one that holds `name` (`None`: the only one that does).
    pub fn rollback(
        &mut self,
        name: &ContainerName,
        repository: Option<&RepositoryName>,
        options: UpdateOptions,
        events: &mut dyn FnMut(&Notification),
    ) -> Result<Vec<ContainerId>, Error> {
        let wait = transaction_wait(self.options.request_timeout, &options);
        let request = Request::Rollback {
            name: name.clone(),
            repository: repository.cloned(),
            options,
        };
        let id = self.send(&request)?;
        self.transaction_answer(id, "rollback", wait, events)
    }

    /// Start the active version of `name` at boot, whatever its manifest says (kept
    /// across reboots).
    pub fn enable(
        &mut self,
        name: &ContainerName,
        repository: Option<&RepositoryName>,
    ) -> Result<(), Error> {
        self.autostart(Request::Enable {
            name: name.clone(),
            repository: repository.cloned(),
        })
    }

    /// Never start `name` at boot, whatever its manifest says (kept across reboots).
    pub fn disable(
        &mut self,
        name: &ContainerName,
        repository: Option<&RepositoryName>,
    ) -> Result<(), Error> {
        self.autostart(Request::Disable {
            name: name.clone(),
            repository: repository.cloned(),
        })
    }

    fn autostart(&mut self, request: Request) -> Result<(), Error> {
        let name = request.name();
        match self.request(request)? {
            Response::Ok {} => Ok(()),
            other => Err(unexpected(name, &other)),
        }
    }

    /// Wait for the answer of a transaction, passing notifications to `events` as they
    /// come (those kept before first).
    fn transaction_answer(
        &mut self,
        id: RequestId,
        name: &'static str,
        wait: Option<Duration>,
        events: &mut dyn FnMut(&Notification),
    ) -> Result<Vec<ContainerId>, Error> {
        let deadline = crate::connection::Deadline::after(wait);
        let waiting = || format!("the answer to `{name}`");
        loop {
            while let Some(notification) = self.queued_notification() {
                events(&notification);
            }
            let message = match self.connection.receive(deadline, &waiting) {
                Ok(message) => message,
                Err(e) => return Err(self.failed(e)),
            };
            match self.dispatch(message, id, name)? {
                Some(Ok(Response::Committed { containers })) => {
                    while let Some(notification) = self.queued_notification() {
                        events(&notification);
                    }
                    return Ok(containers);
                }
                Some(Ok(other)) => return Err(unexpected(name, &other)),
                Some(Err(e)) => return Err(e),
                None => {}
            }
        }
    }
}

/// The wait for a transaction's answer: the request timeout plus its deadline.
fn transaction_wait(timeout: Option<Duration>, options: &UpdateOptions) -> Option<Duration> {
    let deadline = options
        .deadline_ms
        .map_or(TRANSACTION_WAIT, Duration::from_millis);
    timeout.map(|t| t.saturating_add(deadline))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_covers_the_deadline() {
        let options = UpdateOptions {
            deadline_ms: Some(5000),
            ..UpdateOptions::default()
        };
        let second = Some(Duration::from_secs(1));
        assert_eq!(
            transaction_wait(second, &options),
            Some(Duration::from_secs(6))
        );
        assert_eq!(
            transaction_wait(second, &UpdateOptions::default()),
            Some(Duration::from_secs(601))
        );
        assert_eq!(transaction_wait(None, &options), None);
    }
}
