//! The order of concurrent loads: which module may start now, given the ones that have
//! finished.
//!
//! [`Schedule`] knows nothing of the kernel or of threads. It is given every module's
//! dependencies (as indices into the resolved list) and hands out one module at a time
//! whose dependencies have all finished; each finish, successful or not, is reported
//! back. After a failure it hands out nothing more, so the loads in flight end and the
//! run is over. A module that depends on itself, directly or around a cycle, or on an
//! index that is not in the list, never becomes ready: the run ends without it instead
//! of waiting forever ([`Schedule::not_started`] names it). [`run`] drives a schedule on
//! a few threads with the load given as a function.

use std::{
    collections::BTreeSet,
    sync::{Condvar, Mutex, MutexGuard, PoisonError},
    thread,
};

/// Where one module is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Some dependency has not finished.
    Waiting,
    /// Every dependency finished; not handed out yet.
    Ready,
    /// Handed out, not finished.
    Running,
    /// Finished, loaded or failed.
    Finished,
}

/// Which modules may start, as modules finish.
#[derive(Clone, Debug)]
pub struct Schedule {
    state: Vec<State>,
    /// Per module: how many of its dependencies have not finished.
    pending: Vec<usize>,
    /// Per module: the modules that depend on it.
    dependents: Vec<Vec<usize>>,
    /// Ready modules, lowest index (earliest in resolve order) first.
    ready: BTreeSet<usize>,
    running: usize,
    failed: bool,
}

impl Schedule {
    /// A schedule for `dependencies.len()` modules; `dependencies[m]` lists the modules
    /// that `m` needs loaded first (a dependency named twice counts once).
    pub fn new(dependencies: &[Vec<usize>]) -> Schedule {
        let count = dependencies.len();
        let mut pending = vec![0; count];
        let mut dependents = vec![Vec::new(); count];
        for ((module, deps), pending) in dependencies.iter().enumerate().zip(&mut pending) {
            let deps: BTreeSet<usize> = deps.iter().copied().collect();
            *pending = deps.len();
            for dep in deps {
                // An index outside the list stays pending forever: the module never starts.
                if let Some(list) = dependents.get_mut(dep) {
                    list.push(module);
                }
            }
        }
        let ready: BTreeSet<usize> = (0..count).filter(|&m| pending.get(m) == Some(&0)).collect();
        let state = (0..count)
            .map(|m| {
                if ready.contains(&m) {
                    State::Ready
                } else {
                    State::Waiting
                }
            })
            .collect();
        Schedule {
            state,
            pending,
            dependents,
            ready,
            running: 0,
            failed: false,
        }
    }

    /// A module to start now: one whose dependencies have all finished, the earliest in
    /// the list first. None while nothing is ready, and always after a failure.
    pub fn start(&mut self) -> Option<usize> {
        if self.failed {
            return None;
        }
        let module = self.ready.pop_first()?;
        if let Some(state) = self.state.get_mut(module) {
            *state = State::Running;
        }
        self.running = self.running.saturating_add(1);
        Some(module)
    }

    /// `module` (handed out by [`Schedule::start`]) finished. With `ok` its dependents
    /// may become ready; without, nothing more starts. A module that is not running is
    /// ignored.
    pub fn finish(&mut self, module: usize, ok: bool) {
        match self.state.get_mut(module) {
            Some(state @ State::Running) => *state = State::Finished,
            _ => return,
        }
        self.running = self.running.saturating_sub(1);
        if !ok {
            self.failed = true;
            return;
        }
        for &dependent in self.dependents.get(module).map_or(&[][..], Vec::as_slice) {
            let Some(pending) = self.pending.get_mut(dependent) else {
                continue;
            };
            *pending = pending.saturating_sub(1);
            if *pending == 0 {
                if let Some(state @ State::Waiting) = self.state.get_mut(dependent) {
                    *state = State::Ready;
                    self.ready.insert(dependent);
                }
            }
        }
    }

    /// Nothing runs and nothing more will start: every module finished, a module
    /// failed, or the rest wait on something that never finishes.
    pub fn is_over(&self) -> bool {
        self.running == 0 && (self.failed || self.ready.is_empty())
    }

    /// The modules never handed out, in list order.
    pub fn not_started(&self) -> Vec<usize> {
        self.state
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s, State::Waiting | State::Ready))
            .map(|(m, _)| m)
            .collect()
    }
}

/// How a run ended.
#[derive(Debug)]
pub struct Run<T, E> {
    /// Per module (list order): what its load returned; None if it never started.
    pub outcomes: Vec<Option<T>>,
    /// The first load that failed, in the order the failures were reported.
    pub error: Option<E>,
    /// The modules never started (list order): after a failure, or left waiting on a
    /// dependency that never finished.
    pub not_started: Vec<usize>,
}

/// What the threads share.
struct Shared<T, E> {
    schedule: Schedule,
    outcomes: Vec<Option<T>>,
    error: Option<E>,
}

/// Load every module of `dependencies` with `load`, on the calling thread and up to
/// `threads - 1` more (scoped: all are joined before this returns). A module starts
/// only after every one it depends on finished loading; after the first failure no
/// module starts, the loads in flight finish, and that failure is in [`Run::error`].
/// A thread that cannot be spawned leaves fewer threads doing the same work.
pub fn run<T, E, L>(dependencies: &[Vec<usize>], threads: usize, load: L) -> Run<T, E>
where
    T: Send,
    E: Send,
    L: Fn(usize) -> Result<T, E> + Sync,
{
    let shared = Mutex::new(Shared {
        schedule: Schedule::new(dependencies),
        outcomes: dependencies.iter().map(|_| None).collect(),
        error: None,
    });
    let changed = Condvar::new();
    let work = || worker(&shared, &changed, &load);
    thread::scope(|scope| {
        for n in 1..threads {
            let spawned = thread::Builder::new()
                .name(format!("modules-{n}"))
                .spawn_scoped(scope, work);
            if let Err(e) = spawned {
                log::warn!("modules: cannot start a loading thread ({e}), going on with {n}");
                break;
            }
        }
        work();
    });
    let shared = shared.into_inner().unwrap_or_else(PoisonError::into_inner);
    Run {
        not_started: shared.schedule.not_started(),
        outcomes: shared.outcomes,
        error: shared.error,
    }
}

/// One thread's loop: take a ready module, load it outside the lock, report it, until
/// the schedule is over. Every finish wakes all waiting threads, so a thread that waits
/// is woken when a module becomes ready or the run ends (the last finish).
fn worker<T, E, L>(shared: &Mutex<Shared<T, E>>, changed: &Condvar, load: &L)
where
    L: Fn(usize) -> Result<T, E>,
{
    let mut guard = lock(shared);
    loop {
        if let Some(module) = guard.schedule.start() {
            drop(guard);
            let result = load(module);
            guard = lock(shared);
            let ok = result.is_ok();
            match result {
                Ok(outcome) => {
                    if let Some(slot) = guard.outcomes.get_mut(module) {
                        *slot = Some(outcome);
                    }
                }
                Err(e) => {
                    guard.error.get_or_insert(e);
                }
            }
            guard.schedule.finish(module, ok);
            changed.notify_all();
        } else if guard.schedule.is_over() {
            return;
        } else {
            guard = changed.wait(guard).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A poisoned lock only follows a panic, which ends PID 1 anyway (`panic = "abort"`);
/// the data is still consistent, as no code panics while holding it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
