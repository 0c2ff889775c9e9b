//! The fs.img of packages written by Northstar 0.9's packer verifies in place, inside the
//! .npk, with the verity offset and root hash its signature carries.
//!
//! The vectors live in `npk/tests/data/northstar-0.9`.

use std::{fs::File, os::unix::fs::FileExt, path::PathBuf};

use anyhow::{ensure, Context, Result};
use npk::verity::{self, Error};

/// (file, verity-offset, root hash) from the vectors' README.
const VECTORS: &[(&str, u64, &str)] = &[
    (
        "hello-0.0.1.npk",
        331776,
        "71ffa043f3340d2a78ec35d7c19b4ecea10503760b8c2009f4673e52e8f15868",
    ),
    (
        "full-example-1.2.3.npk",
        344064,
        "79a9930b2e03f8051fe02558e5a80d322de398a8ac151d9ddfa8f4a72419633a",
    ),
    (
        "message-0.1.2.npk",
        4096,
        "b50d27c1c6774436f7d347743b3e1b8ea75133dc2f17930af49bff0e941e6a37",
    ),
];
/// Where fs.img starts in every vector (README).
const FS_IMG_AT: u64 = 4096;

fn vectors_dir() -> Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/northstar-0.9");
    anyhow::ensure!(
        dir.join(VECTORS[0].0).is_file(),
        "test vectors missing in {dir:?}"
    );
    Ok(dir)
}

fn root(hex: &str) -> Result<verity::Digest> {
    let mut root = [0; 32];
    hex::decode_to_slice(hex, &mut root)?;
    Ok(root)
}

#[test]
fn vectors_verify_in_place() -> Result<()> {
    let dir = vectors_dir()?;
    for &(name, verity_offset, root_hex) in VECTORS {
        let file = File::open(dir.join(name))?;
        let mut magic = [0; 4];
        file.read_exact_at(&mut magic, FS_IMG_AT)?;
        ensure!(&magic == b"hsqs", "{name}: no squashfs at {FS_IMG_AT}");
        let superblock = verity::verify(&file, FS_IMG_AT, verity_offset, &root(root_hex)?)
            .with_context(|| name.to_owned())?;
        ensure!(superblock.data_blocks == verity_offset / 4096);
        let tree = verity::hash_tree(&file, FS_IMG_AT, superblock.data_blocks, &superblock.salt)?;
        ensure!(hex::encode(tree.root) == root_hex, "{name}");
    }
    Ok(())
}

#[test]
fn vectors_reject_wrong_root_and_offset() -> Result<()> {
    let dir = vectors_dir()?;
    for &(name, verity_offset, root_hex) in VECTORS {
        let file = File::open(dir.join(name))?;
        let mut wrong = root(root_hex)?;
        wrong[31] ^= 0x80;
        let err = verity::verify(&file, FS_IMG_AT, verity_offset, &wrong).unwrap_err();
        // With one data block there is no tree to tell a bad root from a bad block.
        if verity_offset == 4096 {
            ensure!(
                matches!(err, Error::DataBlock { block: 0 }),
                "{name}: {err}"
            );
        } else {
            ensure!(matches!(err, Error::RootHash { .. }), "{name}: {err}");
        }
        // A verity offset one block off finds no superblock there.
        let err =
            verity::verify(&file, FS_IMG_AT, verity_offset + 4096, &root(root_hex)?).unwrap_err();
        ensure!(
            matches!(err, Error::Signature(_) | Error::Truncated { .. }),
            "{name}: {err}"
        );
    }
    Ok(())
}
