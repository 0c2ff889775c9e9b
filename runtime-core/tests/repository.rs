//! Repositories and the registry with real packages: trust (signed, tampered, unsigned,
//! development), capacity, duplicates, resolving versions, and installs that survive
//! interruption (temporary files, truncated streams) without leaving anything behind.

mod repository_support;

use npk::{
    archive::Archive,
    manifest::Name,
    pack,
    package::{ErrorKind, Npk},
    signature,
};
use repository_support::*;
use runtime_core::{
    config::{Config, RepositoryConfig},
    id::ContainerId,
    repository::{
        check, prepare_install, Depth, Error, Limits, Package, Registry, Repository, TEMP_SUFFIX,
    },
};
use std::{
    fs,
    path::{Path, PathBuf},
};

#[test]
fn keyed_repository_loads_signed_packages() {
    let w = World::new();
    w.put("repo", "a.npk", "alpha", "1.0.0", Some(&secret(1)));
    w.put("repo", "b.npk", "beta", "2.1.0", Some(&secret(1)));
    let (repo, rejected) = loaded(&w.keyed("repo"));
    assert!(rejected.is_empty(), "{:?}", rejected);
    assert_eq!(repo.len(), 2);
    let alpha = repo.get(&id("alpha:1.0.0")).unwrap();
    assert!(matches!(alpha, Package::Signed(_)));
    assert_eq!(alpha.id(), id("alpha:1.0.0"));
    assert_eq!(alpha.manifest().name.as_str(), "alpha");
    assert_eq!(alpha.path(), w.path("repo/a.npk"));
    let size = fs::metadata(w.path("repo/a.npk")).unwrap().len();
    assert_eq!(alpha.file_size().unwrap(), size);
    assert_eq!(
        repo.used_bytes(),
        size + fs::metadata(w.path("repo/b.npk")).unwrap().len()
    );
    let ids: Vec<String> = repo.iter().map(|(id, _)| id.to_string()).collect();
    assert_eq!(ids, ["alpha:1.0.0", "beta:2.1.0"]);
}

#[test]
fn example_resource_package_loads() {
    let w = World::new();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/message");
    fs::create_dir_all(w.path("repo")).unwrap();
    let options = pack::Options {
        key: Some(&secret(1)),
        ..pack::Options::default()
    };
    pack::pack(
        &examples.join("manifest.yaml"),
        &examples.join("root"),
        &w.path("repo"),
        &options,
        &mut |_| (),
    )
    .unwrap();
    let (repo, rejected) = loaded(&w.keyed("repo"));
    assert!(rejected.is_empty());
    let package = repo.get(&id("message:0.1.0")).unwrap();
    assert!(package.is_signed());
    assert!(package.manifest().is_resource());
}

#[test]
fn bad_packages_are_rejected_with_the_file_named() {
    let w = World::new();
    let key = secret(1);
    w.put("repo", "good.npk", "good", "1.0.0", Some(&key));
    w.put(
        "repo",
        "wrong-key.npk",
        "wrongkey",
        "1.0.0",
        Some(&secret(2)),
    );
    w.put("repo", "unsigned.npk", "unsigned", "1.0.0", None);
    w.put("repo", "manifest.npk", "manifest", "1.0.0", Some(&key));
    patch_entry(
        &w.path("repo/manifest.npk"),
        false,
        b"uid: 1000",
        b"uid: 1001",
    );
    w.put("repo", "signature.npk", "signature", "1.0.0", Some(&key));
    let sig = Archive::read(&fs::File::open(w.path("repo/signature.npk")).unwrap())
        .unwrap()
        .signature
        .unwrap();
    let start = find(&sig, b"signature: ");
    let at = start + "signature: ".len() + 3;
    let replacement = if sig[at] == b'A' { b"B" } else { b"A" };
    patch_entry(
        &w.path("repo/signature.npk"),
        true,
        &sig[start..at + 1],
        &[&sig[start..at], &replacement[..]].concat(),
    );
    w.put("repo", "data.npk", "data", "1.0.0", Some(&key));
    let data = Npk::open(&w.path("repo/data.npk"))
        .unwrap()
        .verify(&key.public())
        .unwrap();
    let squashfs = data.squashfs();
    drop(data);
    // One byte in the middle of the squashfs image: only the full hash check (at install,
    // or on request) sees it; loading checks the metadata and leaves data to dm-verity.
    flip(
        &w.path("repo/data.npk"),
        (squashfs.start + squashfs.end) / 2,
    );
    // The verity superblock is not signed but checked at every load: its data block count
    // must be the one the signed offset gives.
    w.put("repo", "superblock.npk", "superblock", "1.0.0", Some(&key));
    let superblock_at = Npk::open(&w.path("repo/superblock.npk"))
        .unwrap()
        .verify(&key.public())
        .unwrap()
        .squashfs()
        .end;
    flip(&w.path("repo/superblock.npk"), superblock_at + 64);
    fs::create_dir(w.path("repo/dir.npk")).unwrap();

    let (repo, rejected) = loaded(&w.keyed("repo"));
    assert_eq!(repo.len(), 2);
    assert!(repo.get(&id("good:1.0.0")).is_some());
    assert_eq!(
        rejected_files(&rejected),
        [
            "dir.npk",
            "manifest.npk",
            "signature.npk",
            "superblock.npk",
            "unsigned.npk",
            "wrong-key.npk"
        ]
    );
    // The changed data block: loaded, found by the full check, refused by an install.
    let data = repo.get(&id("data:1.0.0")).unwrap();
    assert!(repo.get(&id("good:1.0.0")).unwrap().check_fs_img().unwrap());
    let err = data.check_fs_img().unwrap_err();
    assert!(
        matches!(&err, Error::Package(e) if matches!(e.kind, ErrorKind::FsImg(_))),
        "{err}"
    );
    let other = w.keyed("other");
    fs::create_dir_all(&other.dir).unwrap();
    let source = fs::File::open(w.path("repo/data.npk")).unwrap();
    let err = prepare_install(
        &other.dir,
        Some(&key.public()),
        Limits::default(),
        source,
        u64::MAX,
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Package(e) if matches!(e.kind, ErrorKind::FsImg(_))),
        "{err}"
    );
    assert!(listing(&other.dir).is_empty());
    for r in &rejected {
        let shown = r.error.to_string();
        assert!(
            shown.starts_with(&r.path.display().to_string()),
            "{shown} names {}",
            r.path.display()
        );
        let name = r.path.file_name().unwrap().to_str().unwrap();
        let kind = match &r.error {
            Error::Package(e) => Some(&e.kind),
            _ => None,
        };
        match name {
            "superblock.npk" => {
                assert!(matches!(kind, Some(ErrorKind::Superblock(_))), "{shown}")
            }
            "manifest.npk" => assert!(matches!(kind, Some(ErrorKind::ManifestHash)), "{shown}"),
            "unsigned.npk" => assert!(matches!(kind, Some(ErrorKind::Unsigned)), "{shown}"),
            "signature.npk" | "wrong-key.npk" => assert!(
                matches!(
                    kind,
                    Some(ErrorKind::Signature(signature::Error::BadSignature))
                ),
                "{shown}"
            ),
            "dir.npk" => assert!(matches!(r.error, Error::NotRegular(_)), "{shown}"),
            other => panic!("unexpected {other}"),
        }
    }

    // Through the registry: only the good package is there, and the files stay on disk.
    let mut config = Config::default();
    config.repositories.insert("signed".into(), w.keyed("repo"));
    let (registry, rejected) = Registry::load(&config).unwrap();
    assert_eq!(rejected.len(), 6);
    let ids: Vec<ContainerId> = registry.iter().map(|(_, p)| p.id()).collect();
    assert_eq!(ids, [id("data:1.0.0"), id("good:1.0.0")]);
    assert_eq!(listing(&w.path("repo")).len(), 8);
}

#[test]
fn unverified_repository_yields_development_packages() {
    let w = World::new();
    w.put("dev", "a.npk", "unsigned", "1.0.0", None);
    w.put("dev", "b.npk", "signed", "1.0.0", Some(&secret(1)));
    w.put("dev", "c.npk", "other", "1.0.0", Some(&secret(9)));
    let (repo, rejected) = loaded(&w.unverified("dev"));
    assert!(rejected.is_empty());
    assert_eq!(repo.len(), 3);
    assert!(repo.key().is_none());
    for (_, package) in repo.iter() {
        assert!(matches!(package, Package::Development(_)));
        assert!(!package.is_signed());
    }
}

#[test]
fn trust_settings_are_required() {
    let w = World::new();
    let neither = RepositoryConfig {
        key: None,
        ..w.keyed("repo")
    };
    let err = Repository::open("r", &neither).unwrap_err();
    assert!(matches!(err, Error::NoTrust(ref n) if n == "r"), "{err}");
    let both = RepositoryConfig {
        unverified: true,
        ..w.keyed("repo")
    };
    assert!(matches!(
        Repository::open("r", &both),
        Err(Error::KeyAndUnverified(_))
    ));
    let missing = RepositoryConfig {
        key: Some(w.path("nope.pub")),
        ..w.keyed("repo")
    };
    let err = Repository::open("r", &missing).unwrap_err();
    assert!(matches!(err, Error::Key { .. }), "{err}");
    assert!(err.to_string().contains("nope.pub"), "{err}");
    // The directory is created by a successful open.
    assert!(!w.path("repo").exists());
    Repository::open("r", &w.keyed("repo")).unwrap();
    assert!(w.path("repo").is_dir());
}

#[test]
fn capacity_in_packages() {
    let w = World::new();
    for name in ["a", "b", "c"] {
        w.put(
            "repo",
            &format!("{name}.npk"),
            name,
            "1.0.0",
            Some(&secret(1)),
        );
    }
    let config = RepositoryConfig {
        max_packages: Some(2),
        ..w.keyed("repo")
    };
    let (mut repo, rejected) = loaded(&config);
    assert_eq!(repo.len(), 2);
    assert_eq!(rejected_files(&rejected), ["c.npk"]);
    assert!(matches!(
        rejected[0].error,
        Error::CapacityCount { max: 2, .. }
    ));

    // Installing into the full repository fails and leaves the directory as it was.
    let before = listing(&w.path("repo"));
    let source = fs::File::open(w.pack("d", "1.0.0", Some(&secret(1)))).unwrap();
    let prepared =
        prepare_install(repo.dir(), repo.key(), repo.limits(), source, u64::MAX).unwrap();
    let err = repo.commit(prepared).unwrap_err();
    assert!(matches!(err, Error::CapacityCount { .. }), "{err}");
    assert_eq!(listing(&w.path("repo")), before);

    // After an uninstall there is room again.
    repo.uninstall(&id("a:1.0.0")).unwrap();
    let source = fs::File::open(w.pack("d", "1.0.0", Some(&secret(1)))).unwrap();
    let prepared =
        prepare_install(repo.dir(), repo.key(), repo.limits(), source, u64::MAX).unwrap();
    assert_eq!(repo.commit(prepared).unwrap(), id("d:1.0.0"));
}

#[test]
fn capacity_in_bytes() {
    let w = World::new();
    w.put("repo", "a.npk", "a", "1.0.0", Some(&secret(1)));
    w.put("repo", "b.npk", "b", "1.0.0", Some(&secret(1)));
    let a = fs::metadata(w.path("repo/a.npk")).unwrap().len();
    let b = fs::metadata(w.path("repo/b.npk")).unwrap().len();
    let config = RepositoryConfig {
        max_bytes: Some(a + b - 1),
        ..w.keyed("repo")
    };
    let (repo, rejected) = loaded(&config);
    assert_eq!(repo.len(), 1);
    assert_eq!(rejected_files(&rejected), ["b.npk"]);
    match &rejected[0].error {
        Error::CapacityBytes {
            max, used, size, ..
        } => assert_eq!((*max, *used, *size), (a + b - 1, a, b)),
        other => panic!("{other}"),
    }
    // Exactly at the limit fits.
    let config = RepositoryConfig {
        max_bytes: Some(a + b),
        ..w.keyed("repo")
    };
    let (repo, rejected) = loaded(&config);
    assert!(rejected.is_empty());
    assert_eq!(repo.used_bytes(), a + b);

    // A stream longer than max_bytes is cut off while it is written.
    let source = fs::File::open(w.pack("c", "1.0.0", Some(&secret(1)))).unwrap();
    let limits = Limits {
        max_packages: None,
        max_bytes: Some(1000),
    };
    let err = prepare_install(repo.dir(), repo.key(), limits, source, u64::MAX).unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 1000, .. }), "{err}");
    assert_eq!(listing(&w.path("repo")), ["a.npk", "b.npk"]);
}

#[test]
fn duplicates_within_and_across_repositories() {
    let w = World::new();
    w.put("one", "x.npk", "x", "1.0.0", Some(&secret(1)));
    w.put("one", "x-again.npk", "x", "1.0.0", Some(&secret(1)));
    w.put("two", "x.npk", "x", "1.0.0", None);
    w.put("two", "y.npk", "y", "1.0.0", None);
    let mut config = Config {
        development: true,
        ..Config::default()
    };
    config.repositories.insert("a-one".into(), w.keyed("one"));
    config
        .repositories
        .insert("b-two".into(), w.unverified("two"));
    let (mut registry, rejected) = Registry::load(&config).unwrap();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    // Within a repository: the first file in name order wins.
    let within = rejected
        .iter()
        .find(|r| r.path == w.path("one/x.npk"))
        .unwrap();
    assert!(matches!(
        &within.error,
        Error::Duplicate { existing, .. } if existing == &w.path("one/x-again.npk")
    ));
    // Across repositories: both files named.
    let across = rejected
        .iter()
        .find(|r| r.path == w.path("two/x.npk"))
        .unwrap();
    let shown = across.error.to_string();
    assert!(
        shown.contains(&w.path("two/x.npk").display().to_string()),
        "{shown}"
    );
    assert!(
        shown.contains(&w.path("one/x-again.npk").display().to_string()),
        "{shown}"
    );

    assert_eq!(registry.len(), 2);
    let x = registry.get(&id("x:1.0.0")).unwrap();
    assert!(x.is_signed());
    assert_eq!(registry.repository_of(&id("x:1.0.0")), Some("a-one"));
    assert_eq!(registry.repository_of(&id("y:1.0.0")), Some("b-two"));
    assert!(
        w.path("two/x.npk").exists(),
        "a rejected file is left alone"
    );

    // Installing an id that another repository holds is refused, leaving nothing.
    let before = listing(&w.path("two"));
    let err = registry
        .install_file("b-two", &w.pack("x", "1.0.0", None))
        .unwrap_err();
    assert!(matches!(err, Error::Duplicate { .. }), "{err}");
    assert_eq!(listing(&w.path("two")), before);
    let err = registry
        .install_file("nope", &w.pack("z", "1.0.0", None))
        .unwrap_err();
    assert!(matches!(err, Error::NoRepository(ref n) if n == "nope"));

    let mut again = Registry::new();
    again
        .insert(Repository::open("a-one", &w.keyed("one")).unwrap())
        .unwrap();
    let err = again
        .insert(Repository::open("a-one", &w.keyed("one")).unwrap())
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateRepository(_)));
}

#[test]
fn resolve_picks_the_highest_matching_version() {
    let w = World::new();
    for (file, version) in [("a.npk", "0.1.0"), ("b.npk", "0.2.0"), ("c.npk", "1.0.0")] {
        w.put("one", file, "message", version, Some(&secret(1)));
    }
    w.put("two", "d.npk", "message", "0.3.0", None);
    w.put("two", "e.npk", "other", "5.0.0", None);
    let mut config = Config {
        development: true,
        ..Config::default()
    };
    config.repositories.insert("one".into(), w.keyed("one"));
    config
        .repositories
        .insert("two".into(), w.unverified("two"));
    let (registry, rejected) = Registry::load(&config).unwrap();
    assert!(rejected.is_empty());
    let message = Name::new("message").unwrap();
    // For a container of the unverified repository, which may use every repository.
    let resolve = |req: &str| {
        registry
            .resolve("two", &message, &semver::VersionReq::parse(req).unwrap())
            .map(|p| p.id().to_string())
    };
    assert_eq!(resolve("*").as_deref(), Some("message:1.0.0"));
    assert_eq!(resolve("^0.1").as_deref(), Some("message:0.1.0"));
    assert_eq!(resolve(">=0.1, <1").as_deref(), Some("message:0.3.0"));
    assert_eq!(resolve("=0.2.0").as_deref(), Some("message:0.2.0"));
    assert_eq!(resolve("^2"), None);
    assert_eq!(resolve(">1.0.0"), None);
    let missing = Name::new("missing").unwrap();
    assert!(registry
        .resolve("two", &missing, &semver::VersionReq::STAR)
        .is_none());
    // For a container of the keyed repository, the unverified 0.3.0 does not exist.
    let keyed = registry
        .resolve("one", &message, &">=0.1, <1".parse().unwrap())
        .map(|p| p.id().to_string());
    assert_eq!(keyed.as_deref(), Some("message:0.2.0"));
    assert!(registry
        .resolve("none", &message, &semver::VersionReq::STAR)
        .is_none());
}

#[test]
fn install_is_committed_atomically() {
    let w = World::new();
    let mut repo = Repository::open("repo", &w.keyed("repo")).unwrap();
    assert!(repo.load_all().unwrap().is_empty());
    let packed = w.pack("fresh", "1.2.3", Some(&secret(1)));
    let prepared = prepare_install(
        repo.dir(),
        repo.key(),
        repo.limits(),
        fs::File::open(&packed).unwrap(),
        u64::MAX,
    )
    .unwrap();
    // Before the commit: one temporary file and no package.
    let names = listing(&w.path("repo"));
    assert_eq!(names.len(), 1);
    assert!(names[0].ends_with(TEMP_SUFFIX), "{names:?}");
    assert!(prepared.package().is_signed());
    assert_eq!(prepared.size(), fs::metadata(&packed).unwrap().len());
    assert_eq!(prepared.target(), w.path("repo/fresh-1.2.3.npk"));

    assert_eq!(repo.commit(prepared).unwrap(), id("fresh:1.2.3"));
    assert_eq!(listing(&w.path("repo")), ["fresh-1.2.3.npk"]);
    assert_eq!(
        fs::read(w.path("repo/fresh-1.2.3.npk")).unwrap(),
        fs::read(&packed).unwrap()
    );
    let package = repo.get(&id("fresh:1.2.3")).unwrap();
    assert_eq!(package.path(), w.path("repo/fresh-1.2.3.npk"));
    assert!(package.is_signed());

    // A later start loads it.
    let (again, rejected) = loaded(&w.keyed("repo"));
    assert!(rejected.is_empty());
    assert!(again.get(&id("fresh:1.2.3")).is_some());

    // The same id again is a duplicate; nothing is left behind.
    let prepared = prepare_install(
        repo.dir(),
        repo.key(),
        repo.limits(),
        fs::File::open(&packed).unwrap(),
        u64::MAX,
    )
    .unwrap();
    assert!(matches!(
        repo.commit(prepared),
        Err(Error::Duplicate { .. })
    ));
    assert_eq!(listing(&w.path("repo")), ["fresh-1.2.3.npk"]);
}

#[test]
fn dropping_a_prepared_install_removes_its_file() {
    let w = World::new();
    let repo = Repository::open("repo", &w.unverified("repo")).unwrap();
    let source = fs::File::open(w.pack("p", "1.0.0", None)).unwrap();
    let prepared =
        prepare_install(repo.dir(), repo.key(), repo.limits(), source, u64::MAX).unwrap();
    assert!(matches!(prepared.package(), Package::Development(_)));
    assert_eq!(listing(&w.path("repo")).len(), 1);
    drop(prepared);
    assert!(listing(&w.path("repo")).is_empty());
}

#[test]
fn interrupted_install_is_ignored_and_removed_at_load() {
    let w = World::new();
    w.put("repo", "kept.npk", "kept", "1.0.0", Some(&secret(1)));
    // A power cut after the temporary file was complete, and one in the middle.
    let whole = w.pack("whole", "1.0.0", Some(&secret(1)));
    fs::copy(&whole, w.path("repo/.install-77-0.partial")).unwrap();
    let bytes = fs::read(&whole).unwrap();
    fs::write(
        w.path("repo/.install-77-1.partial"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    fs::copy(&whole, w.path("repo/whole-1.0.0.npk.partial")).unwrap();
    let (repo, rejected) = loaded(&w.keyed("repo"));
    assert!(rejected.is_empty());
    let ids: Vec<String> = repo.iter().map(|(id, _)| id.to_string()).collect();
    assert_eq!(ids, ["kept:1.0.0"]);
    assert_eq!(listing(&w.path("repo")), ["kept.npk"]);
}

#[test]
fn truncated_or_cut_streams_leave_nothing() {
    let w = World::new();
    let repo = Repository::open("repo", &w.keyed("repo")).unwrap();
    let bytes = fs::read(w.pack("t", "1.0.0", Some(&secret(1)))).unwrap();
    for len in [0, 100, bytes.len() / 2, bytes.len() - 1] {
        let err = prepare_install(
            repo.dir(),
            repo.key(),
            repo.limits(),
            &bytes[..len],
            u64::MAX,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Package(_)), "{len}: {err}");
        assert!(listing(&w.path("repo")).is_empty(), "{len}");
    }
    let err = prepare_install(
        repo.dir(),
        repo.key(),
        repo.limits(),
        Cut {
            data: &bytes[..bytes.len() / 2],
        },
        u64::MAX,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Stream { .. }), "{err}");
    assert!(listing(&w.path("repo")).is_empty());
    let err = prepare_install(
        repo.dir(),
        repo.key(),
        repo.limits(),
        &bytes[..],
        bytes.len() as u64 - 1,
    )
    .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert!(listing(&w.path("repo")).is_empty());
    // The whole stream, exactly at the size limit, goes through.
    prepare_install(
        repo.dir(),
        repo.key(),
        repo.limits(),
        &bytes[..],
        bytes.len() as u64,
    )
    .unwrap();
}

#[test]
fn a_keyed_repository_never_takes_a_development_package() {
    let w = World::new();
    let mut keyed = Repository::open("keyed", &w.keyed("repo")).unwrap();
    let signed = w.pack("s", "1.0.0", Some(&secret(1)));
    // Prepared without the key (as for a development repository) in the same directory.
    let prepared = prepare_install(
        keyed.dir(),
        None,
        keyed.limits(),
        fs::File::open(&signed).unwrap(),
        u64::MAX,
    )
    .unwrap();
    assert!(!prepared.package().is_signed());
    let err = keyed.commit(prepared).unwrap_err();
    assert!(matches!(err, Error::WrongRepository { .. }), "{err}");
    assert!(listing(&w.path("repo")).is_empty());
    // Prepared for another directory.
    let mut dev = Repository::open("dev", &w.unverified("dev")).unwrap();
    let prepared = prepare_install(
        keyed.dir(),
        keyed.key(),
        keyed.limits(),
        fs::File::open(&signed).unwrap(),
        u64::MAX,
    )
    .unwrap();
    assert!(matches!(
        dev.commit(prepared),
        Err(Error::WrongRepository { .. })
    ));
    assert!(listing(&w.path("repo")).is_empty());
    assert!(listing(&w.path("dev")).is_empty());
    // An unsigned package prepared with the key fails its check.
    let unsigned = w.pack("u", "1.0.0", None);
    let err = prepare_install(
        keyed.dir(),
        keyed.key(),
        keyed.limits(),
        fs::File::open(&unsigned).unwrap(),
        u64::MAX,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Package(_)), "{err}");
    assert!(listing(&w.path("repo")).is_empty());
}

#[test]
fn an_existing_file_is_never_replaced() {
    let w = World::new();
    // A file under the final name that was refused (signed with another key).
    w.put("repo", "n-1.0.0.npk", "n", "1.0.0", Some(&secret(2)));
    let original = fs::read(w.path("repo/n-1.0.0.npk")).unwrap();
    let (mut repo, rejected) = loaded(&w.keyed("repo"));
    assert_eq!(rejected.len(), 1);
    let source = fs::File::open(w.pack("n", "1.0.0", Some(&secret(1)))).unwrap();
    let prepared =
        prepare_install(repo.dir(), repo.key(), repo.limits(), source, u64::MAX).unwrap();
    let err = repo.commit(prepared).unwrap_err();
    assert!(matches!(err, Error::Exists(ref p) if p == &w.path("repo/n-1.0.0.npk")));
    assert_eq!(listing(&w.path("repo")), ["n-1.0.0.npk"]);
    assert_eq!(fs::read(w.path("repo/n-1.0.0.npk")).unwrap(), original);
    assert!(repo.is_empty());
}

#[test]
fn uninstall_removes_the_file() {
    let w = World::new();
    w.put("repo", "u.npk", "u", "1.0.0", None);
    let mut config = Config::default();
    config
        .repositories
        .insert("dev".into(), w.unverified("repo"));
    let (mut registry, _) = Registry::load(&config).unwrap();
    let installed = registry
        .install_file("dev", &w.pack("v", "2.0.0", None))
        .unwrap();
    assert_eq!(installed, id("v:2.0.0"));
    assert_eq!(listing(&w.path("repo")), ["u.npk", "v-2.0.0.npk"]);

    registry.uninstall(&id("u:1.0.0")).unwrap();
    registry.uninstall(&id("v:2.0.0")).unwrap();
    assert!(listing(&w.path("repo")).is_empty());
    assert!(registry.is_empty());
    assert!(matches!(
        registry.uninstall(&id("u:1.0.0")),
        Err(Error::NotInstalled(_))
    ));
}

#[test]
fn check_runs_on_worker_threads() {
    fn send<T: Send>(_: &T) {}
    let w = World::new();
    let paths: Vec<PathBuf> = (0..3)
        .map(|i| w.pack(&format!("w{i}"), "1.0.0", Some(&secret(1))))
        .collect();
    let key = secret(1).public();
    let packages: Vec<Package> = std::thread::scope(|s| {
        let handles: Vec<_> = paths
            .iter()
            .map(|p| s.spawn(|| check(p, Some(&key), Depth::Full).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (package, path) in packages.iter().zip(&paths) {
        send(package);
        assert!(package.is_signed());
        assert_eq!(package.path(), path);
    }
    // The error names the file and the reason.
    let err = check(&paths[0], Some(&secret(3).public()), Depth::Full).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.starts_with(&paths[0].display().to_string()),
        "{shown}"
    );
    assert!(shown.contains("signature"), "{shown}");
    let err = check(&w.path("absent.npk"), None, Depth::Metadata).unwrap_err();
    assert!(err.to_string().contains("absent.npk"), "{err}");
}

#[test]
fn registry_from_a_configuration_file() {
    let w = World::new();
    w.put("signed", "s.npk", "s", "1.0.0", Some(&secret(1)));
    w.put("dev", "d.npk", "d", "1.0.0", None);
    let text = format!(
        "development = true\n[repositories.signed]\ndir = \"{}\"\nkey = \"{}\"\n\n\
         [repositories.dev]\ndir = \"{}\"\nunverified = true\n",
        w.path("signed").display(),
        w.path("key.pub").display(),
        w.path("dev").display()
    );
    let config = Config::from_toml_str(&text, Path::new("test.toml")).unwrap();
    let (registry, rejected) = Registry::load(&config).unwrap();
    assert!(rejected.is_empty());
    let all: Vec<(String, String, bool)> = registry
        .iter()
        .map(|(r, p)| (r.to_string(), p.id().to_string(), p.is_signed()))
        .collect();
    assert_eq!(
        all,
        [
            ("dev".to_string(), "d:1.0.0".to_string(), false),
            ("signed".to_string(), "s:1.0.0".to_string(), true)
        ]
    );
    let names: Vec<&str> = registry.repositories().map(Repository::name).collect();
    assert_eq!(names, ["dev", "signed"]);
}
