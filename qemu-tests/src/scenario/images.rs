//! The images of one scenario: the root with the scenario's runtime configuration, the
//! scenario's test containers packed and signed into the `system` repository on the data
//! image, the initramfs; then the scenario's tampering, after everything was signed.

use std::path::{Path, PathBuf};

use npk::key::SecretKey;

use super::spec::{self, Container};
use super::{tamper, Error, Scenario, Shared};
use crate::boot::{write_initrd, REPOSITORY};
use crate::image::{self, data, root};

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
    let root_key = SecretKey::generate().map_err(Error::key("generate"))?;
    let package_key = SecretKey::generate().map_err(Error::key("generate"))?;
    let stage = dir.join("stage");
    image::fresh_dir(&stage).map_err(Error::io("create", &stage))?;

    let board_config = std::fs::read_to_string(&shared.files.runtime_toml)
        .map_err(Error::io("read", &shared.files.runtime_toml))?;
    let runtime_toml = dir.join("runtime.toml");
    std::fs::write(&runtime_toml, spec::runtime_config(scenario, &board_config))
        .map_err(Error::io("write", &runtime_toml))?;
    let contents = root::RootContents {
        runtime_config: runtime_toml,
        packages_key: package_key.public(),
    };
    let root_path = dir.join("root.img");
    let root = root::build(&contents, &stage.join("root"), &root_path, &root_key)?;

    let repository = shared.files.data_repository(REPOSITORY)?;
    let data_stage = stage.join("data");
    let repo_dir = data_stage.join(repository.on_data().unwrap_or_default());
    std::fs::create_dir_all(&repo_dir).map_err(Error::io("create", &repo_dir))?;
    let program_root = stage.join("program");
    let bin = program_root.join("bin");
    std::fs::create_dir_all(&bin).map_err(Error::io("create", &bin))?;
    let program = program_root.join(spec::PROGRAM.trim_start_matches('/'));
    std::fs::copy(&shared.test_container, &program).map_err(Error::io("copy", &program))?;
    let containers = spec::containers(scenario);
    let options = npk::pack::Options {
        key: Some(&package_key),
        ..npk::pack::Options::default()
    };
    let mut tampered = None;
    for container in &containers {
        let yaml = stage.join(format!("{}.yaml", container.name));
        std::fs::write(&yaml, container.manifest()).map_err(Error::io("write", &yaml))?;
        let manifest = npk::pack::read_manifest(&yaml).map_err(Error::pack(&container.name))?;
        let npk =
            npk::pack::pack_manifest(&manifest, &program_root, &repo_dir, &options, &mut |_| ())
                .map_err(Error::pack(&container.name))?;
        if scenario == Scenario::TamperedPackage && container.name == spec::TAMPERED {
            tampered = Some((npk.clone(), tamper::package(&npk)?));
        }
    }
    let data_path = dir.join("data.img");
    data::make_ext4(&data_stage, &data_path, data::SIZE_MIB)?;

    if scenario == Scenario::TamperedRoot {
        tampered = Some((root_path.clone(), tamper::squashfs_at(&root_path, 0)?));
    }

    let initrd_path = dir.join("initramfs.cpio");
    write_initrd(
        &shared.kernel,
        &shared.files,
        &shared.init,
        &root,
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
