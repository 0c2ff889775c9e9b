//! The SD card image of a board whose only disk is its SD card (the Raspberry Pi 2,
//! QEMU's `raspi2b`): an MBR partition table written by `sfdisk` on the image file (no
//! loop device, no root privileges), then the root and data images copied into their
//! partitions. `doc/boot.md`: partition 1 is the boot partition (the firmware's FAT; QEMU
//! loads the kernel itself, so it stays empty here), 2 the root image, 3 the data file
//! system. QEMU wants an SD card's size to be a power of two: the image is padded (sparse).
//!
//! [`extract`] copies a partition back out (for `e2fsck` of the data partition after a
//! boot).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::tool::{self, ToolError};

/// Partitions start and end on 1 MiB boundaries.
const ALIGN: u64 = 1 << 20;
/// The boot partition's size.
const BOOT_SIZE: u64 = 8 << 20;
/// A sector of the partition table.
const SECTOR: u64 = 512;
/// The MBR's disk identifier: fixed, so that equal images give equal cards.
const DISK_ID: u32 = 0x4e53_5452;
/// Limit for `sfdisk`.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Errors building or reading the SD card image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("SD card image {path}: cannot {step}")]
    Io {
        path: PathBuf,
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("SD card image {path}: non-UTF-8 path")]
    Path { path: PathBuf },
    #[error("SD card image {image}: partition table")]
    Tool {
        image: PathBuf,
        #[source]
        source: ToolError,
    },
}

/// One partition: its number (`/dev/mmcblk0p<number>`) and where it lies, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    pub number: u32,
    pub start: u64,
    pub size: u64,
}

/// The card's layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdCard {
    pub path: PathBuf,
    /// The whole card, a power of two.
    pub size: u64,
    pub boot: Partition,
    pub root: Partition,
    pub data: Partition,
}

impl SdCard {
    /// The layout for a root image of `root` bytes and a data image of `data` bytes.
    pub fn layout(path: &Path, root: u64, data: u64) -> SdCard {
        let boot = Partition {
            number: 1,
            start: ALIGN,
            size: BOOT_SIZE,
        };
        let root = Partition {
            number: 2,
            start: boot.start + boot.size,
            size: root.div_ceil(ALIGN) * ALIGN,
        };
        let data = Partition {
            number: 3,
            start: root.start + root.size,
            size: data.div_ceil(ALIGN) * ALIGN,
        };
        SdCard {
            path: path.to_path_buf(),
            size: (data.start + data.size).next_power_of_two(),
            boot,
            root,
            data,
        }
    }

    /// `sfdisk`'s script for the table: MBR, W95 FAT32 (LBA) boot, two Linux partitions.
    fn script(&self) -> String {
        let line = |p: &Partition, kind: &str| {
            format!(
                "start={}, size={}, type={kind}\n",
                p.start / SECTOR,
                p.size / SECTOR
            )
        };
        format!(
            "label: dos\nlabel-id: {DISK_ID:#010x}\nunit: sectors\n\n{}{}{}",
            line(&self.boot, "c"),
            line(&self.root, "83"),
            line(&self.data, "83")
        )
    }
}

/// Writes the card to `out` (replacing it): the table, then `root` and `data` copied into
/// partitions 2 and 3.
pub fn build(root: &Path, data: &Path, out: &Path) -> Result<SdCard, Error> {
    let len = |path: &Path| {
        std::fs::metadata(path)
            .map(|m| m.len())
            .map_err(|source| Error::Io {
                path: path.to_path_buf(),
                step: "read its size",
                source,
            })
    };
    let (root_len, data_len) = (len(root)?, len(data)?);
    let card = SdCard::layout(out, root_len, data_len);
    let io = |step| {
        move |source| Error::Io {
            path: out.to_path_buf(),
            step,
            source,
        }
    };
    let file = File::create(out).map_err(io("create"))?;
    file.set_len(card.size).map_err(io("set its size"))?;
    drop(file);
    let path = out.to_str().ok_or_else(|| Error::Path {
        path: out.to_path_buf(),
    })?;
    tool::run_with_input(
        "sfdisk",
        &["--no-reread", "--no-tell-kernel", "--quiet", path],
        card.script().as_bytes(),
        TIMEOUT,
    )
    .map_err(|source| Error::Tool {
        image: out.to_path_buf(),
        source,
    })?;
    // The layout rounds each partition up from its image's size: both fit.
    copy(root, 0, root_len, out, card.root.start)?;
    copy(data, 0, data_len, out, card.data.start)?;
    Ok(card)
}

/// Copies `partition` of the card `card` to a file of its own at `out`.
pub fn extract(card: &Path, partition: &Partition, out: &Path) -> Result<(), Error> {
    File::create(out).map_err(|source| Error::Io {
        path: out.to_path_buf(),
        step: "create",
        source,
    })?;
    copy(card, partition.start, partition.size, out, 0)
}

/// Copies `len` bytes of `from` from byte `from_offset` on into `to` at byte `to_offset`,
/// without truncating `to`.
fn copy(from: &Path, from_offset: u64, len: u64, to: &Path, to_offset: u64) -> Result<(), Error> {
    let io = |path: &Path, step| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, step, source }
    };
    let mut src = File::open(from).map_err(io(from, "open"))?;
    src.seek(SeekFrom::Start(from_offset))
        .map_err(io(from, "seek in"))?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .open(to)
        .map_err(io(to, "open"))?;
    dst.seek(SeekFrom::Start(to_offset))
        .map_err(io(to, "seek in"))?;
    let copied = std::io::copy(&mut src.take(len), &mut dst).map_err(io(to, "write"))?;
    if copied != len {
        return Err(Error::Io {
            path: from.to_path_buf(),
            step: "read all of",
            source: std::io::ErrorKind::UnexpectedEof.into(),
        });
    }
    dst.flush().map_err(io(to, "write"))?;
    dst.sync_all().map_err(io(to, "sync"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_aligned_and_a_power_of_two() {
        let card = SdCard::layout(Path::new("sd.img"), 300_000, 64 << 20);
        assert_eq!(card.boot.start, 1 << 20);
        assert_eq!(card.root.start, 9 << 20);
        assert_eq!(card.root.size, 1 << 20);
        assert_eq!(card.data.start, 10 << 20);
        assert_eq!(card.data.size, 64 << 20);
        assert_eq!(card.size, 128 << 20);
        assert!(card
            .script()
            .contains("start=20480, size=131072, type=83\n"));
    }

    #[test]
    fn partitions_hold_the_images_and_sfdisk_reads_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root.img");
        let data = dir.path().join("data.img");
        std::fs::write(&root, vec![0xa5; 5000]).unwrap();
        std::fs::write(&data, (0..3u32 << 20).map(|i| i as u8).collect::<Vec<_>>()).unwrap();
        let out = dir.path().join("sd.img");
        let card = build(&root, &data, &out).unwrap();
        assert_eq!(std::fs::metadata(&out).unwrap().len(), card.size);
        assert!(card.size.is_power_of_two());

        // sfdisk as an independent reader of the table.
        let dump = tool::run("sfdisk", &["--dump", out.to_str().unwrap()], TIMEOUT).unwrap();
        let dump = String::from_utf8_lossy(&dump.stdout).into_owned();
        assert!(dump.contains("label: dos"), "{dump}");
        assert!(dump.contains("label-id: 0x4e535452"), "{dump}");
        let entries: Vec<String> = dump
            .lines()
            .filter_map(|l| l.split_once(" : "))
            .map(|(device, fields)| {
                // `<image>1 : start=…`: the partition's number ends the device's name.
                let number = &device[device.len() - 1..];
                let fields: String = fields.chars().filter(|c| !c.is_whitespace()).collect();
                format!("{number} {fields}")
            })
            .collect();
        let expected: Vec<String> = [(&card.boot, "c"), (&card.root, "83"), (&card.data, "83")]
            .iter()
            .map(|(p, kind)| {
                format!(
                    "{} start={},size={},type={kind}",
                    p.number,
                    p.start / SECTOR,
                    p.size / SECTOR
                )
            })
            .collect();
        assert_eq!(entries, expected, "{dump}");

        let bytes = std::fs::read(&out).unwrap();
        let at = |p: &Partition, len: usize| &bytes[p.start as usize..p.start as usize + len];
        assert_eq!(at(&card.root, 5000), std::fs::read(&root).unwrap());
        assert_eq!(bytes[card.root.start as usize + 5000], 0);
        let copied = dir.path().join("data.out");
        extract(&out, &card.data, &copied).unwrap();
        assert_eq!(
            std::fs::read(&copied).unwrap(),
            std::fs::read(&data).unwrap()
        );
        assert_eq!(&bytes[510..512], [0x55, 0xaa]);
    }
}
