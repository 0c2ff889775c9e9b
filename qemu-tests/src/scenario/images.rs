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
    /// What was changed after signing (the file, the change, what it hit), for the report.
    pub tampered: Vec<(PathBuf, tamper::Tampered, String)>,
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
        root_files: &[],
    };
    let containers = spec::containers(scenario);
    let (set, mut tampered) = set::build(&spec, dir, |stage| {
        let program_root = stage.scratch.join("program");
        let bin = program_root.join("bin");
        std::fs::create_dir_all(&bin).map_err(Error::io("create", &bin))?;
        let program = program_root.join(spec::PROGRAM.trim_start_matches('/'));
        std::fs::copy(&shared.test_container, &program).map_err(Error::io("copy", &program))?;
        if shared.payload > 0 {
            let payload = program_root.join("payload");
            crate::image::write_random(&payload, shared.payload)
                .map_err(Error::io("write", &payload))?;
        }
        let options = npk::pack::Options {
            key: Some(&package_key),
            ..npk::pack::Options::default()
        };
        let mut tampered = Vec::new();
        for container in &containers {
            let yaml = stage.scratch.join(format!("{}.yaml", container.name));
            std::fs::write(&yaml, container.manifest()).map_err(Error::io("write", &yaml))?;
            let manifest = npk::pack::read_manifest(&yaml).map_err(Error::pack(&container.name))?;
            // The package whose data is changed holds a big incompressible file too.
            let root = if scenario == Scenario::TamperedPackage && container.name == spec::TAMPERED
            {
                big_root(&program_root, &stage.scratch.join("big"))?
            } else {
                program_root.clone()
            };
            let npk =
                npk::pack::pack_manifest(&manifest, &root, stage.repository, &options, &mut |_| ())
                    .map_err(Error::pack(&container.name))?;
            if scenario == Scenario::TamperedPackage {
                tampered.extend(tamper_package(&npk, &container.name, &package_key)?);
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
        let t = tamper::squashfs_at(root, 0)?;
        tampered.push((root.clone(), t, "the squashfs data area".into()));
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

/// `tampered-package`, after the package `name` at `npk` was signed and placed in the
/// repository (installed): a byte of [`spec::BIG_FILE`]'s data at 3/4 of the file in
/// [`spec::TAMPERED`], the verity superblock of [`spec::TAMPERED_SUPERBLOCK`].
fn tamper_package(
    npk: &Path,
    name: &str,
    key: &SecretKey,
) -> Result<Option<(PathBuf, tamper::Tampered, String)>, Error> {
    if name == spec::TAMPERED {
        let content = tamper::incompressible(spec::BIG_FILE_MIB << 20);
        let (t, at) = tamper::package_content(npk, &key.public(), tamper::needle(&content, 0.75))?;
        let what = format!(
            "data of {} at {:.0} % of the squashfs",
            spec::BIG_FILE,
            at * 100.0
        );
        Ok(Some((npk.to_path_buf(), t, what)))
    } else if name == spec::TAMPERED_SUPERBLOCK {
        let t = tamper::verity_superblock(npk, &key.public())?;
        Ok(Some((
            npk.to_path_buf(),
            t,
            "the verity superblock's data_blocks".into(),
        )))
    } else {
        Ok(None)
    }
}

/// A copy of `program_root` at `dir` with [`spec::BIG_FILE`] added.
fn big_root(program_root: &Path, dir: &Path) -> Result<PathBuf, Error> {
    let program = spec::PROGRAM.trim_start_matches('/');
    let target = dir.join(program);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io("create", parent))?;
    }
    let source = program_root.join(program);
    std::fs::copy(&source, &target).map_err(Error::io("copy", &target))?;
    let big = dir.join(spec::BIG_FILE.trim_start_matches('/'));
    std::fs::write(&big, tamper::incompressible(spec::BIG_FILE_MIB << 20))
        .map_err(Error::io("write", &big))?;
    Ok(dir.to_path_buf())
}
