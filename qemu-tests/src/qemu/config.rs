//! The QEMU command line of one boot: board defaults plus the scenario's kernel, initramfs,
//! kernel arguments, disks, devices, management ports and the QMP socket.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Error;
use crate::kernels::Kernel;
use crate::Board;

/// An extra raw disk image. On virtio machines it is a virtio block device (`/dev/vdX`,
/// in order: `-drive if=none` plus `-device virtio-blk-pci`); on raspi2b, which has no
/// virtio, it is the SD card (`/dev/mmcblk0`, one only).
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
    /// Virtual CPUs (`-smp`); 1, the default, adds no option.
    pub smp: u32,
    /// `-snapshot`: the guest's writes to every disk go to temporary files, so that each
    /// boot of the same images starts from the same bytes.
    pub snapshot: bool,
    pub drives: Vec<Drive>,
    pub serial_ports: Vec<SerialPort>,
    /// Extra `-device` arguments, e.g. `i6300esb` (a watchdog).
    pub devices: Vec<String>,
    /// A QMP server on this unix socket (`-qmp unix:…,server=on,wait=off`), for the
    /// harness to control the machine (e.g. send keys).
    pub qmp: Option<PathBuf>,
    /// QEMU is killed after this long whatever happens (`timeout(1)`).
    pub hard_timeout: Duration,
    /// `-no-reboot`: a reboot of the guest ends QEMU (the default). Off, the machine
    /// restarts with the same kernel, initramfs and disks.
    pub no_reboot: bool,
    /// The console on a terminal ([`super::run_interactive`]): `-serial mon:stdio`, so
    /// that Ctrl-A X ends QEMU and Ctrl-C goes to the guest.
    pub interactive: bool,
    /// Where the console transcript is written as it arrives.
    pub log: PathBuf,
    /// QEMU's arguments of a boot loader in flash (`-drive if=pflash,…`): when given, it
    /// boots the machine, and there is no `-kernel`, `-initrd`, `-dtb` or `-append`.
    pub firmware: Vec<String>,
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
            smp: 1,
            snapshot: false,
            drives: Vec::new(),
            serial_ports: Vec::new(),
            devices: Vec::new(),
            qmp: None,
            hard_timeout: Duration::from_secs(300),
            no_reboot: true,
            interactive: false,
            log: log.to_path_buf(),
            firmware: Vec::new(),
        }
    }

    /// The full kernel command line.
    pub fn kernel_cmdline(&self) -> String {
        let mut args = vec![
            format!("console={}", self.board.console()),
            "panic=-1".into(),
        ];
        args.extend(self.board.kernel_args().iter().map(|a| a.to_string()));
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
                if self.interactive {
                    "mon:stdio"
                } else {
                    "stdio"
                },
                "-nic",
                "none",
            ]
            .map(String::from),
        );
        if self.smp > 1 {
            args.push("-smp".into());
            args.push(self.smp.to_string());
        }
        if self.snapshot {
            args.push("-snapshot".into());
        }
        if self.no_reboot {
            args.push("-no-reboot".into());
        }
        if self.firmware.is_empty() {
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
        } else {
            args.extend(self.firmware.iter().cloned());
        }
        self.drive_args(&mut args)?;
        self.serial_args(&mut args)?;
        for device in &self.devices {
            args.push("-device".into());
            args.push(device.clone());
        }
        if let Some(qmp) = &self.qmp {
            let socket = escape(&self.path(qmp, "QMP socket")?);
            args.push("-qmp".into());
            args.push(format!("unix:{socket},server=on,wait=off"));
        }
        Ok(args)
    }

    fn drive_args(&self, args: &mut Vec<String>) -> Result<(), Error> {
        if !self.board.has_virtio() && self.drives.len() > 1 {
            return Err(Error::Unsupported {
                board: self.board,
                what: "more than one disk (raspi2b has one SD card)",
            });
        }
        for (i, drive) in self.drives.iter().enumerate() {
            let file = escape(&self.path(&drive.path, "disk image")?);
            let ro = if drive.read_only { ",readonly=on" } else { "" };
            args.push("-drive".into());
            if self.board.has_virtio() {
                args.push(format!("file={file},if=none,id=disk{i},format=raw{ro}"));
                args.push("-device".into());
                args.push(format!("virtio-blk-pci,drive=disk{i}"));
            } else {
                args.push(format!("file={file},if=sd,format=raw{ro}"));
            }
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
