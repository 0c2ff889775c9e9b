//! The images of one scenario: the root with the scenario's runtime configuration, the
//! scenario's test containers packed and signed into the `system` repository on the data
//! image, the initramfs; then the scenario's tampering, after everything was signed.

use std::path::{Path, PathBuf};

use npk::key::SecretKey;

use super::spec::{self, Container};
use super::{tamper, Error, Scenario, Shared};
use crate::boot::REPOSITORY;
use crate::image::{self, data, initrd, root};
use crate::modules::ModuleIndex;

/// The images of one scenario.
pub(super) struct Images {
    pub root: PathBuf,
    pub data: PathBuf,
    pub initrd: PathBuf,
    pub containers: Vec<Container>,
    /// What was changed after signing, for the report.
    pub tampered: Option<(PathBuf, tamper::Tampered)>,
    /// The key the packages are signed with (the root trusts it).
    pub package_key: SecretKey,
}

pub(super) fn build(shared: &Shared, scenario: Scenario, dir: &Path) -> Result<Images, Error> {
    let io = |step, path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { step, path, source }
    };
    let root_key = SecretKey::generate().map_err(Error::Key)?;
    let package_key = SecretKey::generate().map_err(Error::Key)?;
    let stage = dir.join("stage");
    image::fresh_dir(&stage).map_err(io("create", &stage))?;

    let board_config = std::fs::read_to_string(&shared.files.runtime_toml)
        .map_err(io("read", &shared.files.runtime_toml))?;
    let runtime_toml = dir.join("runtime.toml");
    std::fs::write(&runtime_toml, spec::runtime_config(scenario, &board_config))
        .map_err(io("write", &runtime_toml))?;
    let contents = root::RootContents {
        runtime_config: runtime_toml,
        packages_key: package_key.public(),
    };
    let root_path = dir.join("root.img");
    let root = root::build(&contents, &stage.join("root"), &root_path, &root_key)?;

    let repository = shared.files.data_repository(REPOSITORY)?;
    let data_stage = stage.join("data");
    let repo_dir = data_stage.join(repository.on_data().unwrap_or_default());
    std::fs::create_dir_all(&repo_dir).map_err(io("create", &repo_dir))?;
    let program_root = stage.join("program");
    let bin = program_root.join("bin");
    std::fs::create_dir_all(&bin).map_err(io("create", &bin))?;
    let program = program_root.join(spec::PROGRAM.trim_start_matches('/'));
    std::fs::copy(&shared.test_container, &program).map_err(io("copy", &program))?;
    let containers = spec::containers(scenario);
    let options = npk::pack::Options {
        key: Some(&package_key),
        ..npk::pack::Options::default()
    };
    let mut tampered = None;
    for container in &containers {
        let yaml = stage.join(format!("{}.yaml", container.name));
        std::fs::write(&yaml, container.manifest()).map_err(io("write", &yaml))?;
        let manifest = npk::pack::read_manifest(&yaml).map_err(|source| Error::Pack {
            name: container.name.clone(),
            source,
        })?;
        let npk =
            npk::pack::pack_manifest(&manifest, &program_root, &repo_dir, &options, &mut |_| ())
                .map_err(|source| Error::Pack {
                    name: container.name.clone(),
                    source,
                })?;
        if scenario == Scenario::TamperedPackage && container.name == spec::TAMPERED {
            tampered = Some((npk.clone(), tamper::package(&npk)?));
        }
    }
    let data_path = dir.join("data.img");
    data::make_ext4(&data_stage, &data_path, data::SIZE_MIB)?;

    if scenario == Scenario::TamperedRoot {
        tampered = Some((root_path.clone(), tamper::squashfs_at(&root_path, 0)?));
    }

    let resolution =
        ModuleIndex::load(&shared.kernel.modules_dir)?.resolve(&shared.files.modules)?;
    let initrd_path = dir.join("initramfs.cpio");
    initrd::write(
        &initrd::Contents {
            init: &shared.init,
            board_toml: &shared.files.board_toml,
            root_key: root.key.to_bytes(),
            root_descriptor: &root.descriptor_text,
            root_signature: root.signature,
            kernel: &shared.kernel,
            modules: &resolution,
        },
        &initrd_path,
    )?;
    Ok(Images {
        root: root_path,
        data: data_path,
        initrd: initrd_path,
        containers,
        tampered,
        package_key,
    })
}
