//! Booting through a real boot loader: Debian's U-Boot for QEMU's aarch64 `virt`
//! machine (`u-boot-qemu`, `/usr/lib/u-boot/qemu_arm64/u-boot.bin`, 2023.01) with A/B
//! slots in RAUC's conventions.
//!
//! - The machine's two flash banks (`-drive if=pflash`, 64 MiB each): bank 0 holds
//!   `u-boot.bin` padded with erased flash (0xff), bank 1 the environment U-Boot starts
//!   with (its `bootcmd` and load addresses). The `qemu_arm64` configuration keeps it in
//!   flash (`CONFIG_ENV_IS_IN_FLASH`) at `CONFIG_ENV_ADDR` 0x4000000, the start of bank
//!   1, `CONFIG_ENV_SIZE` 0x40000, without a redundant copy: [`ENV_OFFSET`] and
//!   [`ENV_SIZE`] in the bank's file ([`env`]). U-Boot reads it; it cannot write it
//!   under QEMU 7.2 ([`script`] says why and where the slots' state goes instead).
//! - A GPT disk ([`disk`]): `boot` (FAT: the kernel `Image`, the initramfs, `boot.scr`
//!   and `uboot.env`, the slots' state), `rootfs_a`, `rootfs_b` (each a verified root
//!   image) and `data`.
//! - The boot script ([`script`]): RAUC's documented U-Boot logic, `BOOT_ORDER` and
//!   `BOOT_<slot>_LEFT`, as a legacy script image that U-Boot's `source` runs.
//!
//! It does not own what runs after the kernel (the scenario's business) nor the
//! environment's meaning to the init (`northstar-bootenv`).

pub mod disk;
pub mod env;
pub mod script;

use std::io::Write;
use std::path::{Path, PathBuf};

/// Debian's U-Boot for QEMU's aarch64 `virt` machine.
pub const U_BOOT_BIN: &str = "/usr/lib/u-boot/qemu_arm64/u-boot.bin";
/// Each flash bank of `virt`: QEMU wants the file to have exactly this size.
pub const FLASH_BANK: u64 = 64 << 20;
/// The environment's offset in bank 1 (`CONFIG_ENV_ADDR` 0x4000000 less the bank's base).
pub const ENV_OFFSET: u64 = 0;
/// `CONFIG_ENV_SIZE` of `qemu_arm64`.
pub const ENV_SIZE: usize = 0x40000;

/// Errors building the boot loader's images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {step} {path}")]
    Io {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {size} bytes do not fit a flash bank of {FLASH_BANK} bytes")]
    TooLarge { path: PathBuf, size: u64 },
    #[error(transparent)]
    Env(#[from] env::Error),
    #[error(transparent)]
    Disk(#[from] disk::Error),
}

fn io(step: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io { step, path, source }
}

/// The two flash banks of one machine.
#[derive(Clone, Debug)]
pub struct Flash {
    /// Bank 0: U-Boot.
    pub code: PathBuf,
    /// Bank 1: the environment at [`ENV_OFFSET`].
    pub vars: PathBuf,
}

impl Flash {
    /// QEMU's arguments for both banks, bank 0 first.
    pub fn qemu_args(&self) -> Vec<String> {
        [&self.code, &self.vars]
            .iter()
            .flat_map(|path| {
                [
                    "-drive".to_owned(),
                    format!(
                        "if=pflash,format=raw,file={}",
                        path.display().to_string().replace(',', ",,")
                    ),
                ]
            })
            .collect()
    }

    /// `fw_env.config`'s line for the environment in [`Flash::vars`].
    pub fn fw_env_config(&self) -> String {
        format!("{} {ENV_OFFSET:#x} {ENV_SIZE:#x}\n", self.vars.display())
    }
}

/// Writes `code.img` (U-Boot from `u_boot`) and `vars.img` (the environment `vars`) in
/// `dir`, each a whole bank of erased flash around its content.
pub fn flash(u_boot: &Path, vars: &env::Env, dir: &Path) -> Result<Flash, Error> {
    let code = dir.join("code.img");
    let bytes = std::fs::read(u_boot).map_err(io("read", u_boot))?;
    write_bank(&code, &[(0, &bytes)])?;
    let path = dir.join("vars.img");
    write_bank(&path, &[(ENV_OFFSET, &vars.encode()?)])?;
    Ok(Flash { code, vars: path })
}

/// Writes a bank: erased flash (0xff) with `parts` at their offsets.
fn write_bank(path: &Path, parts: &[(u64, &[u8])]) -> Result<(), Error> {
    let mut bank = vec![0xffu8; FLASH_BANK as usize];
    for (offset, bytes) in parts {
        let end = *offset as usize + bytes.len();
        if end > bank.len() {
            return Err(Error::TooLarge {
                path: path.to_path_buf(),
                size: end as u64,
            });
        }
        bank[*offset as usize..end].copy_from_slice(bytes);
    }
    let mut file = std::fs::File::create(path).map_err(io("create", path))?;
    file.write_all(&bank).map_err(io("write", path))?;
    file.sync_all().map_err(io("sync", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banks_have_the_machines_size_and_their_content_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("u-boot.bin");
        std::fs::write(&fake, b"\x01\x02\x03").unwrap();
        let mut vars = env::Env::default();
        vars.set("BOOT_ORDER", "A B");
        let flash = flash(&fake, &vars, dir.path()).unwrap();
        let code = std::fs::read(&flash.code).unwrap();
        assert_eq!(code.len() as u64, FLASH_BANK);
        assert_eq!(&code[..4], b"\x01\x02\x03\xff");
        let bank = std::fs::read(&flash.vars).unwrap();
        assert_eq!(bank.len() as u64, FLASH_BANK);
        let read = env::Env::decode(&bank[..ENV_SIZE]).unwrap();
        assert_eq!(read.get("BOOT_ORDER"), Some("A B"));
        assert!(bank[ENV_SIZE..].iter().all(|b| *b == 0xff));
        let args = flash.qemu_args();
        assert_eq!(args.len(), 4);
        assert!(args[1].starts_with("if=pflash,format=raw,file="));
        assert!(args[1].ends_with("code.img") && args[3].ends_with("vars.img"));
    }
}
