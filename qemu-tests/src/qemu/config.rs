//! The QEMU command line of one boot: board defaults plus the scenario's kernel, initramfs,
//! kernel arguments, disks and management ports.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Error;
use crate::kernels::Kernel;
use crate::Board;

/// An extra raw disk image. On virtio machines it is a virtio block device (`/dev/vdX`,
/// in order); on raspi2b, which has no virtio, it is the SD card (`/dev/mmcblk0`, one only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drive {
    pub path: PathBuf,
    pub read_only: bool,
}

/// A virtio-serial port: the guest sees `/dev/vport*` (named `name` in sysfs), the host a
/// unix socket at `socket` that QEMU listens on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SerialPort {
    pub name: String,
    pub socket: PathBuf,
}

/// Everything needed to start one machine.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    pub board: Board,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub dtb: Option<PathBuf>,
    /// Kernel arguments after the board's `console=… panic=-1`.
    pub cmdline: Vec<String>,
    pub memory_mib: u32,
    pub drives: Vec<Drive>,
    pub serial_ports: Vec<SerialPort>,
    /// QEMU is killed after this long whatever happens (`timeout(1)`).
    pub hard_timeout: Duration,
    /// Where the console transcript is written as it arrives.
    pub log: PathBuf,
}

impl QemuConfig {
    /// Board defaults for booting `kernel` with `initrd`, logging the console to `log`.
    pub fn new(kernel: &Kernel, initrd: &Path, log: &Path) -> Self {
        Self {
            board: kernel.board,
            kernel: kernel.vmlinuz.clone(),
            initrd: initrd.to_path_buf(),
            dtb: kernel.dtb.clone(),
            cmdline: Vec::new(),
            memory_mib: kernel.board.memory_mib(),
            drives: Vec::new(),
            serial_ports: Vec::new(),
            hard_timeout: Duration::from_secs(300),
            log: log.to_path_buf(),
        }
    }

    /// The full kernel command line.
    pub fn kernel_cmdline(&self) -> String {
        let mut args = vec![
            format!("console={}", self.board.console()),
            "panic=-1".into(),
        ];
        args.extend(self.cmdline.iter().cloned());
        args.join(" ")
    }

    /// QEMU's arguments (without the program name).
    pub fn args(&self) -> Result<Vec<String>, Error> {
        let board = self.board;
        let mut args: Vec<String> = board.machine_args().iter().map(|s| s.to_string()).collect();
        args.extend(
            [
                "-m",
                &self.memory_mib.to_string(),
                "-accel",
                "tcg",
                "-nographic",
                "-monitor",
                "none",
                "-serial",
                "stdio",
                "-nic",
                "none",
                "-no-reboot",
            ]
            .map(String::from),
        );
        args.push("-kernel".into());
        args.push(self.path(&self.kernel, "kernel")?);
        args.push("-initrd".into());
        args.push(self.path(&self.initrd, "initrd")?);
        if let Some(dtb) = &self.dtb {
            args.push("-dtb".into());
            args.push(self.path(dtb, "dtb")?);
        }
        args.push("-append".into());
        args.push(self.kernel_cmdline());
        self.drive_args(&mut args)?;
        self.serial_args(&mut args)?;
        Ok(args)
    }

    fn drive_args(&self, args: &mut Vec<String>) -> Result<(), Error> {
        let interface = if self.board.has_virtio() {
            "virtio"
        } else if self.drives.len() > 1 {
            return Err(Error::Unsupported {
                board: self.board,
                what: "more than one disk (raspi2b has one SD card)",
            });
        } else {
            "sd"
        };
        for drive in &self.drives {
            let file = escape(&self.path(&drive.path, "disk image")?);
            let ro = if drive.read_only { ",readonly=on" } else { "" };
            args.push("-drive".into());
            args.push(format!("file={file},if={interface},format=raw{ro}"));
        }
        Ok(())
    }

    fn serial_args(&self, args: &mut Vec<String>) -> Result<(), Error> {
        if self.serial_ports.is_empty() {
            return Ok(());
        }
        if !self.board.has_virtio() {
            return Err(Error::Unsupported {
                board: self.board,
                what: "virtio-serial",
            });
        }
        args.extend(["-device".into(), "virtio-serial".into()]);
        for (i, port) in self.serial_ports.iter().enumerate() {
            let socket = escape(&self.path(&port.socket, "serial socket")?);
            args.push("-chardev".into());
            args.push(format!("socket,id=vs{i},path={socket},server=on,wait=off"));
            args.push("-device".into());
            args.push(format!(
                "virtserialport,chardev=vs{i},name={}",
                escape(&port.name)
            ));
        }
        Ok(())
    }

    fn path(&self, path: &Path, what: &'static str) -> Result<String, Error> {
        path.to_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::NonUtf8Path {
                board: self.board,
                what,
                path: path.to_path_buf(),
            })
    }
}

/// QEMU's option syntax: a literal comma is written twice.
fn escape(value: &str) -> String {
    value.replace(',', ",,")
}

#[cfg(test)]
mod tests;
