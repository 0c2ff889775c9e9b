//! One typed method per request of the protocol (install, followed logs and notifications
//! have their own modules). Each checks that the answer has the type the request calls for.

use crate::{
    client::{response_name, Client},
    error::Error,
};
use northstar_api::{
    Args, BootReport, ContainerId, ContainerInfo, Env, ExitStatus, Inspection, PackageCheck,
    RepositoryInfo, Request, Response, Signal, SlotMark, SlotTarget, StopTimeout, SystemStatus,
};
use std::time::Duration;

/// How long a `verify` may take, beyond the request timeout: the runtime reads every
/// package it checks, one after the other.
pub const VERIFY_WAIT: Duration = Duration::from_secs(600);

/// The answer to `restart`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restarted {
    /// How the old run ended.
    pub status: ExitStatus,
    /// Pid of the new run's init.
    pub pid: i32,
}

/// The answer to `logs`: the last lines, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Logs {
    /// The lines, without their line end.
    pub lines: Vec<String>,
    /// Older lines exist that are not in `lines`.
    pub truncated: bool,
}

impl Client {
    /// Every known container, ordered by container.
    pub fn list(&mut self) -> Result<Vec<ContainerInfo>, Error> {
        self.typed(Request::List {}, |r| match r {
            Response::Containers { containers } => Ok(containers),
            other => Err(other),
        })
    }

    /// One container in detail: state, manifest, process and cgroup counters.
    pub fn inspect(&mut self, container: &ContainerId) -> Result<Inspection, Error> {
        let request = Request::Inspect {
            container: container.clone(),
        };
        self.typed(request, |r| match r {
            Response::Inspect(inspection) => Ok(*inspection),
            other => Err(other),
        })
    }

    /// Start a container as its manifest says; returns the pid of its init.
    pub fn start(&mut self, container: &ContainerId) -> Result<i32, Error> {
        self.start_with(container, None, None)
    }

    /// Start a container with other arguments (`args` replaces the manifest's) or more
    /// environment (`env` is added to the manifest's). Either one present, even empty,
    /// needs the `start_with_args` permission. Returns the pid of its init.
    pub fn start_with(
        &mut self,
        container: &ContainerId,
        args: Option<Args>,
        env: Option<Env>,
    ) -> Result<i32, Error> {
        let request = Request::Start {
            container: container.clone(),
            args,
            env,
        };
        self.typed(request, |r| match r {
            Response::Started { pid, .. } => Ok(pid),
            other => Err(other),
        })
    }

    /// Send `signal` to every process of a running container.
    pub fn kill(&mut self, container: &ContainerId, signal: Signal) -> Result<(), Error> {
        self.ok(Request::Kill {
            container: container.clone(),
            signal,
        })
    }

    /// Stop a container: SIGTERM, SIGKILL after `grace` (absent: the runtime's configured
    /// `stop_timeout`). Answered when it has ended. The wait for the answer is the request
    /// timeout plus `grace`; without `grace`, choose a request timeout longer than the
    /// runtime's `stop_timeout`.
    pub fn stop(
        &mut self,
        container: &ContainerId,
        grace: Option<StopTimeout>,
    ) -> Result<ExitStatus, Error> {
        let request = Request::Stop {
            container: container.clone(),
            timeout_ms: grace,
        };
        self.typed_within(
            request,
            extend(self.options.request_timeout, grace),
            |r| match r {
                Response::Stopped { status, .. } => Ok(status),
                other => Err(other),
            },
        )
    }

    /// Stop a running container as [`Client::stop`] does and start it again with the
    /// arguments and environment of the run that ended.
    pub fn restart(
        &mut self,
        container: &ContainerId,
        grace: Option<StopTimeout>,
    ) -> Result<Restarted, Error> {
        let request = Request::Restart {
            container: container.clone(),
            timeout_ms: grace,
        };
        self.typed_within(
            request,
            extend(self.options.request_timeout, grace),
            |r| match r {
                Response::Restarted { status, pid, .. } => Ok(Restarted { status, pid }),
                other => Err(other),
            },
        )
    }

    /// Remove a stopped container's package, and its persistent data when `wipe` is set.
    pub fn uninstall(&mut self, container: &ContainerId, wipe: bool) -> Result<(), Error> {
        self.ok(Request::Uninstall {
            container: container.clone(),
            wipe,
        })
    }

    /// Mount a package's image.
    pub fn mount(&mut self, container: &ContainerId) -> Result<(), Error> {
        self.ok(Request::Mount {
            container: container.clone(),
        })
    }

    /// Unmount a package's image.
    pub fn umount(&mut self, container: &ContainerId) -> Result<(), Error> {
        self.ok(Request::Umount {
            container: container.clone(),
        })
    }

    /// The repositories of the configuration, ordered by name.
    pub fn repositories(&mut self) -> Result<Vec<RepositoryInfo>, Error> {
        self.typed(Request::Repositories {}, |r| match r {
            Response::Repositories { repositories } => Ok(repositories),
            other => Err(other),
        })
    }

    /// The captured output of a container: the last `tail` lines (absent: all that are
    /// kept). To receive later lines too, use [`Client::follow_logs`].
    pub fn logs(&mut self, container: &ContainerId, tail: Option<u32>) -> Result<Logs, Error> {
        let request = Request::Logs {
            container: container.clone(),
            tail,
            follow: false,
        };
        self.typed(request, logs)
    }

    /// The boot report of PID 1 (`unsupported` from the host daemon).
    pub fn boot_report(&mut self) -> Result<BootReport, Error> {
        self.typed(Request::BootReport {}, |r| match r {
            Response::BootReport { report } => Ok(*report),
            other => Err(other),
        })
    }

    /// Check installed packages in full (protocol 1.3): every block of a signed package's
    /// image against its signed root hash; `container` only (`None`: every installed
    /// package). One result per package; a package that fails is a result, not an
    /// error. The wait for the answer is the request timeout plus [`VERIFY_WAIT`].
    pub fn verify(&mut self, container: Option<&ContainerId>) -> Result<Vec<PackageCheck>, Error> {
        let request = Request::Verify {
            container: container.cloned(),
        };
        let wait = self
            .options
            .request_timeout
            .map(|t| t.saturating_add(VERIFY_WAIT));
        self.typed_within(request, wait, |r| match r {
            Response::Verified { packages } => Ok(packages),
            other => Err(other),
        })
    }

    /// The A/B system slots (protocol 1.4): the boot loader, the booted slot, and per
    /// slot its devices, whether it is primary, good or bad, its attempts left
    /// (`unsupported` where there are no slots).
    pub fn system_status(&mut self) -> Result<SystemStatus, Error> {
        self.typed(Request::SystemStatus {}, system)
    }

    /// Mark an A/B slot good, bad or active (protocol 1.4; needs the `system_update`
    /// permission, which no wildcard grants); the state after the mark. A slot that is
    /// not there, or an environment that cannot be written, is the error
    /// `system_failed`, naming the slot; nothing is changed then.
    pub fn system_mark(&mut self, mark: SlotMark, slot: SlotTarget) -> Result<SystemStatus, Error> {
        self.typed(Request::SystemMark { mark, slot }, system)
    }

    /// Stop every container and power off (PID 1) or end the runtime (host daemon).
    /// Returns when the shutdown begins; the connection then ends with the runtime.
    pub fn shutdown(&mut self) -> Result<(), Error> {
        self.ok(Request::Shutdown {})
    }

    /// Stop every container and reboot (PID 1 only).
    pub fn reboot(&mut self) -> Result<(), Error> {
        self.ok(Request::Reboot {})
    }

    /// Receive notifications on this connection from now on: read them with
    /// [`Client::notifications`] or [`Client::next_notification`].
    pub fn subscribe(&mut self) -> Result<(), Error> {
        self.ok(Request::Subscribe {})
    }

    fn ok(&mut self, request: Request) -> Result<(), Error> {
        self.typed(request, |r| match r {
            Response::Ok {} => Ok(()),
            other => Err(other),
        })
    }

    fn typed<T>(
        &mut self,
        request: Request,
        pick: impl FnOnce(Response) -> Result<T, Response>,
    ) -> Result<T, Error> {
        let timeout = self.options.request_timeout;
        self.typed_within(request, timeout, pick)
    }

    /// Send `request`, wait at most `timeout` for its answer and take the value out of it.
    pub(crate) fn typed_within<T>(
        &mut self,
        request: Request,
        timeout: Option<Duration>,
        pick: impl FnOnce(Response) -> Result<T, Response>,
    ) -> Result<T, Error> {
        let name = request.name();
        let id = self.send(&request)?;
        let response = self.answer(id, name, timeout)?;
        pick(response).map_err(|other| unexpected(name, &other))
    }
}

/// The value of a `system` answer.
fn system(response: Response) -> Result<SystemStatus, Response> {
    match response {
        Response::System { status } => Ok(status),
        other => Err(other),
    }
}

/// The value of a `logs` answer.
pub(crate) fn logs(response: Response) -> Result<Logs, Response> {
    match response {
        Response::Logs { lines, truncated } => Ok(Logs { lines, truncated }),
        other => Err(other),
    }
}

/// An answer of the wrong type.
pub(crate) fn unexpected(request: &'static str, response: &Response) -> Error {
    Error::Protocol {
        during: format!("waiting for the answer to `{request}`"),
        reason: format!("answered with `{}`", response_name(response)),
    }
}

/// The request timeout, longer by a stop's grace period.
fn extend(timeout: Option<Duration>, grace: Option<StopTimeout>) -> Option<Duration> {
    let grace = grace.map(StopTimeout::as_duration).unwrap_or_default();
    timeout.map(|t| t.saturating_add(grace))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_extends_the_timeout() {
        let grace = StopTimeout::from_millis(2000).ok();
        assert_eq!(
            extend(Some(Duration::from_secs(1)), grace),
            Some(Duration::from_secs(3))
        );
        assert_eq!(extend(None, grace), None);
        assert_eq!(
            extend(Some(Duration::from_secs(1)), None),
            Some(Duration::from_secs(1))
        );
    }
}
