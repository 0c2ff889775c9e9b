//! The registry: every repository of the configuration, and the rule that a container id
//! is unique across all of them. Lookups by id, by repository, and by name and version
//! requirement (for resource containers).
//!
//! It owns the repositories; it does not mount or start anything.

use super::{install::prepare_install, Error, Package, Prepared, Rejected, Repository};
use crate::{cgroups::Defaults, config::Config, id::ContainerId};
use npk::manifest::Name;
use std::{fs::File, path::Path};

/// All repositories, in the order they were added (for a configuration: by name).
#[derive(Debug, Default)]
pub struct Registry {
    repositories: Vec<Repository>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Open and load every repository of `config` (start-up). A repository that cannot be
    /// opened (bad key, no trust setting, unreadable directory) is an error; a package that
    /// is refused is returned as [`Rejected`].
    pub fn load(config: &Config) -> Result<(Registry, Vec<Rejected>), Error> {
        // Checked by the configuration's validation; again here for one built in code.
        let keyed = config.repositories.values().any(|r| r.key.is_some());
        if let Some((name, _)) = config.repositories.iter().find(|(_, r)| r.unverified) {
            if keyed && !config.development {
                return Err(Error::Development(name.clone()));
            }
        }
        let mut registry = Registry::new();
        let mut rejected = Vec::new();
        for (name, repository) in &config.repositories {
            let mut repository = Repository::open(name, repository)?;
            repository.set_limit_defaults(Defaults::from_config(&config.cgroups));
            rejected.extend(repository.load_all()?);
            rejected.extend(registry.insert(repository)?);
        }
        Ok((registry, rejected))
    }

    /// Add a loaded repository. Its packages whose id is already in another repository are
    /// taken out of it (their files stay) and returned as [`Rejected`], naming both files.
    pub fn insert(&mut self, mut repository: Repository) -> Result<Vec<Rejected>, Error> {
        if self.repository(repository.name()).is_some() {
            return Err(Error::DuplicateRepository(repository.name().to_string()));
        }
        let duplicates: Vec<ContainerId> = repository
            .iter()
            .map(|(id, _)| id)
            .filter(|id| self.get(id).is_some())
            .cloned()
            .collect();
        let mut rejected = Vec::new();
        for id in duplicates {
            let existing = self.get(&id).map(|p| p.path().to_owned());
            if let (Some(existing), Some(package)) = (existing, repository.forget(&id)) {
                let path = package.path().to_owned();
                rejected.push(Rejected {
                    path: path.clone(),
                    error: Error::Duplicate { id, existing, path },
                });
            }
        }
        self.repositories.push(repository);
        Ok(rejected)
    }

    /// The repository `name`.
    pub fn repository(&self, name: &str) -> Option<&Repository> {
        self.repositories.iter().find(|r| r.name() == name)
    }

    /// All repositories.
    pub fn repositories(&self) -> impl Iterator<Item = &Repository> {
        self.repositories.iter()
    }

    /// The package of `id`.
    pub fn get(&self, id: &ContainerId) -> Option<&Package> {
        self.repositories.iter().find_map(|r| r.get(id))
    }

    /// The name of the repository holding `id`.
    pub fn repository_of(&self, id: &ContainerId) -> Option<&str> {
        self.repositories
            .iter()
            .find(|r| r.get(id).is_some())
            .map(Repository::name)
    }

    /// Every package with the name of its repository.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Package)> {
        self.repositories
            .iter()
            .flat_map(|r| r.iter().map(move |(_, p)| (r.name(), p)))
    }

    /// Number of packages in all repositories.
    pub fn len(&self) -> usize {
        self.repositories.iter().map(Repository::len).sum()
    }

    /// Whether there is no package at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The package named `name` with the highest version matching `version`, for a
    /// container of the repository `consumer`: only among the repositories it trusts (see
    /// [`Repository::trusts`]), so a package of an unverified repository never serves a
    /// container of a keyed one. `None` also when `consumer` is no repository.
    pub fn resolve(
        &self,
        consumer: &str,
        name: &Name,
        version: &semver::VersionReq,
    ) -> Option<&Package> {
        let consumer = self.repository(consumer)?;
        self.repositories
            .iter()
            .filter(|r| consumer.trusts(r))
            .flat_map(|r| r.iter().map(|(_, package)| package))
            .filter(|p| {
                let manifest = p.manifest();
                manifest.name == *name && version.matches(manifest.version.as_semver())
            })
            .max_by(|a, b| a.manifest().version.cmp(&b.manifest().version))
    }

    /// Commit a prepared install into `repository`, refusing an id present in any
    /// repository. See [`Repository::commit`].
    pub fn commit(&mut self, repository: &str, prepared: Prepared) -> Result<ContainerId, Error> {
        let id = prepared.id();
        if let Some(existing) = self.get(&id) {
            return Err(Error::Duplicate {
                existing: existing.path().to_owned(),
                path: prepared.target(),
                id,
            });
        }
        self.repositories
            .iter_mut()
            .find(|r| r.name() == repository)
            .ok_or_else(|| Error::NoRepository(repository.to_string()))?
            .commit(prepared)
    }

    /// Install the package file at `path` into `repository` in one go: both phases on
    /// the calling thread (reads and checks the whole package).
    pub fn install_file(&mut self, repository: &str, path: &Path) -> Result<ContainerId, Error> {
        let target = self
            .repository(repository)
            .ok_or_else(|| Error::NoRepository(repository.to_string()))?;
        let file = File::open(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            what: "open",
            source,
        })?;
        let prepared =
            prepare_install(target.dir(), target.key(), target.limits(), file, u64::MAX)?;
        self.commit(repository, prepared)
    }

    /// Uninstall `id` from whichever repository holds it.
    pub fn uninstall(&mut self, id: &ContainerId) -> Result<(), Error> {
        self.repositories
            .iter_mut()
            .find(|r| r.get(id).is_some())
            .ok_or_else(|| Error::NotInstalled(id.clone()))?
            .uninstall(id)
    }
}
