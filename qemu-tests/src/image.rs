//! The images a real boot needs, built on the host as `doc/boot.md` specifies them:
//!
//! - [`root`]: the root file system, a squashfs (npk's writer) padded to 4096 bytes with
//!   the verity superblock and hash tree appended (npk's verity code), and its signed
//!   descriptor (`root.verity`, `root.verity.sig`);
//! - [`packages`]: the example containers, packed and signed as npks;
//! - [`data`]: the data partition, an ext4 image made by `mke2fs -d` (no loop mount), and
//!   its checks with `e2fsck`, `dumpe2fs` and `debugfs`;
//! - [`sdcard`]: the SD card of a board with no other disk: an MBR (`sfdisk`) with the
//!   root and data images in partitions 2 and 3;
//! - [`initrd`]: the initramfs with the init, the board configuration, the root's key and
//!   descriptor, and the board's kernel modules with their dependencies;
//! - [`set`]: the images of one machine (root, data, initramfs) as the boot, the demo and
//!   the scenarios build them, with the packages the caller puts into the repository;
//! - [`config`]: what the harness reads from the board's configuration files
//!   (`board-configs/<board>/`), with the kernel command line's overrides applied.
//!
//! It does not boot anything (see [`crate::boot`]) and does not build binaries.

pub mod config;
pub mod data;
pub mod initrd;
pub mod packages;
pub mod root;
pub mod sdcard;
pub mod set;
mod tool;

pub use tool::ToolError;

/// Removes `dir` if it exists and creates it empty: every run stages from nothing.
pub(crate) fn fresh_dir(dir: &std::path::Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(dir)
}
