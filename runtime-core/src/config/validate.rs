//! The rules a parsed configuration must follow beyond its types. Each broken rule is
//! reported with the key path it is about; turning that into a file and line is the
//! caller's job.

use super::{spans::Step, Config, MAX_STOP_TIMEOUT};
use std::path::{Component, Path};

/// A broken rule: where, and what.
#[derive(Debug)]
pub struct Problem {
    pub path: Vec<Step>,
    pub message: String,
}

fn key(parts: &[&str]) -> Vec<Step> {
    parts.iter().map(|p| Step::Key(p.to_string())).collect()
}

fn problem(path: Vec<Step>, message: impl Into<String>) -> Problem {
    Problem {
        path,
        message: message.into(),
    }
}

/// Absolute, and without `..`.
fn check_path(path: &Path, at: Vec<Step>) -> Result<(), Problem> {
    if !path.is_absolute() {
        return Err(problem(
            at,
            format!("{:?} is not an absolute path", path.display().to_string()),
        ));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(problem(
            at,
            format!("{:?} must not contain \"..\"", path.display().to_string()),
        ));
    }
    Ok(())
}

fn is_root(path: &Path) -> bool {
    path.components().all(|c| c == Component::RootDir)
}

/// A repository name: 1..=64 characters of `[A-Za-z0-9._-]`.
pub fn valid_repository_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Check every rule; the first broken one is returned.
pub fn validate(config: &Config) -> Result<(), Problem> {
    for (name, path) in [("run_dir", &config.run_dir), ("data_dir", &config.data_dir)] {
        check_path(path, key(&[name]))?;
        if is_root(path) {
            return Err(problem(key(&[name]), "must not be \"/\""));
        }
    }
    if config.stop_timeout > MAX_STOP_TIMEOUT {
        return Err(problem(
            key(&["stop_timeout"]),
            format!(
                "{} is longer than the maximum of 1h",
                super::units::format_duration(&config.stop_timeout)
            ),
        ));
    }
    for (i, allowed) in config.bind_allow.iter().enumerate() {
        let mut at = key(&["bind_allow"]);
        at.push(Step::Index(i));
        check_path(allowed, at)?;
    }
    check_cgroups(config)?;
    let devices = &config.devices;
    for (name, path) in [
        ("loop_control", &devices.loop_control),
        ("loop_dev", &devices.loop_dev),
        ("device_mapper", &devices.device_mapper),
        ("dm_dev", &devices.dm_dev),
    ] {
        check_path(path, key(&["devices", name]))?;
    }
    config.network.validate().map_err(|(at, message)| {
        let parts: Vec<&str> = at.split('.').collect();
        problem(key(&parts), message)
    })?;
    check_repositories(config)
}

fn check_cgroups(config: &Config) -> Result<(), Problem> {
    check_path(&config.cgroups.root, key(&["cgroups", "root"]))?;
    let name = Path::new(&config.cgroups.name);
    if config.cgroups.name.is_empty() {
        return Err(problem(key(&["cgroups", "name"]), "must not be empty"));
    }
    if !name.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(problem(
            key(&["cgroups", "name"]),
            format!(
                "{:?} must be a relative path without \".\" or \"..\"",
                config.cgroups.name
            ),
        ));
    }
    Ok(())
}

fn check_repositories(config: &Config) -> Result<(), Problem> {
    let mut seen: Vec<(&str, &Path)> = Vec::new();
    for (name, repository) in &config.repositories {
        let at = |field: &str| key(&["repositories", name, field]);
        if !valid_repository_name(name) {
            return Err(problem(
                key(&["repositories", name]),
                format!("invalid repository name {name:?}: expected 1 to 64 characters of A-Z a-z 0-9 . _ -"),
            ));
        }
        check_path(&repository.dir, at("dir"))?;
        if let Some((other, _)) = seen.iter().find(|(_, dir)| *dir == repository.dir) {
            return Err(problem(
                at("dir"),
                format!("same directory as repository {other:?}"),
            ));
        }
        seen.push((name, &repository.dir));
        match (&repository.key, repository.unverified) {
            (Some(key), false) => check_path(key, at("key"))?,
            (Some(_), true) => {
                return Err(problem(
                    at("unverified"),
                    "a repository with a key must not set unverified = true",
                ))
            }
            (None, true) => {}
            (None, false) => {
                return Err(problem(
                    at("unverified"),
                    "a repository without a key must set unverified = true (development only)",
                ))
            }
        }
    }
    Ok(())
}
