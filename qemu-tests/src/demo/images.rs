//! The demo's images ([`crate::image::set`]): every example of `examples/` packed and
//! signed with the demo's package key into the `system` repository of the data image, the
//! root with the board's runtime configuration and that key, the initramfs with the
//! board's modules. Beside the images, in `updates/`: later versions of hello-world for
//! the demo's update transactions ([`UPDATES`]), signed with the same key.

use std::path::{Path, PathBuf};

use npk::key::SecretKey;
use npk::manifest::Autostart;

use super::Error;
use crate::boot::REPOSITORY;
use crate::image::{config::BoardFiles, set};
use crate::kernels::Kernel;

/// One example: its directory in `examples/`, the program of the workspace built for it
/// (at `/bin/<program>` in its image), where the rest of its image comes from, and
/// whether the demo starts it at boot even though its manifest does not say so.
pub struct Example {
    pub name: &'static str,
    pub program: Option<&'static str>,
    /// A directory of `examples/<name>/` that is the image as it is.
    pub root: Option<&'static str>,
    pub autostart: bool,
}

/// The examples, in the order they are packed.
pub const EXAMPLES: [Example; 7] = [
    Example {
        name: "hello-world",
        program: Some("hello-world"),
        root: None,
        autostart: true,
    },
    Example {
        name: "ferris",
        program: Some("ferris"),
        root: None,
        autostart: false,
    },
    Example {
        name: "message",
        program: None,
        root: Some("root"),
        autostart: false,
    },
    Example {
        name: "hello-ferris",
        program: None,
        root: None,
        autostart: false,
    },
    Example {
        name: "persistence",
        program: Some("persistence"),
        root: None,
        autostart: false,
    },
    Example {
        name: "cpueater",
        program: Some("cpueater"),
        root: None,
        autostart: false,
    },
    Example {
        name: "memeater",
        program: Some("memeater"),
        root: None,
        autostart: true,
    },
];

/// The example the updates replace.
pub const UPDATED: &str = "hello-world";

/// A later version of [`UPDATED`]: its manifest's with another version and `NAME`.
pub struct UpdateSpec {
    pub version: &'static str,
    /// hello-world greets `NAME`; an empty one makes it exit with 1.
    pub name: &'static str,
}

/// The updates of the demo, in the order it applies them: a good one (a new greeting) and
/// a bad one (its program exits with 1, so its health check fails and it rolls back).
pub const UPDATES: [UpdateSpec; 2] = [
    UpdateSpec {
        version: "0.0.2",
        name: "updated world",
    },
    UpdateSpec {
        version: "0.0.3",
        name: "",
    },
];

/// An update's package, in `<dir>/updates/`.
pub struct Update {
    /// `name:version`.
    pub id: String,
    pub npk: PathBuf,
    /// Whether its program exits with 0 (the `exited` health check passes).
    pub healthy: bool,
}

/// The images of the demo and the packages on them.
pub struct Images {
    pub root: PathBuf,
    pub data: PathBuf,
    pub initrd: PathBuf,
    /// `name:version` of every package.
    pub packages: Vec<String>,
    /// The updates' packages, not on the images.
    pub updates: Vec<Update>,
}

/// Builds the images in `dir`: `binaries` are the workspace's programs by name (the init
/// as `northstar`), `key` signs the packages.
pub fn build(
    kernel: &Kernel,
    files: &BoardFiles,
    binaries: &[(&str, PathBuf)],
    key: &SecretKey,
    dir: &Path,
) -> Result<Images, Error> {
    let binary = |name: &str| {
        binaries
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| Error::Binary {
                name: name.to_owned(),
            })
    };
    let init = binary("northstar")?;
    let spec = set::Spec {
        kernel,
        files,
        init: &init,
        runtime_config: &files.runtime_toml,
        package_key: key,
        repository: REPOSITORY,
        root_files: &[],
    };
    let updates_dir = dir.join("updates");
    crate::image::fresh_dir(&updates_dir).map_err(Error::io("create", &updates_dir))?;
    let mut updates = Vec::new();
    let (set, packages) = set::build(&spec, dir, |stage| {
        let examples = crate::cargo::workspace_root().join("examples");
        let options = npk::pack::Options {
            key: Some(key),
            ..npk::pack::Options::default()
        };
        let mut packages = Vec::new();
        for example in &EXAMPLES {
            let mut manifest =
                npk::pack::read_manifest(&examples.join(example.name).join("manifest.yaml"))
                    .map_err(Error::pack(example.name))?;
            if example.autostart && manifest.autostart.is_none() {
                manifest.autostart = Some(Autostart::Relaxed);
            }
            let image_root = match example.root {
                Some(sub) => examples.join(example.name).join(sub),
                None => {
                    let image_root = stage.scratch.join(example.name);
                    std::fs::create_dir_all(&image_root)
                        .map_err(Error::io("create", &image_root))?;
                    if let Some(program) = example.program {
                        let bin = image_root.join("bin");
                        std::fs::create_dir_all(&bin).map_err(Error::io("create", &bin))?;
                        let target = bin.join(program);
                        std::fs::copy(binary(program)?, &target)
                            .map_err(Error::io("copy", &target))?;
                    }
                    image_root
                }
            };
            let repository = stage.repository;
            npk::pack::pack_manifest(&manifest, &image_root, repository, &options, &mut |_| ())
                .map_err(Error::pack(example.name))?;
            packages.push(format!("{}:{}", manifest.name, manifest.version));
            if example.name == UPDATED {
                for update in &UPDATES {
                    updates.push(pack_update(
                        &manifest,
                        update,
                        &image_root,
                        &updates_dir,
                        &options,
                    )?);
                }
            }
        }
        Ok(packages)
    })?;
    Ok(Images {
        root: set.root.path,
        data: set.data,
        initrd: set.initrd,
        packages,
        updates,
    })
}

/// `update` of the example whose first version's manifest is `first`: the same image,
/// the manifest with the update's version and `NAME`.
fn pack_update(
    first: &npk::manifest::Manifest,
    update: &UpdateSpec,
    image_root: &Path,
    out: &Path,
    options: &npk::pack::Options<'_>,
) -> Result<Update, Error> {
    let mut manifest = first.clone();
    manifest.version = update.version.parse().map_err(|e| Error::Io {
        step: "parse the version of an update",
        path: PathBuf::from(update.version),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
    })?;
    manifest
        .env
        .insert("NAME".to_owned(), update.name.to_owned());
    let npk = npk::pack::pack_manifest(&manifest, image_root, out, options, &mut |_| ())
        .map_err(Error::pack(UPDATED))?;
    Ok(Update {
        id: format!("{}:{}", manifest.name, manifest.version),
        npk,
        healthy: !update.name.is_empty(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_is_packed_once_with_what_it_needs() {
        let examples = crate::cargo::workspace_root().join("examples");
        let mut dirs: Vec<String> = std::fs::read_dir(&examples)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        dirs.sort();
        let mut names: Vec<&str> = EXAMPLES.iter().map(|e| e.name).collect();
        names.sort();
        assert_eq!(dirs, names, "an example of examples/ is not in the demo");
        for e in &EXAMPLES {
            let m = npk::pack::read_manifest(&examples.join(e.name).join("manifest.yaml")).unwrap();
            if let Some(program) = e.program {
                assert!(
                    examples.join(program).join("Cargo.toml").is_file(),
                    "{program}"
                );
            }
            if let Some(root) = e.root {
                assert!(examples.join(e.name).join(root).is_dir(), "{}", e.name);
            }
            // Resources are never started; every other example runs at boot.
            let runs = m.init.is_some();
            assert_eq!(runs, m.autostart.is_some() || e.autostart, "{}", e.name);
        }
    }
}
