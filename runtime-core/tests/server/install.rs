//! Installs: cut streams, bad signatures and limits leave nothing behind.

use super::*;

#[test]
fn an_install_cut_mid_stream_leaves_nothing() {
    let mut world = World::new();
    world.container("hello", &["exit:0"], "");
    let served = Served::start(&mut world, "", "", TestHost::default());
    let before = listing(&world.repo);
    let (late, bytes) = package_bytes("late");
    {
        let mut c = served.client();
        c.send_request(Request::Install {
            repository: repo("test"),
            size: bytes.len() as u64,
            sha256: None,
        });
        c.stream.write_all(&bytes[..bytes.len() / 2]).unwrap();
        // The connection ends inside the raw bytes.
    }
    eventually("the spool file is removed", || {
        listing(&world.repo) == before
    });
    let mut c = served.client();
    let Ok(Response::Containers { containers }) = c.request(Request::List {}) else {
        panic!("list")
    };
    assert!(!containers.iter().any(|i| i.container == late));
    // Nothing is left that would refuse the same package now (no half file, no busy).
    assert_eq!(
        install(&mut c, "test", &bytes, None),
        Ok(Response::Installed { container: late })
    );
    served.shutdown();
}

#[test]
fn a_badly_signed_install_is_rejected_and_nothing_is_written() {
    let mut world = World::new();
    let key = npk::key::SecretKey::generate().unwrap();
    let keys = world.dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    key.public().save(&keys.join("signed.pub")).unwrap();
    let signed = world.dir.path().join("signed");
    let tables = format!(
        "[repositories.signed]\ndir = \"{}\"\nkey = \"{}\"\n",
        signed.display(),
        keys.join("signed.pub").display()
    );
    // The test repository is unverified.
    world.config_text("development = true");
    let served = Served::start(&mut world, "", &tables, TestHost::default());
    let mut c = served.client();
    // Unsigned, and signed with another key.
    let (_, unsigned) = package_bytes("app");
    let other = npk::key::SecretKey::generate().unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("bin")).unwrap();
    std::fs::copy(
        support::test_container(),
        root.path().join("bin/test-container"),
    )
    .unwrap();
    let m = npk::manifest::Manifest::from_yaml_str(
        "name: app\nversion: 0.0.1\ninit: /bin/test-container\nuid: 1000\ngid: 1000\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let path = npk::pack::pack_manifest(
        &m,
        root.path(),
        out.path(),
        &npk::pack::Options {
            key: Some(&other),
            ..Default::default()
        },
        &mut |_| (),
    )
    .unwrap();
    let wrong = std::fs::read(path).unwrap();
    for bytes in [unsigned, wrong] {
        match install(&mut c, "signed", &bytes, None) {
            Err(ApiError::InstallFailed { reason }) => println!("refused: {reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(listing(&signed), Vec::<String>::new());
    }
    served.shutdown();
}

#[test]
fn installs_over_a_limit_are_refused() {
    let mut world = World::new();
    let small = world.dir.path().join("small");
    let tables = format!(
        "[repositories.small]\ndir = \"{}\"\nunverified = true\nmax_packages = 0\n",
        small.display()
    );
    let served = Served::start(
        &mut world,
        "max_install_size = \"8M\"",
        &tables,
        TestHost::default(),
    );
    let (late, bytes) = package_bytes("late");
    let mut c = served.client();
    // The repository's capacity: refused after the check, the connection stays.
    assert_eq!(
        install(&mut c, "small", &bytes, None),
        Err(ApiError::RepositoryFull {
            repository: repo("small"),
            reason: "max_packages 0 reached".into()
        })
    );
    assert_eq!(listing(&small), Vec::<String>::new());
    // The connection's limit: refused before any byte is read, and closed.
    let id = c.send_request(Request::Install {
        repository: repo("test"),
        size: 9 << 20,
        sha256: None,
    });
    assert_eq!(
        c.answer(id),
        Err(ApiError::PackageTooLarge {
            size: 9 << 20,
            limit: 8 << 20
        })
    );
    assert!(c.closed());
    let mut c = served.client();
    let Ok(Response::Containers { containers }) = c.request(Request::List {}) else {
        panic!("list")
    };
    assert!(!containers.iter().any(|i| i.container == late));
    served.shutdown();
}
