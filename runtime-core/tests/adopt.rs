//! An upload spooled in the repository directory is taken over by a rename, not copied:
//! the installed file is the spool's inode, it appears only after the check, and a spool
//! that fails the check is removed without a trace.

mod repository_support;

use repository_support::*;
use runtime_core::repository::{adopt_install, Error};
use std::{fs, os::unix::fs::MetadataExt};

#[test]
fn a_spool_in_the_repository_is_taken_over_not_copied() {
    let w = World::new();
    fs::create_dir_all(w.path("repo")).unwrap();
    let (mut repo, _) = loaded(&w.keyed("repo"));
    let spool = w.path("repo/.upload-1-0.partial");
    fs::rename(w.pack("a", "1.0.0", Some(&secret(1))), &spool).unwrap();
    let inode = fs::metadata(&spool).unwrap().ino();
    let prepared = adopt_install(repo.dir(), repo.key(), repo.limits(), &spool).unwrap();
    // Checked but not visible yet: only a temporary name exists.
    assert!(!spool.exists());
    let names = listing(&w.path("repo"));
    assert!(names.iter().all(|n| n.ends_with(".partial")), "{names:?}");
    assert_eq!(repo.commit(prepared).unwrap(), id("a:1.0.0"));
    assert_eq!(listing(&w.path("repo")), ["a-1.0.0.npk"]);
    let installed = fs::metadata(w.path("repo/a-1.0.0.npk")).unwrap();
    assert_eq!(installed.ino(), inode, "the spool itself is the package");
    assert_eq!(installed.mode() & 0o777, 0o644);
}

#[test]
fn a_spool_that_fails_the_check_is_removed() {
    let w = World::new();
    fs::create_dir_all(w.path("repo")).unwrap();
    let (repo, _) = loaded(&w.keyed("repo"));
    // Signed with a key the repository does not trust.
    let spool = w.path("repo/.upload-1-1.partial");
    fs::rename(w.pack("b", "1.0.0", Some(&secret(2))), &spool).unwrap();
    let err = adopt_install(repo.dir(), repo.key(), repo.limits(), &spool).unwrap_err();
    assert!(matches!(err, Error::Package(_)), "{err}");
    assert!(listing(&w.path("repo")).is_empty());
}

#[test]
fn a_spool_over_the_size_limit_is_refused_and_removed() {
    let w = World::new();
    fs::create_dir_all(w.path("repo")).unwrap();
    let config = runtime_core::config::RepositoryConfig {
        max_bytes: Some(1000),
        ..w.keyed("repo")
    };
    let (repo, _) = loaded(&config);
    let spool = w.path("repo/.upload-1-2.partial");
    fs::rename(w.pack("c", "1.0.0", Some(&secret(1))), &spool).unwrap();
    let err = adopt_install(repo.dir(), repo.key(), repo.limits(), &spool).unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 1000, .. }), "{err}");
    assert!(listing(&w.path("repo")).is_empty());
}
