//! Boot-test harness for Northstar: boots Debian's stock kernels for the three boards under
//! QEMU (TCG) with an initramfs built here, and watches the serial console.
//!
//! It owns: fetching and caching the kernels ([`kernels`]), writing newc cpio archives
//! ([`initramfs`]), resolving kernel modules and their dependencies ([`modules`]), running
//! QEMU with a captured console, a QMP socket and hard timeouts ([`qemu`]), building the
//! images of a real boot (root, data, initramfs: `image`) and the scenarios: the probe
//! ([`probe`]), the boot of Northstar's init (`boot`), the boot scenarios that prove its
//! promises one by one (`scenario`) and the demo of the examples (`demo`); building the
//! guest binaries once per run (`binaries`), the reports of the runs (`report`) and the
//! test suite's runs, several machines at a time (`suite`). It does not own
//! the guest's software: a scenario brings its init (the probe's is the `probe-init`
//! binary of this crate, `src/bin/probe-init.rs`; the boot's is the workspace's
//! `northstar`).
//!
//! Feature `images` (default) brings the image builders, the boot scenario and QMP (they
//! need the npk crate); `probe-init` is cross-built without it.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::exit)]

#[cfg(feature = "images")]
pub mod baseline;
#[cfg(feature = "images")]
pub mod binaries;
pub mod board;
#[cfg(feature = "images")]
pub mod boot;
pub mod cargo;
#[cfg(feature = "images")]
pub mod demo;
#[cfg(feature = "images")]
pub mod error;
#[cfg(feature = "images")]
pub mod image;
pub mod initramfs;
pub mod kernels;
pub mod modules;
pub mod probe;
pub mod qemu;
#[cfg(feature = "images")]
pub mod report;
#[cfg(feature = "images")]
pub mod scenario;
#[cfg(feature = "images")]
pub mod suite;
#[cfg(feature = "images")]
pub mod uboot;

pub use board::Board;
