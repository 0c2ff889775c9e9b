//! Boot-test harness for Northstar: boots Debian's stock kernels for the three boards under
//! QEMU (TCG) with an initramfs built here, and watches the serial console.
//!
//! It owns: fetching and caching the kernels ([`kernels`]), writing newc cpio archives
//! ([`initramfs`]), resolving kernel modules and their dependencies ([`modules`]), running
//! QEMU with a captured console and hard timeouts ([`qemu`]), and the first scenario, the
//! probe ([`probe`]). It does not own the guest's software: a scenario brings its init
//! (the probe's is the `probe-init` binary of this crate, `src/bin/probe-init.rs`).
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::exit)]

pub mod board;
pub mod cargo;
pub mod initramfs;
pub mod kernels;
pub mod modules;
pub mod probe;
pub mod qemu;

pub use board::Board;
