//! RAUC's A/B boot selection on top of the boot-loader environments.
//!
//! - U-Boot: `BOOT_ORDER` (space-separated bootnames) and `BOOT_<x>_LEFT` (remaining boot
//!   attempts, hex as U-Boot's `setexpr` writes it); see [`uboot`].
//! - GRUB: `ORDER`, `<x>_OK` and `<x>_TRY`; see [`grub`].
//! - none: a single-slot system; every operation answers [`Error::NotSupported`].
//!
//! The state logic is pure functions over an [`Env`]; [`Backend`] reads the environment,
//! applies one of them and writes it back once, so each mark is a single environment write
//! (atomic with a redundant U-Boot environment).

pub mod grub;
pub mod uboot;

use std::fmt;
use std::path::PathBuf;

use crate::Env;

/// Longest accepted bootname.
pub const MAX_BOOTNAME: usize = 16;
/// RAUC's default for attempts given to a slot marked good or active.
pub const DEFAULT_ATTEMPTS: u32 = 3;

/// Errors of the slot selection.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid bootname {0:?}: 1 to {MAX_BOOTNAME} ascii letters or digits")]
    Bootname(String),
    #[error("unknown slot {0:?}: not one of the configured bootnames")]
    UnknownSlot(String),
    #[error("variable {0} is not set in the boot-loader environment")]
    Missing(String),
    #[error("variable {name} has invalid value {value:?}: {expected}")]
    Invalid {
        name: String,
        value: String,
        expected: &'static str,
    },
    #[error("no bootable slot in {variable}={order:?}")]
    NoPrimary {
        variable: &'static str,
        order: String,
    },
    #[error("{0} is not supported without a boot-loader backend")]
    NotSupported(&'static str),
    #[error("u-boot environment")]
    UBoot(#[from] crate::uboot::Error),
    #[error("grub environment")]
    Grub(#[from] crate::grub::Error),
}

/// Result of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// A slot's bootname as the boot loader knows it (RAUC uses `A` and `B`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bootname(String);

impl Bootname {
    /// Validates `name`: 1 to [`MAX_BOOTNAME`] ASCII letters or digits.
    pub fn new(name: &str) -> Result<Bootname> {
        let valid = !name.is_empty()
            && name.len() <= MAX_BOOTNAME
            && name.bytes().all(|b| b.is_ascii_alphanumeric());
        if valid {
            Ok(Bootname(name.to_string()))
        } else {
            Err(Error::Bootname(name.to_string()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Bootname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The boot state of one slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotStatus {
    pub bootname: Bootname,
    /// The boot loader would still boot it (in the order, attempts left / OK and not TRY).
    pub good: bool,
    /// Remaining boot attempts (U-Boot); GRUB has no counter (one try) and says `None`.
    pub attempts_left: Option<u32>,
    /// The slot the boot loader picks next.
    pub primary: bool,
}

/// Where and how the boot selection is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// U-Boot environment with RAUC's `BOOT_ORDER`/`BOOT_<x>_LEFT`.
    UBoot {
        config: crate::uboot::Config,
        slots: Vec<Bootname>,
        /// Attempts given by mark good (RAUC `boot-attempts`, default 3).
        attempts: u32,
        /// Attempts given by mark active (RAUC `boot-attempts-primary`, default 3).
        attempts_primary: u32,
    },
    /// GRUB environment block with RAUC's `ORDER`/`<x>_OK`/`<x>_TRY`.
    Grub { path: PathBuf, slots: Vec<Bootname> },
    /// A single-slot system without boot selection.
    None,
}

impl Backend {
    /// The state of every configured slot, in configuration order.
    pub fn status(&self) -> Result<Vec<SlotStatus>> {
        match self {
            Backend::UBoot { config, slots, .. } => {
                uboot::status(&crate::uboot::read(config)?, slots)
            }
            Backend::Grub { path, slots } => grub::status(&crate::grub::read(path)?, slots),
            Backend::None => Err(Error::NotSupported("slot status")),
        }
    }

    /// The slot the boot loader boots next.
    pub fn primary(&self) -> Result<Bootname> {
        match self {
            Backend::UBoot { config, slots, .. } => {
                uboot::primary(&crate::uboot::read(config)?, slots)
            }
            Backend::Grub { path, slots } => grub::primary(&crate::grub::read(path)?, slots),
            Backend::None => Err(Error::NotSupported("primary slot")),
        }
    }

    /// Marks `bootname` good: the init calls this after a healthy boot.
    pub fn mark_good(&self, bootname: &str) -> Result<()> {
        match self {
            Backend::UBoot {
                config,
                slots,
                attempts,
                ..
            } => {
                let slot = known(slots, bootname)?;
                update_uboot(config, |env| uboot::mark_good(env, &slot, *attempts))
            }
            Backend::Grub { path, slots } => {
                let slot = known(slots, bootname)?;
                update_grub(path, |env| grub::mark_good(env, &slot))
            }
            Backend::None => Err(Error::NotSupported("mark good")),
        }
    }

    /// Marks `bootname` bad: the boot loader will not boot it.
    pub fn mark_bad(&self, bootname: &str) -> Result<()> {
        match self {
            Backend::UBoot { config, slots, .. } => {
                let slot = known(slots, bootname)?;
                update_uboot(config, |env| uboot::mark_bad(env, &slot))
            }
            Backend::Grub { path, slots } => {
                let slot = known(slots, bootname)?;
                update_grub(path, |env| grub::mark_bad(env, &slot))
            }
            Backend::None => Err(Error::NotSupported("mark bad")),
        }
    }

    /// Marks `bootname` active: an update calls this for the slot it just wrote.
    pub fn mark_active(&self, bootname: &str) -> Result<()> {
        match self {
            Backend::UBoot {
                config,
                slots,
                attempts_primary,
                ..
            } => {
                let slot = known(slots, bootname)?;
                update_uboot(config, |env| {
                    uboot::mark_active(env, &slot, slots, *attempts_primary)
                })
            }
            Backend::Grub { path, slots } => {
                let slot = known(slots, bootname)?;
                update_grub(path, |env| grub::mark_active(env, &slot, slots))
            }
            Backend::None => Err(Error::NotSupported("mark active")),
        }
    }
}

/// Validates `bootname` and checks that it is a configured slot.
pub fn known(slots: &[Bootname], bootname: &str) -> Result<Bootname> {
    let name = Bootname::new(bootname)?;
    if slots.contains(&name) {
        Ok(name)
    } else {
        Err(Error::UnknownSlot(bootname.to_string()))
    }
}

fn update_uboot(config: &crate::uboot::Config, change: impl FnOnce(&mut Env)) -> Result<()> {
    let mut env = crate::uboot::read(config)?;
    change(&mut env);
    Ok(crate::uboot::write(config, &env)?)
}

fn update_grub(path: &std::path::Path, change: impl FnOnce(&mut Env)) -> Result<()> {
    let mut env = crate::grub::read(path)?;
    change(&mut env);
    Ok(crate::grub::write(path, &env)?)
}

/// Splits an order variable into its bootnames, skipping empty fields.
fn order(value: &str) -> impl Iterator<Item = &str> {
    value.split(' ').filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests;
