//! The images of one machine, built the same way for the boot, the demo and the
//! scenarios: a root key generated for the build, the root image with a runtime
//! configuration and the packages' key, the data image holding one repository that the
//! caller fills with signed packages, and the initramfs with the init and the board's
//! modules. What differs stays with the caller: which packages and which key sign them,
//! an SD card, tampering after signing.

use std::path::{Path, PathBuf};

use npk::key::SecretKey;

use super::config::BoardFiles;
use super::{data, initrd, root};
use crate::error::Error;
use crate::kernels::Kernel;
use crate::modules::ModuleIndex;

/// What goes into the images.
pub struct Spec<'a> {
    pub kernel: &'a Kernel,
    pub files: &'a BoardFiles,
    /// The static init for the board.
    pub init: &'a Path,
    /// The runtime configuration copied into the root (the board's, or a scenario's).
    pub runtime_config: &'a Path,
    /// The key the packages are signed with: the root trusts its public half.
    pub package_key: &'a SecretKey,
    /// The repository of the runtime configuration that receives the packages.
    pub repository: &'a str,
    /// More files of the root: host file, path in the root ([`root::RootContents`]).
    pub root_files: &'a [(PathBuf, PathBuf)],
}

/// Where the caller puts the packages while the images are built.
pub struct Stage<'a> {
    /// The repository's directory on the data partition's staging tree.
    pub repository: &'a Path,
    /// A directory for the caller's own staging (package roots, manifests).
    pub scratch: &'a Path,
}

/// The images built in a directory.
pub struct ImageSet {
    /// `root.img`, with its signed descriptor.
    pub root: root::RootImage,
    /// `data.img`: the ext4 data partition.
    pub data: PathBuf,
    /// `initramfs.cpio`.
    pub initrd: PathBuf,
    /// The initramfs's size in bytes.
    pub initrd_size: u64,
    /// The modules in the initramfs (the board's and their dependencies).
    pub modules: usize,
}

/// Builds the images in `dir`, staging in `dir/stage/` (emptied first): the root, then
/// `fill` packs the packages into the repository's directory (what it returns comes
/// back beside the images), then the data image and the initramfs.
pub fn build<T>(
    spec: &Spec<'_>,
    dir: &Path,
    fill: impl FnOnce(&Stage<'_>) -> Result<T, Error>,
) -> Result<(ImageSet, T), Error> {
    let stage = dir.join("stage");
    super::fresh_dir(&stage).map_err(Error::io("create", &stage))?;
    let root_key = SecretKey::generate().map_err(Error::key("generate"))?;
    let contents = root::RootContents {
        runtime_config: spec.runtime_config.to_path_buf(),
        packages_key: spec.package_key.public(),
        files: spec.root_files.to_vec(),
    };
    let root = root::build(
        &contents,
        &stage.join("root"),
        &dir.join("root.img"),
        &root_key,
    )?;

    let repository = spec.files.data_repository(spec.repository)?;
    let data_stage = stage.join("data");
    let repo_dir = data_stage.join(repository.on_data().unwrap_or_default());
    std::fs::create_dir_all(&repo_dir).map_err(Error::io("create", &repo_dir))?;
    let scratch = stage.join("packages");
    std::fs::create_dir_all(&scratch).map_err(Error::io("create", &scratch))?;
    let filled = fill(&Stage {
        repository: &repo_dir,
        scratch: &scratch,
    })?;
    let data = dir.join("data.img");
    // Room for the packages (large ones in the benchmark of package sizes) and a margin
    // for the file system and what the containers write.
    let staged = super::tree_bytes(&data_stage).map_err(Error::io("measure", &data_stage))?;
    let size_mib = data::SIZE_MIB.max((staged + staged / 4) / (1 << 20) + 32);
    data::make_ext4(&data_stage, &data, size_mib)?;

    let initrd = dir.join("initramfs.cpio");
    let (initrd_size, modules) = write_initrd(spec.kernel, spec.files, spec.init, &root, &initrd)?;
    Ok((
        ImageSet {
            root,
            data,
            initrd,
            initrd_size,
            modules,
        },
        filled,
    ))
}

/// Writes the initramfs at `path`: `init`, the board's `board.toml`, the key, descriptor
/// and signature of `root`, and the board's modules of `kernel` with their dependencies.
/// Returns its size in bytes and the number of modules.
fn write_initrd(
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
