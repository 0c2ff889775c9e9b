//! Changing one byte of a squashfs after it was signed: in the root image, or in the
//! `fs.img` of a package inside its `.npk`. The byte lies in the squashfs *data area*
//! (after the 96-byte superblock, before the inode table: compressed file data and
//! fragments), so the image still looks like a squashfs and only its content is wrong.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

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

/// Changes the byte in the data area of the squashfs at `start` in `path` (all its bits
/// flipped).
pub fn squashfs_at(path: &Path, start: u64) -> Result<Tampered, Error> {
    let io = |step| Error::io(step, path);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
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

/// Changes a byte in the data area of the squashfs in `fs.img` of the package at `path`.
pub fn package(path: &Path) -> Result<Tampered, Error> {
    let npk = npk::package::Npk::open(path).map_err(|source| Error::NotPackage {
        path: path.to_path_buf(),
        source: Box::new(source),
    })?;
    let start = npk.fs_img().start;
    drop(npk);
    squashfs_at(path, start)
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

    #[test]
    fn a_tampered_package_fails_its_check_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        // Incompressible content, so the data area spans several blocks.
        let content: Vec<u8> = (0..20_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        std::fs::write(root.join("bin/x"), content).unwrap();
        let manifest = dir.path().join("manifest.yaml");
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
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        let npk = npk::pack::pack_manifest(&manifest, &root, &repo, &options, &mut |_| ()).unwrap();
        let check = || {
            let verified = npk::package::Npk::open(&npk)
                .unwrap()
                .verify(&key.public())
                .unwrap();
            verified.check_fs_img()
        };
        check().unwrap();
        let tampered = package(&npk).unwrap();
        assert_eq!(tampered.now, !tampered.was);
        let fs_img = npk::package::Npk::open(&npk).unwrap().fs_img();
        assert!(fs_img.start + 96 < tampered.offset && tampered.offset < fs_img.end);
        // Signature and metadata still verify; only the data does not.
        assert!(check().is_err());
    }
}
