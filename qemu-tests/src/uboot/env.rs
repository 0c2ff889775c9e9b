//! U-Boot's environment as it lies in flash without a redundant copy: a little-endian
//! CRC-32 (IEEE) of the data area, then the data area (`CONFIG_ENV_SIZE` less the four
//! bytes): `name=value` strings, each ended by a NUL, an empty string after the last,
//! zeros to the end. [`read_back`] reads an environment with `fw_printenv`
//! (`libubootenv-tool`), the reference reader, from a plain file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ENV_SIZE;
use crate::image::tool::{self, ToolError};

/// The header: the CRC-32.
const HEADER: usize = 4;
/// Limit for `fw_printenv`.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Errors encoding or reading an environment.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("U-Boot environment: {len} bytes of variables do not fit {ENV_SIZE} bytes")]
    TooLarge { len: usize },
    #[error("U-Boot environment: variable {name:?}: {reason}")]
    Invalid { name: String, reason: &'static str },
    #[error("U-Boot environment: {len} bytes, expected {ENV_SIZE}")]
    Length { len: usize },
    #[error("U-Boot environment: CRC {found:#010x}, the data gives {computed:#010x}")]
    Crc { found: u32, computed: u32 },
    #[error("U-Boot environment: entry {index} is not name=value")]
    Entry { index: usize },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("fw_printenv of {config}")]
    Printenv {
        config: PathBuf,
        #[source]
        source: ToolError,
    },
}

/// An environment: variables in the order they were set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Env {
    vars: Vec<(String, String)>,
}

impl Env {
    /// Sets `name` (replacing its value where it was set before).
    pub fn set(&mut self, name: &str, value: &str) {
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value.to_owned(),
            None => self.vars.push((name.to_owned(), value.to_owned())),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The bytes of the environment: [`ENV_SIZE`] of them.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut data = Vec::new();
        for (name, value) in &self.vars {
            let invalid = |reason| Error::Invalid {
                name: name.clone(),
                reason,
            };
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(invalid("a name is not empty and holds no '=' or NUL"));
            }
            if value.contains('\0') {
                return Err(invalid("a value holds no NUL"));
            }
            data.extend_from_slice(name.as_bytes());
            data.push(b'=');
            data.extend_from_slice(value.as_bytes());
            data.push(0);
        }
        data.push(0);
        if data.len() > ENV_SIZE - HEADER {
            return Err(Error::TooLarge { len: data.len() });
        }
        data.resize(ENV_SIZE - HEADER, 0);
        let mut out = crc32(&data).to_le_bytes().to_vec();
        out.extend_from_slice(&data);
        Ok(out)
    }

    /// Parses [`ENV_SIZE`] bytes, checking the CRC.
    pub fn decode(bytes: &[u8]) -> Result<Env, Error> {
        if bytes.len() != ENV_SIZE {
            return Err(Error::Length { len: bytes.len() });
        }
        let (header, data) = bytes.split_at(HEADER);
        let found = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let computed = crc32(data);
        if found != computed {
            return Err(Error::Crc { found, computed });
        }
        let mut env = Env::default();
        for (index, entry) in data.split(|b| *b == 0).enumerate() {
            if entry.is_empty() {
                break;
            }
            let text = String::from_utf8_lossy(entry);
            let (name, value) = text.split_once('=').ok_or(Error::Entry { index })?;
            env.set(name, value);
        }
        Ok(env)
    }
}

/// The environment `config` (`fw_env.config`'s format) points at, as `fw_printenv -c`
/// prints it. A bad CRC is not an error there: `fw_printenv` then prints its built-in
/// default environment (empty for Debian's), so the caller sees the variables missing.
pub fn read_back(config: &Path, config_text: &str) -> Result<Env, Error> {
    std::fs::write(config, config_text).map_err(|source| Error::Write {
        path: config.to_path_buf(),
        source,
    })?;
    let printenv = |source| Error::Printenv {
        config: config.to_path_buf(),
        source,
    };
    let path = config.to_str().ok_or_else(|| {
        printenv(ToolError::Spawn {
            program: "fw_printenv".into(),
            source: std::io::ErrorKind::InvalidInput.into(),
        })
    })?;
    let output = tool::run("fw_printenv", &["-c", path], TIMEOUT).map_err(printenv)?;
    let mut env = Env::default();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        if let Some((name, value)) = line.split_once('=') {
            env.set(name, value);
        }
    }
    Ok(env)
}

/// CRC-32 (IEEE 802.3, reflected, as zlib and U-Boot compute it).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn round_trips_and_refuses_a_changed_byte() {
        let mut env = Env::default();
        env.set("BOOT_ORDER", "A B");
        env.set("BOOT_A_LEFT", "3");
        env.set("BOOT_A_LEFT", "2");
        let mut bytes = env.encode().unwrap();
        assert_eq!(bytes.len(), ENV_SIZE);
        assert_eq!(Env::decode(&bytes).unwrap(), env);
        bytes[10] ^= 1;
        assert!(matches!(Env::decode(&bytes), Err(Error::Crc { .. })));
        let mut bad = Env::default();
        bad.set("a=b", "c");
        assert!(matches!(bad.encode(), Err(Error::Invalid { .. })));
    }

    /// `fw_printenv` reads what we write, from a plain file at an offset.
    #[test]
    fn fw_printenv_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = Env::default();
        env.set("BOOT_ORDER", "A B");
        env.set("BOOT_B_LEFT", "3");
        env.set("bootcmd", "echo a; echo b");
        let mut file = vec![0xffu8; 0x1000];
        file.extend(env.encode().unwrap());
        let image = dir.path().join("vars.img");
        std::fs::write(&image, &file).unwrap();
        let config = format!("{} 0x1000 {ENV_SIZE:#x}\n", image.display());
        let read = read_back(&dir.path().join("fw_env.config"), &config).unwrap();
        // fw_printenv prints the variables sorted by name.
        let mut sorted = env.vars.clone();
        sorted.sort();
        assert_eq!(read.vars, sorted);
    }
}
