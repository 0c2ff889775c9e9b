//! Update transactions: the packages' bytes arrive one after the other, progress spans
//! them all, the transaction's notifications come live, a rollback is an error.

use northstar_client::{
    api::{ApiError, ContainerId, Notification, RepositoryName, Request, UpdateOptions},
    testing::{runtime, FakeServer},
    Client, Error, Options, UpdateFile,
};
use std::io::Write;

fn file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    file
}

fn repository(name: &str) -> RepositoryName {
    RepositoryName::new(name).unwrap()
}

#[test]
fn packages_arrive_in_order_and_notifications_come_live() {
    let server = FakeServer::runtime().unwrap();
    let mut client = Client::connect(&server.url(), Options::default()).unwrap();
    client.subscribe().unwrap();
    let one: Vec<u8> = (0..700_001).map(|i| (i % 253) as u8).collect();
    let two: Vec<u8> = (0..300_007).map(|i| (i % 249) as u8).collect();
    let (f1, f2) = (file(&one), file(&two));
    let files = [
        UpdateFile {
            path: f1.path(),
            sha256: None,
        },
        UpdateFile {
            path: f2.path(),
            sha256: Some(northstar_client::package_sha256(f2.path()).unwrap()),
        },
    ];
    let mut progress = Vec::new();
    let mut seen = Vec::new();
    let committed = client
        .update(
            &files,
            &repository("default"),
            UpdateOptions::default(),
            &mut |sent, total| progress.push((sent, total)),
            &mut |n| seen.push(n.clone()),
        )
        .unwrap();
    let new: ContainerId = runtime::INSTALLED.parse().unwrap();
    assert_eq!(committed, vec![new.clone()]);
    assert_eq!(server.packages(), [one.clone(), two.clone()]);
    let total = (one.len() + two.len()) as u64;
    assert_eq!(progress.first(), Some(&(0, total)));
    assert_eq!(progress.last(), Some(&(total, total)));
    assert!(progress.windows(2).all(|w| w[0].0 <= w[1].0));
    let transaction: Vec<_> = seen
        .iter()
        .filter(|n| n.since() > northstar_client::api::ProtocolVersion::new(1, 1))
        .cloned()
        .collect();
    assert_eq!(
        transaction,
        [
            Notification::UpdateStarted {
                containers: vec![new.clone()]
            },
            Notification::Ready {
                container: new.clone()
            },
            Notification::Healthy {
                container: new.clone()
            },
            Notification::Committed {
                containers: vec![new]
            },
        ]
    );
    let Some(Request::Update { packages, .. }) = server
        .requests()
        .into_iter()
        .find(|r| matches!(r, Request::Update { .. }))
    else {
        panic!("no update request")
    };
    assert_eq!(packages.as_slice()[1].sha256, files[1].sha256);
    // In step afterwards.
    assert_eq!(client.list().unwrap().len(), 2);
}

#[test]
fn a_rolled_back_update_is_an_api_error() {
    let server = FakeServer::runtime().unwrap();
    let mut client = Client::connect(&server.url(), Options::default()).unwrap();
    let f = file(b"package");
    let files = [UpdateFile {
        path: f.path(),
        sha256: None,
    }];
    let e = client
        .update(
            &files,
            &repository("dev"),
            UpdateOptions::default(),
            &mut |_, _| {},
            &mut |_| {},
        )
        .unwrap_err();
    let Error::Api { error, .. } = e else {
        panic!("{e:?}")
    };
    assert!(matches!(*error, ApiError::RolledBack { .. }), "{error:?}");
    assert_eq!(client.list().unwrap().len(), 2);
}

#[test]
fn rollback_enable_disable() {
    let server = FakeServer::runtime().unwrap();
    let mut client = Client::connect(&server.url(), Options::default()).unwrap();
    let hello: ContainerId = runtime::HELLO.parse().unwrap();
    assert_eq!(
        client
            .rollback(&hello.name, None, UpdateOptions::default(), &mut |_| {})
            .unwrap(),
        vec![hello.clone()]
    );
    client.enable(&hello.name, None).unwrap();
    client
        .disable(&hello.name, Some(&repository("default")))
        .unwrap();
    let unknown = "nobody".parse().unwrap();
    let e = client.enable(&unknown, None).unwrap_err();
    assert!(
        matches!(&e, Error::Api { error, .. } if matches!(**error, ApiError::NotInstalled { .. })),
        "{e:?}"
    );
    let requests = server.requests();
    assert!(requests.contains(&Request::Disable {
        name: hello.name.clone(),
        repository: Some(repository("default")),
    }));
}
