//! The Northstar package (NPK) format.
//!
//! This crate owns everything about a package as bytes on disk: the manifest schema and
//! its validation, the zip container, the squashfs image, the dm-verity hash tree and the
//! ed25519 signature. It reads and writes packages compatible with Northstar 0.9.
//!
//! It does not mount, start or supervise anything (that is `runtime-core`), and it has no
//! runtime dependencies: the packer (`nstar`) and the runtime both use it.
//!
//! Trust is carried in the types: [`package::Npk`] opens as `Npk<Raw>`, whose entries are
//! bytes that nothing has parsed; only [`package::Npk::verify`] with a public key produces
//! an `Npk<Verified>` (the signature checked before anything signed is parsed), and only
//! [`package::Npk::parse_unverified`] an `Npk<Unverified>` (parsed without any check).
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod archive;
pub mod key;
pub mod manifest;
pub mod pack;
pub mod package;
pub mod signature;
pub mod squashfs;
pub mod verity;

/// The NPK format version this crate writes (the version Northstar 0.9 writes). Packages
/// are read when their format version is at least this major.minor.
pub const FORMAT_VERSION: semver::Version = semver::Version::new(0, 9, 3);
