//! The initramfs of a real boot (`doc/boot.md`, "The initramfs"): `/init` (the static
//! `northstar` binary), `/dev/console`, `/etc/northstar/board.toml`, the root's key,
//! descriptor and signature, and `/lib/modules/<release>/` with the kernel's
//! `modules.dep`, `modules.builtin` (and `modules.builtin.modinfo` when the kernel has
//! one) and the `.ko` file of every module of the board's list and of their dependencies,
//! at the paths `modules.dep` gives.

use std::path::{Path, PathBuf};

use crate::initramfs::{self, DeviceKind, Initramfs};
use crate::kernels::Kernel;
use crate::modules::Resolution;

/// The board configuration in the initramfs.
pub const BOARD_TOML: &str = "/etc/northstar/board.toml";
/// The root's public key.
pub const ROOT_KEY: &str = "/etc/northstar/root.pub";
/// The root descriptor.
pub const ROOT_DESCRIPTOR: &str = "/etc/northstar/root.verity";
/// Its signature.
pub const ROOT_SIGNATURE: &str = "/etc/northstar/root.verity.sig";
/// The kernel's module index files copied when present (`modules.dep` is required).
const INDEX_FILES: [&str; 3] = ["modules.dep", "modules.builtin", "modules.builtin.modinfo"];

/// What goes into the initramfs.
#[derive(Clone, Debug)]
pub struct Contents<'a> {
    /// The static init binary for the board.
    pub init: &'a Path,
    /// The board's `board.toml` on the host.
    pub board_toml: &'a Path,
    pub root_key: [u8; 32],
    pub root_descriptor: &'a str,
    pub root_signature: [u8; 64],
    pub kernel: &'a Kernel,
    /// The board's modules resolved with their dependencies.
    pub modules: &'a Resolution,
}

/// Errors of the initramfs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("initramfs: the kernel has no {path}")]
    MissingIndex { path: PathBuf },
    #[error(transparent)]
    Archive(#[from] initramfs::Error),
}

/// Assembles the archive (not written yet).
pub fn assemble(contents: &Contents<'_>) -> Result<Initramfs, Error> {
    let mut archive = Initramfs::new();
    archive
        .file_from("/init", contents.init, 0o755)?
        .dir("/dev", 0o755)?
        .device("/dev/console", DeviceKind::Char, 5, 1, 0o600)?
        .file_from(BOARD_TOML, contents.board_toml, 0o644)?
        .file(ROOT_KEY, contents.root_key.to_vec(), 0o644)?
        .file(
            ROOT_DESCRIPTOR,
            contents.root_descriptor.as_bytes().to_vec(),
            0o644,
        )?
        .file(ROOT_SIGNATURE, contents.root_signature.to_vec(), 0o644)?;
    let kernel = contents.kernel;
    let modules = format!("/lib/modules/{}", kernel.release);
    for name in INDEX_FILES {
        let path = kernel.modules_dir.join(name);
        if path.is_file() {
            archive.file_from(&format!("{modules}/{name}"), &path, 0o644)?;
        } else if name == "modules.dep" {
            return Err(Error::MissingIndex { path });
        }
    }
    for module in &contents.modules.load_order {
        let guest = Path::new(&modules).join(&module.relative);
        archive.file_from(&guest.to_string_lossy(), &module.path, 0o644)?;
    }
    Ok(archive)
}

/// Assembles and writes the archive to `out`; returns its size in bytes.
pub fn write(contents: &Contents<'_>, out: &Path) -> Result<u64, Error> {
    Ok(assemble(contents)?.write(out)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::Package;
    use crate::modules::ModuleIndex;
    use crate::Board;
    use std::process::Command;

    /// A fake kernel: two modules, one depending on the other, and one built in.
    fn fake_kernel(root: &Path) -> Kernel {
        let dir = root.join("lib/modules/6.1.0-9-amd64");
        std::fs::create_dir_all(dir.join("kernel/a")).unwrap();
        std::fs::write(dir.join("kernel/a/one.ko"), b"one").unwrap();
        std::fs::write(dir.join("kernel/a/two-x.ko"), b"two").unwrap();
        std::fs::write(dir.join("kernel/a/unused.ko"), b"unused").unwrap();
        std::fs::write(
            dir.join("modules.dep"),
            "kernel/a/one.ko:\nkernel/a/two-x.ko: kernel/a/one.ko\nkernel/a/unused.ko:\n",
        )
        .unwrap();
        std::fs::write(dir.join("modules.builtin"), "kernel/b/inside.ko\n").unwrap();
        Kernel {
            board: Board::X86_64,
            package: Package {
                name: "linux-image-6.1.0-9-amd64".into(),
                arch: "amd64".into(),
                version: "1".into(),
            },
            release: "6.1.0-9-amd64".into(),
            vmlinuz: root.join("vmlinuz"),
            modules_dir: dir,
            dtb: None,
        }
    }

    #[test]
    fn holds_the_contract_files_and_only_the_needed_modules() {
        let dir = tempfile::tempdir().unwrap();
        let kernel = fake_kernel(dir.path());
        let init = dir.path().join("northstar");
        std::fs::write(&init, b"init").unwrap();
        let board = dir.path().join("board.toml");
        std::fs::write(&board, "name = \"x86_64\"\n").unwrap();
        let names = ["two_x".to_string(), "inside".to_string()];
        let resolution = ModuleIndex::load(&kernel.modules_dir)
            .unwrap()
            .resolve(&names)
            .unwrap();
        let contents = Contents {
            init: &init,
            board_toml: &board,
            root_key: [1; 32],
            root_descriptor: "root_hash = \"00\"\n",
            root_signature: [2; 64],
            kernel: &kernel,
            modules: &resolution,
        };
        let out = dir.path().join("initramfs.cpio");
        write(&contents, &out).unwrap();

        let listing = Command::new("cpio")
            .args(["-t", "--quiet", "-F"])
            .arg(&out)
            .output()
            .expect("cpio is installed");
        assert!(listing.status.success(), "{listing:?}");
        let listed: Vec<String> = String::from_utf8_lossy(&listing.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        let m = "lib/modules/6.1.0-9-amd64";
        for path in [
            "init",
            "dev/console",
            "etc/northstar/board.toml",
            "etc/northstar/root.pub",
            "etc/northstar/root.verity",
            "etc/northstar/root.verity.sig",
            &format!("{m}/modules.dep"),
            &format!("{m}/modules.builtin"),
            &format!("{m}/kernel/a/one.ko"),
            &format!("{m}/kernel/a/two-x.ko"),
        ] {
            assert!(listed.iter().any(|l| l == path), "{path} in {listed:?}");
        }
        assert!(!listed.iter().any(|l| l.ends_with("unused.ko")));
        assert!(!listed
            .iter()
            .any(|l| l.ends_with("modules.builtin.modinfo")));

        // Extracted with cpio, the files have the given bytes.
        let x = dir.path().join("x");
        std::fs::create_dir(&x).unwrap();
        let extract = Command::new("cpio")
            .args(["-i", "-d", "--quiet", "--no-absolute-filenames", "-F"])
            .arg(&out)
            .arg("etc/northstar/*")
            .current_dir(&x)
            .output()
            .unwrap();
        assert!(extract.status.success(), "{extract:?}");
        let read = |p: &str| std::fs::read(x.join("etc/northstar").join(p)).unwrap();
        assert_eq!(read("root.pub"), [1; 32]);
        assert_eq!(read("root.verity.sig"), [2; 64]);
        assert_eq!(read("root.verity"), b"root_hash = \"00\"\n");
        assert_eq!(read("board.toml"), b"name = \"x86_64\"\n");
    }

    #[test]
    fn a_kernel_without_modules_dep_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let kernel = fake_kernel(dir.path());
        std::fs::remove_file(kernel.modules_dir.join("modules.dep")).unwrap();
        let init = dir.path().join("init");
        std::fs::write(&init, b"").unwrap();
        let resolution = Resolution::default();
        let contents = Contents {
            init: &init,
            board_toml: &init,
            root_key: [0; 32],
            root_descriptor: "",
            root_signature: [0; 64],
            kernel: &kernel,
            modules: &resolution,
        };
        assert!(matches!(
            assemble(&contents),
            Err(Error::MissingIndex { .. })
        ));
    }
}
