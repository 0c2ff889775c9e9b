//! The A/B boot script in RAUC's U-Boot conventions, and the legacy image that wraps it
//! for U-Boot's `source` (what `mkimage -A arm64 -T script -C none` writes, done here
//! so that the harness needs no `u-boot-tools`).
//!
//! The script: every slot of `BOOT_ORDER` in turn; the first whose `BOOT_<slot>_LEFT`
//! is above 0 has it decremented and is booted (the state saved first, so an attempt
//! counts even when the boot never comes back), with `rauc.slot=<slot>` on the kernel
//! command line. When no slot has attempts left, every slot gets the configured attempts
//! back and the machine resets, as RAUC's example does. Missing variables get their
//! defaults (the order given, the attempts).
//!
//! Where the state lives: RAUC's example saves the whole environment (`saveenv`). On
//! QEMU 7.2's `virt` flash, U-Boot 2023.01's buffered flash writes fail after the first
//! 4 KiB (`Flash buffer write timeout`; QEMU: `Write to buffer emulation is flawed`), so
//! the environment in flash cannot be saved there. The script keeps the slots' variables
//! in a file of the boot partition instead, in the flash environment's format
//! (`env export -c`, CRC-checked by `env import -c`), read at its start and written
//! with `fatwrite`, as boards whose U-Boot keeps its environment in a FAT file do.

use super::env::crc32;

/// The legacy image's magic (`IH_MAGIC`).
const MAGIC: u32 = 0x2705_1956;
/// `IH_OS_LINUX`, `IH_ARCH_ARM64`, `IH_TYPE_SCRIPT`, `IH_COMP_NONE`.
const OS_LINUX: u8 = 5;
const ARCH_ARM64: u8 = 22;
const TYPE_SCRIPT: u8 = 6;
const COMP_NONE: u8 = 0;
/// The header's size and the name's room in it.
const HEADER: usize = 64;
const NAME: usize = 32;

/// What the script boots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Boot {
    /// The slots' boot names, the default `BOOT_ORDER`.
    pub slots: Vec<String>,
    /// The attempts a slot gets back when none is left.
    pub attempts: u32,
    /// The U-Boot device holding the kernel and the initramfs (`virtio 0:1`).
    pub device: String,
    /// Their file names on it.
    pub kernel: String,
    pub initramfs: String,
    /// The file on it holding the slots' variables (U-Boot's environment format).
    pub state: String,
    /// Its size (`CONFIG_ENV_SIZE`) and where it is loaded in RAM.
    pub state_size: usize,
    pub state_addr: String,
}

/// The script's text.
pub fn text(boot: &Boot) -> String {
    let Boot {
        slots,
        attempts,
        device,
        kernel,
        initramfs,
        state,
        state_size,
        state_addr,
    } = boot;
    let mut s = String::from(
        "# A/B slot selection in RAUC's U-Boot conventions: BOOT_ORDER lists the slots,\n\
         # BOOT_<slot>_LEFT counts the attempts each has left.\n",
    );
    s += &format!(
        "if load {device} {state_addr} {state}; then env import -c {state_addr} ${{filesize}}; fi\n"
    );
    let vars: Vec<String> = std::iter::once("BOOT_ORDER".to_owned())
        .chain(slots.iter().map(|slot| format!("BOOT_{slot}_LEFT")))
        .collect();
    let save = format!(
        "env export -c -s {state_size:#x} {state_addr} {}\n  \
         fatwrite {device} {state_addr} {state} {state_size:#x}\n",
        vars.join(" ")
    );
    s += &format!(
        "test -n \"${{BOOT_ORDER}}\" || setenv BOOT_ORDER \"{}\"\n",
        slots.join(" ")
    );
    for slot in slots {
        s += &format!("test -n \"${{BOOT_{slot}_LEFT}}\" || setenv BOOT_{slot}_LEFT {attempts}\n");
    }
    s += "setenv rauc_slot\nfor BOOT_SLOT in \"${BOOT_ORDER}\"; do\n  if test -n \"${rauc_slot}\"; then\n    true\n";
    for slot in slots {
        s += &format!(
            "  elif test \"x${{BOOT_SLOT}}\" = \"x{slot}\"; then\n    \
             if test ${{BOOT_{slot}_LEFT}} -gt 0; then\n      \
             setexpr BOOT_{slot}_LEFT ${{BOOT_{slot}_LEFT}} - 1\n      \
             echo \"slot {slot}: ${{BOOT_{slot}_LEFT}} attempts left after this one\"\n      \
             setenv rauc_slot {slot}\n    fi\n"
        );
    }
    s += "  fi\ndone\n";
    let reset: String = slots
        .iter()
        .map(|slot| format!("  setenv BOOT_{slot}_LEFT {attempts}\n"))
        .collect();
    s += &format!(
        "if test -z \"${{rauc_slot}}\"; then\n  \
         echo \"no slot has attempts left: every slot gets {attempts} again\"\n{reset}  \
         {save}  reset\nfi\n\
         {save}\
         load {device} ${{kernel_addr_r}} {kernel}\n\
         load {device} ${{ramdisk_addr_r}} {initramfs}\n\
         setenv bootargs \"${{default_bootargs}} rauc.slot=${{rauc_slot}}\"\n\
         booti ${{kernel_addr_r}} ${{ramdisk_addr_r}}:${{filesize}} ${{fdtcontroladdr}}\n\
         echo \"booting slot ${{rauc_slot}} failed\"\n"
    );
    s
}

/// The legacy image of `script` named `name` (at most 32 bytes are kept): a 64-byte
/// big-endian header, then the image's length list (the script's length, a 0) and the
/// script. The time stamp is 0, so equal scripts give equal images.
pub fn image(name: &str, script: &str) -> Vec<u8> {
    let mut data = Vec::with_capacity(8 + script.len());
    data.extend_from_slice(&(script.len() as u32).to_be_bytes());
    data.extend_from_slice(&0u32.to_be_bytes());
    data.extend_from_slice(script.as_bytes());
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(&MAGIC.to_be_bytes());
    header.extend_from_slice(&0u32.to_be_bytes()); // header CRC, below
    header.extend_from_slice(&0u32.to_be_bytes()); // time
    header.extend_from_slice(&(data.len() as u32).to_be_bytes());
    header.extend_from_slice(&0u32.to_be_bytes()); // load address
    header.extend_from_slice(&0u32.to_be_bytes()); // entry point
    header.extend_from_slice(&crc32(&data).to_be_bytes());
    header.extend_from_slice(&[OS_LINUX, ARCH_ARM64, TYPE_SCRIPT, COMP_NONE]);
    let mut field = [0u8; NAME];
    let bytes = name.as_bytes();
    let len = bytes.len().min(NAME);
    field[..len].copy_from_slice(&bytes[..len]);
    header.extend_from_slice(&field);
    let hcrc = crc32(&header);
    header[4..8].copy_from_slice(&hcrc.to_be_bytes());
    header.extend_from_slice(&data);
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot() -> Boot {
        Boot {
            slots: vec!["A".into(), "B".into()],
            attempts: 3,
            device: "virtio 0:1".into(),
            kernel: "Image".into(),
            initramfs: "initramfs.cpio".into(),
            state: "uboot.env".into(),
            state_size: 0x40000,
            state_addr: "0x4c000000".into(),
        }
    }

    #[test]
    fn the_script_counts_every_slot_and_names_it_on_the_command_line() {
        let s = text(&boot());
        assert!(s.contains("setenv BOOT_ORDER \"A B\""));
        for slot in ["A", "B"] {
            assert!(s.contains(&format!("setenv BOOT_{slot}_LEFT 3\n")));
            assert!(s.contains(&format!(
                "setexpr BOOT_{slot}_LEFT ${{BOOT_{slot}_LEFT}} - 1"
            )));
        }
        assert!(s.contains("rauc.slot=${rauc_slot}"));
        assert!(s.contains("load virtio 0:1 ${kernel_addr_r} Image"));
        // The state is read first, and the attempt saved before the kernel is loaded.
        assert!(s.starts_with("# A/B"));
        assert!(s.contains("load virtio 0:1 0x4c000000 uboot.env; then env import -c"));
        let saved = s
            .rfind("fatwrite virtio 0:1 0x4c000000 uboot.env 0x40000")
            .unwrap();
        assert!(saved < s.find("${kernel_addr_r} Image").unwrap());
        assert!(
            s.contains("env export -c -s 0x40000 0x4c000000 BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT")
        );
    }

    #[test]
    fn the_image_header_holds_its_checksums() {
        let script = "echo hello\n";
        let img = image("boot", script);
        assert_eq!(img.len(), HEADER + 8 + script.len());
        let word = |at: usize| u32::from_be_bytes([img[at], img[at + 1], img[at + 2], img[at + 3]]);
        assert_eq!(word(0), MAGIC);
        let mut header = img[..HEADER].to_vec();
        header[4..8].fill(0);
        assert_eq!(word(4), crc32(&header));
        assert_eq!(word(12) as usize, 8 + script.len());
        assert_eq!(word(24), crc32(&img[HEADER..]));
        assert_eq!(&img[28..32], &[5, 22, 6, 0]);
        assert_eq!(&img[32..36], b"boot");
        assert_eq!(word(HEADER) as usize, script.len());
        assert_eq!(word(HEADER + 4), 0);
        assert_eq!(&img[HEADER + 8..], script.as_bytes());
    }
}
