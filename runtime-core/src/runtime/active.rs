//! The active version of each container: which of the installed versions of a
//! (repository, name) autostarts. Kept in `data_dir/+active-versions`; the `+` cannot occur
//! in a container or repository name, so the file never meets a container's data or the
//! `@<repository>` directories.
//!
//! For each (repository, name) the file holds the `active` version, the `previous` one (the
//! rollback target), the `floor` (the highest version ever made active; it never decreases)
//! and the operator's `enabled` override (absent: the manifest's `autostart` decides).
//!
//! The file is the SHA-256 of the body in hex, a newline, and the body: JSON with a
//! `format` number. It is written to a temporary file in the same directory, synced,
//! renamed over the old one and the directory synced, so after a power cut it is the old
//! file or the new one, never a mix. A file that cannot be read, is larger than
//! [`MAX_SIZE`], fails its checksum or has an unknown format is renamed aside
//! (`+active-versions.corrupt`) and the safe rule applies: the highest installed version of
//! each name is active. A missing file is a first start: the same rule, logged once.

use crate::repository::Registry;
use npk::manifest::Version;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    io::{self, Read, Write},
    path::{Path, PathBuf},
};

/// The file's name in `data_dir`.
pub(crate) const FILE: &str = "+active-versions";
/// The format this runtime reads and writes.
const FORMAT: u32 = 1;
/// The largest file read.
pub(crate) const MAX_SIZE: u64 = 1024 * 1024;

/// A (repository, container name).
pub(crate) type Key = (String, String);

/// The installed versions of each (repository, name).
pub(crate) type Installed = BTreeMap<Key, BTreeSet<Version>>;

/// A failure to read or write the file of active versions.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ActiveError {
    /// A file system operation failed.
    #[error("{}: cannot {what}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    /// The file is larger than [`MAX_SIZE`].
    #[error("{}: larger than {MAX_SIZE} bytes", path.display())]
    TooLarge { path: PathBuf },
    /// The checksum is missing or does not match the body.
    #[error("{}: checksum mismatch", path.display())]
    Checksum { path: PathBuf },
    /// The body is not what this runtime writes.
    #[error("{}: invalid body", path.display())]
    Body {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A format this runtime does not know.
    #[error("{}: unknown format {format} (this runtime reads {FORMAT})", path.display())]
    Format { path: PathBuf, format: u64 },
}

/// What is kept about one (repository, name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub active: Version,
    pub previous: Option<Version>,
    pub floor: Version,
    pub enabled: Option<bool>,
    /// Versions whose update rolled back: never autostarted.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub failed: BTreeSet<Version>,
}

impl Entry {
    fn new(active: Version) -> Entry {
        Entry {
            floor: active.clone(),
            active,
            previous: None,
            enabled: None,
            failed: BTreeSet::new(),
        }
    }
}

/// What an update transaction changes for one name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Change {
    pub name: String,
    /// The active version before (`None`: a name new with this transaction).
    pub from: Option<Version>,
    pub to: Version,
}

/// What a transaction does on commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// To a new version: it becomes active, the old one previous, the floor rises.
    Update,
    /// Back to the previous version: the two swap, the floor stays.
    Rollback,
}

/// The step an update transaction has reached, written before the step's side effects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Step {
    /// The new packages are installed; the old versions are being stopped.
    Stopping,
    /// The old versions have ended; the persistent data is being copied.
    Snapshot,
    /// The new versions are being started and checked.
    Starting,
    /// The check failed: the new versions are being stopped, the data restored.
    RollingBack,
}

/// An update transaction not yet committed or rolled back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pending {
    pub repository: String,
    pub kind: Kind,
    pub changes: Vec<Change>,
    pub step: Step,
    /// Whether the persistent data is snapshot before the new versions start.
    pub snapshot: bool,
}

#[derive(Serialize, Deserialize)]
struct Record {
    repository: String,
    name: String,
    #[serde(flatten)]
    entry: Entry,
}

#[derive(Serialize, Deserialize)]
struct Body {
    format: u64,
    entries: Vec<Record>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    transaction: Option<Pending>,
}

#[derive(Deserialize)]
struct Header {
    format: u64,
}

/// The active versions and the file they are kept in.
#[derive(Debug, Default)]
pub(crate) struct Active {
    path: PathBuf,
    entries: BTreeMap<Key, Entry>,
    pending: Option<Pending>,
}

/// What the file holds.
type Contents = (BTreeMap<Key, Entry>, Option<Pending>);

/// The installed versions of every (repository, name) of the registry.
pub(crate) fn installed(registry: &Registry) -> Installed {
    let mut installed = Installed::new();
    for (repository, package) in registry.iter() {
        let manifest = package.manifest();
        installed
            .entry((repository.to_string(), manifest.name.to_string()))
            .or_default()
            .insert(manifest.version.clone());
    }
    installed
}

/// The bytes of the file holding `entries`.
fn encode(
    entries: &BTreeMap<Key, Entry>,
    pending: Option<&Pending>,
) -> Result<Vec<u8>, serde_json::Error> {
    let body = Body {
        format: u64::from(FORMAT),
        entries: entries
            .iter()
            .map(|((repository, name), entry)| Record {
                repository: repository.clone(),
                name: name.clone(),
                entry: entry.clone(),
            })
            .collect(),
        transaction: pending.cloned(),
    };
    let body = serde_json::to_vec_pretty(&body)?;
    let mut file = hex::encode(Sha256::digest(&body)).into_bytes();
    file.push(b'\n');
    file.extend_from_slice(&body);
    file.push(b'\n');
    Ok(file)
}

/// The entries of the file's bytes.
fn decode(path: &Path, bytes: &[u8]) -> Result<Contents, ActiveError> {
    let checksum = || ActiveError::Checksum {
        path: path.to_owned(),
    };
    let newline = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(checksum)?;
    let (sum, rest) = bytes.split_at(newline);
    let body = rest.get(1..).ok_or_else(checksum)?;
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    let expected = hex::decode(sum).map_err(|_| checksum())?;
    if Sha256::digest(body).as_slice() != expected.as_slice() {
        return Err(checksum());
    }
    let invalid = |source| ActiveError::Body {
        path: path.to_owned(),
        source,
    };
    let header: Header = serde_json::from_slice(body).map_err(invalid)?;
    if header.format != u64::from(FORMAT) {
        return Err(ActiveError::Format {
            path: path.to_owned(),
            format: header.format,
        });
    }
    let body: Body = serde_json::from_slice(body).map_err(invalid)?;
    let entries = body
        .entries
        .into_iter()
        .map(|r| ((r.repository, r.name), r.entry))
        .collect();
    Ok((entries, body.transaction))
}

/// Read the file: `None` when it does not exist.
fn read(path: &Path) -> Result<Option<Contents>, ActiveError> {
    let io = |what| {
        move |source| ActiveError::Io {
            path: path.to_owned(),
            what,
            source,
        }
    };
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("open")(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_SIZE.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io("read"))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_SIZE {
        return Err(ActiveError::TooLarge {
            path: path.to_owned(),
        });
    }
    decode(path, &bytes).map(Some)
}

/// `path` with `suffix` appended to its file name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

impl Active {
    /// The active versions kept in `data_dir`, reconciled with what is installed. Never
    /// fails: a missing file is a first start, a damaged one is set aside; either way the
    /// highest installed version of each name is active, and the file is written anew.
    pub(crate) fn load(data_dir: &Path, installed: &Installed) -> Active {
        let path = data_dir.join(FILE);
        let ((entries, pending), mut dirty) = match read(&path) {
            Ok(Some(contents)) => (contents, false),
            Ok(None) => {
                log::info!(
                    "{}: not found: the highest installed version of each container is active",
                    path.display()
                );
                ((BTreeMap::new(), None), true)
            }
            Err(e) => {
                let aside = beside(&path, ".corrupt");
                log::error!(
                    "{}: the highest installed version of each container is active; \
                     the file is kept as {}",
                    super::requests::error_chain(&e),
                    aside.display()
                );
                if let Err(e) = fs::rename(&path, &aside) {
                    log::error!(
                        "{}: cannot rename to {}: {e}",
                        path.display(),
                        aside.display()
                    );
                }
                ((BTreeMap::new(), None), true)
            }
        };
        let mut active = Active {
            path,
            entries,
            pending,
        };
        dirty |= active.reconcile(installed);
        if dirty {
            active.store();
        }
        active
    }

    /// Make the entries agree with `installed`: a name without an entry gets its highest
    /// version active, an active version no longer installed is replaced by the highest
    /// installed one, and entries of names with nothing installed are dropped. Whether
    /// anything changed.
    pub(crate) fn reconcile(&mut self, installed: &Installed) -> bool {
        let mut changed = false;
        let before = self.entries.len();
        self.entries.retain(|key, _| installed.contains_key(key));
        if self.entries.len() != before {
            changed = true;
        }
        for (key, versions) in installed {
            let Some(highest) = versions.last() else {
                continue;
            };
            match self.entries.get_mut(key) {
                None => {
                    self.entries
                        .insert(key.clone(), Entry::new(highest.clone()));
                    changed = true;
                }
                Some(entry) if !versions.contains(&entry.active) => {
                    log::info!(
                        "{}/{}: active version {} is not installed: {highest} is active",
                        key.0,
                        key.1,
                        entry.active
                    );
                    entry.active = highest.clone();
                    if entry.floor < *highest {
                        entry.floor = highest.clone();
                    }
                    changed = true;
                }
                Some(_) => (),
            }
        }
        changed
    }

    /// The entry of `repository`/`name`.
    pub(crate) fn get(&self, repository: &str, name: &str) -> Option<&Entry> {
        self.entries
            .get(&(repository.to_string(), name.to_string()))
    }

    /// Whether `version` of `repository`/`name` autostarts (when its manifest says so): it
    /// is the active version and the operator has not disabled it.
    pub(crate) fn autostarts(&self, repository: &str, name: &str, version: &Version) -> bool {
        self.get(repository, name)
            .is_some_and(|e| e.active == *version && e.enabled != Some(false))
    }

    /// `version` of `repository`/`name` was installed: it becomes active when the name has
    /// no entry yet. Whether the entries changed.
    pub(crate) fn install(&mut self, repository: &str, name: &str, version: &Version) -> bool {
        let key = (repository.to_string(), name.to_string());
        if self.entries.contains_key(&key) {
            return false;
        }
        self.entries.insert(key, Entry::new(version.clone()));
        true
    }

    /// `version` of `repository`/`name` was uninstalled; `remaining` are the versions still
    /// installed. The active version is replaced by the previous one if still installed,
    /// else by the highest remaining one, else the entry is removed; the floor stays.
    /// Whether the entries changed.
    pub(crate) fn uninstall(
        &mut self,
        repository: &str,
        name: &str,
        version: &Version,
        remaining: &BTreeSet<Version>,
    ) -> bool {
        let key = (repository.to_string(), name.to_string());
        let Some(entry) = self.entries.get_mut(&key) else {
            return false;
        };
        if entry.previous.as_ref() == Some(version) {
            entry.previous = None;
            if entry.active != *version {
                return true;
            }
        }
        if entry.active != *version {
            return false;
        }
        let next = entry
            .previous
            .take()
            .filter(|p| remaining.contains(p))
            .or_else(|| remaining.last().cloned());
        match next {
            Some(next) => {
                log::info!("{repository}/{name}: {version} uninstalled: {next} is active");
                entry.active = next;
            }
            None => {
                self.entries.remove(&key);
            }
        }
        true
    }

    /// The update transaction not yet committed or rolled back.
    pub(crate) fn pending(&self) -> Option<&Pending> {
        self.pending.as_ref()
    }

    /// Record the transaction `pending` (its first step) durably. On failure nothing is
    /// recorded in memory either.
    pub(crate) fn begin(&mut self, pending: Pending) -> Result<(), ActiveError> {
        self.pending = Some(pending);
        self.save().inspect_err(|_| self.pending = None)
    }

    /// Record that the transaction reached `step`, durably.
    pub(crate) fn step(&mut self, step: Step) -> Result<(), ActiveError> {
        if let Some(pending) = self.pending.as_mut() {
            pending.step = step;
        }
        self.save()
    }

    /// Commit the transaction: each new version becomes active. An update makes the old
    /// version previous and raises the floor; a rollback swaps active and previous and
    /// leaves the floor. Written durably with the transaction removed, in one rename.
    pub(crate) fn commit(&mut self) -> Result<(), ActiveError> {
        let Some(pending) = self.pending.take() else {
            return Ok(());
        };
        // A commit that cannot be written changes nothing, in memory either.
        let before = self.entries.clone();
        for change in &pending.changes {
            let key = (pending.repository.clone(), change.name.clone());
            let entry = self
                .entries
                .entry(key)
                .or_insert_with(|| Entry::new(change.to.clone()));
            let old = std::mem::replace(&mut entry.active, change.to.clone());
            entry.previous = Some(old).filter(|old| *old != change.to);
            if pending.kind == Kind::Update && entry.floor < change.to {
                entry.floor = change.to.clone();
            }
            entry.failed.remove(&change.to);
        }
        self.save().inspect_err(|_| {
            self.entries = before;
            self.pending = Some(pending);
        })
    }

    /// End the transaction without changing which versions are active: the new versions
    /// are marked failed (an update; a rollback's target stays a rollback target).
    pub(crate) fn abort(&mut self) -> Result<(), ActiveError> {
        let Some(pending) = self.pending.take() else {
            return Ok(());
        };
        if pending.kind == Kind::Update {
            for change in &pending.changes {
                let key = (pending.repository.clone(), change.name.clone());
                if let Some(entry) = self.entries.get_mut(&key) {
                    if entry.active != change.to {
                        entry.failed.insert(change.to.clone());
                    }
                }
            }
        }
        self.save()
    }

    /// The operator's autostart override of `repository`/`name`, written durably.
    /// Whether the name has an entry.
    pub(crate) fn set_enabled(
        &mut self,
        repository: &str,
        name: &str,
        enabled: Option<bool>,
    ) -> Result<bool, ActiveError> {
        let key = (repository.to_string(), name.to_string());
        let Some(entry) = self.entries.get_mut(&key) else {
            return Ok(false);
        };
        entry.enabled = enabled;
        self.save().map(|()| true)
    }

    /// The (repository, name) keys of every entry.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &Key> {
        self.entries.keys()
    }

    /// Write the file, logging a failure (the entries in memory stay as they are).
    pub(crate) fn store(&self) {
        if let Err(e) = self.save() {
            log::error!("{}", super::requests::error_chain(&e));
        }
    }

    /// Write the file atomically: a temporary file in the same directory, synced, renamed
    /// over the old one, the directory synced.
    pub(crate) fn save(&self) -> Result<(), ActiveError> {
        let bytes =
            encode(&self.entries, self.pending.as_ref()).map_err(|source| ActiveError::Body {
                path: self.path.clone(),
                source,
            })?;
        let temp = beside(&self.path, ".tmp");
        let io = |path: &Path, what| {
            let path = path.to_owned();
            move |source| ActiveError::Io { path, what, source }
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(io(dir, "create"))?;
        let written = fs::File::create(&temp)
            .map_err(io(&temp, "create"))
            .and_then(|mut f| {
                f.write_all(&bytes).map_err(io(&temp, "write"))?;
                f.sync_all().map_err(io(&temp, "sync"))
            });
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        fs::rename(&temp, &self.path).map_err(io(&self.path, "replace"))?;
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir, "sync"))
    }
}

#[cfg(test)]
mod tests;
