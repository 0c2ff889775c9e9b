//! Kernel modules: the board's modules and their dependencies, loaded with
//! `finit_module(2)` in dependency order, independent ones at the same time.
//!
//! [`Index`] reads `modules.dep` and `modules.builtin` of `/lib/modules/<release>`
//! (written by `depmod`). A requested name is resolved depth first: every module after
//! the modules it depends on, each once. Names compare as the kernel compares them: `-`
//! and `_` are the same, and `.ko` (with any compression suffix) is not part of a name.
//! A built-in module needs nothing; a module that is neither in `modules.dep` nor built
//! in is an error naming it. Only hard dependencies are followed (`modules.softdep` is
//! not read): a soft dependency the board needs is listed in the board's `modules`.
//!
//! [`load_all`] loads a module once every module it depends on has finished loading
//! (or was already loaded, or is built in); modules whose dependencies are satisfied load
//! concurrently (the kernel allows concurrent `finit_module`) on up to [`MAX_THREADS`]
//! short-lived threads, all joined before it returns. Which module may start is decided by
//! [`schedule::Schedule`], which knows nothing of the system call.

mod schedule;

use nix::{errno::Errno, kmod::ModuleInitFlags};
use std::{
    collections::{HashMap, HashSet},
    fs,
    num::NonZeroUsize,
    path::{Path, PathBuf},
};

/// At most this many modules load at the same time. A module's load is mostly the
/// kernel's CPU work (signature check, relocation, its init function), so more threads
/// than CPUs gain little; but an init function may also sleep (probing a device, waiting
/// for an RCU grace period), so even one CPU runs two loads to overlap that wait. A board
/// lists about twenty modules in a few dependency chains: beyond four, threads would
/// mostly find nothing ready.
pub const MAX_THREADS: usize = 4;

/// Why modules could not be resolved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: line {line}: {reason}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        reason: &'static str,
    },
    #[error("module {name}: neither in modules.dep nor built in ({})", dir.display())]
    Missing { name: String, dir: PathBuf },
    #[error("module {name}: depends on itself ({via})")]
    Cycle { name: String, via: String },
    #[error("module {name}: cannot open {}: {source}", path.display())]
    Open {
        name: String,
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("module {name}: finit_module {}: {source}", path.display())]
    Load {
        name: String,
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("modules {names}: never loaded, their dependencies never finished")]
    NotStarted { names: String },
}

/// One module to load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// The kernel's name (`dm_mod`).
    pub name: String,
    /// The `.ko` file.
    pub path: PathBuf,
}

/// The resolved modules with the edges between them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The modules to load, in an order that loads each after all it depends on.
    pub modules: Vec<Module>,
    /// Per module of `modules`: the indices (into `modules`, all before it) of the
    /// modules it depends on directly. Built-in dependencies need nothing and are not
    /// listed.
    pub dependencies: Vec<Vec<usize>>,
    /// The requested modules that are built in.
    pub builtin: Vec<String>,
}

/// What one load did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Loaded now.
    Loaded,
    /// Already loaded (`EEXIST`).
    Present,
}

/// What loading did, for the log and the boot report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Loaded now.
    pub loaded: Vec<String>,
    /// Already loaded (`EEXIST`).
    pub present: Vec<String>,
    /// Requested and built into the kernel.
    pub builtin: Vec<String>,
}

impl Loaded {
    /// From a plan and, per module of it, what its load did.
    fn new(plan: Plan, outcomes: Vec<Outcome>) -> Loaded {
        let mut loaded = Loaded {
            builtin: plan.builtin,
            ..Loaded::default()
        };
        for (module, outcome) in plan.modules.into_iter().zip(outcomes) {
            match outcome {
                Outcome::Loaded => loaded.loaded.push(module.name),
                Outcome::Present => loaded.present.push(module.name),
            }
        }
        loaded
    }
}

/// `modules.dep` and `modules.builtin` of one kernel.
#[derive(Clone, Debug)]
pub struct Index {
    dir: PathBuf,
    /// Name → (path relative to `dir`, dependencies as listed).
    entries: HashMap<String, (String, Vec<String>)>,
    builtin: HashSet<String>,
}

/// The kernel's name of a module or module file: no directory, no `.ko…`, `-` as `_`.
pub fn canonical(name: &str) -> String {
    let file = name.rsplit('/').next().unwrap_or(name);
    let stem = file.find(".ko").map_or(file, |i| &file[..i]);
    stem.replace('-', "_")
}

impl Index {
    /// Read the index of `dir` (`/lib/modules/<release>`). A missing `modules.builtin` is
    /// an empty one.
    pub fn load(dir: &Path) -> Result<Index, Error> {
        let read = |name: &str| {
            let path = dir.join(name);
            fs::read_to_string(&path).map_err(|source| Error::Read { path, source })
        };
        let dep = read("modules.dep")?;
        let builtin = match read("modules.builtin") {
            Ok(text) => text,
            Err(Error::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                String::new()
            }
            Err(e) => return Err(e),
        };
        Index::parse(dir, &dep, &builtin)
    }

    /// The index from the text of the two files.
    pub fn parse(dir: &Path, dep: &str, builtin: &str) -> Result<Index, Error> {
        let mut entries = HashMap::new();
        for (i, line) in dep.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let fail = |reason| Error::Parse {
                path: dir.join("modules.dep"),
                line: i.saturating_add(1),
                reason,
            };
            let (module, deps) = line.split_once(':').ok_or_else(|| fail("no ':'"))?;
            let module = module.trim();
            if module.is_empty() {
                return Err(fail("no module path before ':'"));
            }
            let deps = deps.split_whitespace().map(canonical).collect();
            if entries
                .insert(canonical(module), (module.to_string(), deps))
                .is_some()
            {
                return Err(fail("module listed twice"));
            }
        }
        let builtin = builtin
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(canonical)
            .collect();
        Ok(Index {
            dir: dir.to_owned(),
            entries,
            builtin,
        })
    }

    /// The modules to load for `names` in load order, with the dependency edges between
    /// them, and the requested built-ins.
    pub fn plan<S: AsRef<str>>(&self, names: &[S]) -> Result<Plan, Error> {
        let (modules, builtin) = self.resolve(names)?;
        let at: HashMap<&str, usize> = modules
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.as_str(), i))
            .collect();
        // Every dependency of a resolved module is resolved too, or built in (not in `at`).
        let dependencies = modules
            .iter()
            .map(|m| {
                self.entries
                    .get(&m.name)
                    .map_or_else(Vec::new, |(_, deps)| {
                        deps.iter()
                            .filter_map(|d| at.get(d.as_str()).copied())
                            .collect()
                    })
            })
            .collect();
        Ok(Plan {
            modules,
            dependencies,
            builtin,
        })
    }

    /// The modules to load for `names`, in load order, and the requested built-ins.
    pub fn resolve<S: AsRef<str>>(&self, names: &[S]) -> Result<(Vec<Module>, Vec<String>), Error> {
        let mut order = Vec::new();
        let mut builtin = Vec::new();
        let mut done = HashSet::new();
        for name in names {
            let name = canonical(name.as_ref());
            if self.entries.contains_key(&name) {
                self.visit(&name, &mut Vec::new(), &mut done, &mut order)?;
            } else if self.builtin.contains(&name) {
                if !builtin.contains(&name) {
                    builtin.push(name);
                }
            } else {
                return Err(self.missing(name));
            }
        }
        Ok((order, builtin))
    }

    /// Post-order: a module after all it depends on. `modules.dep` lists a module's
    /// dependencies so that the last one is loaded first (as modprobe does); visiting them
    /// from the end keeps that order.
    fn visit(
        &self,
        name: &str,
        path: &mut Vec<String>,
        done: &mut HashSet<String>,
        order: &mut Vec<Module>,
    ) -> Result<(), Error> {
        if done.contains(name) {
            return Ok(());
        }
        if path.iter().any(|n| n == name) {
            let mut via: Vec<String> = path.iter().skip_while(|n| *n != name).cloned().collect();
            via.push(name.to_string());
            return Err(Error::Cycle {
                name: name.to_string(),
                via: via.join(" -> "),
            });
        }
        let Some((relative, deps)) = self.entries.get(name) else {
            // A dependency that is built in needs nothing.
            if self.builtin.contains(name) {
                return Ok(());
            }
            return Err(self.missing(name.to_string()));
        };
        path.push(name.to_string());
        for dep in deps.iter().rev() {
            self.visit(dep, path, done, order)?;
        }
        path.pop();
        done.insert(name.to_string());
        order.push(Module {
            name: name.to_string(),
            path: self.dir.join(relative),
        });
        Ok(())
    }

    fn missing(&self, name: String) -> Error {
        Error::Missing {
            name,
            dir: self.dir.clone(),
        }
    }
}

/// The modules directory of the running kernel: `<base>/<release>`, the release read from
/// `/proc/sys/kernel/osrelease` (what `uname -r` prints).
pub fn directory(base: &Path, osrelease: &Path) -> Result<PathBuf, Error> {
    let release = fs::read_to_string(osrelease).map_err(|source| Error::Read {
        path: osrelease.to_owned(),
        source,
    })?;
    Ok(base.join(release.trim()))
}

/// Resolve `names` in the index of `dir` and load them, each after the modules it
/// depends on, independent ones concurrently on up to [`threads`] threads. `EEXIST`
/// (already loaded) is fine; any other failure is an error naming the module: no module
/// starts after it, the loads in flight finish, and the first failure is returned.
pub fn load_all<S: AsRef<str>>(dir: &Path, names: &[S]) -> Result<Loaded, Error> {
    if names.is_empty() {
        return Ok(Loaded::default());
    }
    let plan = Index::load(dir)?.plan(names)?;
    let threads = threads(
        std::thread::available_parallelism().ok(),
        plan.modules.len(),
    );
    load_plan(plan, threads, finit)
}

/// How many threads load `modules` modules on a machine of `cpus` CPUs (None: unknown):
/// the CPUs, at least two and at most [`MAX_THREADS`] (see there), never more than
/// there are modules.
pub fn threads(cpus: Option<NonZeroUsize>, modules: usize) -> usize {
    cpus.map_or(1, NonZeroUsize::get)
        .clamp(2, MAX_THREADS)
        .min(modules)
        .max(1)
}

/// Load the modules of `plan` with `load` on `threads` threads, in dependency order.
/// The result lists the modules in plan order, whatever order their loads finished in.
fn load_plan<L>(plan: Plan, threads: usize, load: L) -> Result<Loaded, Error>
where
    L: Fn(&Module) -> Result<Outcome, Error> + Sync,
{
    let run = schedule::run(&plan.dependencies, threads, |i| match plan.modules.get(i) {
        Some(module) => load(module),
        None => Err(Error::NotStarted {
            names: format!("#{i}"),
        }),
    });
    if let Some(e) = run.error {
        return Err(e);
    }
    if !run.not_started.is_empty() {
        let never: Vec<&str> = run
            .not_started
            .iter()
            .filter_map(|&i| plan.modules.get(i))
            .map(|m| m.name.as_str())
            .collect();
        return Err(Error::NotStarted {
            names: never.join(" "),
        });
    }
    // Every module started and none failed: each has its outcome.
    let outcomes = run.outcomes.into_iter().flatten().collect();
    Ok(Loaded::new(plan, outcomes))
}

/// One module into the kernel: open its file, `finit_module` it (no parameters: a board
/// that needs some builds them into its kernel).
fn finit(module: &Module) -> Result<Outcome, Error> {
    let file = nix::fcntl::open(
        &module.path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|source| Error::Open {
        name: module.name.clone(),
        path: module.path.clone(),
        source,
    })?;
    match nix::kmod::finit_module(&file, c"", ModuleInitFlags::empty()) {
        Ok(()) => {
            log::debug!("module {} loaded", module.name);
            Ok(Outcome::Loaded)
        }
        Err(Errno::EEXIST) => Ok(Outcome::Present),
        Err(source) => Err(Error::Load {
            name: module.name.clone(),
            path: module.path.clone(),
            source,
        }),
    }
}

#[cfg(test)]
#[path = "modules_tests.rs"]
mod tests;
