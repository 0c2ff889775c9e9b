//! The binaries and images of one boot: `northstar`, `hello-world` and (for a reboot
//! through a container's console) `test-container` of the run's build for the board, a
//! package key generated for the run, the images of [`image::set`] with the example
//! packages (and the rebooter) in the repository, the signed root descriptor beside the
//! root image, and the disks the machine gets (two virtio disks, or one SD card holding
//! both).

use std::path::{Path, PathBuf};
use std::time::Instant;

use npk::key::SecretKey;

use super::{BootOptions, Error, REPOSITORY};
use crate::binaries::Binaries;
use crate::image::{config::BoardFiles, packages, sdcard, set};
use crate::kernels::Kernel;
use crate::qemu::Drive;
use crate::Board;

/// The images of one boot.
pub(super) struct Images {
    /// The data partition's image as built (on an SD card, a copy of it is there).
    pub data: PathBuf,
    /// The SD card holding root and data, on a board without virtio disks.
    pub sd_card: Option<sdcard::SdCard>,
    /// The disks in the order the machine gets them.
    pub drives: Vec<Drive>,
    pub initrd: PathBuf,
    /// The ids of the packages the runtime starts at boot.
    pub autostart: Vec<String>,
    /// The ids of every package (the runtime mounts them all at start).
    pub packages: Vec<String>,
    /// The ids of the containers that run until the shutdown stops them.
    pub running_at_shutdown: Vec<String>,
}

impl Images {
    /// The data file system to check after the boot: the data image, or partition 3
    /// copied out of the SD card into `data-after.img`.
    pub fn data_after_boot(&self, dir: &Path) -> Result<PathBuf, Error> {
        match &self.sd_card {
            None => Ok(self.data.clone()),
            Some(card) => {
                let out = dir.join("data-after.img");
                sdcard::extract(&card.path, &card.data, &out)?;
                Ok(out)
            }
        }
    }
}

/// The binaries of a boot.
pub(super) struct BootBinaries {
    pub init: PathBuf,
    pub hello_world: PathBuf,
    /// `test-container`, when the rebooter is needed.
    pub test_container: Option<PathBuf>,
}

/// The init (given, or the run's build), hello-world and, with `rebooter`,
/// test-container for the board.
pub(super) fn binaries(
    board: Board,
    built: &Binaries,
    options: &BootOptions,
    rebooter: bool,
) -> Result<BootBinaries, Error> {
    let init = match &options.init {
        Some(init) => init.clone(),
        None => built.guest(board, "northstar")?,
    };
    let test_container = if rebooter {
        Some(built.guest(board, "test-container")?)
    } else {
        None
    };
    Ok(BootBinaries {
        init,
        hello_world: built.guest(board, packages::HELLO_WORLD)?,
        test_container,
    })
}

pub(super) fn build_images(
    kernel: &Kernel,
    files: &BoardFiles,
    binaries: &BootBinaries,
    dir: &Path,
) -> Result<Images, Error> {
    let started = Instant::now();
    let package_key = SecretKey::generate().map_err(Error::key("generate"))?;
    let spec = set::Spec {
        kernel,
        files,
        init: &binaries.init,
        runtime_config: &files.runtime_toml,
        package_key: &package_key,
        repository: REPOSITORY,
        root_files: &[],
    };
    let (set, (packed, running_at_shutdown)) = set::build(&spec, dir, |stage| {
        let mut packed = packages::pack_examples(
            &binaries.hello_world,
            &stage.scratch.join(packages::HELLO_WORLD),
            stage.repository,
            &package_key,
        )?;
        let mut running_at_shutdown = Vec::new();
        if let Some(test_container) = &binaries.test_container {
            let rebooter = packages::pack_rebooter(
                test_container,
                &stage.scratch.join(packages::REBOOTER),
                stage.repository,
                &package_key,
            )?;
            running_at_shutdown.push(rebooter.id.clone());
            packed.push(rebooter);
        }
        Ok((packed, running_at_shutdown))
    })?;
    write(
        &dir.join("root.verity"),
        set.root.descriptor_text.as_bytes(),
    )?;
    write(&dir.join("root.verity.sig"), &set.root.signature)?;

    let (drives, sd_card) = if kernel.board.has_virtio() {
        let drive = |path: &Path, read_only| Drive {
            path: path.to_path_buf(),
            read_only,
        };
        (
            vec![drive(&set.root.path, true), drive(&set.data, false)],
            None,
        )
    } else {
        let card = sdcard::build(&set.root.path, &set.data, &dir.join("sd.img"))?;
        let drive = Drive {
            path: card.path.clone(),
            read_only: false,
        };
        (vec![drive], Some(card))
    };
    log::info!(
        "{}: images in {:.1} s: root {} data blocks, {} packages, initramfs {} KiB with {} \
         modules",
        kernel.board,
        started.elapsed().as_secs_f64(),
        set.root.descriptor.data_blocks,
        packed.len(),
        set.initrd_size / 1024,
        set.modules
    );
    Ok(Images {
        autostart: packed
            .iter()
            .filter(|p| p.autostart)
            .map(|p| p.id.clone())
            .collect(),
        packages: packed.iter().map(|p| p.id.clone()).collect(),
        running_at_shutdown,
        data: set.data,
        sd_card,
        drives,
        initrd: set.initrd,
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes).map_err(Error::io("write", path))
}
