//! Building the hash tree: geometry, parallel hashing of the data, the upper levels.
//!
//! The data is read in chunks of [`CHUNK_BLOCKS`] blocks with positioned reads, one
//! reusable buffer per rayon job, so memory stays bounded by the thread count whatever
//! the image size; only the tree itself (1/127 of the data) is held in memory.

use std::{fs::File, ops::Range, os::unix::fs::FileExt};

use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use super::{Digest, Error, Salt, BLOCK_SIZE, SUPERBLOCK_SIZE};

/// Hashes per hash block (4096 / 32).
pub(super) const HASHES_PER_BLOCK: u64 = BLOCK_SIZE / DIGEST_SIZE;
const DIGEST_SIZE: u64 = 32;
/// Data blocks read and hashed per job: 256 KiB, small enough that the hashing reads
/// the buffer from the core's cache right after the copy from the page cache.
const CHUNK_BLOCKS: usize = 64;
const BLOCK: usize = BLOCK_SIZE as usize;
const DIGEST: usize = DIGEST_SIZE as usize;

/// A complete hash tree.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HashTree {
    /// The root hash: the salted hash of the top hash block (or of the only data block).
    pub root: Digest,
    /// The hash blocks exactly as stored after the superblock, top level first.
    /// Empty for a single data block.
    pub levels_bytes: Vec<u8>,
}

/// One level of the tree: its number of hash blocks and its byte offset in the stored
/// tree (relative to the end of the superblock).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Level {
    pub blocks: u64,
    pub offset: u64,
}

/// The levels for `data_blocks` data blocks, level 0 (the hashes of the data) first,
/// laid out as veritysetup does: the top level at offset 0, level 0 last. No level for
/// zero or one data block.
pub(super) fn levels(data_blocks: u64) -> Vec<Level> {
    let mut levels = Vec::new();
    let mut below = data_blocks;
    while below > 1 {
        below = below.div_ceil(HASHES_PER_BLOCK);
        levels.push(Level {
            blocks: below,
            offset: 0,
        });
    }
    let mut offset = 0u64;
    for level in levels.iter_mut().rev() {
        level.offset = offset;
        offset = offset.saturating_add(level.blocks.saturating_mul(BLOCK_SIZE));
    }
    levels
}

/// Size in bytes of the superblock plus the hash tree for `data_blocks` data blocks
/// (saturating at `u64::MAX` for absurd block counts).
pub fn tree_size(data_blocks: u64) -> u64 {
    levels(data_blocks)
        .iter()
        .fold(SUPERBLOCK_SIZE, |size, level| {
            size.saturating_add(level.blocks.saturating_mul(BLOCK_SIZE))
        })
}

/// The bytes from `at` on of `count` items of `size` bytes, as a range of indices;
/// `None` when the end does not fit into 64 bits or either bound into `usize`.
pub(super) fn extent(at: u64, count: u64, size: usize) -> Option<Range<usize>> {
    let end = count
        .checked_mul(size as u64)
        .and_then(|len| at.checked_add(len))?;
    Some(usize::try_from(at).ok()?..usize::try_from(end).ok()?)
}

/// The hasher state after the salt: cloned for every block.
pub(super) fn salted(salt: &Salt) -> Sha256 {
    Sha256::new_with_prefix(salt.0)
}

/// sha256(salt ‖ block), starting from the [`salted`] state.
pub(super) fn digest(salted: &Sha256, block: &[u8]) -> Digest {
    salted.clone().chain_update(block).finalize().into()
}

/// Builds the hash tree of `data_blocks` 4096-byte blocks read from `file` at `offset`,
/// hashing on all cores.
pub fn hash_tree(
    file: &File,
    offset: u64,
    data_blocks: u64,
    salt: &Salt,
) -> Result<HashTree, Error> {
    if data_blocks == 0 {
        return Err(Error::NoDataBlocks);
    }
    let too_large = || Error::TooLarge {
        offset,
        data_blocks,
    };
    data_blocks
        .checked_mul(BLOCK_SIZE)
        .and_then(|len| offset.checked_add(len))
        .ok_or_else(too_large)?;
    let salted = salted(salt);
    let levels = levels(data_blocks);
    let Some(bottom) = levels.first() else {
        // A single data block: no hash block, the root covers the block itself.
        let mut block = vec![0; BLOCK];
        read(file, &mut block, offset, 0)?;
        return Ok(HashTree {
            root: digest(&salted, &block),
            levels_bytes: Vec::new(),
        });
    };

    let len = tree_size(data_blocks)
        .checked_sub(SUPERBLOCK_SIZE)
        .and_then(|len| usize::try_from(len).ok())
        .ok_or_else(too_large)?;
    let mut tree = Vec::new();
    tree.try_reserve_exact(len).map_err(|_| too_large())?;
    tree.resize(len, 0);

    // Level 0: the data, in chunks, each job writing its own slice of hashes. The levels
    // lie within `tree`, whose length fits into usize: `too_large` is for the impossible.
    extent(bottom.offset, data_blocks, DIGEST)
        .and_then(|hashes| tree.get_mut(hashes))
        .ok_or_else(too_large)?
        .par_chunks_mut(CHUNK_BLOCKS * DIGEST)
        .enumerate()
        .try_for_each_init(
            || vec![0u8; CHUNK_BLOCKS * BLOCK],
            |buffer, (chunk, out)| {
                let first = chunk.checked_mul(CHUNK_BLOCKS).ok_or_else(too_large)?;
                // At most CHUNK_BLOCKS blocks: within the buffer.
                let blocks = out.len() / DIGEST;
                let buffer = extent(0, blocks as u64, BLOCK)
                    .and_then(|used| buffer.get_mut(used))
                    .ok_or_else(too_large)?;
                read(file, buffer, offset, first as u64)?;
                for (block, hash) in buffer.chunks_exact(BLOCK).zip(out.chunks_exact_mut(DIGEST)) {
                    hash.copy_from_slice(&digest(&salted, block));
                }
                Ok::<(), Error>(())
            },
        )?;

    // The upper levels, each from the one below it (which is stored after it).
    for (below, level) in levels.iter().zip(levels.iter().skip(1)) {
        // The level below is stored after this one: split there.
        let (head, tail) = usize::try_from(below.offset)
            .ok()
            .and_then(|at| tree.split_at_mut_checked(at))
            .ok_or_else(too_large)?;
        let input = extent(0, below.blocks, BLOCK)
            .and_then(|blocks| tail.get(blocks))
            .ok_or_else(too_large)?;
        let out = extent(level.offset, below.blocks, DIGEST)
            .and_then(|hashes| head.get_mut(hashes))
            .ok_or_else(too_large)?;
        out.par_chunks_mut(DIGEST)
            .zip(input.par_chunks(BLOCK))
            .with_min_len(64)
            .for_each(|(hash, block)| hash.copy_from_slice(&digest(&salted, block)));
    }

    let top = tree.get(..BLOCK).ok_or_else(too_large)?;
    let root = digest(&salted, top);
    Ok(HashTree {
        root,
        levels_bytes: tree,
    })
}

/// Reads `buffer.len()` bytes of data starting at data block `first`.
fn read(file: &File, buffer: &mut [u8], offset: u64, first: u64) -> Result<(), Error> {
    let end = first.saturating_add((buffer.len() / BLOCK) as u64);
    // The caller checked that offset + data_blocks * 4096 does not overflow.
    let at = first
        .checked_mul(BLOCK_SIZE)
        .and_then(|skip| offset.checked_add(skip))
        .ok_or(Error::TooLarge {
            offset,
            data_blocks: end,
        })?;
    file.read_exact_at(buffer, at).map_err(|source| Error::Io {
        what: format!("failed to read data blocks {first}..{end} at byte {at}"),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_matches_veritysetup() {
        // (data blocks, hash blocks as reported by `veritysetup format`)
        for (data, hash) in [
            (1, 0),
            (2, 1),
            (128, 1),
            (129, 3),
            (16384, 129),
            (16385, 132),
            (65536, 517),
        ] {
            assert_eq!(tree_size(data), 4096 + hash * 4096, "{data}");
        }
        assert_eq!(levels(0), vec![]);
        assert_eq!(
            levels(129),
            vec![
                Level {
                    blocks: 2,
                    offset: 4096
                },
                Level {
                    blocks: 1,
                    offset: 0
                }
            ]
        );
        assert_eq!(tree_size(u64::MAX), u64::MAX);
    }

    #[test]
    fn zero_blocks_rejected() {
        let file = tempfile::tempfile().unwrap();
        assert!(matches!(
            hash_tree(&file, 0, 0, &Salt([0; 32])),
            Err(Error::NoDataBlocks)
        ));
        assert!(matches!(
            hash_tree(&file, 1, u64::MAX / 4096, &Salt([0; 32])),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn short_file_is_an_io_error() {
        let file = tempfile::tempfile().unwrap();
        file.write_all_at(&[0; 4096 * 3], 0).unwrap();
        let err = hash_tree(&file, 0, 300, &Salt([0; 32])).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
    }

    /// A straightforward sequential reference of the format, against the parallel build.
    #[test]
    fn matches_sequential_reference() {
        let salt = Salt([7; 32]);
        for blocks in [1u64, 2, 127, 128, 129, 300, 16385] {
            let data: Vec<u8> = (0..blocks * 4096).map(|i| (i * 31 % 251) as u8).collect();
            let file = tempfile::tempfile().unwrap();
            file.write_all_at(b"prefix", 0).unwrap();
            file.write_all_at(&data, 6).unwrap();
            let tree = hash_tree(&file, 6, blocks, &salt).unwrap();
            assert_eq!(tree, reference(&data, &salt), "{blocks}");
        }
    }

    fn reference(data: &[u8], salt: &Salt) -> HashTree {
        let hash = |b: &[u8]| -> Digest {
            Sha256::new()
                .chain_update(salt.0)
                .chain_update(b)
                .finalize()
                .into()
        };
        let mut level: Vec<u8> = data.to_vec();
        let mut stored: Vec<Vec<u8>> = Vec::new();
        while level.len() > 4096 {
            let mut next: Vec<u8> = level.chunks(4096).flat_map(hash).collect();
            next.resize(next.len().div_ceil(4096) * 4096, 0);
            stored.push(next.clone());
            level = next;
        }
        HashTree {
            root: hash(&level),
            levels_bytes: stored.into_iter().rev().flatten().collect(),
        }
    }
}
