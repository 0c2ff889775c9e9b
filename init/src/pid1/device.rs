//! Waiting for a device node. Without udev, devtmpfs creates the node when the driver
//! has found the device, which for MMC/SD cards and USB happens after the module was
//! loaded, asynchronously. Like the kernel's own `rootwait`, the node is looked for every
//! 10 ms until it appears or the wait has passed.

use super::partition;
use std::{
    io::ErrorKind,
    os::unix::fs::FileTypeExt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

const INTERVAL: Duration = Duration::from_millis(10);

/// The device did not appear, or is not a block device.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{} did not appear within {} ms", path.display(), waited.as_millis())]
    Timeout { path: PathBuf, waited: Duration },
    #[error("{} is not a {kind} device", path.display())]
    WrongKind { path: PathBuf, kind: Kind },
    #[error("cannot inspect {}: {source}", path.display())]
    Stat {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What kind of device node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Block,
    Character,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Block => "block",
            Kind::Character => "character",
        })
    }
}

/// A block device that appeared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Its node.
    pub node: PathBuf,
    /// How long it took to appear.
    pub waited: Duration,
}

/// Wait until `path` is a block device, for at most `wait`. `path` may name a partition
/// (`PARTLABEL=`, `PARTUUID=`, [`partition::Spec`]): it is looked up in sysfs until the
/// kernel has found it.
pub fn wait_for(path: &Path, wait: Duration) -> Result<Found, Error> {
    let spec = partition::Spec::parse(path);
    let sys = Path::new(partition::SYS_CLASS_BLOCK);
    let dev = Path::new(partition::DEV);
    let start = Instant::now();
    let node = poll(path, wait, || match &spec {
        partition::Spec::Path(node) => Ok(Some(node.clone())),
        _ => partition::resolve(&spec, sys, dev).map_err(|source| Error::Stat {
            path: sys.to_owned(),
            source,
        }),
    })?;
    wait_for_node(&node, Kind::Block, wait.saturating_sub(start.elapsed()))?;
    Ok(Found {
        node,
        waited: start.elapsed(),
    })
}

/// Wait until `path` is a device node of `kind`, for at most `wait`. Returns how long it
/// took.
pub fn wait_for_node(path: &Path, kind: Kind, wait: Duration) -> Result<Duration, Error> {
    let start = Instant::now();
    let meta = poll(path, wait, || match std::fs::metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Stat {
            path: path.to_owned(),
            source,
        }),
    })?;
    let t = meta.file_type();
    let right = match kind {
        Kind::Block => t.is_block_device(),
        Kind::Character => t.is_char_device(),
    };
    if !right {
        return Err(Error::WrongKind {
            path: path.to_owned(),
            kind,
        });
    }
    Ok(start.elapsed())
}

/// Call `look` every [`INTERVAL`] until it finds something or `wait` has passed (a
/// timeout about `path`).
fn poll<T>(
    path: &Path,
    wait: Duration,
    mut look: impl FnMut() -> Result<Option<T>, Error>,
) -> Result<T, Error> {
    let start = Instant::now();
    loop {
        if let Some(found) = look()? {
            return Ok(found);
        }
        let waited = start.elapsed();
        if waited >= wait {
            return Err(Error::Timeout {
                path: path.to_owned(),
                waited,
            });
        }
        std::thread::sleep(INTERVAL.min(wait.saturating_sub(waited)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_of_node_counts() {
        let dir = tempfile::tempdir().unwrap();
        let e = wait_for(dir.path(), Duration::from_secs(1)).unwrap_err();
        assert!(matches!(e, Error::WrongKind { .. }), "{e}");
        let e = wait_for(Path::new("/dev/null"), Duration::from_secs(1)).unwrap_err();
        assert_eq!(e.to_string(), "/dev/null is not a block device");
        let null = Path::new("/dev/null");
        assert!(wait_for_node(null, Kind::Character, Duration::ZERO).is_ok());
        let missing = dir.path().join("vda");
        let e = wait_for(&missing, Duration::from_millis(30)).unwrap_err();
        assert!(
            matches!(e, Error::Timeout { waited, .. } if waited >= Duration::from_millis(30)),
            "{e}"
        );
        let label = Path::new("PARTLABEL=no-such-partition-here");
        let e = wait_for(label, Duration::from_millis(30)).unwrap_err();
        assert_eq!(
            e.to_string().split(" did not").next(),
            Some("PARTLABEL=no-such-partition-here")
        );
        assert!(
            matches!(e, Error::Timeout { waited, .. } if waited >= Duration::from_millis(30)),
            "{e}"
        );
    }

    #[test]
    fn a_device_that_appears_later() {
        let dir = tempfile::tempdir().unwrap();
        let node = dir.path().join("loop-late");
        let make = node.clone();
        let maker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            nix::sys::stat::mknod(
                &make,
                nix::sys::stat::SFlag::S_IFBLK,
                nix::sys::stat::Mode::from_bits_truncate(0o600),
                nix::sys::stat::makedev(7, 0),
            )
            .unwrap();
        });
        let found = wait_for(&node, Duration::from_secs(30)).unwrap();
        maker.join().unwrap();
        assert_eq!(found.node, node);
        assert!(found.waited >= Duration::from_millis(50), "{found:?}");
    }
}
