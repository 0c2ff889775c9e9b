//! The stamp file that says which package a board's cache directory holds. It is written
//! last, so a directory with a stamp is complete.

use std::path::Path;

use super::{Error, Package};

const FILE: &str = "kernel.stamp";

/// What a cache directory holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub package: Package,
}

/// Reads the stamp in `dir`; `None` when there is none or it is not readable as a stamp.
pub fn read(dir: &Path) -> Result<Option<Stamp>, Error> {
    let path = dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                step: "read",
                path,
                source,
            })
        }
    };
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_owned)
    };
    Ok(match (value("package"), value("arch"), value("version")) {
        (Some(name), Some(arch), Some(version)) => Some(Stamp {
            package: Package {
                name,
                arch,
                version,
            },
        }),
        _ => None,
    })
}

/// Writes the stamp into `dir`.
pub fn write(dir: &Path, stamp: &Stamp) -> Result<(), Error> {
    let path = dir.join(FILE);
    let p = &stamp.package;
    let text = format!(
        "package={}\narch={}\nversion={}\n",
        p.name, p.arch, p.version
    );
    std::fs::write(&path, text).map_err(|source| Error::Io {
        step: "write",
        path,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_absence() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let stamp = Stamp {
            package: Package {
                name: "linux-image-6.1.0-1-amd64".into(),
                arch: "amd64".into(),
                version: "6.1.1-1".into(),
            },
        };
        write(dir.path(), &stamp).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(stamp));
        std::fs::write(dir.path().join(FILE), "package=x\n").unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
    }
}
