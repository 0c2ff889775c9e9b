//! Trust between repositories with real packages: which repositories a container's
//! resources resolve in, and what a repository's policy lets its manifests ask for
//! (capabilities, cgroup limits above the defaults), at install and at load.

mod repository_support;

use npk::manifest::Name;
use repository_support::*;
use runtime_core::{
    config::Config,
    repository::{prepare_install, Error, Registry, Repository},
};
use std::{fs, path::Path};

/// The attack: an unsigned `libfoo:99.0.0` dropped into a development repository must not
/// be what a container of a keyed repository gets when it asks for `libfoo`. A keyed
/// repository trusts the repositories with its key and those it names in `resources_from`.
#[test]
fn an_unverified_resource_never_reaches_a_keyed_container() {
    let w = World::new();
    secret(2).public().save(&w.path("vendor.pub")).unwrap();
    w.put("system", "a.npk", "libfoo", "1.0.0", Some(&secret(1)));
    w.put("apps", "a.npk", "libbar", "1.0.0", Some(&secret(1)));
    w.put("vendor", "a.npk", "libfoo", "2.0.0", Some(&secret(2)));
    w.put("vendor", "b.npk", "libbaz", "1.0.0", Some(&secret(2)));
    w.put("dev", "a.npk", "libfoo", "99.0.0", None);
    let text = format!(
        "development = true\n\
         [repositories.system]\ndir = \"{system}\"\nkey = \"{key}\"\n\
         [repositories.apps]\ndir = \"{apps}\"\nkey = \"{key}\"\nresources_from = [\"vendor\"]\n\
         [repositories.vendor]\ndir = \"{vendor}\"\nkey = \"{vendor_key}\"\n\
         [repositories.dev]\ndir = \"{dev}\"\nunverified = true\n",
        system = w.path("system").display(),
        apps = w.path("apps").display(),
        vendor = w.path("vendor").display(),
        dev = w.path("dev").display(),
        key = w.path("key.pub").display(),
        vendor_key = w.path("vendor.pub").display(),
    );
    let config = Config::from_toml_str(&text, Path::new("test.toml")).unwrap();
    let (registry, rejected) = Registry::load(&config).unwrap();
    assert!(rejected.is_empty(), "{rejected:?}");
    let resolve = |consumer: &str, name: &str| {
        registry
            .resolve(
                consumer,
                &Name::new(name).unwrap(),
                &semver::VersionReq::STAR,
            )
            .map(|p| (p.id().to_string(), p.is_signed()))
    };
    let signed = |id: &str| Some((id.to_string(), true));
    // Neither the unverified 99.0.0 nor the other key's 2.0.0.
    assert_eq!(resolve("system", "libfoo"), signed("libfoo:1.0.0"));
    // The same key: trusted without being named; another key only when named.
    assert_eq!(resolve("system", "libbar"), signed("libbar:1.0.0"));
    assert_eq!(resolve("system", "libbaz"), None);
    assert_eq!(resolve("apps", "libfoo"), signed("libfoo:2.0.0"));
    assert_eq!(resolve("apps", "libbaz"), signed("libbaz:1.0.0"));
    assert_eq!(resolve("vendor", "libbar"), None);
    // An unverified repository's containers may use any.
    assert_eq!(
        resolve("dev", "libfoo"),
        Some(("libfoo:99.0.0".to_string(), false))
    );
    // A keyed repository cannot be told to trust an unverified one.
    let err = Config::from_toml_str(
        &text.replace("[\"vendor\"]", "[\"dev\"]"),
        Path::new("test.toml"),
    )
    .unwrap_err();
    assert_eq!(
        err.key(),
        Some("repositories.apps.resources_from[0]"),
        "{err}"
    );
    assert!(err.to_string().contains("unverified"), "{err}");
    // Mixing without the development flag is refused by the registry too.
    let mut config = config;
    config.development = false;
    let err = Registry::load(&config).unwrap_err();
    assert!(
        matches!(err, Error::Development(ref r) if r == "dev"),
        "{err}"
    );
}

/// The attack: a signed manifest asking for CAP_SYS_ADMIN from a repository whose policy
/// does not allow it is refused at install, and at load (start-up).
#[test]
fn a_manifest_asking_beyond_its_repository_policy_is_refused() {
    let w = World::new();
    let admin = w.pack_with(
        "admin",
        "1.0.0",
        Some(&secret(1)),
        "init: /data\ncapabilities: [CAP_SYS_ADMIN]\n",
    );
    let mut repo = Repository::open("apps", &w.keyed("apps")).unwrap();
    let prepared = prepare_install(
        repo.dir(),
        repo.key(),
        repo.limits(),
        fs::File::open(&admin).unwrap(),
        u64::MAX,
    )
    .unwrap();
    let err = repo.commit(prepared).unwrap_err();
    match &err {
        Error::Policy {
            repository,
            package,
            field,
            value,
            ..
        } => {
            assert_eq!(
                (repository.as_str(), package.as_str()),
                ("apps", "admin:1.0.0")
            );
            assert_eq!(
                (field.as_str(), value.as_str()),
                ("capabilities", "CAP_SYS_ADMIN")
            );
        }
        other => panic!("{other}"),
    }
    let shown = err.to_string();
    assert!(
        shown.contains(
            "repository \"apps\" does not allow admin:1.0.0 to ask for capabilities CAP_SYS_ADMIN"
        ),
        "{shown}"
    );
    assert!(listing(&w.path("apps")).is_empty());
    // Put on the disk by other means: rejected when the repository is loaded.
    fs::copy(&admin, w.path("apps/admin-1.0.0.npk")).unwrap();
    let (repo, rejected) = loaded(&w.keyed("apps"));
    assert!(repo.is_empty());
    assert!(
        matches!(&rejected[..], [r] if matches!(&r.error, Error::Policy { field, .. } if field == "capabilities")),
        "{rejected:?}"
    );
    // The same package is accepted where the policy allows the capability.
    let mut config = w.keyed("system");
    config.policy.capabilities = runtime_core::config::Allow::Only(
        [npk::manifest::Capability::new("CAP_SYS_ADMIN").unwrap()].into(),
    );
    fs::create_dir_all(w.path("system")).unwrap();
    fs::copy(&admin, w.path("system/admin-1.0.0.npk")).unwrap();
    let (repo, rejected) = loaded(&config);
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(repo.len(), 1);
}

#[test]
fn a_manifest_asking_for_limits_above_the_defaults_needs_the_policy() {
    let w = World::new();
    let limits = |pids: u64| format!("init: /data\ncgroups:\n  pids:\n    max: {pids}\n");
    fs::create_dir_all(w.path("apps")).unwrap();
    for (name, pids) in [("greedy", 100), ("modest", 64)] {
        let packed = w.pack_with(name, "1.0.0", Some(&secret(1)), &limits(pids));
        fs::rename(packed, w.path(&format!("apps/{name}-1.0.0.npk"))).unwrap();
    }
    let mut config = Config::default();
    config.cgroups.default_pids_max = 64;
    config.repositories.insert("apps".into(), w.keyed("apps"));
    let (registry, rejected) = Registry::load(&config).unwrap();
    assert!(registry.get(&id("modest:1.0.0")).is_some());
    assert!(registry.get(&id("greedy:1.0.0")).is_none());
    match &rejected[..] {
        [r] => match &r.error {
            Error::Policy { field, value, .. } => {
                assert_eq!(field, "cgroups.pids.max");
                assert_eq!(value, "100 (above the default)");
            }
            other => panic!("{other}"),
        },
        other => panic!("{other:?}"),
    }
    // Allowed by the repository's policy: both load.
    config
        .repositories
        .get_mut("apps")
        .unwrap()
        .policy
        .above_default_limits = runtime_core::config::Allow::All;
    let (registry, rejected) = Registry::load(&config).unwrap();
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(registry.len(), 2);
}
