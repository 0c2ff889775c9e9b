//! Directory names of groups: the runtime's group path from the configuration, the
//! manifest's `parent`, and the leaf name derived from a container id. Pure functions; no
//! file system access.
//!
//! A container's leaf name always contains `@` (the id's `:` separator) and group paths
//! never do, so a leaf can never be taken for another container's parent group, and no
//! name can be taken for a control file (those never contain `@`).

use super::Error;
use std::{
    fmt::Write,
    path::{Component, Path, PathBuf},
};

/// Longest directory name (`NAME_MAX`).
const NAME_MAX: usize = 255;

/// The directory name of the container `id` (`name:version`): `name@version`, with every
/// byte outside `[0-9A-Za-z._-]` other than the first `:` written `%XX`. Distinct ids give
/// distinct names. An id without `:` is refused.
pub fn dir_name(id: &str) -> Result<String, Error> {
    let invalid = |reason| Error::Name {
        name: id.to_string(),
        reason,
    };
    if id.is_empty() {
        return Err(invalid("empty"));
    }
    let mut out = String::with_capacity(id.len().saturating_add(8));
    let mut separator = false;
    for byte in id.bytes() {
        match byte {
            b':' if !separator => {
                separator = true;
                out.push('@');
            }
            b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' | b'.' | b'_' | b'-' => out.push(byte as char),
            other => {
                let _ = write!(out, "%{other:02x}");
            }
        }
    }
    if !separator {
        return Err(invalid("not a name:version container id"));
    }
    if out.len() > NAME_MAX {
        return Err(invalid("longer than 255 bytes as a directory name"));
    }
    Ok(out)
}

/// Check a relative group path (the runtime's group name, a manifest's `parent`): one or
/// more plain components of `[0-9A-Za-z._-]`, none starting with `.`, and none that
/// cgroupfs uses for control files (`cgroup.*`, `tasks`, ...).
pub fn group_path(name: &str) -> Result<PathBuf, Error> {
    let invalid = |reason| Error::Name {
        name: name.to_string(),
        reason,
    };
    let path = Path::new(name);
    if name.is_empty() {
        return Err(invalid("empty"));
    }
    let mut out = PathBuf::new();
    for component in path.components() {
        let Component::Normal(part) = component else {
            return Err(invalid("must be a relative path without \".\" or \"..\""));
        };
        let Some(part) = part.to_str() else {
            return Err(invalid("not UTF-8"));
        };
        let plain = part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !plain || part.starts_with('.') || part.len() > NAME_MAX {
            return Err(invalid(
                "components must be [0-9A-Za-z._-], not start with '.'",
            ));
        }
        let reserved = ["tasks", "notify_on_release", "release_agent"];
        if part.starts_with("cgroup.") || reserved.contains(&part) {
            return Err(invalid("a component is a cgroup control file name"));
        }
        out.push(part);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_plain_names() {
        assert_eq!(dir_name("hello:0.1.0").unwrap(), "hello@0.1.0");
        assert_eq!(dir_name("a.b_c-d:1.2.3").unwrap(), "a.b_c-d@1.2.3");
    }

    #[test]
    fn unsafe_bytes_are_escaped() {
        assert_eq!(dir_name("a/b:1").unwrap(), "a%2fb@1");
        assert_eq!(dir_name("..:..").unwrap(), "..@..");
        assert_eq!(dir_name("a:b:c").unwrap(), "a@b%3ac");
        assert_eq!(dir_name("a@b:1").unwrap(), "a%40b@1");
        assert_eq!(dir_name("a%40b:1").unwrap(), "a%2540b@1");
        assert!(dir_name("x").is_err());
        assert!(dir_name("").is_err());
        assert!(dir_name(&"a".repeat(300)).is_err());
    }

    #[test]
    fn escaping_is_injective() {
        let ids = [
            "a@b:1", "a:b@1", "a%40b:1", "a:b:1", "a:b%3a1", "a%3ab:1", "a:", ":a",
        ];
        let names: std::collections::BTreeSet<String> =
            ids.iter().map(|id| dir_name(id).unwrap()).collect();
        assert_eq!(names.len(), ids.len());
        for name in names {
            assert!(name.contains('@'), "{name}");
            assert!(!name.contains('/'), "{name}");
        }
    }

    #[test]
    fn group_paths() {
        assert_eq!(group_path("northstar").unwrap(), PathBuf::from("northstar"));
        assert_eq!(group_path("a/b").unwrap(), PathBuf::from("a/b"));
        assert_eq!(group_path("a//b/").unwrap(), PathBuf::from("a/b"));
        for bad in [
            "",
            "/abs",
            "a/../b",
            "..",
            ".",
            "./a",
            "a@1",
            "cgroup.procs",
            "x/tasks",
            ".hidden",
            "release_agent",
        ] {
            assert!(group_path(bad).is_err(), "{bad}");
        }
    }
}
