//! Installing: the package's bytes arrive intact after the frame, progress is reported,
//! an early refusal stops the upload.

use northstar_client::{
    api::{ApiError, ContainerId, Permission, Permissions, RepositoryName, Request, ServerMessage},
    testing::{runtime, FakeServer},
    Client, Error, Options,
};
use std::{io::Write, time::Duration};

fn package(size: usize) -> Vec<u8> {
    // Not a multiple of anything the client or the codec uses, and every byte value.
    (0..size).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn default_repository() -> RepositoryName {
    RepositoryName::new("default").unwrap()
}

#[test]
fn bytes_arrive_intact_and_progress_is_reported() {
    let server = FakeServer::runtime().unwrap();
    let mut client = Client::connect(&server.url(), Options::default()).unwrap();
    let bytes = package(1_000_003);
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&bytes).unwrap();
    let mut progress = Vec::new();
    let installed = client
        .install(
            file.path(),
            &default_repository(),
            None,
            &mut |sent, total| progress.push((sent, total)),
        )
        .unwrap();
    assert_eq!(
        installed,
        runtime::INSTALLED.parse::<ContainerId>().unwrap()
    );
    assert_eq!(server.packages().len(), 1);
    assert!(server.packages()[0] == bytes, "the bytes differ");

    // Progress starts at 0, never goes back, ends at the size, always with the size.
    let total = bytes.len() as u64;
    assert_eq!(progress.first(), Some(&(0, total)));
    assert_eq!(progress.last(), Some(&(total, total)));
    assert!(progress.len() > 3, "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0].0 <= w[1].0));
    assert!(progress.iter().all(|(_, t)| *t == total));

    // The connection is in step after the raw bytes: a small package from a reader, then
    // a plain request.
    let small = package(10);
    let installed = client
        .install_from(
            &mut small.as_slice(),
            10,
            &default_repository(),
            None,
            &mut |_, _| {},
        )
        .unwrap();
    assert_eq!(installed.to_string(), runtime::INSTALLED);
    assert_eq!(server.packages()[1], small);
    assert_eq!(client.list().unwrap().len(), 2);
    assert!(matches!(
        server.requests()[0],
        Request::Install {
            size: 1_000_003,
            ..
        }
    ));
}

#[test]
fn an_empty_package_and_a_missing_repository() {
    let server = FakeServer::runtime().unwrap();
    let mut client = Client::connect(&server.url(), Options::default()).unwrap();
    let testing = RepositoryName::new("testing").unwrap();
    let error = client
        .install_from(&mut [].as_slice(), 0, &testing, None, &mut |_, _| {})
        .unwrap_err();
    assert_eq!(
        error.api_error(),
        Some(&ApiError::RepositoryNotFound {
            repository: testing
        })
    );
    // The bytes (none) were all sent: the connection stays usable.
    assert_eq!(client.list().unwrap().len(), 2);
}

#[test]
fn an_early_refusal_stops_the_upload() {
    let granted: Permissions = [Permission::List].into_iter().collect();
    let server = FakeServer::runtime_with(granted).unwrap();
    let mut client = Client::connect(&server.url(), Options::default()).unwrap();
    let bytes = package(8 << 20);
    let mut sent = 0;
    let error = client
        .install_from(
            &mut bytes.as_slice(),
            bytes.len() as u64,
            &default_repository(),
            None,
            &mut |s, _| sent = s,
        )
        .unwrap_err();
    assert_eq!(
        error.api_error(),
        Some(&ApiError::PermissionDenied {
            permission: Permission::Install
        })
    );
    assert!(sent < bytes.len() as u64, "stopped early, after {sent}");
    // The server still expects the rest: the connection is not used again.
    assert!(matches!(client.list(), Err(Error::Broken { .. })));
}

#[test]
fn a_package_that_cannot_be_read() {
    let server = FakeServer::runtime().unwrap();
    let mut client = Client::connect(&server.url(), Options::default()).unwrap();
    let error = client
        .install(
            "/nonexistent/x.npk".as_ref(),
            &default_repository(),
            None,
            &mut |_, _| {},
        )
        .unwrap_err();
    assert!(matches!(error, Error::Package { .. }), "{error:?}");
    assert!(error.to_string().contains("/nonexistent/x.npk"));
    // Nothing was sent.
    assert_eq!(client.list().unwrap().len(), 2);
    // A reader shorter than announced: the install is abandoned.
    let error = client
        .install_from(
            &mut [1u8, 2].as_slice(),
            5,
            &default_repository(),
            None,
            &mut |_, _| {},
        )
        .unwrap_err();
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert_eq!(cause, "the package ended after 2 of 5 bytes");
}

#[test]
fn the_server_closing_during_the_upload_is_explained() {
    // A server that refuses the size at once and closes, as with `package_too_large`.
    let server = FakeServer::start(|mut peer| {
        if !peer.welcome(Permissions::all()).unwrap() {
            return;
        }
        let (id, request) = peer.request().unwrap().unwrap();
        let Request::Install { size, .. } = request else {
            panic!("expected install")
        };
        let error = ApiError::PackageTooLarge { size, limit: 1024 };
        peer.send(&ServerMessage::error(Some(id), error)).unwrap();
        // Closing drops the peer.
    })
    .unwrap();
    let mut client = Client::connect(&server.url(), Options::default()).unwrap();
    let bytes = package(4 << 20);
    let error = client
        .install_from(
            &mut bytes.as_slice(),
            bytes.len() as u64,
            &default_repository(),
            None,
            &mut |_, _| {},
        )
        .unwrap_err();
    assert_eq!(
        error.api_error().map(ApiError::code),
        Some("package_too_large"),
        "{error:?}"
    );
    assert!(client.list().is_err());
}

#[test]
fn a_stalled_server_times_the_upload_out() {
    let server = FakeServer::start(|mut peer| {
        if !peer.welcome(Permissions::all()).unwrap() {
            return;
        }
        let _ = peer.request();
        // Neither read the bytes nor answer, until the client goes away.
        std::thread::sleep(Duration::from_secs(5));
    })
    .unwrap();
    let options = Options {
        request_timeout: Some(Duration::from_millis(300)),
        ..Options::default()
    };
    let mut client = Client::connect(&server.url(), options).unwrap();
    let bytes = package(4 << 20);
    let error = client
        .install_from(
            &mut bytes.as_slice(),
            bytes.len() as u64,
            &default_repository(),
            None,
            &mut |_, _| {},
        )
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
}

#[test]
fn a_system_bundle_is_streamed_with_progress_and_needs_its_grant() {
    let mut granted = Permissions::all();
    granted.insert(Permission::SystemUpdate);
    let server = FakeServer::runtime_with(granted).unwrap();
    let mut client = Client::connect(&server.url(), Options::default()).unwrap();
    let bytes = package(700_001);
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&bytes).unwrap();
    let digest = northstar_client::package_sha256(file.path()).unwrap();
    let mut progress = Vec::new();
    let installed = client
        .system_install(file.path(), Some(digest), &mut |sent, total| {
            progress.push((sent, total))
        })
        .unwrap();
    assert_eq!(
        (installed.slot.as_str(), installed.version.as_str()),
        ("B", runtime::BUNDLE_VERSION)
    );
    assert_eq!(installed.bytes, bytes.len() as u64);
    assert!(installed.status.slots[1].primary);
    assert!(server.packages()[0] == bytes, "the bytes differ");
    assert_eq!(
        server.requests()[0],
        Request::SystemInstall {
            size: bytes.len() as u64,
            sha256: Some(digest)
        }
    );
    let total = bytes.len() as u64;
    assert_eq!(progress.first(), Some(&(0, total)));
    assert_eq!(progress.last(), Some(&(total, total)));
    assert!(progress.windows(2).all(|w| w[0].0 <= w[1].0));
    // In step after the bytes.
    assert_eq!(client.list().unwrap().len(), 2);
    // `request` refuses it: the bytes must follow.
    let e = client
        .request(Request::SystemInstall {
            size: 1,
            sha256: None,
        })
        .unwrap_err();
    assert!(matches!(e, Error::InstallWithoutPackage), "{e}");

    // The wildcard does not grant it: refused, and no byte is taken as a bundle.
    let server = FakeServer::runtime().unwrap();
    let mut client = Client::connect(&server.url(), Options::default()).unwrap();
    let error = client
        .system_install(file.path(), None, &mut |_, _| {})
        .unwrap_err();
    assert_eq!(
        error.api_error(),
        Some(&ApiError::PermissionDenied {
            permission: Permission::SystemUpdate
        })
    );
    assert!(server.packages().is_empty());
    // A bundle that is not there: a local error, nothing sent.
    let missing = client
        .system_install(
            std::path::Path::new("/nonexistent.raucb"),
            None,
            &mut |_, _| {},
        )
        .unwrap_err();
    assert_eq!(missing.kind(), northstar_client::ErrorKind::Local);
    assert!(
        missing.to_string().contains("nonexistent.raucb"),
        "{missing}"
    );
}
