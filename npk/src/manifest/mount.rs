//! `mounts`: what is mounted where in the container.

use super::types::{AbsPath, Name};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{
    de::{self, MapAccess, Visitor},
    Deserialize, Deserializer, Serialize, Serializer,
};
use std::{borrow::Cow, collections::BTreeSet, fmt};

/// One mount, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Mount {
    /// Bind mount of a host directory (read-only unless `rw`).
    Bind(Bind),
    /// The container's persistent, writable directory.
    Persist(Persist),
    /// A directory of a resource container.
    Resource(Resource),
    /// A tmpfs of `size` bytes.
    Tmpfs(Tmpfs),
    /// A proc filesystem.
    Proc,
    /// A sysfs.
    Sysfs,
    /// The directory holding the unix sockets of `sockets`.
    Sockets,
    /// A minimal /dev (null, zero, full, random, urandom, tty...).
    Dev,
}

/// `type: bind`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bind {
    /// Absolute path on the host.
    pub host: AbsPath,
    /// Mount options.
    #[serde(default, skip_serializing_if = "MountOptions::is_empty")]
    pub options: MountOptions,
}

/// `type: resource`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// Name of the resource container.
    pub name: Name,
    /// Versions of the resource container that satisfy this mount.
    #[schemars(with = "String")]
    pub version: semver::VersionReq,
    /// Absolute directory inside the resource container.
    pub dir: AbsPath,
    /// Mount options.
    #[serde(default, skip_serializing_if = "MountOptions::is_empty")]
    pub options: MountOptions,
}

/// `type: persist`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Persist {
    /// Mount options: only `exec` (the directory is mounted noexec otherwise).
    #[serde(default, skip_serializing_if = "MountOptions::is_empty")]
    pub options: MountOptions,
    /// Snapshot the directory before an update starts a new version, so that a rollback
    /// puts it back (an extension of Northstar 0.9's schema).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub snapshot: bool,
}

/// `type: tmpfs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tmpfs {
    /// Size in bytes; in the manifest an integer or a string such as `10M` or `1Gi`.
    #[schemars(schema_with = "size_schema")]
    pub size: u64,
    /// Mount options: only `exec` (the tmpfs is mounted noexec otherwise).
    #[serde(default, skip_serializing_if = "MountOptions::is_empty")]
    pub options: MountOptions,
}

fn size_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "anyOf": [
            { "type": "integer", "minimum": 0 },
            { "type": "string", "pattern": "^\\s*[0-9]+\\s*([KkMmGgTtPpEe][Ii]?)?[Bb]?\\s*$" }
        ]
    })
}

/// A mount option, in the order they are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MountOption {
    /// Writable (bind mounts are read-only otherwise).
    Rw,
    /// `MS_NOEXEC`.
    NoExec,
    /// `MS_NODEV`.
    NoDev,
    /// `MS_NOSUID`.
    NoSuid,
    /// Recursive bind mount (`MS_REC`); bind mounts only.
    Rec,
    /// Allow executing files: tmpfs and persist mounts only, which are noexec otherwise
    /// (not a Northstar 0.9 option).
    Exec,
}

impl MountOption {
    /// Every option with its manifest spelling: the set Northstar 0.9 knows, and `exec`.
    pub const ALL: [(MountOption, &'static str); 6] = [
        (MountOption::Rw, "rw"),
        (MountOption::NoExec, "noexec"),
        (MountOption::NoDev, "nodev"),
        (MountOption::NoSuid, "nosuid"),
        (MountOption::Rec, "rec"),
        (MountOption::Exec, "exec"),
    ];

    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(option, _)| *option == self)
            .map_or("", |(_, name)| name)
    }
}

/// A set of mount options, written as a comma separated string `nodev,nosuid`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MountOptions(pub BTreeSet<MountOption>);

impl MountOptions {
    /// No options given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Is `option` set?
    pub fn contains(&self, option: MountOption) -> bool {
        self.0.contains(&option)
    }

    /// Parse `nodev, nosuid`.
    pub fn parse(text: &str) -> Result<MountOptions, String> {
        let mut set = BTreeSet::new();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let option = MountOption::ALL
                .iter()
                .find(|(_, name)| *name == word)
                .map(|(option, _)| *option)
                .ok_or_else(|| {
                    format!(
                        "unknown mount option {word:?} (known: rw, noexec, nodev, nosuid, rec, exec)"
                    )
                })?;
            set.insert(option);
        }
        Ok(MountOptions(set))
    }
}

impl fmt::Display for MountOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = self.0.iter().map(|o| o.as_str()).collect();
        f.write_str(&words.join(","))
    }
}

impl Serialize for MountOptions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for MountOptions {
    fn schema_name() -> Cow<'static, str> {
        "MountOptions".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "comma separated: rw, noexec, nodev, nosuid (bind and resource), rec (bind), exec (tmpfs and persist)",
        })
    }
}

/// Parse a byte size as Northstar 0.9 does: an integer, optionally followed by a unit,
/// case-insensitive, optional whitespace: `k`/`kb` = 1000, `ki`/`kib` = 1024, and so on
/// through `e`/`eb`/`ei`/`eib`; `b` or nothing = bytes. `10M` = 10000000, `1Gi` = 1 << 30.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let input = text.trim();
    let split = input
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(input.len());
    let (number, unit) = input.split_at(split);
    if number.is_empty() {
        return Err(format!("invalid size {text:?}: expected a number of bytes"));
    }
    let value: u64 = number
        .parse()
        .map_err(|_| format!("invalid size {text:?}: number too large"))?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let (prefix, binary) = match unit.strip_suffix('i') {
        Some(prefix) if !prefix.is_empty() => (prefix, true),
        _ => (unit, false),
    };
    let power = match prefix {
        "" if !binary => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        "e" => 6,
        _ => return Err(format!("invalid size {text:?}: unknown unit")),
    };
    let base: u64 = if binary { 1024 } else { 1000 };
    base.checked_pow(power)
        .and_then(|factor| value.checked_mul(factor))
        .ok_or_else(|| format!("invalid size {text:?}: too large"))
}

/// A tmpfs size given as an integer or a string with a unit.
struct Size(u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of bytes or a size such as 10M")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v)
                    .map(Size)
                    .map_err(|_| E::custom("size must not be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Size, E> {
                parse_size(v).map(Size).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for MountOptions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<MountOptions, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = MountOptions;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("comma separated mount options")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MountOptions, E> {
                MountOptions::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

const MOUNT_TYPES: &[&str] = &[
    "bind", "persist", "resource", "tmpfs", "proc", "sysfs", "sockets", "dev",
];
const MOUNT_FIELDS: &[&str] = &[
    "type", "host", "options", "name", "version", "dir", "size", "snapshot",
];

/// The fields of one mount entry, before the type decides which are allowed.
#[derive(Default)]
struct Fields {
    kind: Option<String>,
    host: Option<AbsPath>,
    options: Option<MountOptions>,
    name: Option<Name>,
    version: Option<semver::VersionReq>,
    dir: Option<AbsPath>,
    size: Option<u64>,
    snapshot: Option<bool>,
}

fn set<T, E: de::Error>(slot: &mut Option<T>, value: T, field: &'static str) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(field));
    }
    *slot = Some(value);
    Ok(())
}

fn required<T, E: de::Error>(value: Option<T>, field: &'static str) -> Result<T, E> {
    value.ok_or_else(|| E::missing_field(field))
}

impl Fields {
    /// Build the mount, refusing fields that do not belong to its type.
    fn build<E: de::Error>(self) -> Result<Mount, E> {
        let kind = required::<_, E>(self.kind, "type")?;
        let allowed: &[&str] = match kind.as_str() {
            "bind" => &["host", "options"],
            "resource" => &["name", "version", "dir", "options"],
            "tmpfs" => &["size", "options"],
            "persist" => &["options", "snapshot"],
            _ => &[],
        };
        let given = [
            ("host", self.host.is_some()),
            ("options", self.options.is_some()),
            ("name", self.name.is_some()),
            ("version", self.version.is_some()),
            ("dir", self.dir.is_some()),
            ("size", self.size.is_some()),
            ("snapshot", self.snapshot.is_some()),
        ];
        if let Some((field, _)) = given
            .iter()
            .find(|(field, present)| *present && !allowed.contains(field))
        {
            return Err(E::custom(format!(
                "field `{field}` is not allowed in a mount of type {kind}"
            )));
        }
        check_options::<E>(&kind, self.options.as_ref())?;
        Ok(match kind.as_str() {
            "bind" => Mount::Bind(Bind {
                host: required(self.host, "host")?,
                options: self.options.unwrap_or_default(),
            }),
            "resource" => Mount::Resource(Resource {
                name: required(self.name, "name")?,
                version: required(self.version, "version")?,
                dir: required(self.dir, "dir")?,
                options: self.options.unwrap_or_default(),
            }),
            "tmpfs" => Mount::Tmpfs(Tmpfs {
                size: required(self.size, "size")?,
                options: self.options.unwrap_or_default(),
            }),
            "persist" => Mount::Persist(Persist {
                options: self.options.unwrap_or_default(),
                snapshot: self.snapshot.unwrap_or_default(),
            }),
            "proc" => Mount::Proc,
            "sysfs" => Mount::Sysfs,
            "sockets" => Mount::Sockets,
            "dev" => Mount::Dev,
            other => return Err(E::unknown_variant(other, MOUNT_TYPES)),
        })
    }
}

/// The options a mount of type `kind` may have: `exec` only on tmpfs and persist mounts
/// (they are noexec otherwise) and nothing else there; everything but `exec` on bind and
/// resource mounts (which run files unless `noexec`).
fn check_options<E: de::Error>(kind: &str, options: Option<&MountOptions>) -> Result<(), E> {
    let Some(options) = options else {
        return Ok(());
    };
    let own = matches!(kind, "tmpfs" | "persist");
    match options.0.iter().find(|o| (**o == MountOption::Exec) != own) {
        Some(option) if own => Err(E::custom(format!(
            "option `{}` is not allowed in a mount of type {kind} (only exec)",
            option.as_str()
        ))),
        Some(option) => Err(E::custom(format!(
            "option `{}` is only allowed in mounts of type tmpfs and persist",
            option.as_str()
        ))),
        None => Ok(()),
    }
}

impl<'de> Deserialize<'de> for Mount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Mount, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Mount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mount: a mapping with a `type`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Mount, A::Error> {
                let mut fields = Fields::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "type" => {
                            let kind: String = map.next_value()?;
                            if !MOUNT_TYPES.contains(&kind.as_str()) {
                                return Err(de::Error::unknown_variant(&kind, MOUNT_TYPES));
                            }
                            set(&mut fields.kind, kind, "type")?
                        }
                        "host" => set(&mut fields.host, map.next_value()?, "host")?,
                        "options" => set(&mut fields.options, map.next_value()?, "options")?,
                        "name" => set(&mut fields.name, map.next_value()?, "name")?,
                        "version" => set(&mut fields.version, map.next_value()?, "version")?,
                        "dir" => set(&mut fields.dir, map.next_value()?, "dir")?,
                        "snapshot" => set(&mut fields.snapshot, map.next_value()?, "snapshot")?,
                        "size" => {
                            let Size(size) = map.next_value()?;
                            set(&mut fields.size, size, "size")?
                        }
                        other => return Err(de::Error::unknown_field(other, MOUNT_FIELDS)),
                    }
                }
                fields.build()
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_northstar_0_9() {
        assert_eq!(parse_size("10M"), Ok(10_000_000));
        assert_eq!(parse_size("100kB"), Ok(100_000));
        assert_eq!(parse_size("1Gi"), Ok(1 << 30));
        assert_eq!(parse_size("2 MiB"), Ok(2 << 20));
        assert_eq!(parse_size("42"), Ok(42));
        assert_eq!(parse_size("42b"), Ok(42));
        assert!(parse_size("1.5M").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("10X").is_err());
        assert!(parse_size("i").is_err());
        assert!(parse_size("20E").is_err()); // overflows u64
    }

    #[test]
    fn snapshot_only_on_persist() {
        let mount = |yaml: &str| serde_yaml_ng::from_str::<Mount>(yaml);
        let Ok(Mount::Persist(persist)) = mount("type: persist\nsnapshot: true\n") else {
            panic!("persist with snapshot");
        };
        assert!(persist.snapshot);
        let e = mount("type: tmpfs\nsize: 1M\nsnapshot: true\n").unwrap_err();
        assert!(e.to_string().contains("`snapshot` is not allowed"), "{e}");
        assert!(mount("type: persist\nsnapshot: yes please\n").is_err());
        // Written back only when set, so 0.9's form stays 0.9's.
        let text = serde_yaml_ng::to_string(&Mount::Persist(Persist::default())).unwrap();
        assert!(!text.contains("snapshot"), "{text}");
    }

    #[test]
    fn exec_only_on_tmpfs_and_persist() {
        let mount = |yaml: &str| serde_yaml_ng::from_str::<Mount>(yaml);
        let Ok(Mount::Tmpfs(tmpfs)) = mount("type: tmpfs\nsize: 1M\noptions: exec\n") else {
            panic!("tmpfs with exec");
        };
        assert!(tmpfs.options.contains(MountOption::Exec));
        let Ok(Mount::Persist(persist)) = mount("type: persist\noptions: exec\n") else {
            panic!("persist with exec");
        };
        assert!(persist.options.contains(MountOption::Exec));
        // Northstar 0.9's forms, without options.
        assert_eq!(
            mount("type: persist\n").unwrap(),
            Mount::Persist(Persist::default())
        );
        assert!(mount("type: tmpfs\nsize: 1M\n").is_ok());
        for bad in [
            "type: tmpfs\nsize: 1M\noptions: rw\n",
            "type: persist\noptions: exec,nosuid\n",
            "type: bind\nhost: /x\noptions: exec\n",
            "type: resource\nname: a\nversion: '1'\ndir: /\noptions: exec\n",
            "type: proc\noptions: exec\n",
        ] {
            assert!(mount(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn options_are_written_in_a_fixed_order() {
        let options = MountOptions::parse("nosuid, nodev,noexec").unwrap();
        assert_eq!(options.to_string(), "noexec,nodev,nosuid");
        assert!(MountOptions::parse("ro").is_err());
        assert!(MountOptions::parse("").unwrap().is_empty());
    }
}
