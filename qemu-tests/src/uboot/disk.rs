//! The A/B disk: a GPT written by `sfdisk` on the image file (no loop device), with
//! partition 1 `boot` (FAT, made by `mkfs.vfat` and filled by `mcopy`: the kernel, the
//! initramfs, the boot script), 2 `rootfs_a`, 3 `rootfs_b` (each a verified root image)
//! and 4 `data` (the ext4 data image), every one starting and ending on 1 MiB. The
//! partition names are the GPT names (`PARTLABEL=`).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::image::tool::{self, ToolError};

/// Partitions start and end on 1 MiB.
const ALIGN: u64 = 1 << 20;
/// Room for the backup GPT at the disk's end.
const TAIL: u64 = 1 << 20;
const SECTOR: u64 = 512;
/// Fixed, so that equal images give equal tables.
const DISK_GUID: &str = "4E535452-0000-4000-8000-0000000000AB";
/// GPT partition types: EFI system (the boot partition's FAT), Linux file system.
const TYPE_BOOT: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const TYPE_LINUX: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
/// Limit for each tool.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Partition names.
pub const BOOT: &str = "boot";
pub const DATA: &str = "data";

/// Errors building or changing the disk.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("A/B disk {path}: cannot {step}")]
    Io {
        path: PathBuf,
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("A/B disk {path}: non-UTF-8 path")]
    Path { path: PathBuf },
    #[error("A/B disk {path}: {what}")]
    Tool {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: ToolError,
    },
    #[error("A/B disk: no partition {name:?}")]
    NoPartition { name: String },
}

/// One partition: its number (`/dev/vdaN`), GPT name and place in bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub number: u32,
    pub name: String,
    pub start: u64,
    pub size: u64,
}

/// The disk's layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    pub path: PathBuf,
    pub size: u64,
    pub partitions: Vec<Partition>,
}

impl Disk {
    /// Partitions of the given names and sizes (rounded up to 1 MiB), in order from 1 MiB.
    pub fn layout(path: &Path, parts: &[(&str, u64)]) -> Disk {
        let mut start = ALIGN;
        let mut partitions = Vec::new();
        for (i, (name, size)) in parts.iter().enumerate() {
            let size = size.div_ceil(ALIGN).max(1) * ALIGN;
            partitions.push(Partition {
                number: i as u32 + 1,
                name: (*name).to_owned(),
                start,
                size,
            });
            start += size;
        }
        Disk {
            path: path.to_path_buf(),
            size: start + TAIL,
            partitions,
        }
    }

    pub fn partition(&self, name: &str) -> Result<&Partition, Error> {
        self.partitions
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::NoPartition {
                name: name.to_owned(),
            })
    }

    /// `sfdisk`'s script of the table.
    fn script(&self) -> String {
        let mut s = format!("label: gpt\nlabel-id: {DISK_GUID}\nunit: sectors\n\n");
        for p in &self.partitions {
            let kind = if p.name == BOOT {
                TYPE_BOOT
            } else {
                TYPE_LINUX
            };
            s += &format!(
                "start={}, size={}, type={kind}, name=\"{}\"\n",
                p.start / SECTOR,
                p.size / SECTOR,
                p.name
            );
        }
        s
    }
}

/// A FAT image of `size_mib` MiB at `out` holding `files` (host path, name in the root).
pub fn fat(out: &Path, size_mib: u64, files: &[(&Path, &str)]) -> Result<(), Error> {
    let _ = std::fs::remove_file(out);
    let image = utf8(out)?;
    let tool_error = |what| {
        move |source| Error::Tool {
            path: out.to_path_buf(),
            what,
            source,
        }
    };
    let blocks = (size_mib * 1024).to_string();
    tool::run("mkfs.vfat", &["-C", "-n", "BOOT", image, &blocks], TIMEOUT)
        .map_err(tool_error("mkfs.vfat"))?;
    for (path, name) in files {
        let target = format!("::/{name}");
        tool::run("mcopy", &["-i", image, "-o", utf8(path)?, &target], TIMEOUT)
            .map_err(tool_error("mcopy"))?;
    }
    Ok(())
}

/// Copies the file `name` of the FAT in `part` of `disk` to `out` (`mcopy` reads the
/// file system at its offset in the disk image).
pub fn fat_file(disk: &Path, part: &Partition, name: &str, out: &Path) -> Result<(), Error> {
    let image = format!("{}@@{}", utf8(disk)?, part.start);
    let source = format!("::/{name}");
    tool::run("mcopy", &["-i", &image, "-o", &source, utf8(out)?], TIMEOUT).map_err(|source| {
        Error::Tool {
            path: disk.to_path_buf(),
            what: "mcopy from the boot partition",
            source,
        }
    })?;
    Ok(())
}

/// Writes the disk at `out` (replacing it): the table for `parts` (name, image), then
/// each image copied into its partition.
pub fn build(out: &Path, parts: &[(&str, &Path)]) -> Result<Disk, Error> {
    let mut sized = Vec::new();
    for (name, path) in parts {
        let len = std::fs::metadata(path).map_err(io(path, "read the size of"))?;
        sized.push((*name, len.len()));
    }
    let disk = Disk::layout(out, &sized);
    let file = File::create(out).map_err(io(out, "create"))?;
    file.set_len(disk.size)
        .map_err(io(out, "set the size of"))?;
    drop(file);
    tool::run_with_input(
        "sfdisk",
        &["--no-reread", "--no-tell-kernel", "--quiet", utf8(out)?],
        disk.script().as_bytes(),
        TIMEOUT,
    )
    .map_err(|source| Error::Tool {
        path: out.to_path_buf(),
        what: "partition table",
        source,
    })?;
    for ((_, path), part) in parts.iter().zip(&disk.partitions) {
        copy(path, out, part.start)?;
    }
    Ok(disk)
}

/// Overwrites `bytes` at `offset` of `path`.
pub fn overwrite(path: &Path, offset: u64, bytes: &[u8]) -> Result<(), Error> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io(path, "open"))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(io(path, "seek in"))?;
    file.write_all(bytes).map_err(io(path, "write"))?;
    file.sync_all().map_err(io(path, "sync"))
}

/// Reads `len` bytes at `offset` of `path`.
pub fn read(path: &Path, offset: u64, len: u64) -> Result<Vec<u8>, Error> {
    let mut file = File::open(path).map_err(io(path, "open"))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(io(path, "seek in"))?;
    let mut bytes = Vec::new();
    file.take(len)
        .read_to_end(&mut bytes)
        .map_err(io(path, "read"))?;
    if bytes.len() as u64 != len {
        return Err(Error::Io {
            path: path.to_path_buf(),
            step: "read all of a range of",
            source: std::io::ErrorKind::UnexpectedEof.into(),
        });
    }
    Ok(bytes)
}

/// Copies all of `from` into `to` at `offset`, without truncating `to`.
fn copy(from: &Path, to: &Path, offset: u64) -> Result<(), Error> {
    let mut src = File::open(from).map_err(io(from, "open"))?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .open(to)
        .map_err(io(to, "open"))?;
    dst.seek(SeekFrom::Start(offset))
        .map_err(io(to, "seek in"))?;
    std::io::copy(&mut src, &mut dst).map_err(io(to, "write"))?;
    dst.sync_all().map_err(io(to, "sync"))
}

/// Copies `part` of `disk` out into a file of its own at `out`.
pub fn extract(disk: &Path, part: &Partition, out: &Path) -> Result<(), Error> {
    let mut src = File::open(disk).map_err(io(disk, "open"))?;
    src.seek(SeekFrom::Start(part.start))
        .map_err(io(disk, "seek in"))?;
    let mut dst = File::create(out).map_err(io(out, "create"))?;
    std::io::copy(&mut src.take(part.size), &mut dst).map_err(io(out, "write"))?;
    Ok(())
}

/// The file at `path` (absolute) of the ext4 file system in `part` of `disk`, `None` when
/// there is none: the partition is copied to `scratch`, its journal replayed there
/// (`e2fsck -E journal_only`, as a mount would), and the file read with `debugfs`.
pub fn ext4_file(
    disk: &Path,
    part: &Partition,
    path: &str,
    scratch: &Path,
) -> Result<Option<Vec<u8>>, Error> {
    extract(disk, part, scratch)?;
    let image = utf8(scratch)?;
    let failed = |what| {
        let path = disk.to_path_buf();
        move |source| Error::Tool { path, what, source }
    };
    // 0: nothing to do, 1: the journal was replayed; above: an error.
    let replay = tool::output("e2fsck", &["-y", "-E", "journal_only", image], TIMEOUT)
        .map_err(failed("e2fsck of the data partition"))?;
    if replay.status.code().is_none_or(|c| c > 1) {
        return Err(failed("e2fsck of the data partition")(ToolError::Failed {
            command: format!("e2fsck -y -E journal_only {image}"),
            status: replay.status,
            output: tool::text(&replay),
        }));
    }
    let request = format!("cat {path}");
    let out = tool::output("debugfs", &["-R", &request, image], TIMEOUT)
        .map_err(failed("debugfs on the data partition"))?;
    // debugfs says on stderr when the file is not there.
    let missing = String::from_utf8_lossy(&out.stderr).contains("File not found");
    Ok((!missing).then_some(out.stdout))
}

fn io(path: &Path, step: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io { path, step, source }
}

fn utf8(path: &Path) -> Result<&str, Error> {
    path.to_str().ok_or_else(|| Error::Path {
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_every_partition_where_the_layout_puts_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut parts = Vec::new();
        for (name, len, byte) in [
            ("boot", 3 << 20, 1u8),
            ("rootfs_a", 5000, 2),
            ("data", 1 << 20, 3),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, vec![byte; len]).unwrap();
            parts.push((name, path));
        }
        let refs: Vec<(&str, &Path)> = parts.iter().map(|(n, p)| (*n, p.as_path())).collect();
        let out = dir.path().join("disk.img");
        let disk = build(&out, &refs).unwrap();
        assert_eq!(disk.partition("rootfs_a").unwrap().size, 1 << 20);
        let dump = tool::run("sfdisk", &["--dump", out.to_str().unwrap()], TIMEOUT).unwrap();
        let dump = String::from_utf8_lossy(&dump.stdout).to_string();
        for p in &disk.partitions {
            let line = dump
                .lines()
                .find(|l| l.contains(&format!("name=\"{}\"", p.name)))
                .unwrap_or_else(|| panic!("{dump}"));
            assert!(
                line.contains(&format!("start={:>12}", p.start / SECTOR)),
                "{line}"
            );
        }
        let bytes = std::fs::read(&out).unwrap();
        let a = disk.partition("rootfs_a").unwrap();
        let fat_img = dir.path().join("boot.fat");
        fat(&fat_img, 4, &[(&parts[1].1, "inside")]).unwrap();
        let with_fat = dir.path().join("fat-disk.img");
        let d2 = build(&with_fat, &[("boot", &fat_img)]).unwrap();
        let copied = dir.path().join("copied");
        fat_file(&with_fat, &d2.partitions[0], "inside", &copied).unwrap();
        assert_eq!(std::fs::read(&copied).unwrap(), vec![2u8; 5000]);
        assert!(bytes[a.start as usize..a.start as usize + 5000]
            .iter()
            .all(|b| *b == 2));
        assert_eq!(bytes[a.start as usize + 5000], 0);
        let read_back = read(&out, a.start, 5001).unwrap();
        assert_eq!(read_back[..5000], vec![2u8; 5000][..]);
        assert_eq!(read_back[5000], 0);
        assert!(read(&out, disk.size - 10, 11).is_err());
        let back = dir.path().join("data.out");
        extract(&out, disk.partition("data").unwrap(), &back).unwrap();
        assert_eq!(std::fs::read(back).unwrap(), vec![3u8; 1 << 20]);
    }

    #[test]
    fn a_fat_image_holds_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x");
        std::fs::write(&file, b"kernel").unwrap();
        let out = dir.path().join("boot.img");
        fat(&out, 4, &[(&file, "Image")]).unwrap();
        assert_eq!(std::fs::metadata(&out).unwrap().len(), 4 << 20);
        let listed =
            tool::run("mdir", &["-i", out.to_str().unwrap(), "-b", "::/"], TIMEOUT).unwrap();
        assert!(String::from_utf8_lossy(&listed.stdout).contains("Image"));
    }

    #[test]
    fn a_file_of_the_ext4_partition_is_read_or_missing() {
        let dir = tempfile::tempdir().unwrap();
        let stage = dir.path().join("stage");
        std::fs::create_dir_all(stage.join("northstar")).unwrap();
        std::fs::write(stage.join("northstar/slot-boot"), "slot=A\nstate=good\n").unwrap();
        let data = dir.path().join("data.img");
        crate::image::data::make_ext4(&stage, &data, 8).unwrap();
        let out = dir.path().join("disk.img");
        let disk = build(&out, &[(DATA, &data)]).unwrap();
        let part = disk.partition(DATA).unwrap();
        let scratch = dir.path().join("scratch");
        let read = ext4_file(&out, part, "/northstar/slot-boot", &scratch).unwrap();
        assert_eq!(read.as_deref(), Some(&b"slot=A\nstate=good\n"[..]));
        let none = ext4_file(&out, part, "/northstar/other", &scratch).unwrap();
        assert_eq!(none, None);
    }
}
