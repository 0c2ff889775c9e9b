//! Writing one image of a verified bundle into a slot: [`write_image`].
//!
//! The image is streamed out of the bundle's squashfs payload (npk's
//! [`npk::squashfs::open_file`], one data block at a time) into the target in 1 MiB chunks,
//! synced, and read back: the bytes on the target must have the manifest's size and
//! sha256. Memory stays at a few MiB whatever the image size.
//!
//! This module does not choose the slot and does not mark it bootable: the caller picks
//! the inactive slot, calls [`write_image`], and switches the boot target only after it
//! returned `Ok`. A power cut during the write leaves a half-written slot that nothing
//! boots. See `doc/bundles.md`.

use std::{
    fs::{File, OpenOptions},
    io::{self, Read},
    os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use nix::fcntl::{posix_fadvise, OFlag, PosixFadviseAdvice};
use npk::squashfs::{self, FileReader};
use sha2::{Digest as _, Sha256};
use thiserror::Error;

use crate::{manifest::Image, read::Verified};

/// Bytes written (and read back) per system call.
pub const CHUNK: usize = 1024 * 1024;

/// What [`write_image`] wrote: the image's size and sha256, as read back from the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    pub bytes: u64,
    pub sha256: [u8; 32],
}

/// An image that cannot be written into a slot. Every message names the target and the
/// slot class.
#[derive(Debug, Error)]
pub enum Error {
    #[error("slot {target} ({slot_class}): the bundle has no image for this slot class")]
    NoImage { target: PathBuf, slot_class: String },
    #[error("slot {target} ({slot_class}): image file name {filename:?} must not contain '/' or start with '.'")]
    FileName {
        target: PathBuf,
        slot_class: String,
        filename: String,
    },
    #[error("slot {target} ({slot_class}): the manifest gives no {field} for image {filename:?}, so the written slot cannot be checked")]
    Unchecked {
        target: PathBuf,
        slot_class: String,
        filename: String,
        field: &'static str,
    },
    #[error("slot {target} ({slot_class}): image {filename:?} in the payload")]
    Payload {
        target: PathBuf,
        slot_class: String,
        filename: String,
        #[source]
        source: squashfs::Error,
    },
    #[error("slot {target} ({slot_class}): image {filename:?} has {actual} bytes in the payload, the manifest says {expected}")]
    PayloadSize {
        target: PathBuf,
        slot_class: String,
        filename: String,
        actual: u64,
        expected: u64,
    },
    #[error("slot {target} ({slot_class}): image of {image} bytes does not fit the target's {capacity} bytes; nothing was written")]
    TooSmall {
        target: PathBuf,
        slot_class: String,
        image: u64,
        capacity: u64,
    },
    #[error("slot {target} ({slot_class}): {what}")]
    Io {
        target: PathBuf,
        slot_class: String,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("slot {target} ({slot_class}): read back after writing, {what}")]
    Mismatch {
        target: PathBuf,
        slot_class: String,
        what: String,
    },
}

/// An image of the bundle, checked to fit an opened target.
struct Plan<'b> {
    image: &'b Image,
    sha256: [u8; 32],
    reader: FileReader<'b>,
    target: File,
    capacity: u64,
}

/// Context for errors: the target and the slot class.
struct Slot<'a> {
    target: &'a Path,
    slot_class: &'a str,
}

impl Slot<'_> {
    fn io(&self, what: &'static str) -> impl FnOnce(io::Error) -> Error + '_ {
        move |source| Error::Io {
            target: self.target.to_path_buf(),
            slot_class: self.slot_class.to_string(),
            what,
            source,
        }
    }

    fn mismatch(&self, what: String) -> Error {
        Error::Mismatch {
            target: self.target.to_path_buf(),
            slot_class: self.slot_class.to_string(),
            what,
        }
    }
}

/// The manifest's entry for `slot.slot_class` with the size and sha256 a write is checked
/// against, and a file name that names a file at the payload's top.
fn checked_image<'b>(
    bundle: &'b Verified,
    slot: &Slot<'_>,
) -> Result<(&'b Image, [u8; 32], u64), Error> {
    let target = slot.target.to_path_buf();
    let slot_class = slot.slot_class.to_string();
    let image = bundle
        .image(slot.slot_class)
        .ok_or_else(|| Error::NoImage {
            target: target.clone(),
            slot_class: slot_class.clone(),
        })?;
    let filename = image.filename.clone();
    if filename.contains('/') || filename.starts_with('.') || filename.is_empty() {
        return Err(Error::FileName {
            target,
            slot_class,
            filename,
        });
    }
    let unchecked = |field| Error::Unchecked {
        target: target.clone(),
        slot_class: slot_class.clone(),
        filename: filename.clone(),
        field,
    };
    let sha256 = image.sha256.ok_or_else(|| unchecked("sha256"))?;
    let size = image.size.ok_or_else(|| unchecked("size"))?;
    Ok((image, sha256, size))
}

/// Refuses an image whose source does not have the manifest's size.
fn same_size(slot: &Slot<'_>, image: &Image, actual: u64, expected: u64) -> Result<(), Error> {
    if actual == expected {
        return Ok(());
    }
    Err(Error::PayloadSize {
        target: slot.target.to_path_buf(),
        slot_class: slot.slot_class.to_string(),
        filename: image.filename.clone(),
        actual,
        expected,
    })
}

/// Opens the target for writing and checks that `size` bytes fit; returns it and its
/// capacity.
fn open_target(slot: &Slot<'_>, size: u64) -> Result<(File, u64), Error> {
    // A block device is opened with O_EXCL: the kernel refuses it while it is mounted or
    // otherwise claimed, so the running system's slot cannot be overwritten by mistake.
    let is_block = std::fs::metadata(slot.target)
        .map_err(slot.io("cannot stat the target"))?
        .file_type()
        .is_block_device();
    let flags = if is_block { OFlag::O_EXCL.bits() } else { 0 };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(flags)
        .open(slot.target)
        .map_err(slot.io("cannot open the target"))?;
    // The size of a block device is where its end is.
    let capacity = io::Seek::seek(&mut file, io::SeekFrom::End(0))
        .map_err(slot.io("cannot find the target's size"))?;
    if size > capacity {
        return Err(Error::TooSmall {
            target: slot.target.to_path_buf(),
            slot_class: slot.slot_class.to_string(),
            image: size,
            capacity,
        });
    }
    Ok((file, capacity))
}

/// Finds the image, opens it in the payload and the target, and checks that it fits.
/// Writes nothing.
fn plan<'b>(bundle: &'b Verified, slot: &Slot<'_>) -> Result<Plan<'b>, Error> {
    let (image, sha256, size) = checked_image(bundle, slot)?;
    let payload = bundle.payload();
    let reader = squashfs::open_file(
        bundle.file(),
        payload.start,
        payload.end.saturating_sub(payload.start),
        &format!("/{}", image.filename),
    )
    .map_err(|source| Error::Payload {
        target: slot.target.to_path_buf(),
        slot_class: slot.slot_class.to_string(),
        filename: image.filename.clone(),
        source,
    })?;
    same_size(slot, image, reader.size(), size)?;
    let (target, capacity) = open_target(slot, size)?;
    Ok(Plan {
        image,
        sha256,
        reader,
        target,
        capacity,
    })
}

/// Checks, without writing anything, that `bundle` has an image for `slot_class` with a
/// size and sha256 in its manifest, that the payload holds it with that size, and that it
/// fits `target`. Returns the image's size and the target's capacity in bytes.
pub fn check_target(
    bundle: &Verified,
    slot_class: &str,
    target: &Path,
) -> Result<(u64, u64), Error> {
    let slot = Slot { target, slot_class };
    let plan = plan(bundle, &slot)?;
    Ok((plan.reader.size(), plan.capacity))
}

/// Writes the image of `slot_class` (the manifest's `[image.<slot_class>]`, without
/// variant) from the verified `bundle` to the start of `target`: a block device, or a
/// regular file standing in for one (it must exist; its length is its capacity).
///
/// In order: the checks of [`check_target`] (an image that does not fit is refused before
/// anything is written); the image streamed into the target in [`CHUNK`]s; `fdatasync`;
/// the written range dropped from the page cache (so that the read-back reads the device
/// where the kernel honours it); the range read back and compared with the manifest's
/// `size` and `sha256`. Bytes of the target after the image are left as they were.
///
/// `progress(done, total)` is called after each chunk, with `total` twice the image size:
/// the write counts the first half, the read-back the second.
pub fn write_image(
    bundle: &Verified,
    slot_class: &str,
    target: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Written, Error> {
    let slot = Slot { target, slot_class };
    let Plan {
        image,
        sha256,
        mut reader,
        target: file,
        ..
    } = plan(bundle, &slot)?;
    let size = reader.size();
    copy(&slot, image, sha256, size, &mut reader, &file, progress)
}

/// Writes the image of `slot_class` from `source`, the image's file in the bundle's
/// payload mounted by the caller (through dm-verity with the manifest's root hash, as
/// RAUC does, so that the kernel checks every block it reads), to the start of `target`:
/// the same checks, write, sync and read-back as [`write_image`], without reading the
/// squashfs in user space.
pub fn write_file(
    bundle: &Verified,
    slot_class: &str,
    source: &Path,
    target: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Written, Error> {
    let slot = Slot { target, slot_class };
    let (image, sha256, size) = checked_image(bundle, &slot)?;
    let mut reader =
        File::open(source).map_err(slot.io("cannot open the image in the mounted payload"))?;
    let len = reader
        .metadata()
        .map_err(slot.io("cannot stat the image in the mounted payload"))?
        .len();
    same_size(&slot, image, len, size)?;
    let (file, _) = open_target(&slot, size)?;
    copy(&slot, image, sha256, size, &mut reader, &file, progress)
}

/// Streams `size` bytes of `reader` into `file` in [`CHUNK`]s, syncs, drops the range
/// from the page cache, reads it back and compares it with `sha256`.
fn copy(
    slot: &Slot<'_>,
    image: &Image,
    sha256: [u8; 32],
    size: u64,
    reader: &mut dyn Read,
    file: &File,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Written, Error> {
    let total = size.saturating_mul(2);
    let mut chunk = vec![0u8; CHUNK];

    let mut written = 0u64;
    loop {
        let n = fill(reader, &mut chunk)
            .map_err(slot.io("cannot read the image from the bundle's payload"))?;
        let Some(data) = chunk.get(..n).filter(|d| !d.is_empty()) else {
            break;
        };
        file.write_all_at(data, written)
            .map_err(slot.io("cannot write the image"))?;
        written = written.saturating_add(n as u64);
        progress(written, total);
    }
    if written != size {
        return Err(slot.mismatch(format!(
            "the payload gave {written} bytes for image {:?}, the manifest says {size}",
            image.filename
        )));
    }
    file.sync_data()
        .map_err(slot.io("cannot sync the target"))?;
    // Best effort: a target that cannot drop its cache is still read back. A length of 0
    // is "to the end" (and needs no conversion to the target's `off_t`).
    let _ = posix_fadvise(file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED);

    let mut hasher = Sha256::new();
    let mut done = 0u64;
    while done < size {
        let n = usize::try_from(size.saturating_sub(done))
            .unwrap_or(CHUNK)
            .min(CHUNK);
        let buf = chunk.get_mut(..n).unwrap_or_default();
        file.read_exact_at(buf, done).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                slot.mismatch(format!("the target ends before the image's {size} bytes"))
            } else {
                slot.io("cannot read the written image back")(e)
            }
        })?;
        hasher.update(&*buf);
        done = done.saturating_add(n as u64);
        progress(size.saturating_add(done), total);
    }
    let digest: [u8; 32] = hasher.finalize().into();
    if digest != sha256 {
        return Err(slot.mismatch(format!(
            "sha256 {} of the {size} bytes written differs from the manifest's {} for image {:?}",
            hex::encode(digest),
            hex::encode(sha256),
            image.filename
        )));
    }
    Ok(Written {
        bytes: size,
        sha256: digest,
    })
}

/// Reads from `reader` until `buf` is full or the file ends; returns the bytes read.
fn fill(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while let Some(rest) = buf.get_mut(n..).filter(|r| !r.is_empty()) {
        match reader.read(rest) {
            Ok(0) => break,
            Ok(k) => n = n.saturating_add(k),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
