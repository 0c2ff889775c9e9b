//! The three boards the harness boots, and everything that differs between them: Rust
//! target, Debian architecture and kernel package, QEMU machine and console device.
//!
//! Only facts live here; fetching, building and running are elsewhere.

use std::fmt;
use std::str::FromStr;

/// A QEMU machine standing in for one of Northstar's boards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Board {
    /// `qemu-system-x86_64 -M q35`.
    X86_64,
    /// `qemu-system-aarch64 -M virt -cpu cortex-a57`.
    Aarch64,
    /// `qemu-system-arm -M raspi2b`: the Raspberry Pi 2 itself.
    Rpi2,
}

/// The name given for a board that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("unknown board {0:?} (expected x86_64, aarch64 or rpi2)")]
pub struct UnknownBoard(pub String);

impl Board {
    /// All boards, in the order the harness runs them.
    pub const ALL: [Board; 3] = [Board::X86_64, Board::Aarch64, Board::Rpi2];

    /// The board's name on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Board::X86_64 => "x86_64",
            Board::Aarch64 => "aarch64",
            Board::Rpi2 => "rpi2",
        }
    }

    /// The Rust target a static guest binary is built for.
    pub fn rust_target(self) -> &'static str {
        match self {
            Board::X86_64 => "x86_64-unknown-linux-musl",
            Board::Aarch64 => "aarch64-unknown-linux-musl",
            Board::Rpi2 => "armv7-unknown-linux-gnueabihf",
        }
    }

    /// `std::env::consts::ARCH` of a guest binary built for [`Board::rust_target`].
    pub fn guest_arch(self) -> &'static str {
        match self {
            Board::X86_64 => "x86_64",
            Board::Aarch64 => "aarch64",
            Board::Rpi2 => "arm",
        }
    }

    /// Debian's architecture name.
    pub fn debian_arch(self) -> &'static str {
        match self {
            Board::X86_64 => "amd64",
            Board::Aarch64 => "arm64",
            Board::Rpi2 => "armhf",
        }
    }

    /// Debian's kernel metapackage; it depends on the current versioned kernel package.
    pub fn kernel_metapackage(self) -> &'static str {
        match self {
            Board::X86_64 => "linux-image-amd64",
            Board::Aarch64 => "linux-image-arm64",
            Board::Rpi2 => "linux-image-armmp",
        }
    }

    /// The device tree the machine needs, by file name inside the kernel package.
    pub fn dtb(self) -> Option<&'static str> {
        match self {
            Board::Rpi2 => Some("bcm2836-rpi-2-b.dtb"),
            Board::X86_64 | Board::Aarch64 => None,
        }
    }

    /// The QEMU system emulator.
    pub fn qemu_binary(self) -> &'static str {
        match self {
            Board::X86_64 => "qemu-system-x86_64",
            Board::Aarch64 => "qemu-system-aarch64",
            Board::Rpi2 => "qemu-system-arm",
        }
    }

    /// Machine (and CPU) arguments.
    pub fn machine_args(self) -> &'static [&'static str] {
        match self {
            Board::X86_64 => &["-M", "q35"],
            Board::Aarch64 => &["-M", "virt", "-cpu", "cortex-a57"],
            Board::Rpi2 => &["-M", "raspi2b"],
        }
    }

    /// Kernel arguments the emulated machine needs, before the scenario's own.
    ///
    /// raspi2b: no kernel memory or socket accounting in memory cgroups, no cpuset
    /// controller. The first memory or cpuset cgroup otherwise switches on static keys,
    /// which 32-bit ARM patches one call site at a time, each under `stop_machine`
    /// holding all four CPUs. Under TCG, such a patch that meets the page-by-page TLB
    /// flush after a module's init memory is freed (every page a broadcast invalidation
    /// that waits for every vCPU thread) stalled the guest for over 100 s on a two-core
    /// host. The real board broadcasts in hardware and needs none of this.
    pub fn kernel_args(self) -> &'static [&'static str] {
        match self {
            Board::X86_64 | Board::Aarch64 => &[],
            Board::Rpi2 => &["cgroup.memory=nokmem,nosocket", "cgroup_disable=cpuset"],
        }
    }

    /// Guest memory in MiB (raspi2b accepts exactly 1024).
    pub fn memory_mib(self) -> u32 {
        match self {
            Board::X86_64 | Board::Aarch64 => 512,
            Board::Rpi2 => 1024,
        }
    }

    /// The kernel's name for the first serial port, which QEMU connects to the console.
    pub fn console(self) -> &'static str {
        match self {
            Board::X86_64 => "ttyS0",
            Board::Aarch64 | Board::Rpi2 => "ttyAMA0",
        }
    }

    /// Whether `reboot(RB_POWER_OFF)` in the guest ends QEMU. raspi2b has no power
    /// controller: there the harness stops QEMU itself.
    pub fn powers_off(self) -> bool {
        !matches!(self, Board::Rpi2)
    }

    /// Whether the machine has a virtio transport (PCI): virtio disks and virtio-serial.
    /// raspi2b has none; its disk is the SD card.
    pub fn has_virtio(self) -> bool {
        !matches!(self, Board::Rpi2)
    }

    /// The board's directory under `board-configs/` (its `board.toml` and
    /// `runtime.toml`); the `virt` machine stands in for the Renesas board.
    pub fn config_dir(self) -> &'static str {
        match self {
            Board::X86_64 => "x86_64",
            Board::Aarch64 => "renesas-aarch64",
            Board::Rpi2 => "rpi2",
        }
    }

    /// The QEMU device that provides the watchdog a board configuration names, where the
    /// machine has none built in: the Intel 6300ESB (driver `i6300esb`, a PCI device) on
    /// x86_64 and on the `virt` stand-in.
    pub fn watchdog_device(self) -> Option<&'static str> {
        match self {
            Board::X86_64 | Board::Aarch64 => Some("i6300esb"),
            Board::Rpi2 => None,
        }
    }

    /// Kernel arguments (`northstar.*` overrides, `doc/boot.md`) that switch the board's
    /// configuration to the machine's devices, as the board's README describes:
    /// - `aarch64`: `virt` stands in for the Renesas board: virtio disks instead of the
    ///   eMMC, the i6300esb instead of the RWDT, so other modules;
    /// - `rpi2`: raspi2b is the board itself, but QEMU models the power management block's
    ///   reset and not its watchdog timer: starting the watchdog resets the machine at once.
    pub fn config_overrides(self) -> &'static [&'static str] {
        match self {
            Board::X86_64 => &[],
            Board::Aarch64 => &[
                "northstar.modules=virtio_pci,virtio_blk,loop,squashfs,dm-verity,crc32c_generic,ext4,i6300esb",
                "northstar.root.device=/dev/vda",
                "northstar.data.device=/dev/vdb",
            ],
            Board::Rpi2 => &["northstar.watchdog=off"],
        }
    }

    /// The root and data devices as the guest names the disks the harness attaches: the
    /// first and second virtio disk, or partitions 2 and 3 of the SD card.
    pub fn disk_devices(self) -> (&'static str, &'static str) {
        if self.has_virtio() {
            ("/dev/vda", "/dev/vdb")
        } else {
            ("/dev/mmcblk0p2", "/dev/mmcblk0p3")
        }
    }

    /// Whether QEMU's `send-key ctrl alt delete` reaches the guest's kernel as
    /// Ctrl-Alt-Del: only q35 has a PS/2 keyboard (i8042) for it.
    pub fn has_ctrl_alt_del(self) -> bool {
        matches!(self, Board::X86_64)
    }
}

impl fmt::Display for Board {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Board {
    type Err = UnknownBoard;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Board::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| UnknownBoard(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for board in Board::ALL {
            assert_eq!(board.name().parse::<Board>().unwrap(), board);
        }
        assert!("rpi3".parse::<Board>().is_err());
    }

    #[test]
    fn every_board_has_its_configuration_directory() {
        let configs = crate::cargo::workspace_root().join("board-configs");
        for board in Board::ALL {
            let dir = configs.join(board.config_dir());
            assert!(dir.join("board.toml").is_file(), "{}", dir.display());
            assert!(dir.join("runtime.toml").is_file(), "{}", dir.display());
        }
    }

    #[test]
    #[cfg(feature = "images")]
    fn the_overrides_name_the_disks_the_harness_attaches() {
        for board in Board::ALL {
            let (root, data) = board.disk_devices();
            let overrides = board.config_overrides();
            let files = crate::image::config::BoardFiles::load(board)
                .unwrap()
                .with_overrides(overrides);
            assert_eq!(files.root_device, root, "{board}");
            assert_eq!(files.data_device.as_deref(), Some(data), "{board}");
            assert_eq!(files.watchdog, board.watchdog_device().is_some(), "{board}");
        }
    }

    #[test]
    fn only_the_raspberry_pi_needs_a_dtb_and_cannot_power_off() {
        for board in Board::ALL {
            assert_eq!(board.dtb().is_some(), board == Board::Rpi2);
            assert_eq!(board.powers_off(), board != Board::Rpi2);
        }
    }
}
