//! `verify` finds every change to an image and names it: the data block, the hash block
//! (level, index), the superblock field, or the root hash.

use std::{fs::File, os::unix::fs::FileExt};

use npk::verity::{self, Digest, Error, Salt, BLOCK_SIZE, SUPERBLOCK_SIZE};
use proptest::prelude::*;

/// An fs.img of `blocks` pseudo-random data blocks at `offset` in a temporary file, with
/// its verity data appended.
struct Image {
    file: File,
    offset: u64,
    blocks: u64,
    root: Digest,
}

impl Image {
    fn new(blocks: u64, offset: u64, seed: u64) -> Image {
        let file = tempfile::tempfile().unwrap();
        let mut state = seed | 1;
        let data: Vec<u8> = (0..offset + blocks * BLOCK_SIZE)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        file.write_all_at(&data, 0).unwrap();
        let salt = Salt(std::array::from_fn(|i| (seed as u8).wrapping_add(i as u8)));
        let (_, root) = verity::append(&file, offset, blocks * BLOCK_SIZE, &salt).unwrap();
        Image {
            file,
            offset,
            blocks,
            root,
        }
    }

    fn verify(&self) -> Result<verity::Superblock, Error> {
        verity::verify(
            &self.file,
            self.offset,
            self.blocks * BLOCK_SIZE,
            &self.root,
        )
    }

    /// XORs `mask` into the byte at `at`, counted from the start of the fs.img.
    fn flip(&self, at: u64, mask: u8) {
        let mut byte = [0];
        self.file
            .read_exact_at(&mut byte, self.offset + at)
            .unwrap();
        byte[0] ^= mask;
        self.file.write_all_at(&byte, self.offset + at).unwrap();
    }

    fn write(&self, at: u64, bytes: &[u8]) {
        self.file.write_all_at(bytes, self.offset + at).unwrap();
    }

    fn superblock_at(&self) -> u64 {
        self.blocks * BLOCK_SIZE
    }

    fn tree_at(&self) -> u64 {
        self.superblock_at() + SUPERBLOCK_SIZE
    }
}

/// Level block counts bottom first, computed independently of the crate.
fn level_blocks(blocks: u64) -> Vec<u64> {
    let mut levels = vec![];
    let mut n = blocks;
    while n > 1 {
        n = n.div_ceil(128);
        levels.push(n);
    }
    levels
}

/// (level, index) of the hash block at byte `at` of the stored tree (top level first).
fn hash_block_at(blocks: u64, at: u64) -> (usize, u64) {
    let mut start = 0;
    for (level, &n) in level_blocks(blocks).iter().enumerate().rev() {
        if at < start + n * BLOCK_SIZE {
            return (level, (at - start) / BLOCK_SIZE);
        }
        start += n * BLOCK_SIZE;
    }
    panic!("byte {at} is past the tree");
}

#[test]
fn accepts_what_append_wrote() {
    for blocks in [1, 2, 128, 129, 300, 16385] {
        let image = Image::new(blocks, 4096, blocks);
        let superblock = image.verify().unwrap();
        assert_eq!(superblock.data_blocks, blocks);
        let len = image.file.metadata().unwrap().len();
        assert_eq!(len, 4096 + blocks * BLOCK_SIZE + verity::tree_size(blocks));
    }
}

#[test]
fn append_is_deterministic() {
    let (a, b) = (Image::new(200, 0, 9), Image::new(200, 0, 9));
    let read = |image: &Image| {
        let mut bytes = vec![0; verity::tree_size(200) as usize];
        image
            .file
            .read_exact_at(&mut bytes, image.superblock_at())
            .unwrap();
        bytes
    };
    assert_eq!(read(&a), read(&b));
    assert_eq!(a.root, b.root);
}

#[test]
fn data_block_flip_names_the_block() {
    for (blocks, block) in [
        (1, 0),
        (2, 1),
        (300, 0),
        (300, 129),
        (300, 299),
        (16385, 16384),
    ] {
        let image = Image::new(blocks, 512, 3);
        image.flip(block * BLOCK_SIZE + 4095, 0x01);
        let err = image.verify().unwrap_err();
        assert!(
            matches!(err, Error::DataBlock { block: b } if b == block),
            "{blocks}/{block}: {err}"
        );
    }
}

#[test]
fn hash_block_flip_names_level_and_index() {
    // 300 blocks: level 1 (top) = 1 block at tree offset 0, level 0 = 3 blocks after it.
    let image = Image::new(300, 0, 5);
    let cases = [
        (0, (1, 0)),              // a used hash in the top block
        (4095, (1, 0)),           // zero padding of the top block
        (4096, (0, 0)),           // first hash of level 0
        (3 * 4096 + 100, (0, 2)), // a hash in the last level-0 block
        (4 * 4096 - 1, (0, 2)),   // zero padding after the last data hash
    ];
    for (at, (level, index)) in cases {
        image.flip(image.tree_at() + at, 0x40);
        let err = image.verify().unwrap_err();
        assert!(
            matches!(err, Error::HashBlock { level: l, index: i } if (l, i) == (level, index)),
            "byte {at}: {err}"
        );
        image.flip(image.tree_at() + at, 0x40);
        image.verify().unwrap();
    }
}

#[test]
fn hash_block_flip_in_a_three_level_tree() {
    // 16385 blocks: level 2 = 1 block, level 1 = 2 blocks, level 0 = 129 blocks.
    let image = Image::new(16385, 0, 13);
    for (block, (level, index)) in [(0, (2, 0)), (2, (1, 1)), (3, (0, 0)), (131, (0, 128))] {
        let at = image.tree_at() + block * BLOCK_SIZE + 5;
        image.flip(at, 0x02);
        let err = image.verify().unwrap_err();
        assert!(
            matches!(err, Error::HashBlock { level: l, index: i } if (l, i) == (level, index)),
            "block {block}: {err}"
        );
        image.flip(at, 0x02);
    }
    image.verify().unwrap();
}

#[test]
fn superblock_changes_have_their_own_errors() {
    let image = Image::new(300, 4096, 7);
    let sb = image.superblock_at();
    let check = |at: u64, bytes: &[u8], expected: fn(&Error) -> bool| {
        let mut original = vec![0; bytes.len()];
        image
            .file
            .read_exact_at(&mut original, image.offset + sb + at)
            .unwrap();
        image.write(sb + at, bytes);
        let err = image.verify().unwrap_err();
        assert!(expected(&err), "offset {at}: {err}");
        image.write(sb + at, &original);
        image.verify().unwrap();
    };
    check(0, b"verita", |e| matches!(e, Error::Signature(_)));
    check(8, &2u32.to_le_bytes(), |e| matches!(e, Error::Version(2)));
    check(12, &0u32.to_le_bytes(), |e| matches!(e, Error::HashType(0)));
    check(
        32,
        b"sha1\0\0",
        |e| matches!(e, Error::Algorithm(a) if a == "sha1"),
    );
    check(64, &512u32.to_le_bytes(), |e| {
        matches!(e, Error::DataBlockSize(512))
    });
    check(68, &512u32.to_le_bytes(), |e| {
        matches!(e, Error::HashBlockSize(512))
    });
    check(72, &299u64.to_le_bytes(), |e| {
        matches!(
            e,
            Error::DataBlocks {
                superblock: 299,
                expected: 300
            }
        )
    });
    check(80, &257u16.to_le_bytes(), |e| {
        matches!(e, Error::SaltSizeTooLarge(257))
    });
    check(80, &16u16.to_le_bytes(), |e| {
        matches!(e, Error::SaltSize(16))
    });
    check(84, &[1], |e| matches!(e, Error::Reserved(84)));
    check(88 + 32, &[1], |e| matches!(e, Error::Reserved(120)));
    check(88, &[0xff], |e| matches!(e, Error::RootHash { .. }));
}

#[test]
fn bad_arguments_and_truncation() {
    let image = Image::new(10, 0, 11);
    let verify = |offset, verity_offset| {
        verity::verify(&image.file, offset, verity_offset, &image.root).unwrap_err()
    };
    assert!(matches!(
        verify(0, 4095),
        Error::Unaligned { value: 4095, .. }
    ));
    assert!(matches!(verify(0, 0), Error::NoDataBlocks));
    assert!(matches!(
        verify(u64::MAX - 4096, 40960),
        Error::TooLarge { .. }
    ));
    assert!(matches!(verify(0, 1 << 50), Error::Truncated { .. }));
    let mut wrong = image.root;
    wrong[0] ^= 1;
    let err = verity::verify(&image.file, 0, 40960, &wrong).unwrap_err();
    assert!(
        matches!(err, Error::RootHash { expected, .. } if expected == wrong),
        "{err}"
    );
    image
        .file
        .set_len(40960 + verity::tree_size(10) - 1)
        .unwrap();
    assert!(matches!(
        image.verify().unwrap_err(),
        Error::Truncated { .. }
    ));
    assert!(matches!(
        verity::append(&image.file, 0, 4097, &Salt([0; 32])).unwrap_err(),
        Error::Unaligned { value: 4097, .. }
    ));
    assert!(matches!(
        verity::append(&image.file, 0, 0, &Salt([0; 32])).unwrap_err(),
        Error::NoDataBlocks
    ));
}

/// The error a flipped byte at `at` (from the start of the fs.img) must produce.
fn expected(blocks: u64, at: u64, err: &Error) -> bool {
    let sb = blocks * BLOCK_SIZE;
    if at < sb {
        return matches!(err, Error::DataBlock { block } if *block == at / BLOCK_SIZE);
    }
    if at >= sb + SUPERBLOCK_SIZE {
        let (level, index) = hash_block_at(blocks, at - sb - SUPERBLOCK_SIZE);
        return matches!(err, Error::HashBlock { level: l, index: i } if (*l, *i) == (level, index));
    }
    match at - sb {
        0..8 => matches!(err, Error::Signature(_)),
        8..12 => matches!(err, Error::Version(_)),
        12..16 => matches!(err, Error::HashType(_)),
        32..64 => matches!(err, Error::Algorithm(_)),
        64..68 => matches!(err, Error::DataBlockSize(_)),
        68..72 => matches!(err, Error::HashBlockSize(_)),
        72..80 => matches!(err, Error::DataBlocks { .. } | Error::NoDataBlocks),
        80..82 => matches!(err, Error::SaltSize(_) | Error::SaltSizeTooLarge(_)),
        // With a single block, a wrong salt is indistinguishable from a bad block.
        88..120 if blocks == 1 => matches!(err, Error::DataBlock { block: 0 }),
        88..120 => matches!(err, Error::RootHash { .. }),
        i => matches!(err, Error::Reserved(r) if *r as u64 == i),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Append then verify succeeds at any size and offset, the tree has the size the
    /// formula gives, and any changed byte outside the uuid is found and named.
    #[test]
    fn any_flip_is_found(
        blocks in 1u64..300,
        offset in 0u64..6000,
        seed in any::<u64>(),
        position in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let image = Image::new(blocks, offset, seed);
        prop_assert_eq!(image.verify().unwrap().data_blocks, blocks);
        let end = image.file.metadata().unwrap().len() - offset;
        prop_assert_eq!(end, blocks * BLOCK_SIZE + verity::tree_size(blocks));

        // The uuid (superblock bytes 16..32) is protected by nothing; nothing reads it.
        let uuid = blocks * BLOCK_SIZE + 16..blocks * BLOCK_SIZE + 32;
        let candidates = end - 16;
        let mut at = position.index(candidates as usize) as u64;
        if at >= uuid.start {
            at += 16;
        }
        image.flip(at, mask);
        let err = image.verify().unwrap_err();
        prop_assert!(expected(blocks, at, &err), "byte {} of {}: {}", at, end, err);
    }
}
