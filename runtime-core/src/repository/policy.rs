//! The check of a manifest against its repository's policy (`[repositories.<name>.policy]`,
//! see `config::Policy`): capabilities, seccomp additions, resource limits, scheduling
//! policy, cgroup limits above the `[cgroups]` defaults and bind mounts. It runs when a package is installed and when a repository is
//! loaded, so a package that asks for more than its repository allows is never started.
//!
//! It does not check the top-level `bind_allow` (the container start does) or whether a
//! value is valid at all (the manifest's own validation does).

use super::Error;
use crate::{
    cgroups::Defaults,
    config::{Limit, Policy, Sched},
};
use npk::manifest::{Manifest, Mount};
use std::path::{Component, Path};

/// Refuse `manifest` (of the package at `path` in `repository`) if it asks for anything
/// `policy` does not allow. The error names the first field and value refused.
pub(super) fn check(
    repository: &str,
    policy: &Policy,
    defaults: &Defaults,
    manifest: &Manifest,
    path: &Path,
) -> Result<(), Error> {
    let refuse = |field: String, value: String| Error::Policy {
        path: path.to_owned(),
        repository: repository.to_string(),
        package: format!("{}:{}", manifest.name, manifest.version),
        field,
        value,
    };
    if let Some(cap) = manifest
        .capabilities
        .iter()
        .find(|c| !policy.capabilities.allows(c))
    {
        return Err(refuse("capabilities".into(), cap.to_string()));
    }
    let added = manifest.seccomp.as_ref().and_then(|s| s.allow.as_ref());
    if let Some(syscall) = added
        .into_iter()
        .flat_map(|allow| allow.keys())
        .find(|s| !policy.syscalls.allows(s))
    {
        return Err(refuse("seccomp.allow".into(), syscall.to_string()));
    }
    if let Some(resource) = manifest.rlimits.keys().find(|r| !policy.rlimits.allows(r)) {
        return Err(refuse("rlimits".into(), resource.to_string()));
    }
    let sched = manifest.sched.as_ref().and_then(|s| s.policy.as_ref());
    if let Some(sched) = sched.map(Sched::of).filter(|s| !policy.sched.allows(s)) {
        return Err(refuse("sched.policy".into(), sched.to_string()));
    }
    if let Some(limit) = defaults
        .exceeded_by(manifest.cgroups.as_ref())
        .into_iter()
        .find(|l| !policy.above_default_limits.allows(l))
    {
        let value = match limit {
            Limit::Pids => manifest
                .cgroups
                .as_ref()
                .and_then(|c| c.pids.as_ref())
                .map(|p| p.max.to_string()),
            Limit::Memory => manifest
                .cgroups
                .as_ref()
                .and_then(|c| c.memory.as_ref())
                .and_then(|m| m.memory_hard_limit)
                .map(|l| l.to_string()),
        };
        return Err(refuse(
            limit.field().into(),
            format!("{} (above the default)", value.unwrap_or_default()),
        ));
    }
    if let Some(allowed) = &policy.bind {
        for (point, mount) in &manifest.mounts {
            let Mount::Bind(bind) = mount else {
                continue;
            };
            let host = bind.host.as_path();
            if !bind_allowed(allowed, host) {
                return Err(refuse(
                    format!("mounts.{}.host", point.as_path().display()),
                    host.display().to_string(),
                ));
            }
        }
    }
    Ok(())
}

/// `host` is absolute, has no `..` and is one of `allowed` or below one.
fn bind_allowed(allowed: &[std::path::PathBuf], host: &Path) -> bool {
    host.is_absolute()
        && !host.components().any(|c| c == Component::ParentDir)
        && allowed.iter().any(|a| host.starts_with(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Allow;

    fn manifest(extra: &str) -> Manifest {
        let text = format!("name: app\nversion: 1.0.0\ninit: /bin/app\nuid: 1\ngid: 1\n{extra}");
        Manifest::from_yaml_str(&text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn refused(policy: &Policy, extra: &str) -> Option<(String, String)> {
        let defaults = Defaults {
            pids_max: 256,
            memory_max: 256 << 20,
        };
        match check(
            "apps",
            policy,
            &defaults,
            &manifest(extra),
            Path::new("/r/app.npk"),
        ) {
            Ok(()) => None,
            Err(Error::Policy { field, value, .. }) => Some((field, value)),
            Err(e) => panic!("{e}"),
        }
    }

    fn pair(field: &str, value: &str) -> Option<(String, String)> {
        Some((field.to_string(), value.to_string()))
    }

    #[test]
    fn nothing_beyond_a_plain_manifest_by_default() {
        let policy = Policy::default();
        assert_eq!(refused(&policy, ""), None);
        assert_eq!(
            refused(&policy, "capabilities: [CAP_SYS_ADMIN]\n"),
            pair("capabilities", "CAP_SYS_ADMIN")
        );
        assert_eq!(
            refused(&policy, "seccomp:\n  allow:\n    ptrace: any\n"),
            pair("seccomp.allow", "ptrace")
        );
        assert_eq!(refused(&policy, "seccomp:\n  profile: default\n"), None);
        assert_eq!(
            refused(&policy, "rlimits:\n  memlock:\n    soft: 1\n"),
            pair("rlimits", "memlock")
        );
        assert_eq!(
            refused(&policy, "sched:\n  policy: !fifo\n    priority: 10\n"),
            pair("sched.policy", "fifo")
        );
        // Without a `bind` list the top-level bind_allow decides, at start.
        assert_eq!(
            refused(
                &policy,
                "mounts:\n  /log:\n    type: bind\n    host: /dev/log\n"
            ),
            None
        );
    }

    #[test]
    fn limits_above_the_defaults_need_the_policy() {
        let policy = Policy::default();
        let pids = |max: u64| format!("cgroups:\n  pids:\n    max: {max}\n");
        let memory = |limit: i64| format!("cgroups:\n  memory:\n    memory_hard_limit: {limit}\n");
        assert_eq!(refused(&policy, &pids(256)), None);
        assert_eq!(
            refused(&policy, &pids(257)),
            pair("cgroups.pids.max", "257 (above the default)")
        );
        assert_eq!(refused(&policy, &memory(256 << 20)), None);
        assert_eq!(
            refused(&policy, &memory(-1)),
            pair("cgroups.memory.memory_hard_limit", "-1 (above the default)")
        );
        let memory_only = Policy {
            above_default_limits: Allow::Only([Limit::Memory].into()),
            ..Policy::default()
        };
        assert_eq!(refused(&memory_only, &memory(1 << 30)), None);
        assert_eq!(
            refused(&memory_only, &pids(1000)),
            pair("cgroups.pids.max", "1000 (above the default)")
        );
    }

    #[test]
    fn what_the_policy_allows_passes() {
        let policy = Policy {
            capabilities: Allow::Only([npk::manifest::Capability::new("CAP_KILL").unwrap()].into()),
            syscalls: Allow::All,
            rlimits: Allow::Only([npk::manifest::RlimitResource::Nofile].into()),
            sched: Allow::Only([Sched::Batch].into()),
            above_default_limits: Allow::Only([Limit::Memory].into()),
            bind: Some(vec!["/var/shared".into()]),
        };
        assert_eq!(refused(&policy, "capabilities: [CAP_KILL]\n"), None);
        assert_eq!(
            refused(&policy, "capabilities: [CAP_KILL, CAP_NET_ADMIN]\n"),
            pair("capabilities", "CAP_NET_ADMIN")
        );
        assert_eq!(
            refused(&policy, "seccomp:\n  allow:\n    ptrace: any\n"),
            None
        );
        assert_eq!(refused(&policy, "rlimits:\n  nofile:\n    soft: 1\n"), None);
        assert_eq!(
            refused(&policy, "sched:\n  policy: !batch\n    nice: 3\n"),
            None
        );
        assert_eq!(
            refused(&policy, "sched:\n  policy: !idle\n"),
            pair("sched.policy", "idle")
        );
        let bind = |host: &str| format!("mounts:\n  /x:\n    type: bind\n    host: {host}\n");
        assert_eq!(refused(&policy, &bind("/var/shared/a")), None);
        assert_eq!(
            refused(&policy, &bind("/var/sharedx")),
            pair("mounts./x.host", "/var/sharedx")
        );
        assert_eq!(
            refused(&policy, &bind("/etc")),
            pair("mounts./x.host", "/etc")
        );
    }
}
