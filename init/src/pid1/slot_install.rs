//! Installing a RAUC bundle into the slot that is not booted, in this order:
//!
//! 1. verify the bundle (`northstar-bundle`): its CMS signature against the keyring in
//!    the verified root (`slots.keyring`), at the later of the clock and the build time
//!    (a board without a real-time clock starts in 1970), and its payload against the
//!    signed root hash;
//! 2. check it: `compatible` equal to the board's `slots.compatible`, a version not below
//!    the booted slot's (anti-rollback), an image for every slot class the board needs
//!    (`rootfs`, and `boot` where the slots have boot partitions) and none it cannot
//!    install;
//! 3. mark the target slot bad, so that a power cut in what follows leaves a slot the
//!    boot loader never picks;
//! 4. mount the payload read-only through dm-verity with the signed root hash
//!    ([`slot_payload`]), write each image from it into the slot's partition, sync, read
//!    back and compare (`bundle::install::write_file`);
//! 5. record the slot's version and mark the slot active: the next boot tries it.
//!
//! The booted slot is never written.

use super::board::slots::Slots;
use super::device;
use super::slot::{Keeper, Mark, Status, Target};
use super::{slot_payload, slot_record};
use northstar_bundle::{install, version, Keyring, UnixTime, Unverified};
use std::{
    cmp::Ordering,
    fs, io,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

/// Where the versions of the slots' contents are kept, under the data partition.
pub const VERSIONS: &str = "northstar/slot-versions";
/// Where bundles arriving over the management API are spooled, under the data partition.
pub const SPOOL: &str = "northstar/bundles";
/// How long to wait for a slot's partition.
const WAIT: Duration = Duration::from_secs(5);
/// Largest keyring read.
const MAX_KEYRING: u64 = 1 << 20;

/// Why a bundle was not installed. The slot written, if any, is marked bad.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the board has no slots.compatible: it takes no bundles")]
    NoCompatible,
    #[error("cannot read the keyring {}", path.display())]
    Keyring {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("keyring {}", path.display())]
    KeyringContent {
        path: PathBuf,
        #[source]
        source: northstar_bundle::cms::KeyringError,
    },
    #[error("the bundle is not trusted")]
    Bundle(#[source] Box<northstar_bundle::read::Error>),
    #[error("bundle {}", path.display())]
    Manifest {
        path: PathBuf,
        #[source]
        source: Box<northstar_bundle::manifest::Error>,
    },
    #[error("bundle {}: no version in its manifest", path.display())]
    NoVersion { path: PathBuf },
    #[error("bundle {} has version {version}, below {floor} of the booted slot {slot}: a downgrade is refused", path.display())]
    Downgrade {
        path: PathBuf,
        version: String,
        floor: String,
        slot: String,
    },
    #[error("bundle {}: no image for slot class {class}, which slot {slot} needs", path.display())]
    Missing {
        path: PathBuf,
        class: &'static str,
        slot: String,
    },
    #[error("bundle {}: image for slot class {class:?}: this board installs only rootfs and boot images", path.display())]
    Unsupported { path: PathBuf, class: String },
    #[error("slot")]
    Slot(#[from] super::slot::Error),
    #[error("bundle {}: its payload", path.display())]
    Payload {
        path: PathBuf,
        #[source]
        source: slot_payload::Error,
    },
    #[error("slot {slot}: its partition")]
    Device {
        slot: String,
        #[source]
        source: device::Error,
    },
    #[error("slot {slot}")]
    Write {
        slot: String,
        #[source]
        source: Box<install::Error>,
    },
    #[error("cannot record the version of slot {slot} in {}", path.display())]
    Record {
        slot: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What an installation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    /// The slot written and marked active.
    pub slot: String,
    pub version: String,
    pub compatible: String,
    /// Bytes written into the slot's partitions.
    pub bytes: u64,
    /// The slots after the mark.
    pub status: Status,
}

/// The time certificates are checked at: the clock, or the build time when the clock is
/// behind it (`SOURCE_DATE_EPOCH` at build time, which Yocto and Buildroot set).
pub fn validity_time(now: SystemTime, built: Option<u64>) -> UnixTime {
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    UnixTime::since_unix_epoch(Duration::from_secs(now.max(built.unwrap_or(0))))
}

/// The build time compiled in, if the build gave one.
pub fn build_time() -> Option<u64> {
    option_env!("SOURCE_DATE_EPOCH").and_then(|s| s.trim().parse().ok())
}

/// Install `bundle` into the slot that is not booted; `data` is the data partition's
/// mount point (the slots' versions are kept there).
pub fn install(
    keeper: &Keeper,
    slots: &Slots,
    data: &Path,
    bundle: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Installed, Error> {
    let compatible = slots.compatible.as_deref().ok_or(Error::NoCompatible)?;
    let keyring = read_keyring(&slots.keyring)?;
    let unverified = Unverified::open(bundle).map_err(|e| Error::Bundle(Box::new(e)))?;
    let time = validity_time(SystemTime::now(), build_time());
    let verified = unverified
        .verify(&keyring, time)
        .map_err(|e| Error::Bundle(Box::new(e)))?;
    let manifest = verified.manifest();
    manifest
        .check_compatible(compatible)
        .map_err(|source| Error::Manifest {
            path: bundle.to_owned(),
            source: Box::new(source),
        })?;
    let version = manifest.version.clone().ok_or_else(|| Error::NoVersion {
        path: bundle.to_owned(),
    })?;
    let booted = keeper.booted().ok_or(super::slot::Error::NotBooted)?;
    let versions = read_versions(data);
    if let Some(floor) = versions.iter().find(|(s, _)| s == booted).map(|(_, v)| v) {
        if version::compare(&version, floor) == Ordering::Less {
            return Err(Error::Downgrade {
                path: bundle.to_owned(),
                version,
                floor: floor.clone(),
                slot: booted.to_string(),
            });
        }
    }
    let target = keeper.resolve(&Target::Other)?;
    let Some(slot) = slots.slots.iter().find(|s| s.name == target) else {
        return Err(super::slot::Error::Unknown(target).into());
    };
    if let Some(other) = manifest
        .images
        .iter()
        .find(|i| i.slot_class != "rootfs" && i.slot_class != "boot")
    {
        return Err(Error::Unsupported {
            path: bundle.to_owned(),
            class: other.slot_class.clone(),
        });
    }
    let mut parts: Vec<(&'static str, &Path)> = vec![("rootfs", &slot.root)];
    if let Some(boot) = &slot.boot {
        parts.push(("boot", boot));
    }
    for (class, _) in &parts {
        if verified.image(class).is_none() {
            return Err(Error::Missing {
                path: bundle.to_owned(),
                class,
                slot: target.clone(),
            });
        }
    }
    keeper.mark(Mark::Bad, &Target::Named(target.clone()))?;
    log::info!(
        "slot {target}: installing {} version {version}",
        bundle.display()
    );
    let payload = slot_payload::mount_payload(&verified).map_err(|source| Error::Payload {
        path: bundle.to_owned(),
        source,
    })?;
    let mut bytes = 0u64;
    for (class, device) in parts {
        let found = device::wait_for(device, WAIT).map_err(|source| Error::Device {
            slot: target.clone(),
            source,
        })?;
        let source = verified
            .image(class)
            .map(|image| payload.file(&image.filename))
            .unwrap_or_default();
        let written = install::write_file(&verified, class, &source, &found.node, progress)
            .map_err(|source| Error::Write {
                slot: target.clone(),
                source: Box::new(source),
            })?;
        log::info!(
            "slot {target}: {class} written to {} ({} bytes, read back and checked)",
            found.node.display(),
            written.bytes
        );
        bytes = bytes.saturating_add(written.bytes);
    }
    write_version(data, &target, &version).map_err(|source| Error::Record {
        slot: target.clone(),
        path: data.join(VERSIONS),
        source,
    })?;
    let status = keeper.mark(Mark::Active, &Target::Named(target.clone()))?;
    Ok(Installed {
        slot: target,
        version,
        compatible: manifest.compatible.clone(),
        bytes,
        status,
    })
}

fn read_keyring(path: &Path) -> Result<Keyring, Error> {
    let fail = |source| Error::Keyring {
        path: path.to_owned(),
        source,
    };
    let file = fs::File::open(path).map_err(fail)?;
    let mut pem = Vec::new();
    io::Read::read_to_end(&mut io::Read::take(file, MAX_KEYRING), &mut pem).map_err(fail)?;
    Keyring::from_pem(&pem).map_err(|source| Error::KeyringContent {
        path: path.to_owned(),
        source,
    })
}

/// The recorded versions (`<slot>=<version>` lines); none when unreadable.
fn read_versions(data: &Path) -> Vec<(String, String)> {
    let Ok(text) = fs::read_to_string(data.join(VERSIONS)) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(s, v)| (s.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Record `version` for `slot`, atomically.
fn write_version(data: &Path, slot: &str, version: &str) -> io::Result<()> {
    let mut versions: Vec<(String, String)> = read_versions(data)
        .into_iter()
        .filter(|(s, _)| s != slot)
        .collect();
    versions.push((slot.to_string(), version.to_string()));
    versions.sort();
    let text: String = versions.iter().map(|(s, v)| format!("{s}={v}\n")).collect();
    slot_record::replace(&data.join(VERSIONS), text.as_bytes())
}
