//! `nstar install` and `nstar uninstall` against the real host daemon (see
//! `daemon_support`): signed packages into a keyed repository, refusals that leave nothing
//! behind, the digest check, and an uninstall that wipes a container's data. Needs root.

mod daemon_support;

use daemon_support::{entries, text, Container, World};
use northstar_client::{
    api::{ApiError, RepositoryName, Sha256},
    Client, Options,
};
use serde_json::{json, Value};
use std::fs;

#[test]
fn install_and_uninstall() {
    let world = World::new();
    let outbox = world.outbox.clone();
    let exits = |name| Container {
        name,
        args: &["exit:0"],
        mounts: "",
    };
    let signed = world.pack(&exits("signed-app"), Some(&world.key), &outbox);
    let forged = world.pack(&exits("forged"), Some(&world.other_key), &outbox);
    let unsigned = world.pack(&exits("unsigned"), None, &outbox);
    let persist = world.pack(
        &Container {
            name: "persist",
            args: &["write:/data/state,kept", "print:1,written", "sleep-forever"],
            mounts: "  /data:\n    type: persist\n",
        },
        None,
        &outbox,
    );
    let daemon = world.start("10s");
    let path = |p: &std::path::Path| p.to_str().expect("a UTF-8 path").to_string();
    let signed_repo = daemon.world.signed.clone();
    let dev_repo = daemon.world.dev.clone();

    // A signed package into the keyed repository: the file as it was sent.
    let out = daemon.nstar(&["install", &path(&signed), "signed"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "installed signed-app:0.0.1 into signed\n"
    );
    assert_eq!(text(&out.stderr), "", "no progress bar without a terminal");
    assert_eq!(entries(&signed_repo), ["signed-app-0.0.1.npk"]);
    assert!(
        fs::read(signed_repo.join("signed-app-0.0.1.npk")).unwrap() == fs::read(&signed).unwrap(),
        "the installed file differs from the package"
    );
    assert_eq!(daemon.listed("signed-app:0.0.1")["repository"], "signed");

    // Refused: signed with another key, unsigned, twice, an unknown repository. Nothing
    // is written, not even a temporary file.
    let out = daemon.fails(1, &["install", &path(&forged), "signed", "--json"]);
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("nstar: error: install: "), "{stderr}");
    assert!(stderr.ends_with("[install_failed]\n"), "{stderr}");
    let error: Value = serde_json::from_str(&text(&out.stdout)).expect("an error object");
    assert_eq!(error["error"]["code"], "install_failed");
    let out = daemon.fails(1, &["install", &path(&unsigned), "signed"]);
    assert!(text(&out.stderr).ends_with("[install_failed]\n"));
    let out = daemon.fails(1, &["install", &path(&signed), "signed"]);
    assert!(text(&out.stderr).ends_with("[already_installed]\n"));
    let out = daemon.fails(1, &["install", &path(&signed), "nope"]);
    assert!(text(&out.stderr).ends_with("[repository_not_found]\n"));
    assert_eq!(entries(&signed_repo), ["signed-app-0.0.1.npk"]);
    assert_eq!(entries(&dev_repo), Vec::<String>::new());
    let listed_now = daemon.json(&["list"]);
    assert_eq!(listed_now["containers"].as_array().map(Vec::len), Some(1));

    // The digest a client gives is checked against the bytes received; without one the
    // bytes are taken as they come.
    let mut client = Client::connect(&daemon.url(), Options::default()).unwrap();
    let dev = RepositoryName::new("dev").unwrap();
    let error = client
        .install(&unsigned, &dev, Some(Sha256([0; 32])), &mut |_, _| ())
        .unwrap_err();
    assert_eq!(
        error.api_error().map(ApiError::code),
        Some("install_failed")
    );
    assert!(error
        .to_string()
        .ends_with("sha256 of the received bytes differs"));
    assert_eq!(entries(&dev_repo), Vec::<String>::new());
    let id = client
        .install(&unsigned, &dev, None, &mut |_, _| ())
        .unwrap();
    assert_eq!(id.to_string(), "unsigned:0.0.1");
    client.uninstall(&id, false).unwrap();
    assert_eq!(entries(&dev_repo), Vec::<String>::new());

    // An unsigned package into the development repository, as JSON, its digest checked.
    assert_eq!(
        daemon.json(&["install", &path(&persist), "dev", "--check-digest"]),
        json!({"type": "installed", "container": "persist:0.0.1"})
    );
    assert_eq!(entries(&dev_repo), ["persist-0.0.1.npk"]);

    // Run it: it writes its persistent data.
    let mut follow = daemon.watch(&["logs", "persist:0.0.1", "-f"]);
    daemon.ok(&["start", "persist:0.0.1"]);
    follow.wait_line("written");
    let data = daemon.world.data.join("@dev/persist");
    assert_eq!(fs::read_to_string(data.join("state")).unwrap(), "kept");

    // uninstall: refused while it runs, then with its data; the followed log ends.
    let out = daemon.fails(1, &["uninstall", "persist:0.0.1", "--wipe"]);
    assert!(text(&out.stderr).ends_with("[in_use]\n"));
    daemon.ok(&["stop", "persist:0.0.1"]);
    assert_eq!(
        daemon.ok(&["uninstall", "persist:0.0.1", "--wipe"]),
        "uninstalled persist:0.0.1 and its data\n"
    );
    assert_eq!(entries(&dev_repo), Vec::<String>::new());
    assert!(!data.exists(), "{} is still there", data.display());
    let (status, _, stderr) = follow.finish();
    assert!(status.success(), "logs -f: {status}: {stderr}");
    daemon.fails(1, &["inspect", "persist:0.0.1"]);

    // Without --wipe only the package goes.
    assert_eq!(
        daemon.json(&["uninstall", "signed-app:0.0.1"]),
        json!({"type": "ok"})
    );
    assert_eq!(entries(&signed_repo), Vec::<String>::new());
    let repositories = daemon.json(&["repositories"]);
    assert_eq!(repositories["repositories"][0]["packages"], 0);
    assert_eq!(repositories["repositories"][1]["packages"], 0);
}
