//! The management API server end to end, as root: a real runtime with real containers,
//! a client speaking the protocol over the unix socket with the protocol crate's codec.

#[path = "../server_support/mod.rs"]
mod server_support;
#[path = "../support/mod.rs"]
mod support;

mod install;
mod limits;
mod overflow;
mod permissions;
mod requests;
mod system;
mod tcp;
mod update;

use northstar_api::{
    required, ApiError, Args, ClientMessage, ContainerId, ContainerState, Env, ExitStatus,
    Notification, Package, Packages, Permission, Permissions, ProtocolVersion, RepositoryName,
    Request, Response, ServerMessage, Sha256, Signal, SlotMark, SlotTarget, StopTimeout,
    UpdateOptions,
};
use server_support::{listing, rss_kib, Client, Served, TestHost};
use sha2::Digest;
use std::{
    collections::BTreeMap,
    io::Write,
    path::Path,
    time::{Duration, Instant},
};
use support::{World, PATIENCE};

fn repo(name: &str) -> RepositoryName {
    RepositoryName::new(name).unwrap()
}

/// A package file of a container `name` packed in a world of its own.
fn package_bytes(name: &str) -> (ContainerId, Vec<u8>) {
    let staging = World::new();
    let id = staging.container(name, &["exit:0"], "");
    let bytes = std::fs::read(staging.repo.join(format!("{name}-0.0.1.npk"))).unwrap();
    (id, bytes)
}

fn install(
    c: &mut Client,
    repository: &str,
    bytes: &[u8],
    sha256: Option<Sha256>,
) -> Result<Response, ApiError> {
    let id = c.send_request(Request::Install {
        repository: repo(repository),
        size: bytes.len() as u64,
        sha256,
    });
    c.stream.write_all(bytes).unwrap();
    c.answer(id)
}

fn digest(bytes: &[u8]) -> Sha256 {
    Sha256(sha2::Sha256::digest(bytes).into())
}

/// Wait (bounded) until `f` holds; a guard against hangs, not a timing assertion.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
