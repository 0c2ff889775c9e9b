//! The U-Boot environment, stored as U-Boot's `saveenv` and `fw_setenv` store it.
//!
//! A copy is a region of `size` bytes at `offset` in a file or block device:
//!
//! ```text
//! single:     crc32 (le, 4 bytes) | data
//! redundant:  crc32 (le, 4 bytes) | flags (1 byte) | data
//! data:       name=value\0 ... name=value\0 \0 padding
//! ```
//!
//! The CRC covers the whole data area, padding included; we pad with `0x00` as U-Boot does.
//! With a redundant environment the valid copy with the newer flags byte is current
//! ([`newer`]); a write goes to the other copy with the flags byte incremented, then is
//! fsynced, so a power cut during it leaves the current copy intact and valid.
//!
//! MTD and UBI devices (`/dev/mtdN`, `/dev/ubiN_M`) need erase and volume-update ioctls and
//! are not supported.

mod codec;
mod config;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

pub use codec::{decode, encode, newer};
pub use config::parse_fw_env_config;

use crate::Env;

/// Largest environment copy accepted: U-Boot environments are a few KiB to a few hundred.
pub const MAX_SIZE: usize = 16 << 20;

/// Character-device major number of MTD devices.
const MTD_CHAR_MAJOR: u64 = 90;

/// Errors of the U-Boot environment.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: mtd and ubi devices are not supported (they need erase ioctls); use a block device or file")]
    Unsupported { path: PathBuf },
    #[error(
        "{path}: environment size {size} at offset {offset:#x} is out of range ({min}..={max})"
    )]
    Size {
        path: PathBuf,
        offset: u64,
        size: usize,
        min: usize,
        max: usize,
    },
    #[error("{path}: failed to open")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: failed to read {size} bytes at offset {offset:#x}")]
    Read {
        path: PathBuf,
        offset: u64,
        size: usize,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: failed to write {size} bytes at offset {offset:#x}")]
    Write {
        path: PathBuf,
        offset: u64,
        size: usize,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: failed to sync")]
    Sync {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: crc mismatch of the environment at offset {offset:#x} (stored {stored:#010x}, computed {computed:#010x}); u-boot would fall back to its default environment")]
    Crc {
        path: PathBuf,
        offset: u64,
        stored: u32,
        computed: u32,
    },
    #[error("no valid copy of the redundant environment ({primary} at {primary_offset:#x} and {redundant} at {redundant_offset:#x} both fail their crc); u-boot would fall back to its default environment")]
    NoValidCopy {
        primary: PathBuf,
        primary_offset: u64,
        redundant: PathBuf,
        redundant_offset: u64,
    },
    #[error("{path}: malformed environment entry at offset {offset:#x}: {reason}")]
    Entry {
        path: PathBuf,
        offset: u64,
        reason: &'static str,
    },
    #[error("{path}: duplicate variable {name:?} at offset {offset:#x}")]
    Duplicate {
        path: PathBuf,
        offset: u64,
        name: String,
    },
    #[error("invalid variable name {name:?}: must be non-empty without '=' or nul")]
    Name { name: String },
    #[error("invalid value of variable {name:?}: must not contain nul")]
    Value { name: String },
    #[error("{path}: environment needs {needed} bytes of data but the copy at offset {offset:#x} holds {available}")]
    TooLarge {
        path: PathBuf,
        offset: u64,
        needed: usize,
        available: usize,
    },
    #[error("fw_env.config line {line}: {reason}")]
    Config { line: usize, reason: String },
    #[error("fw_env.config: {0}")]
    ConfigShape(&'static str),
}

/// Result of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// One copy of the environment: `size` bytes at `offset` in `path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub offset: u64,
    pub size: usize,
}

/// Where the environment is: one copy, or two for a redundant environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub primary: Location,
    pub redundant: Option<Location>,
}

impl Config {
    /// Bytes before the data area of each copy: 4 (crc), 5 with the redundant flags byte.
    pub fn header_len(&self) -> usize {
        if self.redundant.is_some() {
            5
        } else {
            4
        }
    }
}

/// Which copy of the environment was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Copy {
    Primary,
    Redundant,
}

/// The current environment and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    pub env: Env,
    pub copy: Copy,
    /// The flags byte of the current copy (redundant environments only).
    pub flags: Option<u8>,
}

/// Reads the current environment.
pub fn read(config: &Config) -> Result<Env> {
    load(config).map(|loaded| loaded.env)
}

/// Reads the current environment and tells which copy it is.
pub fn load(config: &Config) -> Result<Loaded> {
    let header = config.header_len();
    let primary = read_copy(&config.primary, header)?;
    let Some(redundant_location) = &config.redundant else {
        let (stored, computed) = codec::crc(&primary, header);
        if stored != computed {
            return Err(crc_error(&config.primary, stored, computed));
        }
        let env = decode(
            &primary[header..],
            &config.primary.path,
            data_offset(&config.primary, header),
        )?;
        return Ok(Loaded {
            env,
            copy: Copy::Primary,
            flags: None,
        });
    };
    let redundant = read_copy(redundant_location, header)?;
    let (copy, location, bytes) = match current(&primary, &redundant) {
        Some(Copy::Primary) => (Copy::Primary, &config.primary, &primary),
        Some(Copy::Redundant) => (Copy::Redundant, redundant_location, &redundant),
        None => {
            return Err(Error::NoValidCopy {
                primary: config.primary.path.clone(),
                primary_offset: config.primary.offset,
                redundant: redundant_location.path.clone(),
                redundant_offset: redundant_location.offset,
            })
        }
    };
    let env = decode(
        &bytes[header..],
        &location.path,
        data_offset(location, header),
    )?;
    Ok(Loaded {
        env,
        copy,
        flags: Some(bytes[4]),
    })
}

/// Writes `env` as the new current environment and fsyncs it.
///
/// Single copy: rewritten in place. Redundant: the copy that is not current (the primary
/// when neither is valid, as `fw_setenv` does) gets the current flags byte plus one.
pub fn write(config: &Config, env: &Env) -> Result<()> {
    let header = config.header_len();
    let Some(redundant_location) = &config.redundant else {
        check_location(&config.primary, header)?;
        let image = encode(
            env,
            config.primary.size,
            None,
            &config.primary.path,
            config.primary.offset,
        )?;
        return write_copy(&config.primary, &image);
    };
    let primary = read_copy(&config.primary, header)?;
    let redundant = read_copy(redundant_location, header)?;
    // Neither valid: like fw_setenv, treat the primary as current and write the other.
    let (target, flags) = match current(&primary, &redundant) {
        Some(Copy::Primary) | None => (redundant_location, primary[4].wrapping_add(1)),
        Some(Copy::Redundant) => (&config.primary, redundant[4].wrapping_add(1)),
    };
    let image = encode(env, target.size, Some(flags), &target.path, target.offset)?;
    write_copy(target, &image)
}

/// The current copy of a redundant pair: the valid one, or the newer when both are valid.
fn current(primary: &[u8], redundant: &[u8]) -> Option<Copy> {
    let valid = |bytes: &[u8]| {
        let (stored, computed) = codec::crc(bytes, 5);
        stored == computed
    };
    match (valid(primary), valid(redundant)) {
        (true, true) if newer(redundant[4], primary[4]) => Some(Copy::Redundant),
        (true, _) => Some(Copy::Primary),
        (false, true) => Some(Copy::Redundant),
        (false, false) => None,
    }
}

fn data_offset(location: &Location, header: usize) -> u64 {
    location.offset + header as u64
}

fn crc_error(location: &Location, stored: u32, computed: u32) -> Error {
    Error::Crc {
        path: location.path.clone(),
        offset: location.offset,
        stored,
        computed,
    }
}

fn check_location(location: &Location, header: usize) -> Result<()> {
    let name = location.path.to_string_lossy();
    let base = name.rsplit('/').next().unwrap_or_default();
    let numbered = |prefix: &str| {
        base.strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    };
    if name.starts_with("/dev/") && (numbered("mtd") || numbered("ubi")) {
        return Err(Error::Unsupported {
            path: location.path.clone(),
        });
    }
    let min = header + 1;
    if location.size < min || location.size > MAX_SIZE {
        return Err(Error::Size {
            path: location.path.clone(),
            offset: location.offset,
            size: location.size,
            min,
            max: MAX_SIZE,
        });
    }
    Ok(())
}

fn open(path: &Path, write: bool) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(write)
        .open(path)
        .map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })?;
    let metadata = file.metadata().map_err(|source| Error::Open {
        path: path.to_path_buf(),
        source,
    })?;
    if metadata.file_type().is_char_device() && dev_major(metadata.rdev()) == MTD_CHAR_MAJOR {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
        });
    }
    Ok(file)
}

/// Major number of a Linux `dev_t` (glibc's encoding).
fn dev_major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)
}

/// Reads exactly `location.size` bytes: never more, whatever the file holds.
fn read_copy(location: &Location, header: usize) -> Result<Vec<u8>> {
    check_location(location, header)?;
    let file = open(&location.path, false)?;
    let mut bytes = vec![0u8; location.size];
    file.read_exact_at(&mut bytes, location.offset)
        .map_err(|source| Error::Read {
            path: location.path.clone(),
            offset: location.offset,
            size: location.size,
            source,
        })?;
    Ok(bytes)
}

fn write_copy(location: &Location, image: &[u8]) -> Result<()> {
    let file = open(&location.path, true)?;
    file.write_all_at(image, location.offset)
        .map_err(|source| Error::Write {
            path: location.path.clone(),
            offset: location.offset,
            size: image.len(),
            source,
        })?;
    file.sync_all().map_err(|source| Error::Sync {
        path: location.path.clone(),
        source,
    })
}

#[cfg(test)]
mod tests;
