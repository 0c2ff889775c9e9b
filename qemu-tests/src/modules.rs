//! Kernel modules of an unpacked kernel: which `.ko` files to load, in which order.
//!
//! [`ModuleIndex`] reads `modules.dep` (written by `depmod`) and `modules.builtin` of one
//! `lib/modules/<release>` directory and resolves requested modules with all their
//! dependencies, dependencies first, each once; built-in modules are reported apart (there
//! is nothing to load). Names compare as the kernel does: `-` and `_` are the same. It does
//! not load anything (the guest's init does, with `finit_module`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Errors reading the index or resolving modules.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    Parse {
        path: PathBuf,
        line: usize,
        reason: &'static str,
    },
    #[error("module {name:?} is neither in modules.dep nor built in ({dir})")]
    Unknown { name: String, dir: PathBuf },
    #[error("module {name:?} depends on itself through {via:?} ({dir})")]
    Cycle {
        name: String,
        via: String,
        dir: PathBuf,
    },
}

/// One loadable module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// Canonical name (`dm_mod`), as `/proc/modules` shows it.
    pub name: String,
    /// Path relative to the modules directory (`kernel/drivers/md/dm-mod.ko`).
    pub relative: PathBuf,
    /// Absolute path of the `.ko` file on the host.
    pub path: PathBuf,
}

/// The result of resolving a list of modules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    /// Modules to load, each after all its dependencies.
    pub load_order: Vec<Module>,
    /// Requested modules that are built into the kernel (canonical names).
    pub builtin: Vec<String>,
}

#[derive(Clone, Debug)]
struct Entry {
    relative: String,
    deps: Vec<String>,
}

/// `modules.dep` and `modules.builtin` of one kernel.
#[derive(Clone, Debug)]
pub struct ModuleIndex {
    dir: PathBuf,
    entries: HashMap<String, Entry>,
    builtin: HashSet<String>,
}

/// The kernel's name of a module file: file name without `.ko[.xz|.zst|.gz]`, `-` as `_`.
pub fn canonical_name(name_or_path: &str) -> String {
    let file = name_or_path.rsplit('/').next().unwrap_or(name_or_path);
    let stem = match file.find(".ko") {
        Some(i) => &file[..i],
        None => file,
    };
    stem.replace('-', "_")
}

impl ModuleIndex {
    /// Reads `modules.dep` and `modules.builtin` in `dir` (`.../lib/modules/<release>`).
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| Error::Read { path, source })
        };
        Self::parse(dir, &read("modules.dep")?, &read("modules.builtin")?)
    }

    /// Builds the index from the two files' text; `dir` is where the `.ko` paths are.
    pub fn parse(dir: &Path, dep: &str, builtin: &str) -> Result<Self, Error> {
        let mut entries = HashMap::new();
        for (i, line) in dep.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let parse_err = |reason| Error::Parse {
                path: dir.join("modules.dep"),
                line: i + 1,
                reason,
            };
            let (module, deps) = line.split_once(':').ok_or_else(|| parse_err("no ':'"))?;
            let module = module.trim();
            if module.is_empty() {
                return Err(parse_err("empty module path"));
            }
            let entry = Entry {
                relative: module.to_owned(),
                deps: deps.split_whitespace().map(canonical_name).collect(),
            };
            if entries.insert(canonical_name(module), entry).is_some() {
                return Err(parse_err("module listed twice"));
            }
        }
        let builtin = builtin
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(canonical_name)
            .collect();
        Ok(Self {
            dir: dir.to_path_buf(),
            entries,
            builtin,
        })
    }

    /// The modules directory this index describes.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `name` is built into the kernel.
    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(&canonical_name(name))
    }

    /// Resolves `names` and their dependencies into a load order.
    pub fn resolve<S: AsRef<str>>(&self, names: &[S]) -> Result<Resolution, Error> {
        let mut resolution = Resolution::default();
        let mut done = HashSet::new();
        for name in names {
            let name = canonical_name(name.as_ref());
            if self.entries.contains_key(&name) {
                self.visit(&name, &mut Vec::new(), &mut done, &mut resolution)?;
            } else if self.builtin.contains(&name) {
                if !resolution.builtin.contains(&name) {
                    resolution.builtin.push(name);
                }
            } else {
                return Err(self.unknown(name));
            }
        }
        Ok(resolution)
    }

    /// Depth-first, post-order: a module is pushed after everything it depends on.
    fn visit(
        &self,
        name: &str,
        path: &mut Vec<String>,
        done: &mut HashSet<String>,
        out: &mut Resolution,
    ) -> Result<(), Error> {
        if done.contains(name) {
            return Ok(());
        }
        if let Some(start) = path.iter().position(|n| n == name) {
            return Err(Error::Cycle {
                name: name.to_owned(),
                via: path[start..].join(" -> "),
                dir: self.dir.clone(),
            });
        }
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| self.unknown(name.to_owned()))?;
        path.push(name.to_owned());
        for dep in &entry.deps {
            self.visit(dep, path, done, out)?;
        }
        path.pop();
        done.insert(name.to_owned());
        out.load_order.push(Module {
            name: name.to_owned(),
            relative: PathBuf::from(&entry.relative),
            path: self.dir.join(&entry.relative),
        });
        Ok(())
    }

    fn unknown(&self, name: String) -> Error {
        Error::Unknown {
            name,
            dir: self.dir.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
