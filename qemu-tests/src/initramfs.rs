//! Initramfs archives: the newc cpio format the kernel unpacks into its rootfs.
//!
//! [`Initramfs`] collects directories, files, symlinks and device nodes and writes them as
//! an uncompressed newc archive (Debian's kernels accept it as is). Entries are owned by
//! root, have mtime 0 and are written in insertion order, so equal inputs give equal
//! bytes. Missing parent directories are added (mode 0755) before their children, because
//! the kernel's unpacker does not create them. It does not own what goes into an image
//! (scenarios decide) nor compression. [`reader`] parses archives back (tests, checks).

pub mod newc;
pub mod reader;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Errors while building or writing an archive.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid archive path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("archive path {path:?} is added twice")]
    Duplicate { path: String },
    #[error("archive path {path:?} needs parent {parent:?}, which is not a directory")]
    NotADirectory { path: String, parent: String },
    #[error("cannot read {source_path} for archive path {path:?}")]
    Read {
        path: String,
        source_path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("archive entry {path:?} is too large for newc ({size} bytes)")]
    TooLarge { path: String, size: u64 },
    #[error("cannot write archive {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Character or block device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    Char,
    Block,
}

/// Where a file's content comes from.
#[derive(Clone, Debug)]
enum Source {
    Bytes(Vec<u8>),
    /// Read when the archive is written.
    Path(PathBuf),
}

#[derive(Clone, Debug)]
enum Kind {
    Dir,
    File(Source),
    Symlink(String),
    Device {
        kind: DeviceKind,
        major: u32,
        minor: u32,
    },
}

#[derive(Clone, Debug)]
struct Entry {
    path: String,
    /// Permission bits only (`0o7777`); the type bits come from `kind`.
    perm: u32,
    kind: Kind,
}

/// An initramfs being assembled. Paths are absolute in the guest (`/init`) or relative
/// to its root (`init`); both name the same entry.
#[derive(Clone, Debug, Default)]
pub struct Initramfs {
    entries: Vec<Entry>,
    index: BTreeMap<String, usize>,
}

impl Initramfs {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a directory. Adding an existing directory again only sets its mode.
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<&mut Self, Error> {
        let path = normalize(path)?;
        if let Some(&i) = self.index.get(&path) {
            let entry = &mut self.entries[i];
            if !matches!(entry.kind, Kind::Dir) {
                return Err(Error::Duplicate { path });
            }
            entry.perm = mode & 0o7777;
            return Ok(self);
        }
        self.push(path, mode, Kind::Dir)
    }

    /// Adds a regular file with the given content.
    pub fn file(&mut self, path: &str, data: Vec<u8>, mode: u32) -> Result<&mut Self, Error> {
        self.push(normalize(path)?, mode, Kind::File(Source::Bytes(data)))
    }

    /// Adds a regular file whose content is read from `source` when the archive is written.
    pub fn file_from(&mut self, path: &str, source: &Path, mode: u32) -> Result<&mut Self, Error> {
        let source = Source::Path(source.to_path_buf());
        self.push(normalize(path)?, mode, Kind::File(source))
    }

    /// Adds a symbolic link pointing at `target` (stored verbatim).
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<&mut Self, Error> {
        let path = normalize(path)?;
        if target.is_empty() || target.contains('\0') {
            return Err(Error::InvalidPath {
                path,
                reason: "symlink target is empty or contains NUL",
            });
        }
        self.push(path, 0o777, Kind::Symlink(target.to_owned()))
    }

    /// Adds a device node, e.g. `/dev/console` (char 5:1).
    pub fn device(
        &mut self,
        path: &str,
        kind: DeviceKind,
        major: u32,
        minor: u32,
        mode: u32,
    ) -> Result<&mut Self, Error> {
        let node = Kind::Device { kind, major, minor };
        self.push(normalize(path)?, mode, node)
    }

    /// The archive paths in the order they will be written (without leading `/`).
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.path.as_str())
    }

    /// Writes the archive, ending with the trailer, and returns the number of bytes.
    /// `name` is only used in error messages.
    pub fn write_to<W: Write>(&self, out: W, name: &Path) -> Result<u64, Error> {
        let mut out = newc::Writer::new(out);
        let io_err = |source| Error::Write {
            path: name.to_path_buf(),
            source,
        };
        for (i, entry) in self.entries.iter().enumerate() {
            let loaded;
            let (data, mode, rdev): (&[u8], u32, (u32, u32)) = match &entry.kind {
                Kind::Dir => (&[], newc::S_IFDIR, (0, 0)),
                Kind::File(Source::Bytes(bytes)) => (bytes, newc::S_IFREG, (0, 0)),
                Kind::File(Source::Path(source_path)) => {
                    loaded = std::fs::read(source_path).map_err(|source| Error::Read {
                        path: entry.path.clone(),
                        source_path: source_path.clone(),
                        source,
                    })?;
                    (&loaded, newc::S_IFREG, (0, 0))
                }
                Kind::Symlink(target) => (target.as_bytes(), newc::S_IFLNK, (0, 0)),
                Kind::Device { kind, major, minor } => {
                    let ty = match kind {
                        DeviceKind::Char => newc::S_IFCHR,
                        DeviceKind::Block => newc::S_IFBLK,
                    };
                    (&[], ty, (*major, *minor))
                }
            };
            let size = u32::try_from(data.len()).map_err(|_| Error::TooLarge {
                path: entry.path.clone(),
                size: data.len() as u64,
            })?;
            let header = newc::Header {
                ino: u32::try_from(i + 1).unwrap_or(u32::MAX),
                mode: mode | entry.perm,
                nlink: if matches!(entry.kind, Kind::Dir) {
                    2
                } else {
                    1
                },
                filesize: size,
                rdev_major: rdev.0,
                rdev_minor: rdev.1,
                ..newc::Header::default()
            };
            out.entry(&header, &entry.path, data).map_err(io_err)?;
        }
        out.trailer().map_err(io_err)
    }

    /// Writes the archive to a new file at `path` (replacing an existing one).
    pub fn write(&self, path: &Path) -> Result<u64, Error> {
        let io_err = |source| Error::Write {
            path: path.to_path_buf(),
            source,
        };
        let file = File::create(path).map_err(io_err)?;
        let mut out = BufWriter::new(file);
        let size = self.write_to(&mut out, path)?;
        out.flush().map_err(io_err)?;
        Ok(size)
    }

    fn push(&mut self, path: String, mode: u32, kind: Kind) -> Result<&mut Self, Error> {
        if self.index.contains_key(&path) {
            return Err(Error::Duplicate { path });
        }
        self.add_parents(&path)?;
        self.index.insert(path.clone(), self.entries.len());
        self.entries.push(Entry {
            path,
            perm: mode & 0o7777,
            kind,
        });
        Ok(self)
    }

    fn add_parents(&mut self, path: &str) -> Result<(), Error> {
        let mut end = 0;
        while let Some(slash) = path[end..].find('/') {
            let parent = &path[..end + slash];
            end += slash + 1;
            match self.index.get(parent) {
                Some(&i) if matches!(self.entries[i].kind, Kind::Dir) => {}
                Some(_) => {
                    return Err(Error::NotADirectory {
                        path: path.to_owned(),
                        parent: parent.to_owned(),
                    })
                }
                None => {
                    self.index.insert(parent.to_owned(), self.entries.len());
                    self.entries.push(Entry {
                        path: parent.to_owned(),
                        perm: 0o755,
                        kind: Kind::Dir,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Checks a guest path and returns it relative to the root, as the archive stores it.
fn normalize(path: &str) -> Result<String, Error> {
    let invalid = |reason| Error::InvalidPath {
        path: path.to_owned(),
        reason,
    };
    let relative = path.trim_start_matches('/');
    if relative.is_empty() {
        return Err(invalid("the root itself is not an entry"));
    }
    if relative.contains('\0') {
        return Err(invalid("contains NUL"));
    }
    if relative == newc::TRAILER {
        return Err(invalid("is the trailer's name"));
    }
    for component in relative.split('/') {
        match component {
            "" => return Err(invalid("empty component or trailing slash")),
            "." | ".." => return Err(invalid("contains . or ..")),
            _ => {}
        }
    }
    Ok(relative.to_owned())
}

#[cfg(test)]
mod tests;
