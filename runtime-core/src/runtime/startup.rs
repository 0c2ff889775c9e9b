//! The runtime's start-up once the registry is loaded: mount the packages that the
//! autostart containers need (and every package of the repositories marked
//! `mount_on_start`) several at a time, and start each autostart container as soon as its
//! own packages are mounted, not after all of them are. And the start-up's phases with
//! their durations ([`Phases`]), which the init shows in its boot report.
//!
//! Mounting is the slow part of a start-up (a loop device, a dm-verity device and a
//! squashfs per package, and the first reads of each image); the mount threads touch
//! nothing but their own copy of the package (the same open file, [`Package::try_clone`])
//! and the configuration's device paths. The event loop's thread keeps the state: it
//! records each mount as it arrives and starts the containers whose packages are all
//! there. A mount that failed here is not retried here: the container's own start mounts
//! it again and reports the failure as any start does.

use super::{requests, start, state::State, supervisor};
use crate::{id::ContainerId, repository::Package};
use npk::manifest::{Autostart, Mount};
use std::{
    collections::{BTreeSet, VecDeque},
    path::PathBuf,
    sync::{mpsc, Arc, Mutex},
    time::{Duration, Instant},
};

/// The most packages mounted at once. A mount waits on the kernel (device creation, the
/// first reads of the image) as much as it computes, so two threads help even on one core;
/// beyond four, concurrent device-mapper calls only queue behind each other.
const MOUNT_THREADS: usize = 4;

/// One phase of the runtime's start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase {
    /// `registry`, `setup`, `mounts` or `starts`.
    pub name: &'static str,
    pub start: Instant,
    pub took: Duration,
}

/// The phases of the start-up so far, shared with the runtime's [`super::Handle`]:
/// `registry` (loading and checking the repositories), `setup` (cgroups, networks, the
/// event loop), `mounts` (from the loop's start until the last package the autostart
/// containers need is mounted) and `starts` (from the loop's start until every autostart
/// container's start was prepared and its clone handed to a launcher thread).
#[derive(Clone, Debug, Default)]
pub struct Phases(Arc<Mutex<Vec<Phase>>>);

impl Phases {
    /// Record the phase `name` that began at `start` and ends now.
    pub(crate) fn record(&self, name: &'static str, start: Instant) {
        let took = start.elapsed();
        if let Ok(mut phases) = self.0.lock() {
            phases.push(Phase { name, start, took });
        }
    }

    /// The phases recorded so far, in the order they ended.
    pub fn get(&self) -> Vec<Phase> {
        self.0.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

/// An autostart container and the packages it needs.
struct Pending {
    id: ContainerId,
    kind: Option<Autostart>,
    images: Vec<ContainerId>,
}

/// Mount what the start-up needs and start the autostart containers, each as soon as its
/// packages are mounted.
pub(super) fn run(state: &mut State, phases: &Phases) {
    let begin = Instant::now();
    let mut pending = autostarts(state);
    let mut images: Vec<ContainerId> = Vec::new();
    let mut push = |image: &ContainerId| {
        if !images.contains(image) {
            images.push(image.clone());
        }
    };
    pending.iter().flat_map(|p| &p.images).for_each(&mut push);
    mount_on_start(state).iter().for_each(&mut push);
    let jobs: VecDeque<(ContainerId, Package, PathBuf)> = images
        .into_iter()
        .filter(|image| !state.mounts.contains_key(image))
        .filter_map(|image| {
            // A package that cannot be copied is mounted by its container's start.
            let package = state.registry.get(&image)?.try_clone().ok()?;
            let target = state.config.run_dir.join(image.to_string());
            Some((image, package, target))
        })
        .collect();
    let threads = MOUNT_THREADS.min(jobs.len());
    let jobs = Mutex::new(jobs);
    let devices = state.config.devices.clone();
    let mut done: BTreeSet<ContainerId> = state.mounts.keys().cloned().collect();
    start_ready(state, &mut pending, &done);
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        for _ in 0..threads {
            let tx = tx.clone();
            let (jobs, devices) = (&jobs, &devices);
            let work = move || loop {
                let job = jobs.lock().ok().and_then(|mut j| j.pop_front());
                let Some((image, package, target)) = job else {
                    return;
                };
                let mounted = start::mount_package(&package, &target, devices);
                if tx.send((image, target, mounted)).is_err() {
                    return;
                }
            };
            let spawned = std::thread::Builder::new()
                .name("mount".into())
                .spawn_scoped(scope, work);
            if let Err(e) = spawned {
                log::warn!("start-up: spawn a mount thread: {e}");
                break;
            }
        }
        // Ends when every mount thread has ended (each holds a sender).
        drop(tx);
        for (image, target, mounted) in rx {
            match mounted {
                Ok(mounted) => {
                    log::info!("{image}: mounted at {}", target.display());
                    state.mounts.insert(image.clone(), mounted);
                }
                Err(e) => log::warn!("{image}: mount at start-up: {}", requests::error_chain(&e)),
            }
            done.insert(image);
            start_ready(state, &mut pending, &done);
        }
    });
    phases.record("mounts", begin);
    // Those whose packages could not be mounted (or copied) here: their start mounts
    // them, or reports why it cannot.
    for p in std::mem::take(&mut pending) {
        start_one(state, p);
    }
    phases.record("starts", begin);
}

/// Start every pending container whose packages are all in `done`.
fn start_ready(state: &mut State, pending: &mut Vec<Pending>, done: &BTreeSet<ContainerId>) {
    let (ready, waiting): (Vec<Pending>, Vec<Pending>) = std::mem::take(pending)
        .into_iter()
        .partition(|p| p.images.iter().all(|image| done.contains(image)));
    *pending = waiting;
    for p in ready {
        start_one(state, p);
    }
}

fn start_one(state: &mut State, p: Pending) {
    // A failed launch is logged and told by the lifecycle.
    if let Err(error) = supervisor::start(state, &p.id, (None, None), None) {
        if p.kind == Some(Autostart::Critical) {
            super::events::critical_failure(state, &p.id, error);
        }
    }
}

/// The active version of each container whose manifest asks for it, unless the operator
/// disabled it, with its own package and the resources it resolves to.
fn autostarts(state: &State) -> Vec<Pending> {
    state
        .registry
        .iter()
        .filter(|(repository, p)| {
            let manifest = p.manifest();
            manifest.autostart.is_some()
                && state
                    .active
                    .autostarts(repository, manifest.name.as_str(), &manifest.version)
        })
        .map(|(repository, p)| {
            let manifest = p.manifest();
            let mut images = vec![p.id()];
            // As the start resolves them; one that does not resolve fails that start.
            images.extend(manifest.mounts.values().filter_map(|mount| {
                match mount {
                    Mount::Resource(r) => state
                        .registry
                        .resolve(repository, &r.name, &r.version)
                        .map(Package::id),
                    _ => None,
                }
            }));
            Pending {
                id: p.id(),
                kind: manifest.autostart,
                images,
            }
        })
        .collect()
}

/// Every package of the repositories marked `mount_on_start`.
fn mount_on_start(state: &State) -> Vec<ContainerId> {
    state
        .registry
        .iter()
        .filter(|(repository, _)| {
            state
                .config
                .repositories
                .get(*repository)
                .is_some_and(|r| r.mount_on_start)
        })
        .map(|(_, p)| p.id())
        .collect()
}
