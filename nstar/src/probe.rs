//! Where the squashfs image and the verity data of a package are, verified or as claimed.
//!
//! A verified package knows its layout (`Npk<Verified>::verity`). An unverified one only
//! *claims* it, in its `signature.yaml`: `inspect` without a key and `unpack` without a key
//! read those claims (unauthenticated, and shown as such) to find the squashfs image and
//! the superblock. Nothing read here is trusted, and nothing here produces a verified
//! package.

use anyhow::{bail, Context};
use npk::{
    package::{Npk, Verified},
    verity::{self, Superblock},
};
use serde::Deserialize;
use std::{ops::Range, os::unix::fs::FileExt};

/// The layout of `fs.img` within the package file.
pub struct Layout {
    /// Byte range of the squashfs image (for a signed package: up to the verity offset).
    pub squashfs: Range<u64>,
    /// The verity data of a signed package.
    pub verity: Option<VerityInfo>,
}

/// The verity parameters of a signed package.
pub struct VerityInfo {
    /// Root hash (signed; authenticated only when the package was verified).
    pub root: verity::Digest,
    /// Size of the squashfs part of `fs.img`, where the superblock begins.
    pub offset: u64,
    /// The on-disk superblock.
    pub superblock: Superblock,
}

/// The layout of a verified package.
pub fn verified(npk: &Npk<Verified>) -> Layout {
    let v = npk.verity();
    Layout {
        squashfs: npk.squashfs(),
        verity: Some(VerityInfo {
            root: v.root,
            offset: v.offset,
            superblock: v.superblock.clone(),
        }),
    }
}

/// The layout an unverified package claims. Unsigned packages have no verity data: all of
/// `fs.img` is the squashfs image.
pub fn claimed<S>(npk: &Npk<S>) -> anyhow::Result<Layout> {
    let fs_img = npk.fs_img();
    let Some(signature) = npk.signature_bytes() else {
        return Ok(Layout {
            squashfs: fs_img,
            verity: None,
        });
    };
    let claims = parse_claims(signature).context("signature.yaml (unverified)")?;
    let fs_len = fs_img.end - fs_img.start;
    let offset = claims.offset;
    if offset == 0 || !offset.is_multiple_of(verity::BLOCK_SIZE) || offset >= fs_len {
        bail!(
            "signature.yaml (unverified): verity-offset {offset} is not a positive multiple \
             of 4096 within fs.img ({fs_len} bytes)"
        );
    }
    let mut block = vec![0u8; verity::SUPERBLOCK_SIZE as usize];
    npk.file()
        .read_exact_at(&mut block, fs_img.start + offset)
        .context("cannot read the verity superblock")?;
    let superblock = Superblock::parse(&block).context("verity superblock")?;
    Ok(Layout {
        squashfs: fs_img.start..fs_img.start + offset,
        verity: Some(VerityInfo {
            root: claims.root,
            offset,
            superblock,
        }),
    })
}

/// What the first document of a signature file says, without checking the signature.
#[derive(Debug, PartialEq, Eq)]
struct Claims {
    root: verity::Digest,
    offset: u64,
}

#[derive(Deserialize)]
struct Document {
    #[serde(rename = "fs.img")]
    fs_img: FsImg,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct FsImg {
    verity_hash: String,
    verity_offset: u64,
}

fn parse_claims(signature: &[u8]) -> anyhow::Result<Claims> {
    let text = std::str::from_utf8(signature).context("not UTF-8")?;
    let signed = text
        .split_once("\n---\n")
        .map(|(signed, _)| signed)
        .context("no `---` line")?;
    let doc: Document = serde_yaml_ng::from_str(signed)?;
    let mut root = [0u8; 32];
    hex::decode_to_slice(&doc.fs_img.verity_hash, &mut root)
        .context("fs.img.verity-hash is not 64 hex digits")?;
    Ok(Claims {
        root,
        offset: doc.fs_img.verity_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_read_from_the_first_document() {
        let file = format!(
            "meta:\n  hash: {a}\nmanifest.yaml:\n  hash: {a}\nfs.img:\n  verity-hash: {b}\n  \
             verity-offset: 8192\n---\nsignature: AAAA",
            a = "00".repeat(32),
            b = "ab".repeat(32)
        );
        assert_eq!(
            parse_claims(file.as_bytes()).unwrap(),
            Claims {
                root: [0xab; 32],
                offset: 8192
            }
        );
        assert!(parse_claims(b"fs.img: {}\n").is_err());
    }
}
