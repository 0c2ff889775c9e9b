//! Boot-loader environments and the A/B slot selection kept in them.
//!
//! This crate owns three things:
//! - [`uboot`]: the U-Boot environment as U-Boot's `saveenv` and `fw_setenv` store it
//!   (single or redundant copy, CRC32, at an offset inside a file or block device);
//! - [`grub`]: GRUB's 1024-byte environment block as `grub-editenv` and `save_env` keep it;
//! - [`slots`]: RAUC's A/B boot selection variables (`BOOT_ORDER`/`BOOT_<x>_LEFT` for
//!   U-Boot, `ORDER`/`<x>_OK`/`<x>_TRY` for GRUB) on top of both.
//!
//! It does not own the boot scripts (see `doc/boot-loaders.md`), MTD or UBI storage (needs
//! erase and volume-update ioctls, not supported), nor the policy of when to mark a slot:
//! that is the init's and the updater's.
#![forbid(unsafe_code)]

mod env;
pub mod grub;
pub mod slots;
pub mod uboot;

pub use env::Env;
