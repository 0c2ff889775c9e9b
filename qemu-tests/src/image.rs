//! The images a real boot needs, built on the host as `doc/boot.md` specifies them:
//!
//! - [`root`]: the root file system, a squashfs (npk's writer) padded to 4096 bytes with
//!   the verity superblock and hash tree appended (npk's verity code), and its signed
//!   descriptor (`root.verity`, `root.verity.sig`);
//! - [`packages`]: the example containers, packed and signed as npks;
//! - [`data`]: the data partition, an ext4 image made by `mke2fs -d` (no loop mount), and
//!   its checks with `e2fsck`, `dumpe2fs` and `debugfs`;
//! - [`sdcard`]: the SD card of a board with no other disk: an MBR (`sfdisk`) with the
//!   root and data images in partitions 2 and 3;
//! - [`initrd`]: the initramfs with the init, the board configuration, the root's key and
//!   descriptor, and the board's kernel modules with their dependencies;
//! - [`set`]: the images of one machine (root, data, initramfs) as the boot, the demo and
//!   the scenarios build them, with the packages the caller puts into the repository;
//! - [`config`]: what the harness reads from the board's configuration files
//!   (`board-configs/<board>/`), with the kernel command line's overrides applied.
//!
//! It does not boot anything (see [`crate::boot`]) and does not build binaries.

pub mod config;
pub mod data;
pub mod initrd;
pub mod packages;
pub mod root;
pub mod sdcard;
pub mod set;
pub(crate) mod tool;

pub use tool::ToolError;

/// Removes `dir` if it exists and creates it empty: every run stages from nothing.
pub(crate) fn fresh_dir(dir: &std::path::Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(dir)
}

/// `len` bytes that no compressor shrinks (the output of a xorshift generator started from
/// `seed`), the same for the same seed: payloads of a known size on disk, data to tamper
/// with, benchmark input.
pub fn incompressible(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(len.next_multiple_of(8));
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Writes `len` bytes of [`incompressible`] data at `path`: a package's payload of a known
/// size on disk.
pub(crate) fn write_random(path: &std::path::Path, len: u64) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut left = len;
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    while left > 0 {
        let n = left.min(1 << 16);
        out.write_all(&incompressible(n as usize, seed))?;
        // Odd seeds stay distinct after `incompressible` sets the lowest bit.
        seed = seed.wrapping_add(2);
        left -= n;
    }
    out.flush()
}

/// The bytes of the files under `dir` (recursively; links not followed).
pub fn tree_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            tree_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_payload_has_its_size_and_does_not_compress() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payload");
        super::write_random(&path, 300_001).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 300_001);
        let distinct: std::collections::HashSet<&[u8]> = bytes.chunks(8).collect();
        assert!(distinct.len() > 37_000, "{} distinct words", distinct.len());
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/x"), [0; 99]).unwrap();
        assert_eq!(super::tree_bytes(dir.path()).unwrap(), 300_100);
    }
}
