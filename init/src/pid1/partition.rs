//! Block devices named as a boot loader or `/etc/fstab` names them: `PARTLABEL=<name>`
//! (the GPT partition name) or `PARTUUID=<uuid>` (the GPT partition GUID, or an MBR
//! disk signature with the partition number, `0a1b2c3d-02`), as well as by path. Without
//! udev there is no `/dev/disk/by-partlabel`: the kernel's `uevent` file of every block
//! device in sysfs gives `DEVNAME` and `PARTNAME`; the partition's GUID is read from the
//! GPT of its disk (the partition's `start` sector finds its entry), since a kernel's
//! `uevent` does not always carry it.

use std::{
    fs,
    io::{self, Read, Seek, SeekFrom},
    path::{Path, PathBuf},
};

/// Where the kernel lists block devices.
pub const SYS_CLASS_BLOCK: &str = "/sys/class/block";
/// Where devtmpfs creates their nodes.
pub const DEV: &str = "/dev";

/// Bytes of a logical block as the GPT and sysfs count them.
const SECTOR: u64 = 512;
/// Most GPT entries read.
const MAX_ENTRIES: u32 = 1024;
/// Largest GPT entry size accepted.
const MAX_ENTRY_SIZE: u32 = 4096;

/// How a configuration names a block device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spec {
    Path(PathBuf),
    /// `PARTLABEL=`: the GPT partition name.
    Label(String),
    /// `PARTUUID=`: lower case.
    Uuid(String),
}

impl Spec {
    /// `PARTLABEL=<name>`, `PARTUUID=<uuid>` or a path.
    pub fn parse(path: &Path) -> Spec {
        let text = path.to_string_lossy();
        if let Some(label) = text.strip_prefix("PARTLABEL=") {
            Spec::Label(label.to_string())
        } else if let Some(uuid) = text.strip_prefix("PARTUUID=") {
            Spec::Uuid(uuid.to_ascii_lowercase())
        } else {
            Spec::Path(path.to_owned())
        }
    }

    /// Whether `path` names a partition instead of a node.
    pub fn is_name(path: &Path) -> bool {
        !matches!(Spec::parse(path), Spec::Path(_))
    }

    /// The rule a name must follow: a label of 1 to 72 characters (a GPT name holds 36
    /// UTF-16 units), a UUID of hex digits and dashes. `None` when it is right.
    pub fn problem(&self) -> Option<String> {
        match self {
            Spec::Path(_) => None,
            Spec::Label(label) if label.is_empty() || label.chars().count() > 72 => {
                Some(format!("PARTLABEL {label:?} must have 1 to 72 characters"))
            }
            Spec::Uuid(uuid)
                if uuid.is_empty()
                    || uuid.len() > 36
                    || !uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') =>
            {
                Some(format!(
                    "PARTUUID {uuid:?} must be a GUID or an MBR signature-partition pair"
                ))
            }
            _ => None,
        }
    }
}

/// The node of the partition `spec` names, if the kernel knows it yet: looked up in
/// `sys` (`/sys/class/block`), with nodes under `dev` (`/dev`). A path is returned as
/// it is. A partition whose disk cannot be read is skipped: another may match.
pub fn resolve(spec: &Spec, sys: &Path, dev: &Path) -> io::Result<Option<PathBuf>> {
    let wanted = match spec {
        Spec::Path(path) => return Ok(Some(path.clone())),
        other => other,
    };
    let mut names: Vec<String> = fs::read_dir(sys)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let Ok(uevent) = fs::read_to_string(sys.join(&name).join("uevent")) else {
            continue;
        };
        let var = |key: &str| {
            uevent
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_string)
        };
        if var("DEVTYPE").as_deref() != Some("partition") {
            continue;
        }
        let devname = var("DEVNAME").unwrap_or_else(|| name.clone());
        let found = match wanted {
            Spec::Label(label) => var("PARTNAME").as_deref() == Some(label.as_str()),
            Spec::Uuid(uuid) => match var("PARTUUID") {
                Some(given) => given.eq_ignore_ascii_case(uuid),
                None => {
                    partition_uuid(sys, dev, &name).ok().flatten().as_deref() == Some(uuid.as_str())
                }
            },
            Spec::Path(_) => false,
        };
        if found {
            return Ok(Some(dev.join(devname)));
        }
    }
    Ok(None)
}

/// The PARTUUID of partition `name` from its disk's partition table: the GPT entry that
/// starts at the partition's first sector, or the MBR signature and partition number.
fn partition_uuid(sys: &Path, dev: &Path, name: &str) -> io::Result<Option<String>> {
    let own = sys.join(name);
    let read = |file: &str| -> io::Result<u64> {
        fs::read_to_string(own.join(file))?
            .trim()
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("{name}/{file}")))
    };
    let start = read("start")?;
    let number = read("partition")?;
    // The disk is the partition's parent directory in the device tree.
    let real = fs::canonicalize(&own)?;
    let Some(disk) = real.parent().and_then(Path::file_name) else {
        return Ok(None);
    };
    let mut file = fs::File::open(dev.join(disk))?;
    let mut mbr = [0u8; SECTOR as usize];
    file.read_exact(&mut mbr)?;
    let mut header = [0u8; 92];
    file.seek(SeekFrom::Start(SECTOR))?;
    if file.read_exact(&mut header).is_ok() && header.starts_with(b"EFI PART") {
        return gpt_uuid(&mut file, &header, start);
    }
    if mbr.get(510..512) == Some(&[0x55, 0xaa][..]) {
        let Some(signature) = le::<4>(&mbr, 440).map(u32::from_le_bytes) else {
            return Ok(None);
        };
        return Ok(Some(format!("{signature:08x}-{number:02x}")));
    }
    Ok(None)
}

/// `N` bytes of `bytes` at `at`, if there are.
fn le<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// The GUID of the GPT entry starting at sector `start`, in the text form.
fn gpt_uuid(file: &mut fs::File, header: &[u8; 92], start: u64) -> io::Result<Option<String>> {
    let (Some(entries_lba), Some(count), Some(size)) = (
        le::<8>(header, 72).map(u64::from_le_bytes),
        le::<4>(header, 80).map(u32::from_le_bytes),
        le::<4>(header, 84).map(u32::from_le_bytes),
    ) else {
        return Ok(None);
    };
    if !(128..=MAX_ENTRY_SIZE).contains(&size) {
        return Ok(None);
    }
    let Some(offset) = entries_lba.checked_mul(SECTOR) else {
        return Ok(None);
    };
    file.seek(SeekFrom::Start(offset))?;
    let mut entry = vec![0u8; size as usize];
    for _ in 0..count.min(MAX_ENTRIES) {
        file.read_exact(&mut entry)?;
        let guid = le::<16>(&entry, 16);
        let first = le::<8>(&entry, 32).map(u64::from_le_bytes);
        match guid {
            Some(guid) if guid != [0; 16] && first == Some(start) => {
                return Ok(Some(guid_text(&guid)))
            }
            _ => {}
        }
    }
    Ok(None)
}

/// A GUID's mixed-endian bytes as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lower case.
fn guid_text(b: &[u8; 16]) -> String {
    let [a0, a1, a2, a3, b0, b1, c0, c1, rest @ ..] = *b;
    let hex = |bytes: &[u8]| bytes.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let (d, e) = rest.split_at(2);
    format!(
        "{}-{}-{}-{}-{}",
        hex(&[a3, a2, a1, a0]),
        hex(&[b1, b0]),
        hex(&[c1, c0]),
        hex(d),
        hex(e)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A fake `/sys/class/block` with disk `vda` (the image `disk`) and its partitions.
    fn sysfs(dir: &Path, disk: &Path, parts: &[(&str, &str, u64, u64)]) -> (PathBuf, PathBuf) {
        let devices = dir.join("devices/vda");
        let class = dir.join("class/block");
        let dev = dir.join("dev");
        fs::create_dir_all(&class).unwrap();
        fs::create_dir_all(&dev).unwrap();
        fs::create_dir_all(&devices).unwrap();
        fs::write(devices.join("uevent"), "DEVNAME=vda\nDEVTYPE=disk\n").unwrap();
        std::os::unix::fs::symlink(&devices, class.join("vda")).unwrap();
        fs::copy(disk, dev.join("vda")).unwrap();
        for (name, label, number, start) in parts {
            let part = devices.join(name);
            fs::create_dir_all(&part).unwrap();
            fs::write(
                part.join("uevent"),
                format!("DEVNAME={name}\nDEVTYPE=partition\nPARTN={number}\nPARTNAME={label}\n"),
            )
            .unwrap();
            fs::write(part.join("start"), format!("{start}\n")).unwrap();
            fs::write(part.join("partition"), format!("{number}\n")).unwrap();
            std::os::unix::fs::symlink(&part, class.join(name)).unwrap();
        }
        (class, dev)
    }

    #[test]
    fn names_and_paths() {
        assert_eq!(
            Spec::parse(Path::new("/dev/vda")),
            Spec::Path("/dev/vda".into())
        );
        assert_eq!(
            Spec::parse(Path::new("PARTLABEL=rootfs_a")),
            Spec::Label("rootfs_a".into())
        );
        assert_eq!(
            Spec::parse(Path::new("PARTUUID=0A1B2C3D-02")),
            Spec::Uuid("0a1b2c3d-02".into())
        );
        assert!(Spec::is_name(Path::new("PARTUUID=x")));
        assert!(Spec::parse(Path::new("PARTUUID=xyz")).problem().is_some());
        assert!(Spec::parse(Path::new("PARTLABEL=")).problem().is_some());
        assert!(Spec::parse(Path::new("PARTLABEL=boot_a"))
            .problem()
            .is_none());
    }

    /// A GPT made by util-linux's `sfdisk` with fixed GUIDs: found by label and by GUID.
    #[test]
    fn gpt_partitions_by_label_and_uuid() {
        if Command::new("sfdisk").arg("--version").output().is_err() {
            eprintln!("sfdisk is not installed: skipped");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.img");
        fs::File::create(&image).unwrap().set_len(8 << 20).unwrap();
        let script = "label: gpt\n\
            start=2048, size=4096, type=L, name=\"rootfs_a\", uuid=6d1c7a4e-1f0b-4c55-9a51-0a0b0c0d0e01\n\
            start=6144, size=4096, type=L, name=\"rootfs_b\", uuid=6D1C7A4E-1F0B-4C55-9A51-0A0B0C0D0E02\n";
        let mut child = Command::new("sfdisk")
            .arg("-q")
            .arg(&image)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
        let (class, dev) = sysfs(
            dir.path(),
            &image,
            &[("vda1", "rootfs_a", 1, 2048), ("vda2", "rootfs_b", 2, 6144)],
        );
        let find = |text: &str| resolve(&Spec::parse(Path::new(text)), &class, &dev).unwrap();
        assert_eq!(find("PARTLABEL=rootfs_b"), Some(dev.join("vda2")));
        assert_eq!(find("PARTLABEL=rootfs_c"), None);
        assert_eq!(
            find("PARTUUID=6d1c7a4e-1f0b-4c55-9a51-0a0b0c0d0e01"),
            Some(dev.join("vda1"))
        );
        assert_eq!(
            find("PARTUUID=6D1C7A4E-1F0B-4C55-9A51-0A0B0C0D0E02"),
            Some(dev.join("vda2"))
        );
        assert_eq!(find("PARTUUID=6d1c7a4e-1f0b-4c55-9a51-0a0b0c0d0e03"), None);
        assert_eq!(find("/dev/vdz"), Some(PathBuf::from("/dev/vdz")));
    }

    #[test]
    fn mbr_partitions_by_signature() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.img");
        let mut mbr = vec![0u8; 4096];
        mbr[440..444].copy_from_slice(&0x0a1b_2c3du32.to_le_bytes());
        mbr[510] = 0x55;
        mbr[511] = 0xaa;
        fs::write(&image, &mbr).unwrap();
        let (class, dev) = sysfs(dir.path(), &image, &[("vda2", "", 2, 4096)]);
        let spec = Spec::parse(Path::new("PARTUUID=0a1b2c3d-02"));
        assert_eq!(
            resolve(&spec, &class, &dev).unwrap(),
            Some(dev.join("vda2"))
        );
    }
}
