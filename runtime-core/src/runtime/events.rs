//! What the event loop does when a source becomes ready: a container's program executed
//! (or its start failed), a container's init exited, output arrived, a deadline passed.

use super::{
    api::Notification,
    lifecycle::Input,
    state::{State, Stream},
    supervisor,
};
use crate::{
    container::{
        child::{Failure, STATUS_SIZE},
        error::ChildError,
        ExitStatus,
    },
    id::ContainerId,
};
use northstar_sys::clone::{pidfd_try_wait, WaitStatus};
use npk::manifest::Autostart;
use std::{
    os::fd::{AsFd, AsRawFd},
    time::Instant,
};

/// The error pipe of a starting container is readable: a failure record, or end of file
/// because the program executed.
pub(crate) fn exec(state: &mut State, id: &ContainerId) {
    let Some(process) = state
        .containers
        .get_mut(id)
        .and_then(|c| c.process.as_mut())
    else {
        return;
    };
    let Some((fd, token)) = process.exec.take() else {
        return;
    };
    let mut record = [0u8; Failure::SIZE];
    let n = read_full(fd.as_raw_fd(), &mut record);
    let failure = (n == Failure::SIZE)
        .then(|| Failure::decode(&record))
        .flatten()
        .map(|failure| {
            let error = ChildError::new(id.clone(), failure, &process.mount_targets);
            super::requests::error_chain(&error)
        });
    process.failure = failure.clone();
    state.unwatch(&fd, token);
    match failure {
        None => {
            super::notify::executed(state, id);
            let _ = supervisor::drive(state, id, Input::Executed, None);
            super::update::started(state, id);
        }
        Some(error) => {
            let _ = supervisor::drive(state, id, Input::ExecFailed(error.clone()), None);
            super::update::start_failed(state, id, &error);
        }
    }
}

fn read_full(fd: i32, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while let Some(rest) = buf.get_mut(n..).filter(|rest| !rest.is_empty()) {
        match northstar_sys::child::read(fd, rest) {
            Ok(0) | Err(_) => break,
            // At most `rest.len()`: `n` stays within `buf`.
            Ok(k) => n = n.saturating_add(k),
        }
    }
    n
}

/// Output is readable: read what is there, log complete lines, keep the bytes.
pub(crate) fn output(state: &mut State, id: &ContainerId, stream: u8) {
    let Some(container) = state.containers.get_mut(id) else {
        return;
    };
    let Some(process) = container.process.as_mut() else {
        return;
    };
    let slot = if stream == 1 {
        &mut process.stdout
    } else {
        &mut process.stderr
    };
    let Some(s) = slot.as_mut() else { return };
    let mut buf = [0u8; 16 * 1024];
    let mut eof = false;
    let mut followed = Vec::new();
    let mut relay_dropped = 0usize;
    // Bounded work per wake-up: a flooding container cannot starve the loop.
    for _ in 0..4 {
        match nix::unistd::read(&s.fd, &mut buf) {
            Ok(0) => {
                eof = true;
                break;
            }
            Ok(n) => {
                let data = buf.get(..n).unwrap_or_default();
                container.output.push(data);
                if s.relay {
                    // `io: inherit`: the bytes as written, on the runtime's own stream.
                    let dropped = state.relay.write(stream, data);
                    relay_dropped = relay_dropped.saturating_add(dropped);
                }
                for line in s.lines.feed(data) {
                    if !s.relay && container.log_limit.allow(Instant::now()) {
                        log::info!("{id}: {line}");
                    }
                    followed.push(line);
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    if relay_dropped > 0 && container.log_limit.allow(Instant::now()) {
        log::warn!("{id}: {relay_dropped} bytes of inherited output dropped (stream full)");
    }
    if eof {
        if let Some(line) = s.lines.finish() {
            if !s.relay {
                log::info!("{id}: {line}");
            }
            followed.push(line);
        }
        if let Some(s) = slot.take() {
            close_stream(state, s);
        }
    }
    if !followed.is_empty() {
        state
            .followers
            .retain_mut(|(f, follower)| f != id || follower(Some(&followed)));
    }
}

fn close_stream(state: &mut State, s: Stream) {
    state.unwatch(&s.fd, s.token);
}

/// The container's init exited: collect the status, clean up, decide about a restart.
pub(crate) fn exit(state: &mut State, id: &ContainerId) {
    let Some(container) = state.containers.get_mut(id) else {
        return;
    };
    let Some(process) = container.process.as_ref() else {
        return;
    };
    let init_status = match pidfd_try_wait(process.pidfd.as_fd()) {
        Ok(Some(status)) => status,
        // Not exited after all (spurious wake-up).
        Ok(None) => return,
        Err(e) => {
            log::error!("{id}: wait for the container init: {e}");
            WaitStatus::Signaled(libc::SIGKILL)
        }
    };
    if process.exec.is_some() {
        exec(state, id);
    }
    for stream in [1, 2] {
        output(state, id, stream);
    }
    // A kill whose wake-up has not been read yet is told before the exit.
    super::oom::ready(state, id);
    let Some(container) = state.containers.get_mut(id) else {
        return;
    };
    let Some(mut process) = container.process.take() else {
        return;
    };
    let mut record = [0u8; STATUS_SIZE];
    let status = if read_full(process.status.as_raw_fd(), &mut record) == STATUS_SIZE {
        // Two `i32`: exited (0) or signalled, then the code or signal.
        let [k0, k1, k2, k3, v0, v1, v2, v3] = record;
        let value = i32::from_ne_bytes([v0, v1, v2, v3]);
        match i32::from_ne_bytes([k0, k1, k2, k3]) {
            0 => ExitStatus::Exit(value),
            _ => ExitStatus::Signal(value),
        }
    } else {
        // The init itself ended without a report: killed (stop timeout) or failed setup.
        match init_status {
            WaitStatus::Exited(code) => ExitStatus::Exit(code),
            WaitStatus::Signaled(signal) => ExitStatus::Signal(signal),
        }
    };
    let oom = process
        .cgroup
        .as_ref()
        .and_then(|g| g.stats().ok())
        .is_some_and(|s| s.oom_kills > 0);
    if let Some(group) = process.cgroup.take() {
        if let Err(e) = group.destroy() {
            log::warn!("{id}: remove the cgroup: {e}");
        }
    }
    for stream in [process.stdout.take(), process.stderr.take()]
        .into_iter()
        .flatten()
    {
        state.unwatch(&stream.fd, stream.token);
    }
    state.unwatch(&process.pidfd, process.pidfd_token);
    if let Some(oom) = process.oom.take() {
        state.unwatch(oom.fd(), oom.token);
    }
    if let Some(notify) = process.notify.take() {
        super::notify::close(state, notify);
    }
    log::info!(
        "{id}: ended with {status}{}",
        if oom { " (out of memory)" } else { "" }
    );
    state.notify(Notification::Exited {
        id: id.clone(),
        status,
        oom,
    });
    super::corruption::ended(state, id, status, &process.resources);
    let manifest = state.registry.get(id).map(|p| p.manifest().clone());
    // A container an update transaction checks or stops is the transaction's: no restart,
    // no critical reaction (a rollback comes first). So is every one at a shutdown.
    let owned = state.update.owns(id);
    let input = Input::Exited {
        now: Instant::now(),
        status,
        policy: manifest.as_ref().and_then(|m| m.restart.clone()),
        held: owned || state.shutdown.is_some(),
        critical: manifest.and_then(|m| m.autostart) == Some(Autostart::Critical),
    };
    let _ = supervisor::drive(state, id, input, None);
    if owned && state.shutdown.is_none() {
        super::update::exited(state, id, status);
    }
}

/// A critical container failed: tell subscribers; the owner of the runtime reacts.
pub(crate) fn critical_failure(state: &mut State, id: &ContainerId, reason: String) {
    let reason = super::corruption::reason(state, id, reason);
    log::error!("{id}: critical container failed: {reason}");
    state.critical = Some((id.clone(), reason.clone()));
    state.notify(Notification::Critical {
        id: id.clone(),
        reason,
    });
}

/// Deadlines that passed: transactions, watchdogs, stops' grace periods, restarts.
pub(crate) fn timers(state: &mut State, now: Instant) {
    super::update::timers(state, now);
    super::notify::timers(state, now);
    supervisor::timers(state, now);
}
