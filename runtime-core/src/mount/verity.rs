//! dm-verity devices for verified packages: a read-only device-mapper device whose table
//! is exactly the one the signed verity parameters give ([`Npk::dm_table`]), on the loop
//! device that holds the package's `fs.img`. The init uses the same code
//! ([`VerityDevice::from_table`]) for the verified root file system.
//!
//! Owns: the device-mapper control device, device names, table parsing, the `/dev/dm-N`
//! node, removing the device again on every error path, and reading a device's verity
//! status ([`status`]: whether dm-verity has found a corrupted block since it was set
//! up). Does not own the ioctl encoding (`northstar_sys::dm`), the loop device or the
//! mount.

use super::{
    node::{self, NodeError},
    Devices,
};
use northstar_sys::dm::{self, Target};
use npk::package::{Npk, Verified};
use std::{
    fs::{File, OpenOptions},
    io,
    os::fd::AsFd,
    path::{Path, PathBuf},
};

/// Longest device name used (the kernel allows 127 bytes; this leaves room for the uuid
/// prefix within the uuid's 128 bytes).
pub const MAX_NAME_LEN: usize = 111;
const NAME_PREFIX: &str = "northstar-";
const UUID_PREFIX: &str = "NORTHSTAR-VERITY-";

/// Why a dm-verity device could not be set up or removed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("device-mapper is not available ({} missing): keyed repositories need dm-verity", control.display())]
    Unavailable { control: PathBuf },
    #[error("cannot open {}: {source}", control.display())]
    Open {
        control: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: unsupported device-mapper interface: {source}", control.display())]
    Version {
        control: PathBuf,
        #[source]
        source: dm::Error,
    },
    #[error("malformed device-mapper table {table:?}")]
    Table { table: String },
    #[error("dm device {name}: {source}")]
    Ioctl {
        name: String,
        #[source]
        source: dm::Error,
    },
    #[error("dm device {name}: cannot load the verity table (is the dm-verity target available?): {source}")]
    TableLoad {
        name: String,
        #[source]
        source: dm::Error,
    },
    #[error("dm device {name}: {source}")]
    Node {
        name: String,
        #[source]
        source: NodeError,
    },
    #[error("dm device {name}: unexpected verity status {status:?}")]
    Status { name: String, status: String },
}

/// What a dm-verity target says about the blocks read through it so far
/// (`Documentation/admin-guide/device-mapper/verity.rst`, "Status").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `V`: every block checked so far matched the hash tree.
    Valid,
    /// `C`: at least one block did not: its read failed with `EIO` (the kernel logged
    /// `device-mapper: verity: <major>:<minor>: data block <n> is corrupted`).
    Corrupted,
}

/// The open device-mapper control device.
#[derive(Debug)]
pub struct Control {
    path: PathBuf,
    file: File,
}

impl Control {
    /// Open `devices.device_mapper` and check the interface version (4.x). A missing
    /// control device is [`Error::Unavailable`].
    pub fn open(devices: &Devices) -> Result<Control, Error> {
        let path = devices.device_mapper.clone();
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::Unavailable { control: path })
            }
            Err(source) => {
                return Err(Error::Open {
                    control: path,
                    source,
                })
            }
        };
        match dm::version(file.as_fd()) {
            Ok(version) => log::debug!("device-mapper interface {version:?}"),
            Err(source) => {
                return Err(Error::Version {
                    control: path,
                    source,
                })
            }
        }
        Ok(Control { path, file })
    }

    /// The control device's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A dm-verity device. Dropping it removes the device; [`VerityDevice::keep`] ends that
/// guard once the device is mounted.
#[derive(Debug)]
pub struct VerityDevice<'a> {
    control: &'a Control,
    name: String,
    node: PathBuf,
    armed: bool,
}

impl<'a> VerityDevice<'a> {
    /// Create, load (read-only) and activate the verity device for `npk` on the loop
    /// device `data` (attached over the whole `fs.img`), and make its `/dev/dm-N` node.
    pub fn create(
        control: &'a Control,
        devices: &Devices,
        npk: &Npk<Verified>,
        data: &Path,
    ) -> Result<VerityDevice<'a>, Error> {
        let manifest = npk.manifest();
        let name = device_name(manifest.name.as_str(), &manifest.version.to_string());
        let table = npk.dm_table(&data.to_string_lossy());
        VerityDevice::from_table(control, devices, &name, &table)
    }

    /// Create the device `name`, load the one-line verity `table`
    /// (`<start> <length> verity <params>`) read-only, activate it and make its
    /// `<dm_dev>N` node. The table must come from verified values: this function checks
    /// only its shape and that its target is `verity`. The device is removed again when
    /// a later step fails, or when the returned guard is dropped before
    /// [`VerityDevice::keep`].
    pub fn from_table(
        control: &'a Control,
        devices: &Devices,
        name: &str,
        table: &str,
    ) -> Result<VerityDevice<'a>, Error> {
        let target = parse_table(table)?;
        if target.kind != "verity" {
            return Err(Error::Table {
                table: table.to_string(),
            });
        }
        let targets = [target];
        let uuid = format!("{UUID_PREFIX}{name}");
        let fd = control.file.as_fd();
        let ioctl = |source| Error::Ioctl {
            name: name.to_string(),
            source,
        };
        dm::create(fd, name, &uuid).map_err(ioctl)?;
        // From here on the device exists: dropping the guard removes it.
        let mut device = VerityDevice {
            control,
            name: name.to_string(),
            node: PathBuf::new(),
            armed: true,
        };
        dm::load_table(fd, name, &targets, true).map_err(|source| Error::TableLoad {
            name: name.to_string(),
            source,
        })?;
        let reply = dm::resume(fd, name).map_err(ioctl)?;
        let (major, minor) = reply.major_minor();
        let mut node = devices.dm_dev.clone().into_os_string();
        node.push(minor.to_string());
        device.node = PathBuf::from(node);
        node::ensure_block_device(&device.node, major, minor).map_err(|source| Error::Node {
            name: name.to_string(),
            source,
        })?;
        Ok(device)
    }

    /// The device name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device node, e.g. `/dev/dm-0`.
    pub fn node(&self) -> &Path {
        &self.node
    }

    /// Keep the device when this guard goes: it is in use (mounted).
    pub fn keep(mut self) -> String {
        self.armed = false;
        std::mem::take(&mut self.name)
    }
}

impl Drop for VerityDevice<'_> {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = remove(self.control, &self.name) {
                log::warn!("{e}");
            }
        }
    }
}

/// Remove the device `name`; if it is still open, the kernel removes it at the last
/// close. Returns whether the removal was deferred.
pub fn remove(control: &Control, name: &str) -> Result<bool, Error> {
    let reply = dm::remove(control.file.as_fd(), name, true).map_err(|source| Error::Ioctl {
        name: name.to_string(),
        source,
    })?;
    Ok(reply.flags & dm::DEFERRED_REMOVE != 0)
}

/// The verity status of the device `name` (`DM_TABLE_STATUS`).
pub fn status(control: &Control, name: &str) -> Result<Status, Error> {
    let targets = dm::table_status(control.file.as_fd(), name).map_err(|source| Error::Ioctl {
        name: name.to_string(),
        source,
    })?;
    parse_status(name, &targets)
}

/// The status of a one-target verity table: its status line starts with `V` or `C`
/// (then the count of blocks corrected by forward error correction, or `-`).
pub fn parse_status(name: &str, targets: &[Target]) -> Result<Status, Error> {
    let unexpected = || Error::Status {
        name: name.to_string(),
        status: targets
            .iter()
            .map(|t| format!("{} {}", t.kind, t.params))
            .collect::<Vec<_>>()
            .join("; "),
    };
    let [target] = targets else {
        return Err(unexpected());
    };
    if target.kind != "verity" {
        return Err(unexpected());
    }
    match target.params.split_ascii_whitespace().next() {
        Some("V") => Ok(Status::Valid),
        Some("C") => Ok(Status::Corrupted),
        _ => Err(unexpected()),
    }
}

/// `northstar-<name>-<version>`; when longer than [`MAX_NAME_LEN`], cut and ended with a
/// hash of the full name so that different containers keep different names.
pub fn device_name(name: &str, version: &str) -> String {
    let full = format!("{NAME_PREFIX}{name}-{version}");
    if full.len() <= MAX_NAME_LEN {
        return full;
    }
    let hash = format!("-{:016x}", fnv1a(full.as_bytes()));
    // Names and versions are ASCII (validated by the manifest), so any cut is a boundary.
    let cut = full.floor_char_boundary(MAX_NAME_LEN.saturating_sub(hash.len()));
    let (kept, _) = full.split_at_checked(cut).unwrap_or((&full, ""));
    format!("{kept}{hash}")
}

/// 64-bit FNV-1a: a stable, dependency-free hash for shortening names (not security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Split one table line `<start> <length> <type> <params...>` into a target.
pub fn parse_table(line: &str) -> Result<Target, Error> {
    let malformed = || Error::Table {
        table: line.to_string(),
    };
    let mut parts = line.trim().splitn(4, ' ');
    let start = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(malformed)?;
    let length = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(malformed)?;
    let kind = parts
        .next()
        .filter(|s| !s.is_empty())
        .ok_or_else(malformed)?;
    let params = parts.next().unwrap_or_default().trim();
    Ok(Target {
        start,
        length,
        kind: kind.to_string(),
        params: params.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(device_name("hello", "0.0.1"), "northstar-hello-0.0.1");
        let long = "n".repeat(128);
        let a = device_name(&long, "1.0.0");
        let b = device_name(&long, "1.0.1");
        assert_eq!(a.len(), MAX_NAME_LEN);
        assert_ne!(a, b, "the hash keeps long names apart");
        assert!(a.starts_with("northstar-nnnn"));
        assert!(dm::validate_name(&a).is_ok());
        assert!(format!("{UUID_PREFIX}{a}").len() < dm::UUID_LEN);
        assert_eq!(a, device_name(&long, "1.0.0"), "stable");
    }

    #[test]
    fn table_lines() {
        let line = "0 80 verity 1 /dev/loop3 /dev/loop3 4096 4096 10 11 sha256 aa bb";
        let t = parse_table(line).unwrap();
        assert_eq!((t.start, t.length, t.kind.as_str()), (0, 80, "verity"));
        assert_eq!(
            t.params,
            "1 /dev/loop3 /dev/loop3 4096 4096 10 11 sha256 aa bb"
        );
        for bad in ["", "0", "0 80", "x 80 verity 1", "0 y verity 1", "0 80  1"] {
            assert!(parse_table(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn status_lines() {
        let target = |kind: &str, params: &str| Target {
            start: 0,
            length: 80,
            kind: kind.into(),
            params: params.into(),
        };
        let status = |targets: &[Target]| parse_status("northstar-x-0.0.1", targets);
        assert_eq!(status(&[target("verity", "V -")]).unwrap(), Status::Valid);
        assert_eq!(
            status(&[target("verity", "C -")]).unwrap(),
            Status::Corrupted
        );
        assert_eq!(
            status(&[target("verity", "C 2")]).unwrap(),
            Status::Corrupted
        );
        assert_eq!(status(&[target("verity", "V")]).unwrap(), Status::Valid);
        for bad in [
            vec![],
            vec![target("verity", "")],
            vec![target("verity", "X -")],
            vec![target("verity", "VC -")],
            vec![target("linear", "V -")],
            vec![target("verity", "V -"), target("verity", "V -")],
        ] {
            let e = status(&bad).unwrap_err();
            assert!(matches!(e, Error::Status { .. }), "{bad:?}: {e}");
        }
        let e = status(&[target("verity", "X -")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "dm device northstar-x-0.0.1: unexpected verity status \"verity X -\""
        );
    }

    #[test]
    fn status_needs_device_mapper() {
        // A /dev/null stand-in for the control device: the ioctl is refused.
        let control = Control {
            path: PathBuf::from("/dev/null"),
            file: File::open("/dev/null").unwrap(),
        };
        let e = status(&control, "northstar-x-0.0.1").unwrap_err();
        assert!(matches!(e, Error::Ioctl { .. }), "{e}");
        assert!(e.to_string().contains("DM_TABLE_STATUS"), "{e}");
    }

    #[test]
    fn only_verity_tables_are_created() {
        // Refused before the control device is used: a /dev/null stand-in is never touched.
        let control = Control {
            path: PathBuf::from("/dev/null"),
            file: File::open("/dev/null").unwrap(),
        };
        let devices = Devices::default();
        for table in ["0 8 linear /dev/loop0 0", "garbage"] {
            let e =
                VerityDevice::from_table(&control, &devices, "northstar-test", table).unwrap_err();
            assert!(matches!(e, Error::Table { .. }), "{e}");
        }
    }

    #[test]
    fn missing_control_is_a_clear_error() {
        let devices = Devices {
            device_mapper: PathBuf::from("/nonexistent/mapper/control"),
            ..Devices::default()
        };
        let e = Control::open(&devices).unwrap_err();
        assert_eq!(
            e.to_string(),
            "device-mapper is not available (/nonexistent/mapper/control missing): \
             keyed repositories need dm-verity"
        );
    }
}
