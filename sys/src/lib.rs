//! The only place in Northstar with `unsafe` code: thin, audited wrappers around the
//! system calls and ioctls that `nix` does not cover.
//!
//! Every wrapper takes and returns owned or borrowed file descriptors and plain Rust
//! values; callers never see raw pointers. Each `unsafe` block states the invariant it
//! relies on (`// SAFETY:`). What this crate does not own: policy (which device, which
//! flags, which table), error context (callers add the path or container), retries.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod caps;
pub mod child;
pub mod clone;
pub mod dm;
pub mod loopdev;
pub mod seccomp;
pub mod watchdog;
pub mod writeback;
