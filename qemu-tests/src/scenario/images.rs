//! The images of one scenario ([`crate::image::set`]): the root with the scenario's
//! runtime configuration, the scenario's test containers packed and signed into the
//! `system` repository on the data image, the initramfs; then the scenario's tampering,
//! after everything was signed.

use std::path::{Path, PathBuf};

use npk::key::SecretKey;

use super::spec::{self, Container};
use super::{tamper, Error, Scenario, Shared};
use crate::boot::REPOSITORY;
use crate::image::set;

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
    let package_key = SecretKey::generate().map_err(Error::key("generate"))?;
    let board_config = std::fs::read_to_string(&shared.files.runtime_toml)
        .map_err(Error::io("read", &shared.files.runtime_toml))?;
    let runtime_toml = dir.join("runtime.toml");
    std::fs::write(&runtime_toml, spec::runtime_config(scenario, &board_config))
        .map_err(Error::io("write", &runtime_toml))?;
    let spec = set::Spec {
        kernel: &shared.kernel,
        files: &shared.files,
        init: &shared.init,
        runtime_config: &runtime_toml,
        package_key: &package_key,
        repository: REPOSITORY,
    };
    let containers = spec::containers(scenario);
    let (set, mut tampered) = set::build(&spec, dir, |stage| {
        let program_root = stage.scratch.join("program");
        let bin = program_root.join("bin");
        std::fs::create_dir_all(&bin).map_err(Error::io("create", &bin))?;
        let program = program_root.join(spec::PROGRAM.trim_start_matches('/'));
        std::fs::copy(&shared.test_container, &program).map_err(Error::io("copy", &program))?;
        let options = npk::pack::Options {
            key: Some(&package_key),
            ..npk::pack::Options::default()
        };
        let mut tampered = None;
        for container in &containers {
            let yaml = stage.scratch.join(format!("{}.yaml", container.name));
            std::fs::write(&yaml, container.manifest()).map_err(Error::io("write", &yaml))?;
            let manifest = npk::pack::read_manifest(&yaml).map_err(Error::pack(&container.name))?;
            let npk = npk::pack::pack_manifest(
                &manifest,
                &program_root,
                stage.repository,
                &options,
                &mut |_| (),
            )
            .map_err(Error::pack(&container.name))?;
            if scenario == Scenario::TamperedPackage && container.name == spec::TAMPERED {
                tampered = Some((npk.clone(), tamper::package(&npk)?));
            }
        }
        if scenario == Scenario::InitPanic {
            // Signed, but with a manifest no packer writes: the runtime must refuse it.
            let max = npk::manifest::limits::MAX_NPK_STREAM_TIMEOUT;
            let valid = npk::manifest::Manifest::from_yaml_str(&spec::overflow_manifest(max))
                .map_err(|source| {
                    Error::pack(spec::OVERFLOW)(npk::pack::Error::Manifest {
                        path: PathBuf::from(format!("{}.yaml", spec::OVERFLOW)),
                        source,
                    })
                })?;
            npk::pack::pack_unchecked(
                &valid,
                &spec::overflow_manifest(u64::MAX),
                &program_root,
                stage.repository,
                &options,
            )
            .map_err(Error::pack(spec::OVERFLOW))?;
        }
        Ok(tampered)
    })?;
    if scenario == Scenario::TamperedRoot {
        let root = &set.root.path;
        tampered = Some((root.clone(), tamper::squashfs_at(root, 0)?));
    }
    Ok(Images {
        root: set.root.path,
        data: set.data,
        initrd: set.initrd,
        containers,
        tampered,
        package_key,
    })
}
