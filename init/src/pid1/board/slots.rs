//! `[slots]`: A/B root slots in RAUC's conventions. Each slot has a root partition (and,
//! where the board boots its kernel from a partition, a boot partition); the boot loader
//! picks one, counts its attempts in its environment and names it on the kernel command
//! line (`rauc.slot=A`, or `northstar.slot=A`). The init mounts that slot's root, checked
//! against the signed descriptor, shows the slot in the boot report and marks it good
//! once the boot is healthy (`doc/system-update.md`).

use super::{duration, Board, Error};
use crate::pid1::cmdline::Cmdline;
use crate::pid1::partition::Spec;
use serde::Deserialize;
use std::{path::PathBuf, time::Duration};

/// The command line key of RAUC's boot-loader integrations.
pub const RAUC_SLOT: &str = "rauc.slot";
/// Ours, for boot loaders configured by hand.
pub const NORTHSTAR_SLOT: &str = "northstar.slot";
/// Most slots of a board.
pub const MAX_SLOTS: usize = 4;

/// Which boot loader keeps the slots' order and attempts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bootloader {
    /// No boot-loader environment: the slot is only shown, never marked.
    #[default]
    None,
    /// U-Boot's environment: `BOOT_ORDER`, `BOOT_<slot>_LEFT`.
    Uboot,
    /// GRUB's environment block: `ORDER`, `<slot>_OK`, `<slot>_TRY`.
    Grub,
}

impl std::fmt::Display for Bootloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Bootloader::None => "none",
            Bootloader::Uboot => "uboot",
            Bootloader::Grub => "grub",
        })
    }
}

/// `[slots]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slots {
    /// The boot loader whose environment holds the slots' state.
    #[serde(default)]
    pub bootloader: Bootloader,
    /// How long every critical container must have run before the booted slot is
    /// marked good.
    #[serde(default = "default_healthy_after", deserialize_with = "duration")]
    pub healthy_after: Duration,
    /// The attempts a slot gets when it is marked good or active (RAUC's default 3).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// What a bundle's `compatible` must be equal to (RAUC's `[system] compatible`);
    /// absent: the board takes no bundles.
    #[serde(default)]
    pub compatible: Option<String>,
    /// The PEM certificates bundles are verified against, a path in the verified root.
    #[serde(default = "default_keyring")]
    pub keyring: PathBuf,
    /// The slots, in the order of the boot loader's default `BOOT_ORDER`.
    #[serde(rename = "slot")]
    pub slots: Vec<Slot>,
    /// `[slots.uboot]`: where U-Boot keeps its environment.
    #[serde(default)]
    pub uboot: Option<UbootEnv>,
    /// `[slots.grub]`: where GRUB keeps its environment block.
    #[serde(default)]
    pub grub: Option<GrubEnv>,
}

/// `[[slots.slot]]`: one slot.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    /// The boot loader's name of the slot (RAUC's bootname): `A`, `B`.
    pub name: String,
    /// The root partition: a path, `PARTLABEL=` or `PARTUUID=`.
    pub root: PathBuf,
    /// The boot partition (kernel, device tree, initramfs), where the board has them.
    #[serde(default)]
    pub boot: Option<PathBuf>,
}

/// `[slots.uboot]`: the environment as `fw_env.config` describes it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UbootEnv {
    /// The device or file: a path, `PARTLABEL=` or `PARTUUID=`.
    pub device: PathBuf,
    /// Byte offset of the environment.
    pub offset: u64,
    /// Its size in bytes (U-Boot's `CONFIG_ENV_SIZE`).
    pub size: u64,
    /// Byte offset of the redundant copy (`CONFIG_ENV_OFFSET_REDUND`), if any.
    #[serde(default)]
    pub redundant_offset: Option<u64>,
    /// With `file`: the file system of `device`, which holds the environment as a file
    /// (U-Boot's `CONFIG_ENV_IS_IN_FAT`: `uboot.env` on the boot partition).
    #[serde(default)]
    pub fs: Option<String>,
    /// The environment file on `device`, relative to its root; offsets count in it.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// `[slots.grub]`: the environment block file on a partition.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrubEnv {
    /// The partition holding it (the EFI system or `/boot` partition).
    pub device: PathBuf,
    /// Its file system type.
    #[serde(default = "default_grub_fs")]
    pub fs: String,
    /// The file, relative to the partition's root (`grub/grubenv`).
    pub file: PathBuf,
}

/// The slot this boot runs, and where the init learned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Booted {
    pub name: String,
    /// `rauc.slot` or `northstar.slot`.
    pub origin: &'static str,
}

/// The slot the command line names: `rauc.slot` (the boot loader's), else
/// `northstar.slot`, the last of each winning. `northstar.slot` is ignored in lockdown.
pub fn booted(cmdline: &Cmdline, lockdown: bool) -> Option<Booted> {
    let from = |origin: &'static str| {
        cmdline.value(origin).map(|name| Booted {
            name: name.to_string(),
            origin,
        })
    };
    from(RAUC_SLOT).or_else(|| from(NORTHSTAR_SLOT).filter(|_| !lockdown))
}

/// The rules of `[slots]`, as (key, message).
pub fn validate(slots: &Slots) -> Result<(), (String, String)> {
    let fail = |key: String, message: String| Err((key, message));
    if slots.slots.len() < 2 || slots.slots.len() > MAX_SLOTS {
        return fail(
            "slots.slot".into(),
            format!(
                "has {} slots: A/B needs 2 to {MAX_SLOTS}",
                slots.slots.len()
            ),
        );
    }
    for (i, slot) in slots.slots.iter().enumerate() {
        if !valid_bootname(&slot.name) {
            return fail(
                format!("slots.slot[{i}].name"),
                format!(
                    "{:?} must be 1 to 16 characters of A-Z a-z 0-9 (a part of boot loader variable names)",
                    slot.name
                ),
            );
        }
        if slots.slots.iter().take(i).any(|s| s.name == slot.name) {
            return fail(
                format!("slots.slot[{i}].name"),
                format!("{:?} is listed twice", slot.name),
            );
        }
        device(&format!("slots.slot[{i}].root"), &slot.root)?;
        if let Some(boot) = &slot.boot {
            device(&format!("slots.slot[{i}].boot"), boot)?;
        }
        if slots.slots.iter().take(i).any(|s| s.root == slot.root) {
            return fail(
                format!("slots.slot[{i}].root"),
                format!("{} is the root of another slot", slot.root.display()),
            );
        }
    }
    super::validate::absolute("slots.keyring", &slots.keyring)?;
    if let Some(c) = &slots.compatible {
        if c.is_empty() || c.len() > 256 || c.chars().any(char::is_control) {
            return fail(
                "slots.compatible".into(),
                format!("{c:?} must be 1 to 256 printable characters"),
            );
        }
    }
    if slots.attempts == 0 || slots.attempts > 100 {
        return fail(
            "slots.attempts".into(),
            format!("{} must be from 1 to 100", slots.attempts),
        );
    }
    if slots.healthy_after > super::MAX_WAIT {
        return fail(
            "slots.healthy_after".into(),
            "is longer than 10m".to_string(),
        );
    }
    match (slots.bootloader, &slots.uboot, &slots.grub) {
        (Bootloader::Uboot, Some(env), None) => {
            device("slots.uboot.device", &env.device)?;
            match (&env.fs, &env.file) {
                (Some(_), Some(file)) => relative("slots.uboot.file", file)?,
                (None, None) => {}
                _ => {
                    return fail(
                        "slots.uboot.file".into(),
                        "fs and file go together (an environment file on a partition)".to_string(),
                    )
                }
            }
            if env.size < 16 || env.size > 1 << 20 {
                return fail(
                    "slots.uboot.size".into(),
                    format!("{} must be from 16 bytes to 1 MiB", env.size),
                );
            }
            if let Some(other) = env.redundant_offset {
                let apart = other.abs_diff(env.offset);
                if apart < env.size {
                    return fail(
                        "slots.uboot.redundant_offset".into(),
                        format!(
                            "{other} overlaps the environment at {} ({} bytes)",
                            env.offset, env.size
                        ),
                    );
                }
            }
        }
        (Bootloader::Grub, None, Some(env)) => {
            device("slots.grub.device", &env.device)?;
            relative("slots.grub.file", &env.file)?;
        }
        (Bootloader::None, None, None) => {}
        (loader, _, _) => {
            return fail(
                "slots.bootloader".into(),
                format!(
                    "{loader} needs exactly its own table: [slots.uboot] for uboot, \
                     [slots.grub] for grub, neither for none"
                ),
            )
        }
    }
    Ok(())
}

impl Board {
    /// Make the booted slot's root the root device. Without `[slots]` a named slot is
    /// only shown; with it, the slot must be one of them, and a boot that names none
    /// cannot know which root to mount.
    pub fn select_slot(&mut self, booted: Option<&Booted>) -> Result<(), Error> {
        let Some(slots) = &self.slots else {
            return Ok(());
        };
        let Some(booted) = booted else {
            return Err(Error::Invalid {
                origin: "kernel command line".to_string(),
                key: RAUC_SLOT.to_string(),
                message: format!(
                    "is missing: the board has slots {}, and the boot loader must name the \
                     one it booted",
                    names(slots)
                ),
            });
        };
        let Some(slot) = slots.slots.iter().find(|s| s.name == booted.name) else {
            return Err(Error::Invalid {
                origin: "kernel command line".to_string(),
                key: booted.origin.to_string(),
                message: format!(
                    "{:?} is not a slot of this board ({})",
                    booted.name,
                    names(slots)
                ),
            });
        };
        self.root.device = slot.root.clone();
        Ok(())
    }
}

fn names(slots: &Slots) -> String {
    slots
        .slots
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A RAUC bootname: it becomes part of variable names (`BOOT_A_LEFT`, `A_OK`).
pub fn valid_bootname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 16
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A file on a partition: relative, without `..`.
fn relative(key: &str, file: &std::path::Path) -> Result<(), (String, String)> {
    if file.is_absolute()
        || file.as_os_str().is_empty()
        || file
            .components()
            .any(|c| c == std::path::Component::ParentDir)
    {
        return Err((
            key.to_string(),
            format!("{file:?} must be a relative path without \"..\" on the partition"),
        ));
    }
    Ok(())
}

/// A device key: an absolute path or a valid partition name.
pub fn device(key: &str, path: &std::path::Path) -> Result<(), (String, String)> {
    let spec = Spec::parse(path);
    if let Some(problem) = spec.problem() {
        return Err((key.to_string(), problem));
    }
    if Spec::is_name(path) {
        return Ok(());
    }
    super::validate::absolute(key, path)
}

fn default_healthy_after() -> Duration {
    Duration::from_secs(60)
}
fn default_attempts() -> u32 {
    3
}
fn default_keyring() -> PathBuf {
    PathBuf::from("/etc/northstar/bundle-keyring.pem")
}
fn default_grub_fs() -> String {
    "vfat".to_string()
}
