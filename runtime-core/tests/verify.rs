//! Checking installed packages in full: on request (`Request::Verify`) and by the
//! periodic scrub (`[verify] scrub_interval`). A keyed repository holds a package whose
//! data block was changed after its install (written into the repository directory before
//! the runtime starts): loading checks only the metadata, so it loads; the full check
//! finds it, naming the file and the block. Run as root.

mod repository_support;
mod support;

use npk::package::Npk;
use repository_support::{flip, secret};
use runtime_core::{
    id::ContainerId,
    runtime::{Notification, Request, RequestError, Response, Verified},
};
use std::{fs, path::PathBuf};

/// A runtime world with a keyed repository `signed` holding `good:1.0.0` and
/// `data:1.0.0` (one byte of its squashfs image flipped), and `dev:1.0.0` in the
/// unverified repository `test`; `tables` go after the generated configuration.
fn world(tables: &str) -> (support::World, repository_support::World, PathBuf) {
    let packer = repository_support::World::new();
    let key = secret(1);
    packer.put("signed", "good.npk", "good", "1.0.0", Some(&key));
    packer.put("signed", "data.npk", "data", "1.0.0", Some(&key));
    let data = packer.path("signed/data.npk");
    let squashfs = Npk::open(&data)
        .unwrap()
        .verify(&key.public())
        .unwrap()
        .squashfs();
    flip(&data, (squashfs.start + squashfs.end) / 2);
    let mut w = support::World::new();
    fs::rename(
        packer.pack("dev", "1.0.0", None),
        w.repo.join("dev-1.0.0.npk"),
    )
    .unwrap();
    w.config_text("development = true");
    w.config_append(&format!(
        "[repositories.signed]\ndir = \"{}\"\nkey = \"{}\"\n\n{tables}",
        packer.path("signed").display(),
        packer.path("key.pub").display()
    ));
    (w, packer, data)
}

fn id(text: &str) -> ContainerId {
    text.parse().unwrap()
}

fn verified(answer: Result<Response, RequestError>) -> Vec<Verified> {
    match answer {
        Ok(Response::Verified(list)) => list,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_request_finds_exactly_the_changed_package() {
    let (w, _packer, data) = world("");
    let rt = w.start();
    // Loaded: the start-up checks the metadata only.
    let Ok(Response::Containers(list)) = rt.request(Request::List) else {
        panic!("list")
    };
    assert_eq!(list.len(), 3);

    let mut all = verified(rt.request(Request::Verify { id: None }));
    all.sort_by(|a, b| a.id.cmp(&b.id));
    let outcome: Vec<(String, &str, &str)> = all
        .iter()
        .map(|v| {
            let result = match &v.result {
                northstar_api::CheckResult::Ok {} => "ok",
                northstar_api::CheckResult::Development {} => "development",
                northstar_api::CheckResult::Failed { .. } => "failed",
            };
            (v.id.to_string(), v.repository.as_str(), result)
        })
        .collect();
    assert_eq!(
        outcome,
        [
            ("data:1.0.0".to_string(), "signed", "failed"),
            ("dev:1.0.0".to_string(), "test", "development"),
            ("good:1.0.0".to_string(), "signed", "ok"),
        ]
    );
    let northstar_api::CheckResult::Failed { reason } = &all[0].result else {
        panic!("{:?}", all[0])
    };
    assert!(
        reason.starts_with(&data.display().to_string()),
        "names the file: {reason}"
    );
    assert!(
        reason.contains("data block") && reason.contains("does not match its hash"),
        "names the block: {reason}"
    );

    // One package, by its id.
    let one = verified(rt.request(Request::Verify {
        id: Some(id("good:1.0.0")),
    }));
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].result, northstar_api::CheckResult::Ok {});
    assert_eq!(
        rt.request(Request::Verify {
            id: Some(id("none:1.0.0"))
        }),
        Err(RequestError::NotFound(id("none:1.0.0")))
    );
    // Several at once: they wait for each other and each gets its own answer.
    let requester = rt.handle.requester();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let requester = requester.clone();
            std::thread::spawn(move || requester.request(Request::Verify { id: None }))
        })
        .collect();
    for t in threads {
        let list = verified(t.join().unwrap());
        assert_eq!(list.iter().filter(|v| v.result.is_failed()).count(), 1);
    }
    rt.shutdown();
}

#[test]
fn the_scrub_reports_the_changed_package_and_stops_nothing() {
    let (w, _packer, data) = world("[verify]\nscrub_interval = \"1s\"\n");
    let rt = w.start();
    let (failed, repository, error) = rt.wait_for(|n| match n {
        Notification::VerifyFailed {
            id,
            repository,
            error,
        } => Some((id.clone(), repository.clone(), error.clone())),
        _ => None,
    });
    assert_eq!(failed, id("data:1.0.0"));
    assert_eq!(repository, "signed");
    assert!(
        error.starts_with(&data.display().to_string()) && error.contains("data block"),
        "{error}"
    );
    // The package stays installed; a second scrub finds it again.
    let again = rt.wait_for(|n| match n {
        Notification::VerifyFailed { id, .. } => Some(id.clone()),
        _ => None,
    });
    assert_eq!(again, id("data:1.0.0"));
    let Ok(Response::Containers(list)) = rt.request(Request::List) else {
        panic!("list")
    };
    assert_eq!(list.len(), 3);
    rt.shutdown();
}
