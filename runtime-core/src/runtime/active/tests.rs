//! The file of active versions: reading, writing, the safe fallbacks, transactions.

use super::*;

fn v(s: &str) -> Version {
    Version::new_from_str(s).unwrap()
}

fn installed(list: &[(&str, &str, &[&str])]) -> Installed {
    list.iter()
        .map(|(r, n, vs)| {
            (
                (r.to_string(), n.to_string()),
                vs.iter().map(|s| v(s)).collect(),
            )
        })
        .collect()
}

#[test]
fn migration_makes_the_highest_active_and_writes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let all = installed(&[("main", "app", &["1.0.0", "1.10.0", "1.2.0"])]);
    let active = Active::load(dir.path(), &all);
    let e = active.get("main", "app").unwrap();
    assert_eq!(e.active, v("1.10.0"));
    assert_eq!(e.floor, v("1.10.0"));
    assert_eq!(e.previous, None);
    assert!(dir.path().join(FILE).exists());
    assert!(active.autostarts("main", "app", &v("1.10.0")));
    assert!(!active.autostarts("main", "app", &v("1.0.0")));
    assert!(!active.autostarts("other", "app", &v("1.10.0")));
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let all = installed(&[
        ("main", "app", &["1.0.0", "2.0.0"]),
        ("extra", "app", &["3.0.0"]),
    ]);
    let mut active = Active::load(dir.path(), &all);
    let entry = active
        .entries
        .get_mut(&("main".into(), "app".into()))
        .unwrap();
    entry.active = v("1.0.0");
    entry.previous = Some(v("2.0.0"));
    entry.enabled = Some(false);
    active.save().unwrap();
    let again = Active::load(dir.path(), &all);
    assert_eq!(again.entries, active.entries);
    assert!(!again.autostarts("main", "app", &v("1.0.0")));
    assert!(again.autostarts("extra", "app", &v("3.0.0")));
}

#[test]
fn a_flipped_byte_is_detected_and_the_file_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let all = installed(&[("main", "app", &["1.0.0", "2.0.0"])]);
    let mut active = Active::load(dir.path(), &all);
    active
        .entries
        .get_mut(&("main".into(), "app".into()))
        .unwrap()
        .active = v("1.0.0");
    active.save().unwrap();
    let path = dir.path().join(FILE);
    let mut bytes = fs::read(&path).unwrap();
    let at = bytes.iter().position(|b| *b == b'{').unwrap() + 3;
    bytes[at] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        decode(&path, &bytes),
        Err(ActiveError::Checksum { .. })
    ));
    let again = Active::load(dir.path(), &all);
    assert_eq!(again.get("main", "app").unwrap().active, v("2.0.0"));
    assert_eq!(
        fs::read(dir.path().join("+active-versions.corrupt")).unwrap(),
        bytes
    );
    // A new, valid file.
    assert!(read(&path).unwrap().is_some());
}

#[test]
fn an_unknown_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE);
    let body = br#"{"format":2,"entries":[]}"#;
    let mut bytes = hex::encode(Sha256::digest(body)).into_bytes();
    bytes.push(b'\n');
    bytes.extend_from_slice(body);
    assert!(matches!(
        decode(&path, &bytes),
        Err(ActiveError::Format { format: 2, .. })
    ));
    fs::write(&path, &bytes).unwrap();
    let active = Active::load(dir.path(), &installed(&[("main", "a", &["1.0.0"])]));
    assert_eq!(active.get("main", "a").unwrap().active, v("1.0.0"));
    assert!(dir.path().join("+active-versions.corrupt").exists());
}

#[test]
fn a_file_too_large_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE);
    fs::write(&path, vec![b' '; 2 * 1024 * 1024]).unwrap();
    assert!(matches!(read(&path), Err(ActiveError::TooLarge { .. })));
}

#[test]
fn a_stale_active_version_falls_back_to_the_highest() {
    let dir = tempfile::tempdir().unwrap();
    let mut active = Active::load(
        dir.path(),
        &installed(&[("main", "app", &["1.0.0", "2.0.0", "3.0.0"])]),
    );
    active
        .entries
        .get_mut(&("main".into(), "app".into()))
        .unwrap()
        .active = v("1.0.0");
    active.save().unwrap();
    let again = Active::load(
        dir.path(),
        &installed(&[("main", "app", &["2.0.0", "2.5.0"])]),
    );
    let e = again.get("main", "app").unwrap();
    assert_eq!(e.active, v("2.5.0"));
    // The floor never decreases.
    assert_eq!(e.floor, v("3.0.0"));
    // Names with nothing installed are dropped.
    let none = Active::load(dir.path(), &Installed::new());
    assert!(none.entries.is_empty());
}

#[test]
fn install_and_uninstall() {
    let dir = tempfile::tempdir().unwrap();
    let mut active = Active::load(dir.path(), &Installed::new());
    assert!(active.install("main", "app", &v("1.0.0")));
    assert!(!active.install("main", "app", &v("2.0.0")));
    assert_eq!(active.get("main", "app").unwrap().active, v("1.0.0"));
    // The previous version when still installed.
    {
        let e = active
            .entries
            .get_mut(&("main".into(), "app".into()))
            .unwrap();
        e.active = v("3.0.0");
        e.previous = Some(v("1.0.0"));
        e.floor = v("3.0.0");
    }
    let remaining: BTreeSet<_> = [v("1.0.0"), v("2.0.0")].into();
    assert!(active.uninstall("main", "app", &v("3.0.0"), &remaining));
    let e = active.get("main", "app").unwrap();
    assert_eq!((e.active.clone(), e.previous.clone()), (v("1.0.0"), None));
    assert_eq!(e.floor, v("3.0.0"));
    // Else the highest remaining one.
    let remaining: BTreeSet<_> = [v("2.0.0"), v("0.5.0")].into();
    assert!(active.uninstall("main", "app", &v("1.0.0"), &remaining));
    assert_eq!(active.get("main", "app").unwrap().active, v("2.0.0"));
    // An inactive version changes nothing.
    let remaining: BTreeSet<_> = [v("2.0.0")].into();
    assert!(!active.uninstall("main", "app", &v("0.5.0"), &remaining));
    // The last one removes the entry.
    assert!(active.uninstall("main", "app", &v("2.0.0"), &BTreeSet::new()));
    assert!(active.get("main", "app").is_none());
}

#[test]
fn a_failed_write_leaves_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut active = Active::load(dir.path(), &installed(&[("main", "app", &["1.0.0"])]));
    let before = fs::read(dir.path().join(FILE)).unwrap();
    // The temporary file cannot be created where a directory is.
    fs::create_dir(dir.path().join("+active-versions.tmp")).unwrap();
    assert!(active.install("main", "other", &v("1.0.0")));
    assert!(matches!(active.save(), Err(ActiveError::Io { .. })));
    assert_eq!(fs::read(dir.path().join(FILE)).unwrap(), before);
}

fn pending(kind: Kind, from: &str, to: &str) -> Pending {
    Pending {
        repository: "main".into(),
        kind,
        changes: vec![Change {
            name: "app".into(),
            from: Some(v(from)),
            to: v(to),
        }],
        step: Step::Stopping,
        snapshot: true,
    }
}

#[test]
fn a_pending_transaction_survives_a_restart_at_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let both = installed(&[("main", "app", &["1.0.0", "1.1.0"])]);
    let mut active = Active::load(dir.path(), &installed(&[("main", "app", &["1.0.0"])]));
    active
        .begin(pending(Kind::Update, "1.0.0", "1.1.0"))
        .unwrap();
    for step in [
        Step::Stopping,
        Step::Snapshot,
        Step::Starting,
        Step::RollingBack,
    ] {
        active.step(step).unwrap();
        let again = Active::load(dir.path(), &both);
        assert_eq!(again.pending().map(|p| p.step), Some(step));
        // Until the commit the old version is the active one.
        assert_eq!(again.get("main", "app").unwrap().active, v("1.0.0"));
    }
}

#[test]
fn a_commit_makes_the_new_version_active_and_raises_the_floor() {
    let dir = tempfile::tempdir().unwrap();
    let both = installed(&[("main", "app", &["1.0.0", "1.1.0"])]);
    let mut active = Active::load(dir.path(), &both);
    // The highest installed is active at a first start: make 1.0.0 active again.
    active
        .entries
        .get_mut(&("main".into(), "app".into()))
        .unwrap()
        .active = v("1.0.0");
    active
        .entries
        .get_mut(&("main".into(), "app".into()))
        .unwrap()
        .floor = v("1.0.0");
    active
        .begin(pending(Kind::Update, "1.0.0", "1.1.0"))
        .unwrap();
    active.commit().unwrap();
    let again = Active::load(dir.path(), &both);
    assert!(again.pending().is_none());
    let e = again.get("main", "app").unwrap();
    assert_eq!(
        (e.active.clone(), e.previous.clone(), e.floor.clone()),
        (v("1.1.0"), Some(v("1.0.0")), v("1.1.0"))
    );
    // A rollback swaps active and previous and leaves the floor.
    let mut active = again;
    active
        .begin(pending(Kind::Rollback, "1.1.0", "1.0.0"))
        .unwrap();
    active.commit().unwrap();
    let e = Active::load(dir.path(), &both)
        .get("main", "app")
        .cloned()
        .unwrap();
    assert_eq!(
        (e.active, e.previous, e.floor),
        (v("1.0.0"), Some(v("1.1.0")), v("1.1.0"))
    );
}

#[test]
fn an_abort_keeps_the_old_version_and_marks_the_new_one_failed() {
    let dir = tempfile::tempdir().unwrap();
    let both = installed(&[("main", "app", &["1.0.0", "1.1.0"])]);
    let mut active = Active::load(dir.path(), &installed(&[("main", "app", &["1.0.0"])]));
    active
        .begin(pending(Kind::Update, "1.0.0", "1.1.0"))
        .unwrap();
    active.abort().unwrap();
    let again = Active::load(dir.path(), &both);
    assert!(again.pending().is_none());
    let e = again.get("main", "app").unwrap();
    assert_eq!(e.active, v("1.0.0"));
    assert_eq!(e.failed, [v("1.1.0")].into());
    assert!(!again.autostarts("main", "app", &v("1.1.0")));
}

#[test]
fn the_override_is_kept_and_a_file_of_format_1_without_new_fields_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let one = installed(&[("main", "app", &["1.0.0"])]);
    let mut active = Active::load(dir.path(), &one);
    assert!(active.set_enabled("main", "app", Some(false)).unwrap());
    assert!(!active.set_enabled("main", "nope", Some(false)).unwrap());
    let again = Active::load(dir.path(), &one);
    assert!(!again.autostarts("main", "app", &v("1.0.0")));
    // A file written before `failed` and `transaction` existed.
    let body = r#"{"format":1,"entries":[{"repository":"main","name":"app","active":"1.0.0","previous":null,"floor":"1.0.0","enabled":null}]}"#;
    let text = format!("{}\n{body}\n", hex::encode(Sha256::digest(body.as_bytes())));
    fs::write(dir.path().join(FILE), text).unwrap();
    let old = Active::load(dir.path(), &one);
    assert!(old.pending().is_none());
    assert!(old.autostarts("main", "app", &v("1.0.0")));
}
