use super::*;
use crate::types::{Args, ContainerId, Env};

#[test]
fn names_match_serde() {
    for p in Permission::ALL {
        assert_eq!(serde_json::to_value(p).unwrap(), p.name());
    }
    // `ALL` is complete and in declaration order: the bits are distinct. `all` is
    // every one but `downgrade` and `system_update`.
    assert_eq!(Permissions::all().iter().count(), Permission::ALL.len() - 2);
    assert!(!Permissions::all().contains(Permission::Downgrade));
    assert!(!Permissions::all().contains(Permission::SystemUpdate));
    for (i, p) in Permission::ALL.into_iter().enumerate() {
        assert_eq!(p as usize, i);
    }
}

#[test]
fn start_with_overrides_needs_its_own_permission() {
    let container: ContainerId = "a:1.0.0".parse().unwrap();
    let start = |args: Option<Args>, env: Option<Env>| Request::Start {
        container: container.clone(),
        args,
        env,
    };
    assert_eq!(required(&start(None, None)), Permission::Start);
    // Present but empty still overrides the manifest.
    assert_eq!(
        required(&start(Some(Args::default()), None)),
        Permission::StartWithArgs
    );
    assert_eq!(
        required(&start(None, Some(Env::default()))),
        Permission::StartWithArgs
    );

    let plain: Permissions = [Permission::Start].into_iter().collect();
    assert!(plain.check(&start(None, None)).is_ok());
    assert_eq!(
        plain.check(&start(Some(Args::default()), None)),
        Err(crate::ApiError::PermissionDenied {
            permission: Permission::StartWithArgs
        })
    );
    assert_eq!(
        Permissions::NONE.check(&Request::Subscribe {}),
        Err(crate::ApiError::PermissionDenied {
            permission: Permission::Notifications
        })
    );
}

#[test]
fn update_is_per_repository_and_downgrade_is_separate() {
    let update = |repository: &str, downgrade: bool| Request::Update {
        repository: RepositoryName::new(repository).unwrap(),
        packages: crate::Packages::new(vec![crate::Package {
            size: 1,
            sha256: None,
        }])
        .unwrap(),
        options: crate::UpdateOptions {
            downgrade,
            ..Default::default()
        },
    };
    let rollback = |repository: Option<&str>| Request::Rollback {
        name: "hello".parse().unwrap(),
        repository: repository.map(|r| RepositoryName::new(r).unwrap()),
        options: Default::default(),
    };
    let limited: Permissions = serde_json::from_str(r#"["update:apps"]"#).unwrap();
    assert!(limited.check(&update("apps", false)).is_ok());
    assert!(limited.check(&rollback(Some("apps"))).is_ok());
    assert_eq!(
        limited.check(&update("system", false)),
        Err(ApiError::RepositoryNotGranted {
            permission: Permission::Update,
            repository: RepositoryName::new("system").unwrap(),
        })
    );
    assert_eq!(
        limited.check(&rollback(None)),
        Err(ApiError::PermissionDenied {
            permission: Permission::Update
        })
    );
    let denied_downgrade = Err(ApiError::PermissionDenied {
        permission: Permission::Downgrade,
    });
    assert_eq!(limited.check(&update("apps", true)), denied_downgrade);
    assert_eq!(
        Permissions::all().check(&update("apps", true)),
        denied_downgrade
    );
    assert!(Permissions::all().check(&rollback(None)).is_ok());
    let mut with: Permissions = serde_json::from_str(r#"["update:apps","downgrade"]"#).unwrap();
    assert!(with.check(&update("apps", true)).is_ok());
    with.remove(Permission::Update);
    assert_eq!(
        with.check(&update("apps", true)),
        Err(ApiError::PermissionDenied {
            permission: Permission::Update
        })
    );
    assert!(serde_json::from_str::<Permissions>(r#"["downgrade:apps"]"#).is_err());
}

#[test]
fn verify_is_its_own_permission_per_container() {
    let one = |c: &str| Request::Verify {
        container: Some(c.parse().unwrap()),
    };
    let all = Request::Verify { container: None };
    assert_eq!(required(&all), Permission::Verify);
    assert_eq!(required(&one("a:1.0.0")), Permission::Verify);
    // `inspect` reads a few counters; `verify` reads whole packages: not implied.
    let inspect: Permissions = [Permission::Inspect].into_iter().collect();
    assert_eq!(
        inspect.check(&all),
        Err(ApiError::PermissionDenied {
            permission: Permission::Verify
        })
    );
    let every: Permissions = [Permission::Verify].into_iter().collect();
    assert!(every.check(&all).is_ok());
    assert!(every.check(&one("b:1.0.0")).is_ok());
    assert!(Permissions::all().contains(Permission::Verify));
    let mut limited = Permissions::NONE;
    limited.insert_for(Permission::Verify, "a").unwrap();
    assert!(limited.check(&one("a:2.0.0")).is_ok());
    assert_eq!(
        limited.check(&one("b:1.0.0")),
        Err(ApiError::ContainerNotGranted {
            permission: Permission::Verify,
            container: "b:1.0.0".parse().unwrap(),
        })
    );
    // Every package: more than a grant for some names covers.
    assert_eq!(
        limited.check(&all),
        Err(ApiError::PermissionDenied {
            permission: Permission::Verify
        })
    );
    assert_eq!(limited.names().collect::<Vec<_>>(), ["verify:a"]);
    assert!(!limited.before_1_3().contains(Permission::Verify));
}

#[test]
fn enable_and_disable_are_per_container_name() {
    let set: Permissions = serde_json::from_str(r#"["enable:hello","disable"]"#).unwrap();
    let enable = |name: &str| Request::Enable {
        name: name.parse().unwrap(),
        repository: None,
    };
    let disable = |name: &str| Request::Disable {
        name: name.parse().unwrap(),
        repository: None,
    };
    assert!(set.check(&enable("hello")).is_ok());
    assert!(set.check(&disable("other")).is_ok());
    assert_eq!(
        set.check(&enable("other")),
        Err(ApiError::NameNotGranted {
            permission: Permission::Enable,
            name: "other".parse().unwrap(),
        })
    );
    assert_eq!(
        Permissions::NONE.check(&disable("hello")),
        Err(ApiError::PermissionDenied {
            permission: Permission::Disable
        })
    );
}

#[test]
fn set_on_the_wire() {
    let set: Permissions = [Permission::Logs, Permission::List].into_iter().collect();
    assert_eq!(serde_json::to_string(&set).unwrap(), r#"["list","logs"]"#);
    assert_eq!(set.to_string(), "list, logs");
    let back: Permissions = serde_json::from_str(r#"["logs","list"]"#).unwrap();
    assert_eq!(back, set);
    assert!(serde_json::from_str::<Permissions>(r#"["list","list"]"#).is_err());
    assert!(serde_json::from_str::<Permissions>(r#"["root"]"#).is_err());
    assert!(serde_json::from_str::<Permissions>(r#""full""#).is_err());
    let mut set = set;
    set.remove(Permission::List);
    assert!(!set.contains(Permission::List) && set.contains(Permission::Logs));
}

#[test]
fn limited_grants_on_the_wire() {
    let set: Permissions = serde_json::from_str(
        r#"["install:apps","list","kill:b","kill:a","uninstall","install:tools"]"#,
    )
    .unwrap();
    assert_eq!(
        serde_json::to_string(&set).unwrap(),
        r#"["list","kill:a","kill:b","install:apps","install:tools","uninstall"]"#
    );
    assert_eq!(
        set.to_string(),
        "list, kill:a, kill:b, install:apps, install:tools, uninstall"
    );
    assert!(set.covers(Permission::Kill, "a") && !set.covers(Permission::Kill, "c"));
    assert!(set.covers(Permission::Uninstall, "any"));
    // A grant for every target takes in the limited ones.
    let wide: Permissions = serde_json::from_str(r#"["kill:a","kill"]"#).unwrap();
    assert_eq!(wide.scope(Permission::Kill), Some(&Scope::All));
    assert_eq!(
        set.unlimited(),
        [Permission::List, Permission::Uninstall]
            .into_iter()
            .collect()
    );
    for bad in [
        r#"["list:a"]"#,
        r#"["kill:"]"#,
        r#"["kill:a:b"]"#,
        r#"["install:a b"]"#,
        r#"["kill:a","kill:a"]"#,
        r#"["fly:a"]"#,
    ] {
        assert!(serde_json::from_str::<Permissions>(bad).is_err(), "{bad}");
    }
}

#[test]
fn limited_grants_refuse_other_targets_by_name() {
    let set: Permissions =
        serde_json::from_str(r#"["install:apps","kill:hello","inspect"]"#).unwrap();
    let install = |repository: &str| Request::Install {
        repository: RepositoryName::new(repository).unwrap(),
        size: 1,
        sha256: None,
    };
    assert!(set.check(&install("apps")).is_ok());
    assert_eq!(
        set.check(&install("system")),
        Err(ApiError::RepositoryNotGranted {
            permission: Permission::Install,
            repository: RepositoryName::new("system").unwrap(),
        })
    );
    let kill = |id: &str| Request::Kill {
        container: id.parse().unwrap(),
        signal: crate::Signal::TERM,
    };
    assert!(set.check(&kill("hello:1.0.0")).is_ok());
    assert_eq!(
        set.check(&kill("other:1.0.0")),
        Err(ApiError::ContainerNotGranted {
            permission: Permission::Kill,
            container: "other:1.0.0".parse().unwrap(),
        })
    );
    assert!(set
        .check(&Request::Inspect {
            container: "other:1.0.0".parse().unwrap()
        })
        .is_ok());
}

#[test]
fn system_slots_need_their_own_permissions_and_marks_a_named_grant() {
    let status = Request::SystemStatus {};
    let mark = |mark, slot: &str| Request::SystemMark {
        mark,
        slot: slot.parse().unwrap(),
    };
    assert_eq!(required(&status), Permission::SystemStatus);
    for m in [
        crate::SlotMark::Good,
        crate::SlotMark::Bad,
        crate::SlotMark::Active,
    ] {
        assert_eq!(required(&mark(m, "other")), Permission::SystemUpdate);
    }
    // The wildcard reads the slots but cannot choose what boots next.
    let all = Permissions::all();
    assert!(all.check(&status).is_ok());
    assert!(!all.contains(Permission::SystemUpdate));
    assert_eq!(
        all.check(&mark(crate::SlotMark::Active, "B")),
        Err(ApiError::PermissionDenied {
            permission: Permission::SystemUpdate
        })
    );
    // Granted by name, it is enough on its own; reading needs its own grant.
    let update: Permissions = serde_json::from_str(r#"["system_update"]"#).unwrap();
    assert!(update.check(&mark(crate::SlotMark::Bad, "booted")).is_ok());
    assert_eq!(
        update.check(&status),
        Err(ApiError::PermissionDenied {
            permission: Permission::SystemStatus
        })
    );
    // Installing a bundle chooses what boots next as well: the same named grant.
    let bundle = Request::SystemInstall {
        size: 4096,
        sha256: None,
    };
    assert_eq!(required(&bundle), Permission::SystemUpdate);
    assert!(update.check(&bundle).is_ok());
    assert_eq!(
        all.check(&bundle),
        Err(ApiError::PermissionDenied {
            permission: Permission::SystemUpdate
        })
    );
    let install: Permissions = serde_json::from_str(r#"["install"]"#).unwrap();
    assert_eq!(
        install.check(&bundle),
        Err(ApiError::PermissionDenied {
            permission: Permission::SystemUpdate
        })
    );
    // Neither names targets.
    assert!(serde_json::from_str::<Permissions>(r#"["system_update:A"]"#).is_err());
    assert!(serde_json::from_str::<Permissions>(r#"["system_status:A"]"#).is_err());
    // A session of 1.3 does not see them.
    let mut both = update;
    both.insert(Permission::SystemStatus);
    both.insert(Permission::Verify);
    assert_eq!(both.before_1_4().names().collect::<Vec<_>>(), ["verify"]);
}
