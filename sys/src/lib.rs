//! The only place in Northstar with `unsafe` code: thin, audited wrappers around the
//! system calls and ioctls that `nix` does not cover.
//!
//! Every wrapper takes and returns owned or borrowed file descriptors and plain Rust
//! values; callers never see raw pointers. Each `unsafe` block states the invariant it
//! relies on (`// SAFETY:`). What this crate does not own: policy (which device, which
//! flags, which table), error context (callers add the path or container), retries.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// PID 1 never panics: no indexing or arithmetic that can panic outside tests
// (doc/design.md, "PID 1 never panics").
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

pub mod caps;
pub mod child;
pub mod clone;
pub mod dm;
pub mod loopdev;
pub mod mount;
pub mod seccomp;
pub mod watchdog;
pub mod writeback;
