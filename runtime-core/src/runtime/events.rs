//! What the event loop does when a source becomes ready: a container's program executed
//! (or its start failed), a container's init exited, output arrived, a deadline passed.

use super::{
    api::{Notification, RequestError, Response},
    restart::Decision,
    start,
    state::{deadline, State, Stream},
};
use crate::{
    container::{
        child::{Failure, STATUS_SIZE},
        error::ChildError,
        ExitStatus,
    },
    id::ContainerId,
};
use northstar_sys::clone::{pidfd_signal, pidfd_try_wait, WaitStatus};
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
    let pid = process.pid;
    let replies = std::mem::take(&mut process.start_replies);
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
            log::info!("{id}: started (pid {pid})");
            for reply in replies {
                let _ = reply.send(Ok(Response::Started { pid }));
            }
            state.notify(Notification::Started {
                id: id.clone(),
                pid,
            });
        }
        Some(error) => {
            log::warn!("{error}");
            for reply in replies {
                let _ = reply.send(Err(RequestError::Start(error.clone())));
            }
            state.notify(Notification::Failed {
                id: id.clone(),
                error,
            });
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
    let ran = process.started.elapsed();
    let stopped = process.stop.is_some();
    log::info!(
        "{id}: ended with {status}{}",
        if oom { " (out of memory)" } else { "" }
    );
    if let Some((_, replies)) = process.stop.take() {
        for reply in replies {
            let _ = reply.send(Ok(Response::Stopped { status }));
        }
    }
    state.notify(Notification::Exited {
        id: id.clone(),
        status,
        oom,
    });
    let manifest = state.registry.get(id).map(|p| p.manifest().clone());
    let container = state.container(id);
    container.last_exit = Some(status);
    if state.shutdown.is_some() {
        return;
    }
    let restart = manifest.as_ref().and_then(|m| m.restart.as_ref());
    let decision = state
        .container(id)
        .backoff
        .decide(restart, status, ran, stopped);
    match decision {
        Decision::Stay => (),
        Decision::Restart { delay, attempt } => {
            let container = state.container(id);
            container.restart_at = Some(deadline(Instant::now(), delay));
            state.notify(Notification::Restarting {
                id: id.clone(),
                attempt,
                delay,
            });
        }
        Decision::GiveUp { attempts } => state.notify(Notification::GaveUp {
            id: id.clone(),
            attempts,
        }),
    }
    let critical = manifest.and_then(|m| m.autostart) == Some(Autostart::Critical);
    if critical && !stopped && state.container(id).restart_at.is_none() {
        critical_failure(state, id, format!("ended with {status}"));
    }
}

/// A critical container failed: tell subscribers; the owner of the runtime reacts.
pub(crate) fn critical_failure(state: &mut State, id: &ContainerId, reason: String) {
    log::error!("{id}: critical container failed: {reason}");
    state.critical = Some((id.clone(), reason.clone()));
    state.notify(Notification::Critical {
        id: id.clone(),
        reason,
    });
}

/// Deadlines that passed: SIGKILL after a stop's grace period, scheduled restarts.
pub(crate) fn timers(state: &mut State, now: Instant) {
    let mut kill = Vec::new();
    let mut restart = Vec::new();
    for (id, c) in &state.containers {
        if let Some(p) = &c.process {
            if p.stop
                .as_ref()
                .is_some_and(|(deadline, _)| *deadline <= now)
            {
                kill.push(id.clone());
            }
        }
        if c.restart_at.is_some_and(|at| at <= now) {
            restart.push(id.clone());
        }
    }
    for id in kill {
        if let Some(p) = state
            .containers
            .get_mut(&id)
            .and_then(|c| c.process.as_mut())
        {
            log::warn!("{id}: did not stop in time, killing it");
            // Killing the container's init ends every process in its PID namespace.
            let _ = pidfd_signal(p.pidfd.as_fd(), libc::SIGKILL);
            if let Some(stop) = p.stop.as_mut() {
                stop.0 = deadline(now, std::time::Duration::from_secs(3600));
            }
        }
    }
    for id in restart {
        state.container(&id).restart_at = None;
        let restarts = &mut state.container(&id).restarts;
        *restarts = restarts.saturating_add(1);
        let (args, env) = start::restart_args(state, &id);
        if let Err(e) = start::start(state, &id, args, env) {
            log::warn!("{e}");
            state.notify(Notification::Failed {
                id: id.clone(),
                error: e.to_string(),
            });
        }
    }
}
