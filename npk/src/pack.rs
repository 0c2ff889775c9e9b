//! Building a package: manifest + root directory → `<name>-<version>.npk`.
//!
//! The squashfs image is written straight into the package file at its final, aligned
//! offset (no temporary image, no copy); the verity superblock and hash tree follow it;
//! then the signature is computed and the zip headers are written around `fs.img`. The
//! package appears under its final name only when complete (written to a hidden file in
//! the output directory, synced, then renamed).

use crate::{
    archive,
    key::SecretKey,
    manifest::{self, Manifest},
    signature::{self, SignedHashes},
    squashfs, verity,
};
use sha2::{Digest, Sha256};
use std::{
    fs::{self, File, OpenOptions},
    io::{self, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

/// How to build a package.
pub struct Options<'a> {
    /// Squashfs compression.
    pub compression: squashfs::Compression,
    /// Squashfs block size in bytes.
    pub block_size: u32,
    /// Verity salt; random when `None`. A fixed salt makes builds reproducible.
    pub salt: Option<verity::Salt>,
    /// Signing key. Without one the package is unsigned and carries no verity data.
    pub key: Option<&'a SecretKey>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        let defaults = squashfs::Options::default();
        Options {
            compression: defaults.compression,
            block_size: defaults.block_size,
            salt: None,
            key: None,
        }
    }
}

/// Errors while packing. Each names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: {source}", path.display())]
    Manifest {
        path: PathBuf,
        #[source]
        source: manifest::Error,
    },
    #[error("{}: manifest is larger than {limit} bytes", path.display())]
    ManifestSize { path: PathBuf, limit: u64 },
    #[error("{}: {source}", root.display())]
    Squashfs {
        root: PathBuf,
        #[source]
        source: squashfs::Error,
    },
    #[error("verity: {0}")]
    Verity(#[from] verity::Error),
    #[error("{}: {source}", path.display())]
    Archive {
        path: PathBuf,
        #[source]
        source: archive::Error,
    },
}

/// Read and validate a manifest file; errors read `file: line N: field: problem`.
pub fn read_manifest(path: &Path) -> Result<Manifest, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let limit = archive::MAX_MANIFEST_SIZE;
    let mut text = String::new();
    file.take(limit + 1).read_to_string(&mut text).map_err(io)?;
    if text.len() as u64 > limit {
        return Err(Error::ManifestSize {
            path: path.to_owned(),
            limit,
        });
    }
    Manifest::from_yaml_str(&text).map_err(|source| Error::Manifest {
        path: path.to_owned(),
        source,
    })
}

/// Pack `root` with the manifest file at `manifest` into `out_dir`; returns the path of the
/// new package. `progress` receives the number of source bytes packed so far.
pub fn pack(
    manifest: &Path,
    root: &Path,
    out_dir: &Path,
    options: &Options,
    progress: &mut dyn FnMut(u64),
) -> Result<PathBuf, Error> {
    let manifest = read_manifest(manifest)?;
    pack_manifest(&manifest, root, out_dir, options, progress)
}

/// [`pack`] with an already parsed manifest.
pub fn pack_manifest(
    manifest: &Manifest,
    root: &Path,
    out_dir: &Path,
    options: &Options,
    progress: &mut dyn FnMut(u64),
) -> Result<PathBuf, Error> {
    let manifest_bytes = manifest
        .to_yaml()
        .map_err(|source| Error::Manifest {
            path: out_dir.join(format!("{}-{}.npk", manifest.name, manifest.version)),
            source,
        })?
        .into_bytes();
    pack_bytes(manifest, manifest_bytes, root, out_dir, options, progress)
}

/// [`pack_manifest`] with `text` as the package's manifest, as given and not validated
/// (`manifest` gives the file name and the image's owner and mount points): a package no
/// packer writes, for tests of what refuses it.
#[cfg(feature = "testing")]
pub fn pack_unchecked(
    manifest: &Manifest,
    text: &str,
    root: &Path,
    out_dir: &Path,
    options: &Options,
) -> Result<PathBuf, Error> {
    let manifest_bytes = text.as_bytes().to_vec();
    pack_bytes(
        manifest,
        manifest_bytes,
        root,
        out_dir,
        options,
        &mut |_| (),
    )
}

fn pack_bytes(
    manifest: &Manifest,
    manifest_bytes: Vec<u8>,
    root: &Path,
    out_dir: &Path,
    options: &Options,
    progress: &mut dyn FnMut(u64),
) -> Result<PathBuf, Error> {
    let file_name = format!("{}-{}.npk", manifest.name, manifest.version);
    let target = out_dir.join(&file_name);
    let partial = Partial::create(out_dir.join(format!(".{file_name}.partial")))?;
    let comment = format!("version: {}\n", crate::FORMAT_VERSION).into_bytes();

    // The signature's length depends only on the digits of the verity offset: reserve room
    // for the longest, so fs.img can be written before the signature exists.
    let reserved = options.key.map(|_| signature::signed_len(u64::MAX));
    let fs_offset = archive::fs_img_offset(manifest_bytes.len(), reserved);

    let squashfs_options = squashfs::Options {
        compression: options.compression,
        block_size: options.block_size,
        uid: manifest.uid,
        gid: manifest.gid,
        mount_points: manifest.mount_points().map(Path::to_path_buf).collect(),
        dev_nodes: manifest.needs_dev(),
    };
    let mut file = &partial.file;
    let io = |source| Error::Io {
        path: target.clone(),
        source,
    };
    let squashfs_len = {
        let mut writer = OffsetWriter::new(&mut file, fs_offset).map_err(io)?;
        squashfs::build(root, &squashfs_options, &mut writer, progress).map_err(|source| {
            Error::Squashfs {
                root: root.to_owned(),
                source,
            }
        })?
    };
    let data_len = squashfs_len.div_ceil(verity::BLOCK_SIZE) * verity::BLOCK_SIZE;
    partial.file.set_len(fs_offset + data_len).map_err(io)?;

    let (fs_len, signature) = match options.key {
        Some(key) => {
            let salt = match options.salt {
                Some(salt) => salt,
                None => verity::Salt::random()?,
            };
            let (_, root_hash) = verity::append(&partial.file, fs_offset, data_len, &salt)?;
            let hashes = SignedHashes {
                meta_hash: Sha256::digest(&comment).into(),
                manifest_hash: Sha256::digest(&manifest_bytes).into(),
                verity_root: root_hash,
                verity_offset: data_len,
            };
            let fs_len = data_len + verity::tree_size(data_len / verity::BLOCK_SIZE);
            (fs_len, Some(signature::sign(&hashes, key)))
        }
        None => (data_len, None),
    };
    archive::write_around(
        &mut partial.file.try_clone().map_err(io)?,
        &manifest_bytes,
        signature.as_deref(),
        fs_offset..fs_offset + fs_len,
        &comment,
    )
    .map_err(|source| Error::Archive {
        path: target.clone(),
        source,
    })?;
    partial.commit(&target)?;
    Ok(target)
}

/// A file being written under a hidden name, removed unless committed.
struct Partial {
    path: PathBuf,
    file: File,
    committed: bool,
}

impl Partial {
    fn create(path: PathBuf) -> Result<Partial, Error> {
        // A stale partial file from an interrupted run is replaced.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        Ok(Partial {
            path,
            file,
            committed: false,
        })
    }

    fn commit(mut self, target: &Path) -> Result<(), Error> {
        let io = |source| Error::Io {
            path: target.to_owned(),
            source,
        };
        self.file.sync_all().map_err(io)?;
        fs::rename(&self.path, target).map_err(io)?;
        self.committed = true;
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Presents `file` from `base` onwards as a stream starting at 0.
struct OffsetWriter<'a, W> {
    inner: &'a mut W,
    base: u64,
}

impl<'a, W: Write + Seek> OffsetWriter<'a, W> {
    fn new(inner: &'a mut W, base: u64) -> io::Result<Self> {
        inner.seek(SeekFrom::Start(base))?;
        Ok(OffsetWriter { inner, base })
    }
}

impl<W: Write> Write for OffsetWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Seek> Seek for OffsetWriter<'_, W> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let pos = match pos {
            SeekFrom::Start(n) => SeekFrom::Start(self.base + n),
            other => other,
        };
        let at = self.inner.seek(pos)?;
        at.checked_sub(self.base).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of fs.img",
            )
        })
    }
}
