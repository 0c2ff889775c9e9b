//! One repository: a directory of `*.npk` files trusted through one key (or, for
//! development only, without one), and the packages in it that passed their check.
//!
//! It loads the directory at start-up, commits prepared installs (the second, quick phase)
//! and uninstalls. It does not check packages across repositories (the registry does), and
//! it never mounts anything.

use super::{
    check,
    install::{sync_dir, Limits, Prepared, TEMP_SUFFIX},
    package::Depth,
    Error, Package, Rejected,
};
use crate::{
    cgroups::Defaults,
    config::{CgroupsConfig, RepositoryConfig},
    id::ContainerId,
};
use npk::{key::PublicKey, package::Npk};
use std::{
    collections::BTreeMap,
    fs, io,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

/// A repository and the packages it holds.
#[derive(Debug)]
pub struct Repository {
    name: String,
    config: RepositoryConfig,
    /// The `[cgroups]` defaults a manifest may exceed only where the policy allows.
    defaults: Defaults,
    key: Option<PublicKey>,
    packages: BTreeMap<ContainerId, Entry>,
}

#[derive(Debug)]
struct Entry {
    package: Package,
    size: u64,
}

impl Repository {
    /// Open the repository `name`: check its trust settings, load its key and create its
    /// directory if missing. It holds no packages until [`Repository::load_all`].
    pub fn open(name: &str, config: &RepositoryConfig) -> Result<Repository, Error> {
        let key = match (&config.key, config.unverified) {
            (Some(path), false) => Some(PublicKey::load(path).map_err(|source| Error::Key {
                repository: name.to_string(),
                source,
            })?),
            (None, true) => None,
            (Some(_), true) => return Err(Error::KeyAndUnverified(name.to_string())),
            (None, false) => return Err(Error::NoTrust(name.to_string())),
        };
        fs::create_dir_all(&config.dir).map_err(|source| Error::Io {
            path: config.dir.clone(),
            what: "create the repository directory",
            source,
        })?;
        Ok(Repository {
            name: name.to_string(),
            config: config.clone(),
            defaults: Defaults::from_config(&CgroupsConfig::default()),
            key,
            packages: BTreeMap::new(),
        })
    }

    /// The repository's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Check packages against these `[cgroups]` defaults (those of the runtime's
    /// configuration) instead of the built-in ones. Call before loading packages.
    pub fn set_limit_defaults(&mut self, defaults: Defaults) {
        self.defaults = defaults;
    }

    /// Its configuration.
    pub fn config(&self) -> &RepositoryConfig {
        &self.config
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }

    /// Its key; `None` for a development repository.
    pub fn key(&self) -> Option<&PublicKey> {
        self.key.as_ref()
    }

    /// Whether this repository's containers may use the packages of `other` as resources:
    /// an unverified repository's may use any; a keyed repository's only those of a
    /// repository with the same key or one named in its `resources_from` that is keyed.
    pub fn trusts(&self, other: &Repository) -> bool {
        match (&self.key, &other.key) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mine), Some(theirs)) => {
                mine == theirs || self.config.resources_from.contains(&other.name)
            }
        }
    }

    /// Its capacity limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_packages: self.config.max_packages,
            max_bytes: self.config.max_bytes,
        }
    }

    /// Number of packages.
    pub fn len(&self) -> usize {
        self.packages.len()
    }

    /// Whether it holds no package.
    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }

    /// Total size of its package files in bytes.
    pub fn used_bytes(&self) -> u64 {
        self.packages.values().map(|e| e.size).sum()
    }

    /// The package of `id`.
    pub fn get(&self, id: &ContainerId) -> Option<&Package> {
        self.packages.get(id).map(|e| &e.package)
    }

    /// Its packages, ordered by id.
    pub fn iter(&self) -> impl Iterator<Item = (&ContainerId, &Package)> {
        self.packages.iter().map(|(id, e)| (id, &e.package))
    }

    /// Scan the directory (start-up): remove temporary files of interrupted installs, then
    /// check every `*.npk` file ([`Depth::Metadata`]: signature, signed metadata and verity
    /// superblock, a few KiB each; their blocks were checked when they were installed and
    /// dm-verity checks them on read), several at a time, and add those that pass in name
    /// order. A package that fails its check, is a duplicate or exceeds a limit is left on
    /// disk and returned as [`Rejected`] for the caller to report. Replaces what was loaded
    /// before.
    pub fn load_all(&mut self) -> Result<Vec<Rejected>, Error> {
        self.packages.clear();
        let dir = self.config.dir.clone();
        let read_dir = |source| Error::Io {
            path: dir.clone(),
            what: "read the repository directory",
            source,
        };
        let mut rejected = Vec::new();
        let mut candidates: Vec<PathBuf> = Vec::new();
        let mut removed = false;
        for entry in fs::read_dir(&dir).map_err(read_dir)? {
            let path = entry.map_err(read_dir)?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let name = name.unwrap_or_default();
            if name.ends_with(TEMP_SUFFIX) {
                match fs::remove_file(&path) {
                    Ok(()) => {
                        log::info!("{}: removed an interrupted install", path.display());
                        removed = true;
                    }
                    Err(source) => rejected.push(Rejected {
                        error: Error::Io {
                            path: path.clone(),
                            what: "remove the temporary file",
                            source,
                        },
                        path,
                    }),
                }
            } else if path.extension().is_some_and(|e| e == "npk") {
                candidates.push(path);
            }
        }
        if removed {
            sync_dir(&dir)?;
        }
        candidates.sort();
        for (path, checked) in check_all(candidates, self.key.as_ref()) {
            if let Err(error) = checked.and_then(|package| self.add(package)) {
                rejected.push(Rejected { path, error });
            }
        }
        Ok(rejected)
    }

    /// Add a checked package from this repository's directory.
    fn add(&mut self, package: Package) -> Result<ContainerId, Error> {
        let size = package.file_size().map_err(|source| Error::Io {
            path: package.path().to_owned(),
            what: "stat",
            source,
        })?;
        self.admit(&package, package.path(), size)?;
        let id = package.id();
        self.packages.insert(id.clone(), Entry { package, size });
        Ok(id)
    }

    /// The checks for a new package: trust, policy, duplicate, capacity.
    fn admit(&self, package: &Package, path: &Path, size: u64) -> Result<(), Error> {
        if self.key.is_some() && !package.is_signed() {
            return Err(Error::Untrusted {
                path: path.to_owned(),
                repository: self.name.clone(),
            });
        }
        super::policy::check(
            &self.name,
            &self.config.policy,
            &self.defaults,
            package.manifest(),
            path,
        )?;
        let id = package.id();
        if let Some(existing) = self.packages.get(&id) {
            return Err(Error::Duplicate {
                id,
                existing: existing.package.path().to_owned(),
                path: path.to_owned(),
            });
        }
        if let Some(max) = self.config.max_packages {
            if self.packages.len() >= max as usize {
                return Err(Error::CapacityCount {
                    path: path.to_owned(),
                    repository: self.name.clone(),
                    max,
                });
            }
        }
        if let Some(max) = self.config.max_bytes {
            let used = self.used_bytes();
            if used.saturating_add(size) > max {
                return Err(Error::CapacityBytes {
                    path: path.to_owned(),
                    repository: self.name.clone(),
                    max,
                    used,
                    size,
                });
            }
        }
        Ok(())
    }

    /// Second phase of an install: check trust, duplicates and capacity, give the prepared
    /// file its final name `<name>-<version>.npk` atomically (never replacing a file), sync
    /// the directory and add the package. On error nothing is left in the directory.
    pub fn commit(&mut self, mut prepared: Prepared) -> Result<ContainerId, Error> {
        let target = prepared.target();
        if prepared.dir != self.config.dir || prepared.key != self.key {
            return Err(Error::WrongRepository {
                path: target,
                dir: prepared.dir.clone(),
                repository: self.name.clone(),
            });
        }
        self.admit(&prepared.package, &target, prepared.size)?;
        // A hard link appears atomically and, unlike rename, fails if the name is taken.
        fs::hard_link(&prepared.temp.path, &target).map_err(|source| match source.kind() {
            io::ErrorKind::AlreadyExists => Error::Exists(target.clone()),
            _ => Error::Io {
                path: target.clone(),
                what: "link the package",
                source,
            },
        })?;
        let installed = self.finish(&mut prepared, &target);
        let package = match installed {
            Ok(package) => package,
            Err(e) => {
                // Undo: the package must not appear at the next start.
                let _ = fs::remove_file(&target);
                let _ = sync_dir(&self.config.dir);
                return Err(e);
            }
        };
        let id = package.id();
        self.packages.insert(
            id.clone(),
            Entry {
                package,
                size: prepared.size,
            },
        );
        Ok(id)
    }

    /// After the link: drop the temporary name, make both changes durable and reopen the
    /// package under its final name.
    fn finish(&self, prepared: &mut Prepared, target: &Path) -> Result<Package, Error> {
        fs::remove_file(&prepared.temp.path).map_err(|source| Error::Io {
            path: prepared.temp.path.clone(),
            what: "remove the temporary file",
            source,
        })?;
        prepared.temp.kept = true;
        sync_dir(&self.config.dir)?;
        reopen(target, &prepared.package, self.key.as_ref())
    }

    /// Remove the package of `id`: its file (the directory is synced), then its entry.
    pub fn uninstall(&mut self, id: &ContainerId) -> Result<(), Error> {
        let entry = self
            .packages
            .get(id)
            .ok_or_else(|| Error::NotInstalled(id.clone()))?;
        let path = entry.package.path().to_owned();
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Io {
                    path,
                    what: "remove",
                    source,
                })
            }
        }
        self.packages.remove(id);
        sync_dir(&self.config.dir)
    }

    /// Take the package of `id` out of the repository, leaving its file alone.
    pub(super) fn forget(&mut self, id: &ContainerId) -> Option<Package> {
        self.packages.remove(id).map(|e| e.package)
    }
}

/// The most threads that check packages at once at start-up: a check is mostly an ed25519
/// verification and a few small reads, so more threads than cores gain nothing but memory.
const CHECK_THREADS: usize = 8;

/// Check `paths` at [`Depth::Metadata`] on up to one thread per core (at most
/// [`CHECK_THREADS`]), each thread taking the next unchecked path; the results in the
/// order of `paths`. One thread, or a failed spawn, checks on the calling thread.
fn check_all(
    paths: Vec<PathBuf>,
    key: Option<&PublicKey>,
) -> Vec<(PathBuf, Result<Package, Error>)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(CHECK_THREADS)
        .min(paths.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<Package, Error>>>> =
        paths.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (Some(path), Some(slot)) = (paths.get(i), results.get(i)) else {
            return;
        };
        let checked = check(path, key, Depth::Metadata);
        if let Ok(mut slot) = slot.lock() {
            *slot = Some(checked);
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            if std::thread::Builder::new()
                .name("check".into())
                .spawn_scoped(scope, work)
                .is_err()
            {
                break;
            }
        }
        work();
    });
    paths
        .into_iter()
        .zip(results)
        .map(|(path, slot)| {
            let checked = slot.into_inner().ok().flatten().unwrap_or_else(|| {
                // Only if a checking thread died: check it here.
                check(&path, key, Depth::Metadata)
            });
            (path, checked)
        })
        .collect()
}

/// Open the committed file again, so the package carries its final path. It must be the
/// very file that was checked (same inode); its signature and metadata are verified again,
/// while the full hash check of `fs.img` already ran on this inode.
fn reopen(target: &Path, checked: &Package, key: Option<&PublicKey>) -> Result<Package, Error> {
    let npk = Npk::open(target)?;
    let identity = |file: &fs::File| file.metadata().map(|m| (m.dev(), m.ino()));
    let stat = |source| Error::Io {
        path: target.to_owned(),
        what: "stat",
        source,
    };
    if identity(npk.file()).map_err(stat)? != identity(checked.file()).map_err(stat)? {
        return Err(Error::Replaced(target.to_owned()));
    }
    let package = match key {
        Some(key) => Package::Signed(npk.verify(key)?),
        None => Package::Development(npk.parse_unverified()?),
    };
    if package.id() != checked.id() {
        return Err(Error::Replaced(target.to_owned()));
    }
    Ok(package)
}
