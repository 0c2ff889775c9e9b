//! The rules a parsed configuration must follow beyond its types. Each broken rule is
//! reported with the key path it is about; turning that into a file and line is the
//! caller's job.

use super::{spans::Step, Config, MAX_LOG_BUFFER, MAX_STOP_TIMEOUT};
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
    if config.log_buffer > MAX_LOG_BUFFER {
        return Err(problem(
            key(&["log_buffer"]),
            format!("expected at most {MAX_LOG_BUFFER} bytes (16M)"),
        ));
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
    check_update(&config.update)?;
    super::verify::check(&config.verify)
        .map_err(|message| problem(key(&["verify", "scrub_interval"]), message))?;
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
    if let Some(api) = &config.api {
        check_api(api)?;
    }
    check_repositories(config)
}

fn check_api(api: &super::ApiConfig) -> Result<(), Problem> {
    use super::api::{MAX_CONNECTIONS, MAX_TIMEOUT, MAX_WRITE_BUFFER, MIN_FRAME, MIN_WRITE_BUFFER};
    let at = |field: &str| key(&["api", field]);
    check_path(&api.socket, at("socket"))?;
    if is_root(&api.socket) {
        return Err(problem(at("socket"), "must not be \"/\""));
    }
    if api.mode > 0o777 {
        return Err(problem(
            at("mode"),
            format!("{:#o} has bits beyond 0o777", api.mode),
        ));
    }
    let max_frame = northstar_api::codec::MAX_SERVER_FRAME as u64;
    if !(MIN_FRAME..=max_frame).contains(&api.max_frame) {
        return Err(problem(
            at("max_frame"),
            format!("expected {MIN_FRAME} to {max_frame} bytes"),
        ));
    }
    if !(MIN_WRITE_BUFFER..=MAX_WRITE_BUFFER).contains(&api.write_buffer) {
        return Err(problem(
            at("write_buffer"),
            format!("expected {MIN_WRITE_BUFFER} to {MAX_WRITE_BUFFER} bytes"),
        ));
    }
    if !(1..=MAX_CONNECTIONS).contains(&api.max_connections) {
        return Err(problem(
            at("max_connections"),
            format!("expected 1 to {MAX_CONNECTIONS}"),
        ));
    }
    if api.max_requests_per_sec == 0 {
        return Err(problem(at("max_requests_per_sec"), "must be at least 1"));
    }
    for (name, value) in [
        ("handshake_timeout", api.handshake_timeout),
        ("idle_timeout", api.idle_timeout),
        ("write_timeout", api.write_timeout),
        ("install_timeout", api.install_timeout),
    ] {
        if value.is_zero() || value > MAX_TIMEOUT {
            return Err(problem(at(name), "expected more than 0 and at most 1h"));
        }
    }
    if let Some(tcp) = &api.tcp {
        check_tcp(tcp)?;
    }
    Ok(())
}

fn check_tcp(tcp: &super::TcpConfig) -> Result<(), Problem> {
    use super::api::MAX_CONNECTIONS;
    let at = |field: &str| key(&["api", "tcp", field]);
    check_path(&tcp.certificate, at("certificate"))?;
    check_path(&tcp.key, at("key"))?;
    check_path(&tcp.client_ca, at("client_ca"))?;
    if let Some(revocations) = &tcp.revocations {
        check_path(revocations, at("revocations"))?;
    }
    if !(1..=MAX_CONNECTIONS).contains(&tcp.max_connections) {
        return Err(problem(
            at("max_connections"),
            format!("expected 1 to {MAX_CONNECTIONS}"),
        ));
    }
    if !(1..=tcp.max_connections).contains(&tcp.max_per_address) {
        return Err(problem(
            at("max_per_address"),
            "expected 1 to max_connections",
        ));
    }
    Ok(())
}

fn check_cgroups(config: &Config) -> Result<(), Problem> {
    check_path(&config.cgroups.root, key(&["cgroups", "root"]))?;
    check_cgroup_limits(&config.cgroups)?;
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

/// The default limits: a pids limit of at least 1 and at most the runtime group's, a
/// memory limit a program can start in.
fn check_cgroup_limits(cgroups: &super::CgroupsConfig) -> Result<(), Problem> {
    let at = |field: &str| key(&["cgroups", field]);
    if cgroups.runtime_pids_max == 0 {
        return Err(problem(at("runtime_pids_max"), "expected 1 or more"));
    }
    if !(1..=cgroups.runtime_pids_max).contains(&cgroups.default_pids_max) {
        return Err(problem(
            at("default_pids_max"),
            format!(
                "expected 1 to runtime_pids_max ({})",
                cgroups.runtime_pids_max
            ),
        ));
    }
    if cgroups.default_memory_max < super::MIN_MEMORY_MAX {
        return Err(problem(
            at("default_memory_max"),
            format!("expected at least {} bytes", super::MIN_MEMORY_MAX),
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
        check_resources_from(config, name, repository)?;
        if let Some(bind) = &repository.policy.bind {
            for (i, allowed) in bind.iter().enumerate() {
                let mut at = key(&["repositories", name, "policy", "bind"]);
                at.push(Step::Index(i));
                check_path(allowed, at)?;
            }
        }
    }
    check_development(config)
}

/// Unverified repositories next to keyed ones only on a development image.
fn check_development(config: &Config) -> Result<(), Problem> {
    let keyed = config.repositories.values().any(|r| r.key.is_some());
    let unverified = config.repositories.iter().find(|(_, r)| r.unverified);
    match unverified {
        Some((name, _)) if keyed && !config.development => Err(problem(
            key(&["repositories", name, "unverified"]),
            "an unverified repository next to keyed ones is allowed only on a development image \
             (set development = true at the top level)",
        )),
        _ => Ok(()),
    }
}

/// `resources_from` names other keyed repositories, and only for a keyed repository.
fn check_resources_from(
    config: &Config,
    name: &str,
    repository: &super::RepositoryConfig,
) -> Result<(), Problem> {
    for (i, other) in repository.resources_from.iter().enumerate() {
        let mut at = key(&["repositories", name, "resources_from"]);
        at.push(Step::Index(i));
        if repository.key.is_none() {
            return Err(problem(
                at,
                "an unverified repository's containers use resources of every repository already",
            ));
        }
        match config.repositories.get(other) {
            None => return Err(problem(at, format!("no repository {other:?}"))),
            Some(_) if other == name => {
                return Err(problem(at, "a repository always trusts itself"))
            }
            Some(r) if r.key.is_none() => {
                return Err(problem(
                    at,
                    format!(
                        "repository {other:?} is unverified: its packages never reach the \
                         containers of a keyed repository"
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn check_update(update: &super::UpdateConfig) -> Result<(), Problem> {
    use super::update::{MAX_DEADLINE, MAX_KEEP};
    if update.deadline.is_zero() || update.deadline > MAX_DEADLINE {
        return Err(problem(
            key(&["update", "deadline"]),
            format!("must be above 0 and at most {}s", MAX_DEADLINE.as_secs()),
        ));
    }
    if update.window > update.deadline {
        return Err(problem(
            key(&["update", "window"]),
            "must not be longer than update.deadline",
        ));
    }
    if update.keep == 0 || update.keep > MAX_KEEP {
        return Err(problem(
            key(&["update", "keep"]),
            format!("must be 1 (the rollback target) to {MAX_KEEP}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use std::path::Path;

    #[test]
    fn log_buffer_has_a_maximum() {
        let parse = |text: &str| Config::from_toml_str(text, Path::new("runtime.toml"));
        let max = super::MAX_LOG_BUFFER;
        assert_eq!(
            parse(&format!("log_buffer = {max}\n")).unwrap().log_buffer,
            max
        );
        let e = parse(&format!("log_buffer = {}\n", max + 1)).unwrap_err();
        assert_eq!(e.key(), Some("log_buffer"), "{e}");
        assert!(e.to_string().contains("at most"), "{e}");
    }
}
