//! OOM kills while a container runs: the loop watches its memory cgroup and tells
//! subscribers ([`Notification::Oom`]) when the kernel's OOM killer killed a process in it.
//!
//! cgroup v2: `memory.events` changes raise an inotify modify event. cgroup v1: an
//! eventfd registered through `cgroup.event_control` for `memory.oom_control`. Either
//! way the count comes from the file (`oom_kill`), so a wake-up without a new kill says
//! nothing.

use super::{api::Notification, state::State};
use crate::{cgroups::Controller, id::ContainerId};
use nix::sys::{
    eventfd::{EfdFlags, EventFd},
    inotify::{AddWatchFlags, InitFlags, Inotify},
};
use std::{
    fs,
    os::fd::{AsFd, AsRawFd, BorrowedFd},
    path::{Path, PathBuf},
};

/// What wakes the loop when the OOM killer acts.
#[derive(Debug)]
enum Waker {
    V2(Inotify),
    V1 {
        eventfd: EventFd,
        /// Kept open: the registration lives as long as the file.
        _control: fs::File,
    },
}

/// The OOM watch of a running container.
#[derive(Debug)]
pub(crate) struct Watch {
    waker: Waker,
    /// The file with the `oom_kill` count.
    counter: PathBuf,
    pub token: u64,
    kills: u64,
}

impl Watch {
    /// The descriptor the loop polls.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        match &self.waker {
            Waker::V2(inotify) => inotify.as_fd(),
            Waker::V1 { eventfd, .. } => eventfd.as_fd(),
        }
    }
}

/// Watch the memory cgroup in `dir`, if it has one; failures only cost the notification.
pub(crate) fn watch(state: &mut State, id: &ContainerId, dir: Option<&Path>) -> Option<Watch> {
    let dir = dir?;
    let (waker, counter) = match waker(dir) {
        Ok(found) => found?,
        Err(e) => {
            log::warn!("{id}: cannot watch for OOM kills: {e}");
            return None;
        }
    };
    let mut watch = Watch {
        waker,
        counter,
        token: 0,
        kills: 0,
    };
    watch.kills = read_kills(&watch.counter);
    match state.watch(watch.fd(), super::state::Source::Oom(id.clone())) {
        Ok(token) => {
            watch.token = token;
            Some(watch)
        }
        Err(e) => {
            log::warn!("{id}: cannot watch for OOM kills: {e}");
            None
        }
    }
}

fn waker(dir: &Path) -> std::io::Result<Option<(Waker, PathBuf)>> {
    let events = dir.join("memory.events");
    if events.exists() {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        inotify.add_watch(&events, AddWatchFlags::IN_MODIFY)?;
        return Ok(Some((Waker::V2(inotify), events)));
    }
    let control = dir.join("memory.oom_control");
    if !control.exists() {
        return Ok(None);
    }
    let file = fs::File::open(&control)?;
    let eventfd = EventFd::from_value_and_flags(0, EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)?;
    fs::write(
        dir.join("cgroup.event_control"),
        format!("{} {}", eventfd.as_raw_fd(), file.as_raw_fd()),
    )?;
    Ok(Some((
        Waker::V1 {
            eventfd,
            _control: file,
        },
        control,
    )))
}

/// The `oom_kill` count of a `memory.events` or `memory.oom_control` file.
fn read_kills(path: &Path) -> u64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.lines()
                .filter_map(|l| l.split_once(' '))
                .find(|(k, _)| *k == "oom_kill")
                .and_then(|(_, v)| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The memory directory of a container's group.
pub(crate) fn memory_dir(group: &crate::cgroups::ContainerGroup) -> Option<&Path> {
    group.dir(Controller::Memory)
}

/// The watch of `id` woke the loop.
pub(crate) fn ready(state: &mut State, id: &ContainerId) {
    let Some(watch) = state
        .containers
        .get_mut(id)
        .and_then(|c| c.process.as_mut())
        .and_then(|p| p.oom.as_mut())
    else {
        return;
    };
    match &watch.waker {
        Waker::V2(inotify) => {
            let _ = inotify.read_events();
        }
        Waker::V1 { eventfd, .. } => {
            let _ = eventfd.read();
        }
    }
    let kills = read_kills(&watch.counter);
    if kills > watch.kills {
        watch.kills = kills;
        log::warn!("{id}: the OOM killer killed a process ({kills} in this run)");
        state.notify(Notification::Oom {
            id: id.clone(),
            kills,
        });
    }
}
