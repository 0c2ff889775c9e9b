//! An fs.img as a whole: appending the verity data to squashfs data, and checking it.

use std::{fs::File, os::unix::fs::FileExt};

use sha2::{Digest as _, Sha256};

use super::{
    tree::{self, levels, HASHES_PER_BLOCK},
    Digest, Error, HashTree, Salt, Superblock, BLOCK_SIZE, SUPERBLOCK_SIZE,
};

const BLOCK: usize = BLOCK_SIZE as usize;
const DIGEST: usize = 32;

/// Appends a superblock and the hash tree to the `data_len` bytes of data at `offset` in
/// `file`, writing them at `offset + data_len`. Bytes already in the file beyond the
/// written range are left as they are. The superblock's uuid is derived from the salt and
/// the root hash, so the same data and salt always give the same bytes.
pub fn append(
    file: &File,
    offset: u64,
    data_len: u64,
    salt: &Salt,
) -> Result<(Superblock, Digest), Error> {
    let data_blocks = data_blocks(data_len, "data length")?;
    let HashTree { root, levels_bytes } = tree::hash_tree(file, offset, data_blocks, salt)?;
    let superblock = Superblock {
        uuid: uuid(salt, &root),
        data_blocks,
        salt: *salt,
    };
    // The superblock at `at`, the tree after it.
    let Some((at, tree_at)) = offset
        .checked_add(data_len)
        .filter(|at| at.checked_add(tree::tree_size(data_blocks)).is_some())
        .and_then(|at| Some((at, at.checked_add(SUPERBLOCK_SIZE)?)))
    else {
        return Err(Error::TooLarge {
            offset,
            data_blocks,
        });
    };
    file.write_all_at(&superblock.to_bytes(), at)
        .map_err(|source| Error::Io {
            what: format!("failed to write the verity superblock at byte {at}"),
            source,
        })?;
    file.write_all_at(&levels_bytes, tree_at)
        .map_err(|source| Error::Io {
            what: format!("failed to write the hash tree at byte {tree_at}"),
            source,
        })?;
    Ok((superblock, root))
}

/// The uuid of an image we build: sha256(salt ‖ root) cut to 16 bytes, marked as an
/// RFC 9562 version 8 (custom, hash-based) uuid with the RFC 4122 variant.
fn uuid(salt: &Salt, root: &Digest) -> [u8; 16] {
    let hash = Sha256::new()
        .chain_update(salt.0)
        .chain_update(root)
        .finalize();
    let mut uuid = [0; 16];
    for (byte, hashed) in uuid.iter_mut().zip(hash) {
        *byte = hashed;
    }
    uuid[6] = (uuid[6] & 0x0f) | 0x80;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    uuid
}

/// Checks the whole verity part of the fs.img that starts at `offset` in `file`, against
/// the signed `verity_offset` and `root`: the superblock's fields, every data block and
/// every hash block. Returns the superblock (its salt goes into the device-mapper table).
///
/// When the root computed from the data differs from `root`, the stored tree is
/// authenticated top-down from `root` to tell a bad data block from a bad hash block;
/// if even the top hash block does not lead to `root`, the error is [`Error::RootHash`].
/// With a single data block there is no tree and a mismatch is reported as data block 0.
pub fn verify(
    file: &File,
    offset: u64,
    verity_offset: u64,
    root: &Digest,
) -> Result<Superblock, Error> {
    let data_blocks = data_blocks(verity_offset, "verity offset")?;
    let superblock_at = offset.checked_add(verity_offset);
    let end = superblock_at.and_then(|at| at.checked_add(tree::tree_size(data_blocks)));
    let (Some(superblock_at), Some(end)) = (superblock_at, end) else {
        return Err(Error::TooLarge {
            offset,
            data_blocks,
        });
    };
    // Check the length before allocating anything sized by `verity_offset`.
    let metadata = file.metadata().map_err(|source| Error::Io {
        what: "failed to stat the image".into(),
        source,
    })?;
    if metadata.is_file() && metadata.len() < end {
        return Err(Error::Truncated {
            needed: end,
            len: metadata.len(),
        });
    }

    let mut bytes = vec![0; SUPERBLOCK_SIZE as usize];
    file.read_exact_at(&mut bytes, superblock_at)
        .map_err(|source| Error::Io {
            what: format!("failed to read the verity superblock at byte {superblock_at}"),
            source,
        })?;
    let superblock = Superblock::parse(&bytes)?;
    if superblock.data_blocks != data_blocks {
        return Err(Error::DataBlocks {
            superblock: superblock.data_blocks,
            expected: data_blocks,
        });
    }

    let computed = tree::hash_tree(file, offset, data_blocks, &superblock.salt)?;
    // Below `end`, which includes the superblock.
    let tree_at = superblock_at
        .checked_add(SUPERBLOCK_SIZE)
        .ok_or(Error::TooLarge {
            offset,
            data_blocks,
        })?;
    let mut stored = Vec::new();
    stored
        .try_reserve_exact(computed.levels_bytes.len())
        .map_err(|_| Error::TooLarge {
            offset,
            data_blocks,
        })?;
    stored.resize(computed.levels_bytes.len(), 0);
    file.read_exact_at(&mut stored, tree_at)
        .map_err(|source| Error::Io {
            what: format!("failed to read the hash tree at byte {tree_at}"),
            source,
        })?;

    if computed.root == *root {
        // The data is authentic: any difference is in the stored tree.
        return match first_bad_block(&stored, &computed.levels_bytes) {
            None => Ok(superblock),
            Some(block) => Err(hash_block_error(data_blocks, block)),
        };
    }
    Err(locate(
        &stored,
        &computed,
        data_blocks,
        &superblock.salt,
        root,
    ))
}

/// Validates a data length (or verity offset) and converts it to a block count.
fn data_blocks(len: u64, what: &'static str) -> Result<u64, Error> {
    if !len.is_multiple_of(BLOCK_SIZE) {
        return Err(Error::Unaligned { what, value: len });
    }
    match len / BLOCK_SIZE {
        0 => Err(Error::NoDataBlocks),
        blocks => Ok(blocks),
    }
}

/// The index (in storage order) of the first hash block where `a` and `b` differ.
fn first_bad_block(a: &[u8], b: &[u8]) -> Option<usize> {
    a.chunks(BLOCK)
        .zip(b.chunks(BLOCK))
        .position(|(a, b)| a != b)
}

/// Names the hash block at storage index `block` by its level and index in the level.
fn hash_block_error(data_blocks: u64, block: usize) -> Error {
    // Positions within the stored tree, whose length fits into usize: nothing saturates.
    let at = (block as u64).saturating_mul(BLOCK_SIZE);
    let levels = levels(data_blocks);
    let found = levels.iter().enumerate().find(|(_, l)| {
        let end = l.offset.saturating_add(l.blocks.saturating_mul(BLOCK_SIZE));
        (l.offset..end).contains(&at)
    });
    match found {
        Some((level, l)) => Error::HashBlock {
            level,
            index: at.saturating_sub(l.offset) / BLOCK_SIZE,
        },
        // Unreachable: the stored tree is exactly the levels' extent.
        None => Error::HashBlock {
            level: levels.len(),
            index: block as u64,
        },
    }
}

/// The data does not lead to `root`: authenticate the stored tree from `root` downwards
/// and report the first hash block that fails, or else the first data block whose hash
/// differs from the (now authenticated) stored one.
fn locate(
    stored: &[u8],
    computed: &HashTree,
    data_blocks: u64,
    salt: &Salt,
    root: &Digest,
) -> Error {
    let root_error = Error::RootHash {
        expected: *root,
        computed: computed.root,
    };
    let levels = levels(data_blocks);
    let Some(bottom) = levels.first() else {
        return Error::DataBlock { block: 0 };
    };
    let salted = tree::salted(salt);
    // Hash block `index` of the level at `offset`; empty (and so wrong) when outside.
    let block_at = |offset: u64, index: u64| {
        let level = usize::try_from(offset).ok().and_then(|at| stored.get(at..));
        let index = usize::try_from(index).ok();
        level
            .zip(index)
            .and_then(|(level, index)| level.chunks_exact(BLOCK).nth(index))
            .unwrap_or_default()
    };
    if tree::digest(&salted, block_at(0, 0)) != *root {
        return root_error;
    }
    let pairs = levels.iter().zip(levels.iter().skip(1));
    for (level, (this, parent)) in pairs.enumerate().rev() {
        for index in 0..this.blocks {
            let parent_block = block_at(parent.offset, index / HASHES_PER_BLOCK);
            let entry = parent_block
                .chunks_exact(DIGEST)
                .nth((index % HASHES_PER_BLOCK) as usize);
            let digest = tree::digest(&salted, block_at(this.offset, index));
            if entry != Some(digest.as_slice()) {
                return Error::HashBlock { level, index };
            }
        }
    }
    // The hashes of the data blocks, at the start of level 0.
    let hashes = tree::extent(bottom.offset, data_blocks, DIGEST);
    let (Some(stored_hashes), Some(computed_hashes)) = (
        hashes.clone().and_then(|hashes| stored.get(hashes)),
        hashes.and_then(|hashes| computed.levels_bytes.get(hashes)),
    ) else {
        return root_error;
    };
    match stored_hashes
        .chunks(DIGEST)
        .zip(computed_hashes.chunks(DIGEST))
        .position(|(a, b)| a != b)
    {
        Some(block) => Error::DataBlock {
            block: block as u64,
        },
        None => root_error,
    }
}
