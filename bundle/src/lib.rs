//! RAUC-format update bundles: reading, verifying and writing them.
//!
//! Owns the bundle file format (squashfs payload, dm-verity hash tree, CMS signature,
//! size trailer), the manifest, the signature check against a keyring, and writing a
//! verified image into a slot ([`install::write_image`]). Does not own slots or boot
//! selection: the caller gets a [`read::Verified`] bundle, picks the slot, and marks it
//! bootable. See `doc/bundles.md`.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod cms;
pub mod der;
pub mod install;
pub mod manifest;
pub mod read;
pub mod version;
pub mod write;
pub mod x509;

pub use cms::Keyring;
pub use manifest::Manifest;
pub use read::{Unverified, Verified};
pub use rustls_pki_types::UnixTime;
