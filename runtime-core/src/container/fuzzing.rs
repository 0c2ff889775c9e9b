//! The entry point of the fuzz target of plans (feature `fuzzing`, never in a product
//! build): the plan of a container built from any manifest the parser accepts, with the
//! runtime's default configuration, as a start builds it.

use super::{error::PlanError, plan};
use crate::config::Config;
use npk::manifest::{Manifest, Mount};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

/// Build the plan of `manifest` (with `group_file` as the host's `/etc/group`): every
/// resource mount's image at `/fuzz/resources/<n>`, a persistent directory, and sockets
/// (with a `sockets` mount or `sockets` entries, as `container::sockets` creates them)
/// and a console when the manifest has them. The plan itself is dropped.
pub fn plan(manifest: &Manifest, group_file: &str) -> Result<(), PlanError> {
    let config = Config::default();
    let resources: BTreeMap<PathBuf, PathBuf> = manifest
        .mounts
        .iter()
        .filter(|(_, mount)| matches!(mount, Mount::Resource(_)))
        .enumerate()
        .map(|(i, (point, _))| {
            (
                point.as_path().to_path_buf(),
                PathBuf::from(format!("/fuzz/resources/{i}")),
            )
        })
        .collect();
    let sockets: Vec<&str> = manifest.sockets.keys().map(String::as_str).collect();
    let console = manifest
        .console
        .as_ref()
        .map(|_| sockets.len().saturating_add(3));
    let mounted = manifest
        .mounts
        .values()
        .any(|m| matches!(m, Mount::Sockets));
    let sockets = (mounted || !sockets.is_empty()).then_some((Path::new("/fuzz/sockets"), sockets));
    plan::build(plan::Input {
        manifest,
        root: Path::new("/fuzz/root"),
        resources: &resources,
        persist: Some(Path::new("/fuzz/persist")),
        config: &config,
        group_file,
        last_cap: 40,
        net: plan::Net::Host,
        sockets,
        console,
        args: None,
        env: None,
    })
    .map(drop)
}
