//! `manifest.raucm`: RAUC's manifest in key-file (INI) syntax.
//!
//! The syntax is GLib's key file as RAUC reads it: `[group]` headers, `key=value` lines,
//! `#` comments and blank lines; whitespace around keys and before values is dropped;
//! the value escapes `\s \n \t \r \\` are decoded; a later duplicate key wins and a
//! repeated group is merged. Localized keys (`key[de]`) are ignored.
//!
//! Of the groups, `[update]`, `[bundle]` and `[image.<slot class>[.<variant>]]` are read;
//! the others (`[hooks]`, `[handler]`, `[meta.*]`, ...) are kept in [`Manifest::other`]
//! as RAUC keeps them without acting on them. Image hooks are ignored.

use std::collections::BTreeMap;

use thiserror::Error;

/// Largest manifest accepted, in bytes.
pub const MAX_SIZE: usize = 256 * 1024;

/// A manifest that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Error {
    #[error("manifest: {size} bytes exceed the limit of {MAX_SIZE}")]
    TooLarge { size: usize },
    #[error("manifest: not UTF-8 at byte {0}")]
    Utf8(usize),
    #[error("manifest line {line}: {what}")]
    Syntax { line: usize, what: &'static str },
    #[error("manifest line {line}: invalid escape in value of {key:?}")]
    Escape { line: usize, key: String },
    #[error("manifest: missing key {key:?} in group [{group}]")]
    Missing { group: String, key: &'static str },
    #[error("manifest line {line}: invalid {key:?} in group [{group}]: {what}")]
    Value {
        line: usize,
        group: String,
        key: &'static str,
        what: String,
    },
    #[error("manifest: bundle format {0:?} is not supported (expected \"verity\")")]
    Format(String),
    #[error("bundle is for {bundle:?}, this system is {system:?}")]
    Incompatible { bundle: String, system: String },
}

/// The bundle format named in `[bundle] format=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// CMS detached over the squashfs; the manifest is inside the squashfs.
    Plain,
    /// CMS encapsulating the manifest; dm-verity over the squashfs.
    Verity,
    /// Verity plus dm-crypt (not supported here).
    Crypt,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Plain => "plain",
            Format::Verity => "verity",
            Format::Crypt => "crypt",
        }
    }
}

/// The dm-verity parameters of a `verity` bundle's payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verity {
    /// Root hash of the payload (squashfs) tree.
    pub hash: [u8; 32],
    /// Salt of the tree.
    pub salt: [u8; 32],
    /// Size in bytes of the hash tree appended to the payload.
    pub size: u64,
}

/// One `[image.<slot class>[.<variant>]]` group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub slot_class: String,
    pub variant: Option<String>,
    /// The file's name inside the payload.
    pub filename: String,
    pub sha256: Option<[u8; 32]>,
    pub size: Option<u64>,
}

/// A parsed manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub compatible: String,
    pub version: Option<String>,
    pub description: Option<String>,
    pub build: Option<String>,
    pub format: Format,
    /// Present for `verity` (and `crypt`) once the bundle is built.
    pub verity: Option<Verity>,
    pub images: Vec<Image>,
    /// Groups not interpreted here, key to value.
    pub other: BTreeMap<String, BTreeMap<String, String>>,
}

/// A value and the line it came from.
type Group = BTreeMap<String, (usize, String)>;

fn unescape(value: &str, line: usize, key: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('s') => ' ',
            Some('n') => '\n',
            Some('t') => '\t',
            Some('r') => '\r',
            Some('\\') => '\\',
            _ => {
                return Err(Error::Escape {
                    line,
                    key: key.to_owned(),
                })
            }
        });
    }
    Ok(out)
}

/// Splits the text into groups (order of first appearance) of keys.
fn groups(text: &str) -> Result<Vec<(String, Group)>, Error> {
    let mut groups: Vec<(String, Group)> = Vec::new();
    let mut current: Option<usize> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index.saturating_add(1);
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let name = rest.trim_end().strip_suffix(']').ok_or(Error::Syntax {
                line,
                what: "group header without ']'",
            })?;
            if name.is_empty() || name.contains(['[', ']']) || name.chars().any(char::is_control) {
                return Err(Error::Syntax {
                    line,
                    what: "invalid group name",
                });
            }
            current = Some(match groups.iter().position(|(n, _)| n == name) {
                Some(i) => i,
                None => {
                    groups.push((name.to_owned(), Group::new()));
                    groups.len().saturating_sub(1)
                }
            });
            continue;
        }
        let (key, value) = trimmed.split_once('=').ok_or(Error::Syntax {
            line,
            what: "expected 'key=value', a '[group]' or a comment",
        })?;
        let key = key.trim_end();
        if key.is_empty() {
            return Err(Error::Syntax {
                line,
                what: "empty key",
            });
        }
        let group = current
            .and_then(|i| groups.get_mut(i))
            .ok_or(Error::Syntax {
                line,
                what: "key before the first group",
            })?;
        if key.contains('[') {
            // A localized value: RAUC never reads those.
            continue;
        }
        let value = unescape(value.trim_start(), line, key)?;
        group.1.insert(key.to_owned(), (line, value));
    }
    Ok(groups)
}

fn hex32(
    group: &str,
    key: &'static str,
    (line, value): &(usize, String),
) -> Result<[u8; 32], Error> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(value, &mut out).map_err(|_| Error::Value {
        line: *line,
        group: group.to_owned(),
        key,
        what: "expected 64 hex digits".to_owned(),
    })?;
    Ok(out)
}

fn number(group: &str, key: &'static str, (line, value): &(usize, String)) -> Result<u64, Error> {
    value.parse().map_err(|_| Error::Value {
        line: *line,
        group: group.to_owned(),
        key,
        what: format!("{value:?} is not an unsigned number"),
    })
}

fn take(group: &mut Group, key: &str) -> Option<(usize, String)> {
    group.remove(key)
}

impl Manifest {
    /// Parses a manifest. Verity fields, when present, must be complete.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, Error> {
        if bytes.len() > MAX_SIZE {
            return Err(Error::TooLarge { size: bytes.len() });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| Error::Utf8(e.valid_up_to()))?;
        let mut compatible = None;
        let mut version = None;
        let mut description = None;
        let mut build = None;
        let mut format = Format::Plain;
        let mut verity = None;
        let mut images = Vec::new();
        let mut other = BTreeMap::new();
        for (name, mut group) in groups(text)? {
            if name == "update" {
                compatible = take(&mut group, "compatible").map(|v| v.1);
                version = take(&mut group, "version").map(|v| v.1);
                description = take(&mut group, "description").map(|v| v.1);
                build = take(&mut group, "build").map(|v| v.1);
            } else if name == "bundle" {
                if let Some((line, value)) = take(&mut group, "format") {
                    format = match value.as_str() {
                        "plain" => Format::Plain,
                        "verity" => Format::Verity,
                        "crypt" => Format::Crypt,
                        _ => {
                            return Err(Error::Value {
                                line,
                                group: name,
                                key: "format",
                                what: format!("unknown format {value:?}"),
                            })
                        }
                    };
                }
                let hash = take(&mut group, "verity-hash");
                let salt = take(&mut group, "verity-salt");
                let size = take(&mut group, "verity-size");
                verity = match (hash, salt, size) {
                    (None, None, None) => None,
                    (Some(hash), Some(salt), Some(size)) => Some(Verity {
                        hash: hex32(&name, "verity-hash", &hash)?,
                        salt: hex32(&name, "verity-salt", &salt)?,
                        size: number(&name, "verity-size", &size)?,
                    }),
                    (hash, salt, _) => {
                        return Err(Error::Missing {
                            group: name,
                            key: if hash.is_none() {
                                "verity-hash"
                            } else if salt.is_none() {
                                "verity-salt"
                            } else {
                                "verity-size"
                            },
                        })
                    }
                };
            } else if let Some(rest) = name.strip_prefix("image.") {
                let (slot_class, variant) = match rest.split_once('.') {
                    Some((class, variant)) => (class.to_owned(), Some(variant.to_owned())),
                    None => (rest.to_owned(), None),
                };
                let filename =
                    take(&mut group, "filename")
                        .map(|v| v.1)
                        .ok_or_else(|| Error::Missing {
                            group: name.clone(),
                            key: "filename",
                        })?;
                let sha256 = match take(&mut group, "sha256") {
                    Some(v) => Some(hex32(&name, "sha256", &v)?),
                    None => None,
                };
                let size = match take(&mut group, "size") {
                    Some(v) => Some(number(&name, "size", &v)?),
                    None => None,
                };
                images.push(Image {
                    slot_class,
                    variant,
                    filename,
                    sha256,
                    size,
                });
            } else {
                other.insert(name, group.into_iter().map(|(k, (_, v))| (k, v)).collect());
            }
        }
        let compatible = compatible.ok_or(Error::Missing {
            group: "update".to_owned(),
            key: "compatible",
        })?;
        Ok(Manifest {
            compatible,
            version,
            description,
            build,
            format,
            verity,
            images,
            other,
        })
    }

    /// The verity parameters, if this is a complete `verity` manifest.
    pub fn require_verity(&self) -> Result<Verity, Error> {
        if self.format != Format::Verity {
            return Err(Error::Format(self.format.as_str().to_owned()));
        }
        self.verity.ok_or(Error::Missing {
            group: "bundle".to_owned(),
            key: "verity-hash",
        })
    }

    /// RAUC's rule: the bundle's `compatible` must equal the system's exactly.
    pub fn check_compatible(&self, system: &str) -> Result<(), Error> {
        if self.compatible == system {
            Ok(())
        } else {
            Err(Error::Incompatible {
                bundle: self.compatible.clone(),
                system: system.to_owned(),
            })
        }
    }

    /// The manifest in key-file syntax (values escaped so that [`Manifest::parse`]
    /// gives back the same manifest).
    pub fn render(&self) -> String {
        let mut out = String::from("[update]\n");
        let kv = |out: &mut String, k: &str, v: &str| {
            out.push_str(k);
            out.push('=');
            out.push_str(&escape(v));
            out.push('\n');
        };
        kv(&mut out, "compatible", &self.compatible);
        for (k, v) in [
            ("version", &self.version),
            ("description", &self.description),
            ("build", &self.build),
        ] {
            if let Some(v) = v {
                kv(&mut out, k, v);
            }
        }
        out.push_str("\n[bundle]\n");
        kv(&mut out, "format", self.format.as_str());
        if let Some(verity) = &self.verity {
            kv(&mut out, "verity-hash", &hex::encode(verity.hash));
            kv(&mut out, "verity-salt", &hex::encode(verity.salt));
            kv(&mut out, "verity-size", &verity.size.to_string());
        }
        for image in &self.images {
            out.push_str("\n[image.");
            out.push_str(&image.slot_class);
            if let Some(variant) = &image.variant {
                out.push('.');
                out.push_str(variant);
            }
            out.push_str("]\n");
            if let Some(sha) = &image.sha256 {
                kv(&mut out, "sha256", &hex::encode(sha));
            }
            if let Some(size) = image.size {
                kv(&mut out, "size", &size.to_string());
            }
            kv(&mut out, "filename", &image.filename);
        }
        for (name, keys) in &self.other {
            out.push_str("\n[");
            out.push_str(name);
            out.push_str("]\n");
            for (k, v) in keys {
                kv(&mut out, k, v);
            }
        }
        out
    }
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        match c {
            ' ' if i == 0 => out.push_str("\\s"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
