//! The A/B slots at run time: their state in the boot loader's environment, marking the
//! booted slot good once the boot is healthy, and the marks the management API asks for
//! (`nstar system mark-good|mark-bad|mark-active`, as `rauc status mark-*`). The
//! environment logic is `northstar-bootenv`'s; this module finds the environment (a
//! device named by partition, or GRUB's file on a partition it mounts for the moment)
//! and serialises the init's writes.

use super::board::slots::{Bootloader, Slots};
use super::device;
use super::slot_record::{self, Record, State};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use northstar_bootenv::{slots as selection, uboot};
use std::{
    path::{Path, PathBuf},
    sync::{Mutex, OnceLock},
    time::Duration,
};

/// Where the partition holding an environment file (GRUB's `grubenv`, U-Boot's
/// `uboot.env` on a FAT boot partition) is mounted while it is read or written.
const ENV_MOUNT: &str = "/run/northstar/bootenv";
/// How long a write or read waits for the environment's device.
const WAIT: Duration = Duration::from_secs(2);

/// The environment could not be found, read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the boot loader's environment device")]
    Device(#[from] device::Error),
    #[error("cannot mount {} ({fs}) at {ENV_MOUNT}", device.display())]
    Mount {
        device: PathBuf,
        fs: String,
        #[source]
        source: nix::Error,
    },
    #[error("cannot create {ENV_MOUNT}")]
    MountPoint(#[source] std::io::Error),
    #[error("{bootloader} environment")]
    Selection {
        bootloader: Bootloader,
        #[source]
        source: selection::Error,
    },
    #[error("slot {0:?}: no such slot")]
    Unknown(String),
    #[error("no slot other than {0} to mark")]
    NoOther(String),
    #[error("the slot this boot runs is not known (no rauc.slot on the kernel command line)")]
    NotBooted,
    #[error("the board has no boot-loader environment (slots.bootloader = \"none\")")]
    NoBootloader,
    #[error("the data partition is not mounted")]
    NoData,
}

/// What a mark does, as `rauc status mark-*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// Boot it again: its attempts are reset.
    Good,
    /// Never boot it.
    Bad,
    /// Boot it next: first in the order, attempts reset.
    Active,
}

/// Which slot a mark is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Booted,
    /// The one slot that is not booted (A/B).
    Other,
    Named(String),
}

/// One slot as the boot loader's environment describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotState {
    pub name: String,
    pub root: PathBuf,
    pub boot: Option<PathBuf>,
    pub booted: bool,
    /// The boot loader picks it next.
    pub primary: bool,
    /// `None` without a boot-loader environment.
    pub good: Option<bool>,
    pub attempts_left: Option<u32>,
}

/// The slots and the boot loader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub bootloader: Bootloader,
    pub booted: Option<String>,
    pub slots: Vec<SlotState>,
}

/// The slots of the board and the one this boot runs.
pub struct Keeper {
    slots: Slots,
    booted: Option<String>,
    /// One environment access at a time: the main loop's mark and the API's.
    lock: Mutex<()>,
    /// The data partition's mount point, where this boot's record is kept.
    data: OnceLock<PathBuf>,
}

impl Keeper {
    pub fn new(slots: Slots, booted: Option<String>) -> Keeper {
        Keeper {
            slots,
            booted,
            lock: Mutex::new(()),
            data: OnceLock::new(),
        }
    }

    /// The data partition is mounted at `data`: read the previous boot's record (what the
    /// boot report should say of it) and write this boot's, `trying`.
    pub fn attach_data(&self, data: &Path) -> Option<String> {
        let booted = self.booted.clone()?;
        let _ = self.data.set(data.to_owned());
        let summary = match slot_record::read(data) {
            Ok(previous) => previous.and_then(|r| r.summary(&booted)),
            Err(e) => {
                log::warn!("cannot read {}: {e}", slot_record::RECORD);
                None
            }
        };
        self.record(State::Trying);
        // Bundles a power cut or a reboot left in the spool are never resumed.
        let spool = data.join(super::slot_install::SPOOL);
        if let Ok(entries) = std::fs::read_dir(&spool) {
            for entry in entries.flatten() {
                if let Err(e) = std::fs::remove_file(entry.path()) {
                    log::warn!("cannot remove {}: {e}", entry.path().display());
                }
            }
        }
        summary
    }

    /// Keep `state` as this boot's record (once the data partition is attached).
    pub fn record(&self, state: State) {
        let (Some(data), Some(slot)) = (self.data.get(), &self.booted) else {
            return;
        };
        let record = Record {
            slot: slot.clone(),
            state,
        };
        if let Err(e) = slot_record::write(data, &record) {
            log::warn!("cannot write {}: {e}", slot_record::RECORD);
        }
    }

    /// The data partition's mount point, once attached.
    pub fn data(&self) -> Option<&Path> {
        self.data.get().map(PathBuf::as_path)
    }

    /// The slot this boot runs.
    pub fn booted(&self) -> Option<&str> {
        self.booted.as_deref()
    }

    /// The board's slots.
    pub fn slots(&self) -> &Slots {
        &self.slots
    }

    /// How long the boot must be healthy before the booted slot is marked good.
    pub fn healthy_after(&self) -> Duration {
        self.slots.healthy_after
    }

    /// Whether marking good means anything here: a boot-loader environment and a known
    /// booted slot.
    pub fn marks(&self) -> bool {
        self.slots.bootloader != Bootloader::None && self.booted.is_some()
    }

    /// The slots and what the environment says of them.
    pub fn status(&self) -> Result<Status, Error> {
        let _one = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.status_locked()
    }

    /// Apply `mark` to `target`; the status after it.
    pub fn mark(&self, mark: Mark, target: &Target) -> Result<Status, Error> {
        let _one = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let name = self.resolve(target)?;
        self.with_backend(|backend| match mark {
            Mark::Good => backend.mark_good(&name),
            Mark::Bad => backend.mark_bad(&name),
            Mark::Active => backend.mark_active(&name),
        })?;
        log::info!("slot {name}: marked {}", mark.name());
        let booted = self.booted.as_deref() == Some(name.as_str());
        match mark {
            Mark::Good if booted => self.record(State::Good),
            Mark::Active if !booted => self.record(State::Switched { to: name }),
            _ => {}
        }
        self.status_locked()
    }

    fn status_locked(&self) -> Result<Status, Error> {
        let states = match self.slots.bootloader {
            Bootloader::None => Vec::new(),
            _ => self.with_backend(|backend| backend.status())?,
        };
        let slots = self
            .slots
            .slots
            .iter()
            .map(|slot| {
                let state = states.iter().find(|s| s.bootname.as_str() == slot.name);
                SlotState {
                    name: slot.name.clone(),
                    root: slot.root.clone(),
                    boot: slot.boot.clone(),
                    booted: self.booted.as_deref() == Some(slot.name.as_str()),
                    primary: state.is_some_and(|s| s.primary),
                    good: state.map(|s| s.good),
                    attempts_left: state.and_then(|s| s.attempts_left),
                }
            })
            .collect();
        Ok(Status {
            bootloader: self.slots.bootloader,
            booted: self.booted.clone(),
            slots,
        })
    }

    /// The slot name `target` means.
    pub fn resolve(&self, target: &Target) -> Result<String, Error> {
        let booted = || self.booted.clone().ok_or(Error::NotBooted);
        match target {
            Target::Booted => booted(),
            Target::Other => {
                let booted = booted()?;
                let others: Vec<&str> = self
                    .slots
                    .slots
                    .iter()
                    .map(|s| s.name.as_str())
                    .filter(|n| *n != booted)
                    .collect();
                match others.as_slice() {
                    [one] => Ok((*one).to_string()),
                    _ => Err(Error::NoOther(booted)),
                }
            }
            Target::Named(name) => self
                .slots
                .slots
                .iter()
                .find(|s| s.name == *name)
                .map(|s| s.name.clone())
                .ok_or_else(|| Error::Unknown(name.clone())),
        }
    }

    /// Run `f` on the environment's backend: the U-Boot device found, GRUB's partition
    /// mounted (and unmounted after).
    fn with_backend<T>(
        &self,
        f: impl FnOnce(&selection::Backend) -> selection::Result<T>,
    ) -> Result<T, Error> {
        let names = || {
            self.slots
                .slots
                .iter()
                .map(|s| selection::Bootname::new(&s.name))
                .collect::<selection::Result<Vec<_>>>()
        };
        let fail = |source| Error::Selection {
            bootloader: self.slots.bootloader,
            source,
        };
        match (self.slots.bootloader, &self.slots.uboot, &self.slots.grub) {
            (Bootloader::Uboot, Some(env), _) => {
                let on = env.fs.as_deref().zip(env.file.as_deref());
                at(&env.device, on, |path| {
                    let location = |offset: u64| uboot::Location {
                        path: path.to_owned(),
                        offset,
                        size: usize::try_from(env.size).unwrap_or(usize::MAX),
                    };
                    let backend = selection::Backend::UBoot {
                        config: uboot::Config {
                            primary: location(env.offset),
                            redundant: env.redundant_offset.map(location),
                        },
                        slots: names().map_err(fail)?,
                        attempts: self.slots.attempts,
                        attempts_primary: self.slots.attempts,
                    };
                    f(&backend).map_err(fail)
                })
            }
            (Bootloader::Grub, _, Some(env)) => {
                at(&env.device, Some((&env.fs, &env.file)), |path| {
                    let backend = selection::Backend::Grub {
                        path: path.to_owned(),
                        slots: names().map_err(fail)?,
                    };
                    f(&backend).map_err(fail)
                })
            }
            _ => Err(Error::NoBootloader),
        }
    }
}

/// Run `f` on the environment's path: `device` itself (a block device, or a file for
/// development hosts), or `file` on `device` mounted as `fs` for the moment.
fn at<T>(
    device: &Path,
    on: Option<(&str, &Path)>,
    f: impl FnOnce(&Path) -> Result<T, Error>,
) -> Result<T, Error> {
    let node = if device.is_file() {
        device.to_owned()
    } else {
        device::wait_for(device, WAIT)?.node
    };
    let Some((fs, file)) = on else {
        return f(&node);
    };
    let target = Path::new(ENV_MOUNT);
    std::fs::create_dir_all(target).map_err(Error::MountPoint)?;
    mount(
        Some(&node),
        target,
        Some(fs),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|source| Error::Mount {
        device: node.clone(),
        fs: fs.to_string(),
        source,
    })?;
    let result = f(&target.join(file));
    if let Err(e) = umount2(target, MntFlags::empty()) {
        log::warn!("cannot unmount {ENV_MOUNT}: {e}");
    }
    result
}

impl Mark {
    fn name(self) -> &'static str {
        match self {
            Mark::Good => "good",
            Mark::Bad => "bad",
            Mark::Active => "active",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pid1::board::slots::{Slot, UbootEnv};
    use northstar_bootenv::Env;

    const SIZE: u64 = 0x4000;

    fn keeper(file: &Path, booted: Option<&str>, redundant: bool) -> Keeper {
        let slot = |name: &str| Slot {
            name: name.to_string(),
            root: PathBuf::from(format!("PARTLABEL=rootfs_{}", name.to_lowercase())),
            boot: None,
        };
        let slots = Slots {
            bootloader: Bootloader::Uboot,
            healthy_after: Duration::from_secs(1),
            attempts: 3,
            slots: vec![slot("A"), slot("B")],
            uboot: Some(UbootEnv {
                device: file.to_owned(),
                offset: 0x1000,
                size: SIZE,
                redundant_offset: redundant.then_some(0x1000 + SIZE),
                fs: None,
                file: None,
            }),
            grub: None,
            compatible: Some("test-board".into()),
            keyring: PathBuf::from("/etc/northstar/bundle-keyring.pem"),
        };
        Keeper::new(slots, booted.map(str::to_string))
    }

    fn env_of(k: &Keeper) -> Env {
        let env = k.slots.uboot.as_ref().unwrap();
        let location = |offset| uboot::Location {
            path: env.device.clone(),
            offset,
            size: SIZE as usize,
        };
        uboot::read(&uboot::Config {
            primary: location(env.offset),
            redundant: env.redundant_offset.map(location),
        })
        .unwrap()
    }

    /// An environment file as U-Boot's boot script leaves it after booting A once.
    fn written(k: &Keeper) {
        let env = k.slots.uboot.as_ref().unwrap();
        let file = std::fs::File::create(&env.device).unwrap();
        file.set_len(0x1000 + 2 * SIZE).unwrap();
        let location = |offset| uboot::Location {
            path: env.device.clone(),
            offset,
            size: SIZE as usize,
        };
        let mut vars = Env::new();
        vars.set("BOOT_ORDER", "A B");
        vars.set("BOOT_A_LEFT", "2");
        vars.set("BOOT_B_LEFT", "3");
        uboot::write(
            &uboot::Config {
                primary: location(env.offset),
                redundant: env.redundant_offset.map(location),
            },
            &vars,
        )
        .unwrap();
    }

    #[test]
    fn mark_good_resets_the_booted_slots_attempts() {
        for redundant in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let k = keeper(&dir.path().join("env"), Some("A"), redundant);
            written(&k);
            let before = k.status().unwrap();
            assert_eq!(before.booted.as_deref(), Some("A"));
            assert_eq!(before.slots[0].attempts_left, Some(2));
            assert!(before.slots[0].booted && before.slots[0].primary);
            assert!(!before.slots[1].booted);
            let after = k.mark(Mark::Good, &Target::Booted).unwrap();
            assert_eq!(after.slots[0].attempts_left, Some(3));
            assert_eq!(env_of(&k).get("BOOT_A_LEFT"), Some("3"));
            assert_eq!(env_of(&k).get("BOOT_B_LEFT"), Some("3"));
        }
    }

    #[test]
    fn other_and_named_slots() {
        let dir = tempfile::tempdir().unwrap();
        let k = keeper(&dir.path().join("env"), Some("A"), true);
        written(&k);
        let after = k.mark(Mark::Active, &Target::Other).unwrap();
        assert!(after.slots[1].primary, "{after:?}");
        assert_eq!(env_of(&k).get("BOOT_ORDER"), Some("B A"));
        let after = k.mark(Mark::Bad, &Target::Named("B".into())).unwrap();
        assert_eq!(after.slots[1].good, Some(false));
        assert!(after.slots[0].primary, "{after:?}");
        let e = k.mark(Mark::Good, &Target::Named("C".into())).unwrap_err();
        assert_eq!(e.to_string(), "slot \"C\": no such slot");
        // Unknown booted slot: neither `booted` nor `other` can be resolved.
        let unknown = keeper(&dir.path().join("env"), None, true);
        assert!(!unknown.marks());
        let e = unknown.mark(Mark::Good, &Target::Other).unwrap_err();
        assert!(matches!(e, Error::NotBooted), "{e}");
    }

    #[test]
    fn a_missing_environment_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let k = keeper(&dir.path().join("none"), Some("A"), false);
        let e = k.status().unwrap_err();
        assert!(matches!(e, Error::Device(_)), "{e}");
    }
}
