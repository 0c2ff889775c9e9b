//! The binaries and images of one boot: `northstar` and `hello-world` built for the
//! board, a root key and a package key generated for the run, the root image with its
//! signed descriptor, the example packages on the data image, the initramfs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use npk::key::SecretKey;

use super::{BootOptions, Error, REPOSITORY};
use crate::image::{self, config::BoardFiles, data, initrd, packages, root};
use crate::kernels::Kernel;
use crate::modules::ModuleIndex;
use crate::{cargo, Board};

/// The images of one boot.
pub(super) struct Images {
    pub root: root::RootImage,
    pub data: PathBuf,
    pub initrd: PathBuf,
    /// The ids of the packages the runtime starts at boot.
    pub autostart: Vec<String>,
}

/// The init (given or built) and hello-world, built together for the board.
pub(super) fn binaries(board: Board, options: &BootOptions) -> Result<(PathBuf, PathBuf), Error> {
    Ok(match &options.init {
        Some(init) => {
            let built = cargo::build_workspace_binaries(&[("hello-world", "hello-world")], board)?;
            (init.clone(), built[0].clone())
        }
        None => {
            let built = cargo::build_workspace_binaries(
                &[("northstar", "northstar"), ("hello-world", "hello-world")],
                board,
            )?;
            (built[0].clone(), built[1].clone())
        }
    })
}

pub(super) fn build_images(
    kernel: &Kernel,
    files: &BoardFiles,
    init: &Path,
    hello_world: &Path,
    dir: &Path,
) -> Result<Images, Error> {
    let root_key = SecretKey::generate().map_err(Error::Key)?;
    let package_key = SecretKey::generate().map_err(Error::Key)?;
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
    image::fresh_dir(&data_stage).map_err(|source| Error::WorkDir {
        path: data_stage.clone(),
        source,
    })?;
    let repo_dir = data_stage.join(repository.on_data().unwrap_or_default());
    let packed = packages::pack_examples(
        hello_world,
        &stage.join("hello-world"),
        &repo_dir,
        &package_key,
    )?;
    let data = dir.join("data.img");
    data::make_ext4(&data_stage, &data, data::SIZE_MIB)?;

    let resolution = ModuleIndex::load(&kernel.modules_dir)?.resolve(&files.modules)?;
    let initrd = dir.join("initramfs.cpio");
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
        &initrd,
    )?;
    log::info!(
        "images in {:.1} s: root {} data blocks, {} packages, initramfs {} KiB with {} modules",
        started.elapsed().as_secs_f64(),
        root.descriptor.data_blocks,
        packed.len(),
        size / 1024,
        resolution.load_order.len()
    );
    Ok(Images {
        autostart: packed
            .iter()
            .filter(|p| p.autostart)
            .map(|p| p.id.clone())
            .collect(),
        root,
        data,
        initrd,
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}
