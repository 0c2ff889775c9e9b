//! `console:` steps: requests through the container's console connection, the connected
//! socket the runtime passes when the manifest has a `console` (its descriptor number is
//! in `NORTHSTAR_CONSOLE`; protocol: `doc/api.md`), with the `northstar-client` library.
//! The handshake happens at the first `console:` step; the connection is kept for the
//! following ones. Owns only the mapping from a step to requests and what it prints.

use crate::{
    json::Value,
    out::{self, Failure},
    steps::ConsoleRequest,
};
use northstar_client::{
    api::{ContainerId, ContainerState, Notification, Signal},
    Client, Options,
};
use std::{
    os::{
        fd::{FromRawFd, OwnedFd},
        unix::net::UnixStream,
    },
    sync::Mutex,
};

/// The environment variable that names the console's descriptor.
pub const CONSOLE_ENV: &str = "NORTHSTAR_CONSOLE";

/// The connection, once the handshake was done.
static CLIENT: Mutex<Option<Client>> = Mutex::new(None);
/// Whether the inherited descriptor was taken (it may be owned once only).
static TAKEN: Mutex<bool> = Mutex::new(false);

/// Runs one `console:` step.
pub fn run(request: &ConsoleRequest) -> Result<(), Failure> {
    let mut guard = CLIENT
        .lock()
        .map_err(|_| Failure("console: the connection's lock is poisoned".into()))?;
    if guard.is_none() {
        *guard = Some(connect()?);
    }
    let Some(client) = guard.as_mut() else {
        return Err(Failure("console: no connection".into()));
    };
    let name = request.name();
    let fail = |e: northstar_client::Error| Failure(format!("console: {name}: {e}"));
    match request {
        ConsoleRequest::Reboot => client.reboot().map_err(fail)?,
        ConsoleRequest::Shutdown => client.shutdown().map_err(fail)?,
        ConsoleRequest::WaitExit(id) => {
            let status = wait_exit(client, id).map_err(fail)?;
            return out::emit(
                &Value::object()
                    .set("console", name)
                    .set("container", id.to_string())
                    .set("status", status),
            );
        }
        ConsoleRequest::Kill(id) => {
            let answer = client.kill(id, Signal::TERM);
            return answered(name, id, answer.map(drop));
        }
        ConsoleRequest::Inspect(id) => {
            let answer = client.inspect(id);
            return answered(name, id, answer.map(drop));
        }
        ConsoleRequest::Logs(id) => {
            let answer = client.logs(id, None);
            return answered(name, id, answer.map(drop));
        }
    }
    out::emit(&Value::object().set("console", name).set("ok", true))
}

/// Prints the answer to a request on `id`: `"ok":true`, or the code of the server's
/// refusal (a refusal is what some steps try to provoke, not a failure of the program).
/// Any other error fails the step.
fn answered(
    name: &str,
    id: &ContainerId,
    answer: Result<(), northstar_client::Error>,
) -> Result<(), Failure> {
    let line = Value::object()
        .set("console", name)
        .set("container", id.to_string());
    let line = match answer {
        Ok(()) => line.set("ok", true),
        Err(northstar_client::Error::Api { error, .. }) => line.set("refused", error.code()),
        Err(e) => return Err(Failure(format!("console: {name}: {e}"))),
    };
    out::emit(&line)
}

/// The console descriptor from the environment, with the handshake done.
fn connect() -> Result<Client, Failure> {
    let text = std::env::var(CONSOLE_ENV)
        .map_err(|_| Failure(format!("console: {CONSOLE_ENV} is not set (no console)")))?;
    let fd: i32 = text
        .parse()
        .ok()
        .filter(|fd| *fd > 2)
        .ok_or_else(|| Failure(format!("console: {CONSOLE_ENV}={text:?} is no descriptor")))?;
    let mut taken = TAKEN
        .lock()
        .map_err(|_| Failure("console: the descriptor's lock is poisoned".into()))?;
    if *taken {
        return Err(Failure("console: the connection was lost".into()));
    }
    let client = open(fd)?;
    *taken = true;
    Ok(client)
}

/// Owns the inherited descriptor `fd` and does the handshake on it. The caller makes
/// sure that `fd` is owned nowhere else and taken once only.
fn open(fd: i32) -> Result<Client, Failure> {
    // The descriptor must be open before it is owned.
    // SAFETY: fcntl(F_GETFD) reads the flags of a descriptor number; no memory is passed.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(out::failure(
            format_args!("console: descriptor {fd}"),
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: `fd` is open (checked above), was inherited from the runtime for this
    // process alone, and is owned once only (the caller's promise, `TAKEN` in `connect`),
    // so no other owner closes it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let options = Options {
        client_name: concat!("test-container ", env!("CARGO_PKG_VERSION")).into(),
        // A container's console has no handshake limit; its requests are answered soon.
        ..Options::default()
    };
    Client::from_unix_stream(UnixStream::from(owned), options)
        .map_err(|e| Failure(format!("console: handshake on descriptor {fd}: {e}")))
}

/// Waits until `id` has ended at least once; returns how it ended. Subscribes before it
/// looks, so an exit between the two is not missed.
fn wait_exit(client: &mut Client, id: &ContainerId) -> Result<String, northstar_client::Error> {
    client.subscribe()?;
    let ended = client.list()?.into_iter().find_map(|c| {
        let idle = !matches!(
            c.state,
            ContainerState::Starting | ContainerState::Running | ContainerState::Stopping
        );
        (c.container == *id && idle)
            .then_some(c.last_exit)
            .flatten()
    });
    if let Some(status) = ended {
        return Ok(status.to_string());
    }
    loop {
        match client.next_notification(None)? {
            Some(Notification::Exited {
                container, status, ..
            }) if container == *id => return Ok(status.to_string()),
            _ => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use northstar_client::{api::Request, testing::FakeServer};
    use std::os::fd::IntoRawFd;

    #[test]
    fn an_inherited_descriptor_speaks_the_protocol() {
        let server = FakeServer::runtime().unwrap();
        let stream = UnixStream::connect(server.path()).unwrap();
        let mut client = open(stream.into_raw_fd()).unwrap();
        client.shutdown().unwrap();
        assert_eq!(server.requests().last(), Some(&Request::Shutdown {}));
    }

    #[test]
    fn a_closed_descriptor_is_refused_by_number() {
        let stream = UnixStream::pair().unwrap().0;
        let fd = stream.into_raw_fd();
        // SAFETY: `fd` was just released by its owner and is closed once, here.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
        let error = open(fd).unwrap_err();
        assert!(error.0.contains(&format!("descriptor {fd}")), "{error}");
    }
}
