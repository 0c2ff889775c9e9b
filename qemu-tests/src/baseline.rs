//! The baseline of the boot benchmark (`bench --bin boot`): a shell init that does the
//! work of Northstar's boot of the `ten` scenario by hand, on the same kernel and the
//! same disks, so that the benchmark measures the ratio in the same run.
//!
//! `/init` is a busybox `sh` script (Debian's `busybox-static`) in an initramfs with
//! `veritysetup` (Debian's `cryptsetup-bin`, with the shared libraries `ldd` names on the
//! host and the dynamic loader) and the board's modules at the paths of Northstar's
//! initramfs. The script ([`script`]) mounts `/proc` and reads the init's start from
//! `/proc/uptime`, mounts sysfs, devtmpfs and a tmpfs on `/run`, `insmod`s the modules in
//! the order Northstar loads them, opens the root with `veritysetup open` (root hash and
//! superblock offset of the same root image) and mounts it, mounts the data partition,
//! and for each package: `losetup -r -o <fs.img offset> -f`, `veritysetup open` with the
//! package's signed root hash and `--hash-offset` of its verity superblock (salt and
//! block counts come from that superblock), `mount -t squashfs -o ro`, `mount -t proc`
//! on its `/proc` (as Northstar mounts one for each container), then
//! `unshare -m -p -f chroot <mnt> <program> &`.
//!
//! When a program ran is taken from the program itself: its first step prints
//! `/proc/uptime` (a line of two numbers, nothing else prints such a line), so the time
//! covers its namespaces, `chroot` and `exec`, as Northstar's report covers them up to the
//! program's exec. The script prints [`INIT_LINE`] with its start and [`LAUNCHED_LINE`]
//! with the number of programs once all are launched ([`Report::parse`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use npk::key::PublicKey;

use crate::error::Error;
use crate::initramfs::{self, DeviceKind, Initramfs};
use crate::kernels::Kernel;
use crate::modules::Resolution;

/// The script's first line: `baseline: init started at <uptime>`.
pub const INIT_LINE: &str = "baseline: init started at ";
/// Its last: `baseline: launched <n> programs at <uptime>`.
pub const LAUNCHED_LINE: &str = "baseline: launched ";
/// busybox from Debian's `busybox-static`.
pub const BUSYBOX: &str = "/bin/busybox";
/// `veritysetup` from Debian's `cryptsetup-bin`.
pub const VERITYSETUP: &str = "/sbin/veritysetup";
/// The busybox applets the script runs, as links in `/bin`.
const APPLETS: [&str; 9] = [
    "sh", "mount", "mkdir", "insmod", "losetup", "unshare", "chroot", "sleep", "usleep",
];
/// Where the data partition and the packages are mounted in the initramfs.
const DATA: &str = "/data";
const MNT: &str = "/mnt";

/// The verified root as `veritysetup` opens it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    pub device: String,
    pub root_hash: String,
    /// Byte offset of the verity superblock on the device.
    pub hash_offset: u64,
}

/// One package as the script opens it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    /// The `.npk` in the guest.
    pub npk: String,
    /// Where `fs.img` starts in the `.npk`: the loop device's offset.
    pub fs_img: u64,
    /// The verity superblock's offset in `fs.img`.
    pub hash_offset: u64,
    /// The signed root hash, hex.
    pub root_hash: String,
    /// The program and its arguments, run in the package's root.
    pub command: Vec<String>,
}

impl Package {
    /// Verifies `npk` with `key` and takes its verity values; in the guest it is at
    /// `<guest_dir>/<file name>` and runs `command`.
    pub fn read(
        npk: &Path,
        key: &PublicKey,
        guest_dir: &str,
        command: Vec<String>,
    ) -> Result<Package, Error> {
        let not_package = |source| Error::NotPackage {
            path: npk.to_path_buf(),
            source: Box::new(source),
        };
        let verified = npk::package::Npk::open(npk)
            .and_then(|n| n.verify(key))
            .map_err(not_package)?;
        let manifest = verified.manifest();
        let verity = verified.verity();
        let file = npk.file_name().unwrap_or_default().to_string_lossy();
        Ok(Package {
            name: manifest.name.to_string(),
            npk: format!("{}/{file}", guest_dir.trim_end_matches('/')),
            fs_img: verified.fs_img().start,
            hash_offset: verity.offset,
            root_hash: hex(&verity.root),
            command,
        })
    }
}

/// What the script does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// The `.ko` files in the guest, in load order.
    pub modules: Vec<String>,
    pub root: Root,
    /// The data partition's device and file system.
    pub data_device: String,
    pub data_fs: String,
    /// The data partition's directory of the packages, below its mount point.
    pub packages: Vec<Package>,
}

/// The shell script `/init`.
pub fn script(s: &Script) -> String {
    let mut out = String::from(
        "#!/bin/sh\n\
         # The boot benchmark's shell-init baseline (qemu-tests/src/baseline.rs).\n\
         export PATH=/sbin:/bin\n\
         mount -t proc proc /proc\n\
         read up idle < /proc/uptime\n",
    );
    let _ = writeln!(out, "echo \"{INIT_LINE}$up\"");
    out.push_str(
        "mount -t sysfs sys /sys\n\
         mount -t devtmpfs dev /dev\n\
         mount -t tmpfs run /run\n\
         mkdir -p /run/cryptsetup\n",
    );
    for module in &s.modules {
        let _ = writeln!(out, "insmod {module}");
    }
    for device in [&s.root.device, &s.data_device] {
        let _ = writeln!(out, "while [ ! -b {device} ]; do usleep 1000; done");
    }
    let r = &s.root;
    let _ = writeln!(
        out,
        "veritysetup open {d} root {d} {h} --hash-offset={o}\n\
         mount -t squashfs -o ro /dev/mapper/root /root\n\
         mount -t {fs} {data} {DATA}",
        d = r.device,
        h = r.root_hash,
        o = r.hash_offset,
        fs = s.data_fs,
        data = s.data_device,
    );
    for (i, p) in s.packages.iter().enumerate() {
        // `losetup -f` takes the lowest free device: the packages get loop0, loop1, …
        let loop_dev = format!("/dev/loop{i}");
        let mnt = format!("{MNT}/{}", p.name);
        let _ = writeln!(
            out,
            "losetup -r -o {off} -f {npk}\n\
             veritysetup open {loop_dev} {name} {loop_dev} {hash} --hash-offset={ho}\n\
             mkdir -p {mnt}\n\
             mount -t squashfs -o ro /dev/mapper/{name} {mnt}\n\
             mount -t proc proc {mnt}/proc\n\
             unshare -m -p -f chroot {mnt} {cmd} &",
            off = p.fs_img,
            npk = p.npk,
            name = p.name,
            hash = p.root_hash,
            ho = p.hash_offset,
            cmd = p.command.join(" "),
        );
    }
    let _ = writeln!(
        out,
        "read up idle < /proc/uptime\n\
         echo \"{LAUNCHED_LINE}{} programs at $up\"\n\
         while :; do sleep 3600; done",
        s.packages.len()
    );
    out
}

/// The shared libraries and the loader `program` needs, from `ldd` on the host.
pub fn libraries(program: &Path) -> Result<Vec<PathBuf>, Error> {
    let output = Command::new("ldd")
        .arg(program)
        .output()
        .map_err(Error::io("run ldd on", program))?;
    if !output.status.success() {
        return Err(Error::Io {
            step: "list the libraries (ldd) of",
            path: program.to_path_buf(),
            source: std::io::Error::other(String::from_utf8_lossy(&output.stderr).into_owned()),
        });
    }
    Ok(parse_ldd(&String::from_utf8_lossy(&output.stdout)))
}

/// The absolute paths in `ldd`'s output (`name => /path (addr)` and `/loader (addr)`).
fn parse_ldd(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|line| {
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// The initramfs: `/init` (`script`), busybox and its applet links, `veritysetup` with
/// its libraries, the modules of `modules` at Northstar's paths.
pub fn assemble(script: &str, kernel: &Kernel, modules: &Resolution) -> Result<Initramfs, Error> {
    let archive_err = |e: initramfs::Error| Error::Initrd(e.into());
    let mut a = Initramfs::new();
    a.file("/init", script.as_bytes().to_vec(), 0o755)
        .map_err(archive_err)?;
    for dir in ["/dev", "/proc", "/sys", "/run", "/root", DATA, MNT] {
        a.dir(dir, 0o755).map_err(archive_err)?;
    }
    a.device("/dev/console", DeviceKind::Char, 5, 1, 0o600)
        .map_err(archive_err)?
        .file_from(BUSYBOX, Path::new(BUSYBOX), 0o755)
        .map_err(archive_err)?
        .file_from(VERITYSETUP, Path::new(VERITYSETUP), 0o755)
        .map_err(archive_err)?;
    for applet in APPLETS {
        a.symlink(&format!("/bin/{applet}"), "busybox")
            .map_err(archive_err)?;
    }
    for lib in libraries(Path::new(VERITYSETUP))? {
        a.file_from(&lib.to_string_lossy(), &lib, 0o755)
            .map_err(archive_err)?;
    }
    for module in &modules.load_order {
        let guest = guest_module(kernel, module);
        a.file_from(&guest, &module.path, 0o644)
            .map_err(archive_err)?;
    }
    Ok(a)
}

/// Where a module's `.ko` is in the guest (as in Northstar's initramfs).
pub fn guest_module(kernel: &Kernel, module: &crate::modules::Module) -> String {
    Path::new("/lib/modules")
        .join(&kernel.release)
        .join(&module.relative)
        .to_string_lossy()
        .into_owned()
}

/// What the baseline's console showed.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// `/proc/uptime` when the script started, seconds.
    pub init: f64,
    /// The programs the script launched.
    pub launched: usize,
    /// `/proc/uptime` when each program ran, seconds, in the order they printed.
    pub programs: Vec<f64>,
}

impl Report {
    /// The report in `transcript`, once the script has printed both of its lines.
    pub fn parse(transcript: &str) -> Option<Report> {
        let mut init = None;
        let mut launched = None;
        let mut programs = Vec::new();
        for line in transcript.lines() {
            let line = line.trim_end_matches('\r');
            if let Some(rest) = line.strip_prefix(INIT_LINE) {
                init = rest.trim().parse().ok();
            } else if let Some(rest) = line.strip_prefix(LAUNCHED_LINE) {
                launched = rest.split_whitespace().next()?.parse().ok();
            } else if let Some(up) = uptime_line(line) {
                programs.push(up);
            }
        }
        Some(Report {
            init: init?,
            launched: launched?,
            programs,
        })
    }

    /// Milliseconds from the script's start to the last program's start, once every
    /// program launched has printed.
    pub fn last_started_ms(&self) -> Option<f64> {
        if self.programs.len() < self.launched {
            return None;
        }
        let last = self.programs.iter().copied().fold(f64::NAN, f64::max);
        Some((last - self.init) * 1000.0)
    }
}

/// `12.34 5.67`: `/proc/uptime` as a program printed it.
fn uptime_line(line: &str) -> Option<f64> {
    let (up, idle) = line.split_once(' ')?;
    let number = |s: &str| {
        let (a, b) = s.split_once('.')?;
        let digits = |d: &str| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit());
        (digits(a) && digits(b)).then_some(())
    };
    number(up)?;
    number(idle)?;
    up.parse().ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
