//! The binaries and images of one boot: `northstar`, `hello-world` and (for a reboot
//! through a container's console) `test-container` built for the board, a root key and a
//! package key generated for the run, the root image with its signed descriptor, the
//! example packages (and the rebooter) on the data image, the disks the machine gets
//! (two virtio disks, or one SD card holding both), the initramfs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use npk::key::SecretKey;

use super::{BootOptions, Error, REPOSITORY};
use crate::image::{self, config::BoardFiles, data, initrd, packages, root, sdcard};
use crate::kernels::Kernel;
use crate::modules::ModuleIndex;
use crate::qemu::Drive;
use crate::{cargo, Board};

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
pub(super) struct Binaries {
    pub init: PathBuf,
    pub hello_world: PathBuf,
    /// `test-container`, when the rebooter is needed.
    pub test_container: Option<PathBuf>,
}

/// The init (given or built), hello-world and, with `rebooter`, test-container, built
/// together for the board.
pub(super) fn binaries(
    board: Board,
    options: &BootOptions,
    rebooter: bool,
) -> Result<Binaries, Error> {
    let mut wanted = Vec::new();
    if options.init.is_none() {
        wanted.push(("northstar", "northstar"));
    }
    wanted.push(("hello-world", "hello-world"));
    if rebooter {
        wanted.push(("test-container", "test-container"));
    }
    let mut built = cargo::build_workspace_binaries(&wanted, board)?.into_iter();
    let mut next = |name: &str| {
        built.next().ok_or_else(|| Error::Binary {
            name: name.to_owned(),
        })
    };
    let init = match &options.init {
        Some(init) => init.clone(),
        None => next("northstar")?,
    };
    let hello_world = next("hello-world")?;
    let test_container = if rebooter {
        Some(next("test-container")?)
    } else {
        None
    };
    Ok(Binaries {
        init,
        hello_world,
        test_container,
    })
}

pub(super) fn build_images(
    kernel: &Kernel,
    files: &BoardFiles,
    binaries: &Binaries,
    dir: &Path,
) -> Result<Images, Error> {
    let (init, hello_world) = (binaries.init.as_path(), binaries.hello_world.as_path());
    let root_key = SecretKey::generate().map_err(Error::key("generate"))?;
    let package_key = SecretKey::generate().map_err(Error::key("generate"))?;
    let stage = dir.join("stage");

    let started = Instant::now();
    let contents = root::RootContents {
        runtime_config: files.runtime_toml.clone(),
        packages_key: package_key.public(),
    };
    let root = root::build(
        &contents,
        &stage.join("root"),
        &dir.join("root.img"),
        &root_key,
    )?;
    write(&dir.join("root.verity"), root.descriptor_text.as_bytes())?;
    write(&dir.join("root.verity.sig"), &root.signature)?;

    let repository = files.data_repository(REPOSITORY)?;
    let data_stage = stage.join("data");
    image::fresh_dir(&data_stage).map_err(Error::io("create", &data_stage))?;
    let repo_dir = data_stage.join(repository.on_data().unwrap_or_default());
    let mut packed = packages::pack_examples(
        hello_world,
        &stage.join("hello-world"),
        &repo_dir,
        &package_key,
    )?;
    let mut running_at_shutdown = Vec::new();
    if let Some(test_container) = &binaries.test_container {
        let rebooter = packages::pack_rebooter(
            test_container,
            &stage.join(packages::REBOOTER),
            &repo_dir,
            &package_key,
        )?;
        running_at_shutdown.push(rebooter.id.clone());
        packed.push(rebooter);
    }
    let data = dir.join("data.img");
    data::make_ext4(&data_stage, &data, data::SIZE_MIB)?;
    let (drives, sd_card) = if kernel.board.has_virtio() {
        let drive = |path: &Path, read_only| Drive {
            path: path.to_path_buf(),
            read_only,
        };
        (vec![drive(&root.path, true), drive(&data, false)], None)
    } else {
        let card = sdcard::build(&root.path, &data, &dir.join("sd.img"))?;
        let drive = Drive {
            path: card.path.clone(),
            read_only: false,
        };
        (vec![drive], Some(card))
    };

    let initrd = dir.join("initramfs.cpio");
    let (size, modules) = write_initrd(kernel, files, init, &root, &initrd)?;
    log::info!(
        "images in {:.1} s: root {} data blocks, {} packages, initramfs {} KiB with {} modules",
        started.elapsed().as_secs_f64(),
        root.descriptor.data_blocks,
        packed.len(),
        size / 1024,
        modules
    );
    Ok(Images {
        autostart: packed
            .iter()
            .filter(|p| p.autostart)
            .map(|p| p.id.clone())
            .collect(),
        packages: packed.iter().map(|p| p.id.clone()).collect(),
        running_at_shutdown,
        data,
        sd_card,
        drives,
        initrd,
    })
}

/// Writes the initramfs at `path`: `init`, the board's `board.toml`, the key, descriptor
/// and signature of `root`, and the board's modules of `kernel` with their dependencies.
/// Returns its size in bytes and the number of modules.
pub(crate) fn write_initrd(
    kernel: &Kernel,
    files: &BoardFiles,
    init: &Path,
    root: &root::RootImage,
    path: &Path,
) -> Result<(u64, usize), Error> {
    let resolution = ModuleIndex::load(&kernel.modules_dir)?.resolve(&files.modules)?;
    let size = initrd::write(
        &initrd::Contents {
            init,
            board_toml: &files.board_toml,
            root_key: root.key.to_bytes(),
            root_descriptor: &root.descriptor_text,
            root_signature: root.signature,
            kernel,
            modules: &resolution,
        },
        path,
    )?;
    Ok((size, resolution.load_order.len()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes).map_err(Error::io("write", path))
}
