//! Kernel modules: the board's modules and their dependencies, loaded with
//! `finit_module(2)` in dependency order.
//!
//! [`Index`] reads `modules.dep` and `modules.builtin` of `/lib/modules/<release>`
//! (written by `depmod`). A requested name is resolved depth first: every module after
//! the modules it depends on, each once. Names compare as the kernel compares them: `-`
//! and `_` are the same, and `.ko` (with any compression suffix) is not part of a name.
//! A built-in module needs nothing; a module that is neither in `modules.dep` nor built
//! in is an error naming it. Only hard dependencies are followed (`modules.softdep` is
//! not read): a soft dependency the board needs is listed in the board's `modules`.

use nix::{errno::Errno, kmod::ModuleInitFlags};
use std::{
    collections::{HashMap, HashSet},
    fs,
    path::{Path, PathBuf},
};

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
}

/// One module to load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// The kernel's name (`dm_mod`).
    pub name: String,
    /// The `.ko` file.
    pub path: PathBuf,
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

/// Resolve `names` in the index of `dir` and load them in order. `EEXIST` (already
/// loaded) is fine; any other failure stops with an error naming the module.
pub fn load_all<S: AsRef<str>>(dir: &Path, names: &[S]) -> Result<Loaded, Error> {
    let mut result = Loaded::default();
    if names.is_empty() {
        return Ok(result);
    }
    let index = Index::load(dir)?;
    let (order, builtin) = index.resolve(names)?;
    result.builtin = builtin;
    for module in order {
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
        // No module parameters: a board that needs some builds them into its kernel.
        match nix::kmod::finit_module(&file, c"", ModuleInitFlags::empty()) {
            Ok(()) => {
                log::debug!("module {} loaded", module.name);
                result.loaded.push(module.name);
            }
            Err(Errno::EEXIST) => result.present.push(module.name),
            Err(source) => {
                return Err(Error::Load {
                    name: module.name,
                    path: module.path,
                    source,
                })
            }
        }
    }
    Ok(result)
}

#[cfg(test)]
#[path = "modules_tests.rs"]
mod tests;
