//! Changing one byte of an image after it was signed:
//! - in the root image: a byte in the middle of the squashfs *data area* (after the
//!   96-byte superblock, before the inode table: file data and fragments), so the image
//!   still looks like a squashfs and only its content is wrong;
//! - in a package (`.npk`) placed in a repository (installed): a byte of a known file's
//!   data ([`package_content`]: found by its bytes, which an incompressible file keeps
//!   as they are in the squashfs), which only dm-verity notices when the block is read;
//! - in a package's verity superblock ([`verity_superblock`]: its `data_blocks` field),
//!   which the check at start-up refuses.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::Path;

use npk::key::PublicKey;

use super::Error;

/// The squashfs superblock's size and magic (`hsqs`).
const SUPERBLOCK: u64 = 96;
const MAGIC: &[u8; 4] = b"hsqs";
/// Offset of `inode_table_start` (u64, little-endian) in the superblock.
const INODE_TABLE_START: usize = 64;

/// Where one byte was changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tampered {
    /// Offset in the file.
    pub offset: u64,
    pub was: u8,
    pub now: u8,
}

/// The offset (relative to the squashfs's start) of the byte to change: the middle of
/// the data area, found from the superblock. `None` when `superblock` is not a squashfs
/// superblock or the data area is empty.
pub fn data_offset(superblock: &[u8]) -> Option<u64> {
    if superblock.len() < SUPERBLOCK as usize || &superblock[..4] != MAGIC {
        return None;
    }
    let field = superblock.get(INODE_TABLE_START..INODE_TABLE_START + 8)?;
    let inode_table = u64::from_le_bytes(field.try_into().ok()?);
    (inode_table > SUPERBLOCK).then(|| SUPERBLOCK + (inode_table - SUPERBLOCK) / 2)
}

/// Offset of `data_blocks` (u64, little-endian) in a verity superblock.
const VERITY_DATA_BLOCKS: u64 = 72;
/// The length of the run of a file's bytes searched for in a package.
const NEEDLE: usize = 64;

/// `len` bytes that no compressor shrinks, the same for every run.
pub fn incompressible(len: usize) -> Vec<u8> {
    crate::image::incompressible(len, 0x9e37_79b9_7f4a_7c15)
}

/// The run of `content`'s bytes at `fraction` of its length that [`package_content`]
/// looks for.
pub fn needle(content: &[u8], fraction: f64) -> &[u8] {
    let at = ((content.len() as f64 * fraction) as usize).min(content.len().saturating_sub(NEEDLE));
    &content[at..(at + NEEDLE).min(content.len())]
}

/// Flips the bits of one byte: `path`'s byte at `offset`.
fn flip(path: &Path, offset: u64) -> Result<Tampered, Error> {
    let io = |step| Error::io(step, path);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io("open"))?;
    let mut byte = [0u8];
    file.seek(SeekFrom::Start(offset)).map_err(io("seek in"))?;
    file.read_exact(&mut byte).map_err(io("read"))?;
    let tampered = Tampered {
        offset,
        was: byte[0],
        now: !byte[0],
    };
    file.seek(SeekFrom::Start(offset)).map_err(io("seek in"))?;
    file.write_all(&[tampered.now]).map_err(io("write"))?;
    file.sync_all().map_err(io("sync"))?;
    Ok(tampered)
}

/// The squashfs range of the signed package at `path` (the file offsets of `fs.img` up
/// to its verity superblock).
fn squashfs_range(path: &Path, key: &PublicKey) -> Result<Range<u64>, Error> {
    let not_package = |source| Error::NotPackage {
        path: path.to_path_buf(),
        source: Box::new(source),
    };
    let npk = npk::package::Npk::open(path)
        .and_then(|npk| npk.verify(key))
        .map_err(not_package)?;
    Ok(npk.squashfs())
}

/// Changes the byte in the middle of the first place `needle` (bytes of a file stored
/// uncompressed) is found in the squashfs of the package at `path`, signed for `key`.
/// Returns the change and where it lies in the squashfs (a fraction of its size).
pub fn package_content(
    path: &Path,
    key: &PublicKey,
    needle: &[u8],
) -> Result<(Tampered, f64), Error> {
    let range = squashfs_range(path, key)?;
    let bytes = std::fs::read(path).map_err(Error::io("read", path))?;
    let squashfs = bytes
        .get(range.start as usize..range.end as usize)
        .unwrap_or_default();
    let at = squashfs
        .windows(needle.len().max(1))
        .position(|w| w == needle)
        .ok_or_else(|| Error::NoData {
            path: path.to_path_buf(),
            offset: range.start,
        })?;
    let within = at as u64 + needle.len() as u64 / 2;
    let tampered = flip(path, range.start + within)?;
    Ok((tampered, within as f64 / (range.end - range.start) as f64))
}

/// Changes the lowest byte of the `data_blocks` field of the verity superblock of the
/// package at `path`, signed for `key`: its signature still verifies, its superblock no
/// longer agrees with the signed layout.
pub fn verity_superblock(path: &Path, key: &PublicKey) -> Result<Tampered, Error> {
    let range = squashfs_range(path, key)?;
    flip(path, range.end + VERITY_DATA_BLOCKS)
}

/// Changes the byte in the data area of the squashfs at `start` in `path` (all its bits
/// flipped).
pub fn squashfs_at(path: &Path, start: u64) -> Result<Tampered, Error> {
    let io = |step| Error::io(step, path);
    let mut file = OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(io("open"))?;
    let mut superblock = [0u8; SUPERBLOCK as usize];
    file.seek(SeekFrom::Start(start)).map_err(io("seek in"))?;
    file.read_exact(&mut superblock).map_err(io("read"))?;
    if &superblock[..4] != MAGIC {
        return Err(Error::NotSquashfs {
            path: path.to_path_buf(),
            offset: start,
        });
    }
    let offset = start
        + data_offset(&superblock).ok_or_else(|| Error::NoData {
            path: path.to_path_buf(),
            offset: start,
        })?;
    drop(file);
    flip(path, offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use npk::key::SecretKey;

    fn superblock(inode_table: u64) -> Vec<u8> {
        let mut sb = vec![0u8; 96];
        sb[..4].copy_from_slice(MAGIC);
        sb[64..72].copy_from_slice(&inode_table.to_le_bytes());
        sb
    }

    #[test]
    fn the_middle_of_the_data_area() {
        assert_eq!(data_offset(&superblock(1096)), Some(596));
        assert_eq!(data_offset(&superblock(98)), Some(97));
        assert_eq!(data_offset(&superblock(96)), None);
        let mut bad = superblock(1000);
        bad[0] = b'x';
        assert_eq!(data_offset(&bad), None);
        assert_eq!(data_offset(&bad[..50]), None);
    }

    /// A signed package holding `bin/x` (tiny) and `big` (incompressible, `len` bytes).
    fn signed_package(dir: &Path, big: &[u8]) -> (std::path::PathBuf, SecretKey) {
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::write(root.join("bin/x"), b"#!x").unwrap();
        std::fs::write(root.join("big"), big).unwrap();
        let manifest = dir.join("manifest.yaml");
        std::fs::write(
            &manifest,
            "name: x\nversion: 0.0.1\ninit: /bin/x\nuid: 1\ngid: 1\n",
        )
        .unwrap();
        let manifest = npk::pack::read_manifest(&manifest).unwrap();
        let key = SecretKey::generate().unwrap();
        let options = npk::pack::Options {
            key: Some(&key),
            ..npk::pack::Options::default()
        };
        let repo = dir.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        let npk = npk::pack::pack_manifest(&manifest, &root, &repo, &options, &mut |_| ()).unwrap();
        (npk, key)
    }

    #[test]
    fn incompressible_content_is_stable() {
        let a = incompressible(100_003);
        assert_eq!(a.len(), 100_003);
        assert_eq!(a, incompressible(100_003));
        assert_eq!(needle(&a, 0.75), &a[75_002..75_066]);
        assert_eq!(needle(&a, 1.0).len(), NEEDLE);
        assert_ne!(needle(&a, 0.25), needle(&a, 0.75));
    }

    #[test]
    fn a_changed_data_block_passes_the_start_up_check_and_fails_the_full_one() {
        let dir = tempfile::tempdir().unwrap();
        let big = incompressible(1 << 20);
        let (npk, key) = signed_package(dir.path(), &big);
        let verified = || npk::package::Npk::open(&npk).unwrap().verify(&key.public());
        verified().unwrap().check_fs_img().unwrap();
        let (tampered, at) = package_content(&npk, &key.public(), needle(&big, 0.75)).unwrap();
        assert_eq!(tampered.now, !tampered.was);
        // Deep in the image: the file is nearly all of it.
        assert!((0.6..0.9).contains(&at), "{at}");
        let squashfs = verified().unwrap().squashfs();
        assert!(squashfs.start + 96 < tampered.offset && tampered.offset < squashfs.end);
        // Signature, metadata and superblock still verify (the check at start-up); only
        // the data does not.
        assert!(verified().unwrap().check_fs_img().is_err());
        // A run of bytes that is not in the image.
        let e = package_content(&npk, &key.public(), &[0xa5; 64]).unwrap_err();
        assert!(matches!(e, Error::NoData { .. }), "{e}");
    }

    #[test]
    fn a_changed_superblock_is_refused_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let (npk, key) = signed_package(dir.path(), &incompressible(64 << 10));
        let before = npk::package::Npk::open(&npk)
            .unwrap()
            .verify(&key.public())
            .unwrap();
        let data_blocks = before.verity().superblock.data_blocks;
        drop(before);
        let tampered = verity_superblock(&npk, &key.public()).unwrap();
        assert_eq!(tampered.was, (data_blocks & 0xff) as u8);
        let e = npk::package::Npk::open(&npk)
            .unwrap()
            .verify(&key.public())
            .unwrap_err();
        assert!(
            matches!(e.kind, npk::package::ErrorKind::SuperblockBlocks { .. }),
            "{e}"
        );
        assert!(e.to_string().contains("data blocks"), "{e}");
    }
}
