//! The data partition: mounted read-write at `/data` and laid out for the runtime.
//!
//! Layout (each directory created when missing, so the first boot of an empty file
//! system works): `northstar/`, the directory of every repository of the runtime
//! configuration that lies on the data partition (`northstar/repositories/<name>` in the
//! shipped configurations), and the runtime's `data_dir` (`northstar/persist`).

use super::{board, device};
use nix::{
    errno::Errno,
    mount::{mount, MsFlags},
};
use runtime_core::config::Config;
use std::{
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

/// Where the data partition is mounted.
pub const MOUNT_POINT: &str = "/data";

/// Why the data partition could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("data device: {0}")]
    Device(#[from] device::Error),
    #[error("cannot mount {} ({fs}) at {}: {source}", device.display(), target.display())]
    Mount {
        device: PathBuf,
        fs: String,
        target: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("cannot create {}: {source}", path.display())]
    Layout {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Wait for the data device and mount it at `target` (nosuid, nodev, noatime). Returns
/// how long the device took to appear.
pub fn mount_data(data: &board::Data, target: &Path) -> Result<Duration, Error> {
    let found = device::wait_for(&data.device, data.wait)?;
    mount(
        Some(&found.node),
        target,
        Some(data.fs.as_str()),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOATIME,
        None::<&str>,
    )
    .map_err(|source| Error::Mount {
        device: found.node.clone(),
        fs: data.fs.clone(),
        target: target.to_owned(),
        source,
    })?;
    Ok(found.waited)
}

/// Create the runtime's directories that belong on the data partition mounted at
/// `target`. Returns the directories, in the order created.
pub fn layout(config: &Config, target: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut dirs = vec![target.join("northstar")];
    dirs.extend(
        config
            .repositories
            .values()
            .map(|r| r.dir.clone())
            .filter(|dir| dir.starts_with(target)),
    );
    if config.data_dir.starts_with(target) {
        dirs.push(config.data_dir.clone());
    }
    for dir in &dirs {
        fs::create_dir_all(dir).map_err(|source| Error::Layout {
            path: dir.clone(),
            source,
        })?;
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_of_the_shipped_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fs::create_dir(&data).unwrap();
        let text = format!(
            "data_dir = \"{d}/northstar/persist\"\n\
             [repositories.system]\ndir = \"{d}/northstar/repositories/system\"\nunverified = true\n\
             [repositories.apps]\ndir = \"{d}/northstar/repositories/apps\"\nunverified = true\n\
             [repositories.rootfs]\ndir = \"/usr/share/northstar\"\nunverified = true\n",
            d = data.display()
        );
        let config = Config::from_toml_str(&text, Path::new("runtime.toml")).unwrap();
        let dirs = layout(&config, &data).unwrap();
        assert_eq!(
            dirs,
            [
                data.join("northstar"),
                data.join("northstar/repositories/apps"),
                data.join("northstar/repositories/system"),
                data.join("northstar/persist"),
            ]
        );
        for d in &dirs {
            assert!(d.is_dir(), "{}", d.display());
        }
        // Repositories elsewhere are the runtime's business.
        assert!(!Path::new("/usr/share/northstar").starts_with(&data));
        // Again on a laid-out partition: nothing changes.
        assert_eq!(layout(&config, &data).unwrap(), dirs);
    }

    #[test]
    fn layout_errors_name_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fs::write(&data, b"a file, not a directory").unwrap();
        let e = layout(&Config::default(), &data).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "cannot create {}",
                data.join("northstar").display()
            )),
            "{e}"
        );
    }
}
