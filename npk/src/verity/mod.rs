//! dm-verity for NPK images: the superblock, the hash tree, and the full offline check.
//!
//! An `fs.img` is the squashfs data (a whole number of 4096-byte blocks, its length is the
//! signed `verity-offset`), then a 4096-byte superblock in the veritysetup on-disk format,
//! then the hash tree (format 1, sha256, 4096-byte data and hash blocks, 32-byte salt),
//! the level nearest the root stored first. The runtime hands the same layout to the
//! kernel's dm-verity target; this module builds it ([`append`]) and checks all of it
//! without the kernel ([`verify`]). `veritysetup` (cryptsetup) is the reference: both
//! accept each other's images and agree on the root hash.
//!
//! Levels are numbered as in dm-verity: level 0 holds the hashes of the data blocks,
//! the highest level is a single hash block, and the root hash is the salted hash of
//! that block. With a single data block there is no hash block at all: the root hash is
//! the salted hash of the data block itself (veritysetup and the kernel agree on this).
//!
//! This module does not talk to device-mapper; building the table and activating it is
//! the runtime's job.

// PID 1 checks untrusted images with this module (the superblock, the tree, [`verify`]): no
// indexing or arithmetic that can panic outside tests (doc/design.md, "PID 1 never panics").
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

mod image;
mod superblock;
mod tree;

pub use image::{append, verify};
pub use superblock::{Salt, Superblock};
pub use tree::{hash_tree, tree_size, HashTree};

/// Size of a data block and of a hash block, in bytes.
pub const BLOCK_SIZE: u64 = 4096;
/// Size of the verity superblock, in bytes.
pub const SUPERBLOCK_SIZE: u64 = 4096;
/// A sha256 digest.
pub type Digest = [u8; 32];

/// Everything that can go wrong while building, parsing or checking verity data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on the image failed; `what` says which one and where.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The operating system's random number generator failed.
    #[error("failed to generate a random salt: {0}")]
    Random(getrandom::Error),
    /// A salt given as text is not 64 hex digits.
    #[error("invalid salt {0:?}: expected 64 hex digits")]
    SaltHex(String),
    /// A length or offset is not a multiple of [`BLOCK_SIZE`].
    #[error("{what} {value} is not a multiple of 4096")]
    Unaligned { what: &'static str, value: u64 },
    /// There is no data to protect: dm-verity needs at least one data block.
    #[error("no data blocks: the image must hold at least one 4096-byte block")]
    NoDataBlocks,
    /// Offsets or sizes do not fit into 64 bits.
    #[error("image of {data_blocks} data blocks at offset {offset} is too large")]
    TooLarge { offset: u64, data_blocks: u64 },
    /// The file ends before the end of the verity data.
    #[error("image is truncated: verity data ends at byte {needed}, the file has {len} bytes")]
    Truncated { needed: u64, len: u64 },
    /// The superblock buffer has the wrong length.
    #[error("superblock must be 4096 bytes, got {0}")]
    SuperblockLength(usize),
    /// The superblock does not start with `verity\0\0`.
    #[error("bad superblock signature {0:02x?}, expected \"verity\\0\\0\"")]
    Signature([u8; 8]),
    /// The superblock version is not 1.
    #[error("unsupported superblock version {0}, expected 1")]
    Version(u32),
    /// The hash type is not 1 (the only format the kernel and Northstar use).
    #[error("unsupported hash type {0}, expected 1")]
    HashType(u32),
    /// The hash algorithm is not exactly "sha256".
    #[error("unsupported hash algorithm {0:?}, expected \"sha256\"")]
    Algorithm(String),
    /// The data block size is not 4096.
    #[error("unsupported data block size {0}, expected 4096")]
    DataBlockSize(u32),
    /// The hash block size is not 4096.
    #[error("unsupported hash block size {0}, expected 4096")]
    HashBlockSize(u32),
    /// The salt size exceeds the 256 bytes the superblock has room for.
    #[error("salt size {0} exceeds the maximum of 256")]
    SaltSizeTooLarge(u16),
    /// The salt size is valid for dm-verity but not 32, the only size NPKs use.
    #[error("unsupported salt size {0}, expected 32")]
    SaltSize(u16),
    /// A byte the format reserves (padding, unused salt space) is not zero.
    #[error("reserved superblock byte at offset {0} is not zero")]
    Reserved(usize),
    /// The superblock's block count disagrees with the (signed) verity offset.
    #[error("superblock counts {superblock} data blocks, the verity offset implies {expected}")]
    DataBlocks { superblock: u64, expected: u64 },
    /// A data block does not match its hash in the (authenticated) tree.
    #[error("data block {block} does not match its hash")]
    DataBlock { block: u64 },
    /// A stored hash block differs from the one computed from the data.
    #[error("hash block {index} of level {level} is corrupt")]
    HashBlock { level: usize, index: u64 },
    /// Neither the data nor the stored tree lead to the expected root hash.
    #[error(
        "root hash mismatch: expected {}, computed {}",
        hex::encode(.expected),
        hex::encode(.computed)
    )]
    RootHash { expected: Digest, computed: Digest },
}
