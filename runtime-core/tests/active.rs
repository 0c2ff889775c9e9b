//! Active versions: of the installed versions of a container only the active one
//! autostarts; the file `data_dir/+active-versions` is created at the first start, obeyed
//! at later ones and set aside when damaged.

mod support;

use runtime_core::{
    id::ContainerId,
    runtime::{ContainerState, Request, Response},
};
use sha2::{Digest, Sha256};
use std::{collections::BTreeSet, path::PathBuf};
use support::{Running, World};

/// Pack version `version` of the autostart container `app`.
fn app(world: &World, version: &str) -> ContainerId {
    world.package(&format!(
        "name: app\nversion: {version}\ninit: /bin/test-container\nuid: 1000\ngid: 1000\n\
         args: [\"sleep-forever\"]\nautostart: relaxed\n"
    ))
}

/// The containers not stopped (autostart has run before any request is answered).
fn running(rt: &Running) -> BTreeSet<ContainerId> {
    match rt.request(Request::List).unwrap() {
        Response::Containers(list) => list
            .into_iter()
            .filter(|c| c.state != ContainerState::Stopped)
            .map(|c| c.id)
            .collect(),
        other => panic!("{other:?}"),
    }
}

fn state_file(world: &World) -> PathBuf {
    world.dir.path().join("data/+active-versions")
}

/// A state file naming `active` the active version of `test`/`app`.
fn write_state(world: &World, active: &str) {
    let body = serde_json::json!({
        "format": 1,
        "entries": [{
            "repository": "test",
            "name": "app",
            "active": active,
            "previous": null,
            "floor": "2.0.0",
            "enabled": null,
        }],
    })
    .to_string();
    let text = format!("{}\n{body}\n", hex::encode(Sha256::digest(body.as_bytes())));
    std::fs::create_dir_all(world.dir.path().join("data")).unwrap();
    std::fs::write(state_file(world), text).unwrap();
}

#[test]
fn only_the_highest_version_autostarts_at_the_first_start() {
    let world = World::new();
    let _low = app(&world, "1.0.0");
    let high = app(&world, "2.0.0");
    let rt = world.start();
    assert_eq!(running(&rt), [high].into());
    assert!(state_file(&world).exists());
    rt.shutdown();
}

#[test]
fn the_active_version_of_the_file_autostarts() {
    let world = World::new();
    let low = app(&world, "1.0.0");
    let high = app(&world, "2.0.0");
    write_state(&world, "1.0.0");
    let rt = world.start();
    assert_eq!(running(&rt), [low.clone()].into());
    // The inactive version starts when asked for by its exact id.
    rt.start(&high).unwrap();
    assert_eq!(running(&rt), [low, high].into());
    rt.shutdown();
}

#[test]
fn a_corrupt_file_is_set_aside_and_the_highest_version_autostarts() {
    let world = World::new();
    let _low = app(&world, "1.0.0");
    let high = app(&world, "2.0.0");
    write_state(&world, "1.0.0");
    let mut bytes = std::fs::read(state_file(&world)).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x20;
    std::fs::write(state_file(&world), &bytes).unwrap();
    let rt = world.start();
    assert_eq!(running(&rt), [high].into());
    assert_eq!(
        std::fs::read(world.dir.path().join("data/+active-versions.corrupt")).unwrap(),
        bytes
    );
    assert!(state_file(&world).exists());
    rt.shutdown();
}

#[test]
fn install_keeps_the_active_version_and_uninstall_moves_it() {
    let world = World::new();
    let low = app(&world, "1.0.0");
    let rt = world.start();
    assert_eq!(running(&rt), [low.clone()].into());
    // A second version is installed inactive.
    let staging = World::new();
    let high = app(&staging, "2.0.0");
    let installed = rt.request(Request::Install {
        repository: "test".into(),
        path: staging.repo.join("app-2.0.0.npk"),
    });
    assert_eq!(installed, Ok(Response::Installed { id: high.clone() }));
    rt.shutdown();
    let rt = world.start();
    assert_eq!(running(&rt), [low.clone()].into());
    // Uninstalling the active version makes the remaining one active.
    rt.stop(&low).unwrap();
    let uninstalled = rt.request(Request::Uninstall {
        id: low,
        wipe: false,
        repositories: None,
    });
    assert_eq!(uninstalled, Ok(Response::Ok));
    rt.shutdown();
    let rt = world.start();
    assert_eq!(running(&rt), [high].into());
    rt.shutdown();
}
