//! Every transition of the update transaction, without a runtime.

use super::*;
use crate::config::Health;
use std::time::Duration;

fn id(s: &str) -> ContainerId {
    s.parse().unwrap()
}

fn v(s: &str) -> Version {
    Version::new_from_str(s).unwrap()
}

fn transaction(health: Health, old: &[&str], new: &[&str], snapshot: bool) -> Transaction {
    let changes = new
        .iter()
        .map(|n| {
            let new = id(n);
            Change {
                name: new.name.to_string(),
                from: old
                    .iter()
                    .map(|o| id(o))
                    .find(|o| o.name == new.name)
                    .map(|o| o.version),
                to: new.version,
            }
        })
        .collect();
    Transaction {
        kind: Kind::Update,
        repository: "r".into(),
        changes,
        ids: new.iter().map(|n| id(n)).collect(),
        start: new.iter().map(|n| id(n)).collect(),
        old: old.iter().map(|o| id(o)).collect(),
        check: Check {
            health,
            window: Duration::from_secs(10),
            deadline: Duration::from_secs(60),
        },
        snapshot,
        phase: Phase::Idle,
    }
}

fn steps(effects: &[Effect]) -> Vec<Step> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Persist(p) => Some(p.step),
            _ => None,
        })
        .collect()
}

/// The effects without the persisted steps and notifications, for short assertions.
fn actions(effects: &[Effect]) -> Vec<Effect> {
    effects
        .iter()
        .filter(|e| !matches!(e, Effect::Persist(_) | Effect::Notify(_)))
        .cloned()
        .collect()
}

fn rolled_back(effects: &[Effect]) -> Option<String> {
    effects.iter().find_map(|e| match e {
        Effect::Answer(Err(reason)) => Some(reason.clone()),
        _ => None,
    })
}

/// Whether `effects` write the commit (the answer follows [`Input::Committed`]).
fn committed(effects: &[Effect]) -> bool {
    effects.contains(&Effect::Commit)
}

/// The effects of `input`, then those of the old versions running again after the
/// rollback's restarts (the answer waits for them).
fn rolling_back(t: &mut Transaction, input: Input) -> Vec<Effect> {
    let mut effects = t.on(input);
    let restarts: Vec<ContainerId> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Restart(id) => Some(id.clone()),
            _ => None,
        })
        .collect();
    for old in restarts {
        assert!(
            rolled_back(&effects).is_none(),
            "answered before {old} runs"
        );
        assert!(!t.owns(&old));
        effects.extend(t.on(Input::Started(old, Instant::now())));
    }
    effects
}

/// Begin, the old version ends, the new one executes at `at`.
fn started(t: &mut Transaction, at: Instant) -> Vec<Effect> {
    let begin = t.on(Input::Begin(at));
    assert_eq!(steps(&begin), [Step::Stopping]);
    assert_eq!(actions(&begin), [Effect::Stop(id("app:1.0.0"))]);
    assert!(t.owns(&id("app:1.0.0")));
    let ended = t.on(Input::Ended(id("app:1.0.0"), Some(ExitStatus::Signal(15))));
    assert_eq!(actions(&ended), [Effect::Start(id("app:1.1.0"))]);
    assert!(t.owns(&id("app:1.1.0")));
    assert!(!t.owns(&id("app:1.0.0")));
    t.on(Input::Started(id("app:1.1.0"), at))
}

#[test]
fn begin_persists_before_it_stops_the_old_version() {
    let mut t = transaction(Health::Running, &["app:1.0.0"], &["app:1.1.0"], false);
    let effects = t.on(Input::Begin(Instant::now()));
    let persist = effects
        .iter()
        .position(|e| matches!(e, Effect::Persist(_)))
        .unwrap();
    let stop = effects
        .iter()
        .position(|e| matches!(e, Effect::Stop(_)))
        .unwrap();
    assert!(persist < stop);
    assert!(
        effects.contains(&Effect::Notify(Notification::UpdateStarted {
            ids: vec![id("app:1.1.0")]
        }))
    );
}

#[test]
fn running_through_the_window_commits() {
    let now = Instant::now();
    let mut t = transaction(Health::Running, &["app:1.0.0"], &["app:1.1.0"], false);
    assert!(started(&mut t, now).is_empty());
    assert_eq!(t.deadline(), Some(now + Duration::from_secs(10)));
    assert!(t.on(Input::Tick(now + Duration::from_secs(9))).is_empty());
    let effects = t.on(Input::Tick(now + Duration::from_secs(10)));
    assert!(committed(&effects), "{effects:?}");
    assert!(effects.contains(&Effect::Notify(Notification::Healthy {
        id: id("app:1.1.0")
    })));
    assert!(!t.done(), "done once the commit is written");
    let effects = t.on(Input::Committed);
    assert_eq!(
        effects,
        [
            Effect::Notify(Notification::Committed {
                ids: vec![id("app:1.1.0")]
            }),
            Effect::Answer(Ok(vec![id("app:1.1.0")]))
        ]
    );
    assert!(t.done());
    assert!(!t.owns(&id("app:1.1.0")));
}

#[test]
fn ending_within_the_window_rolls_back() {
    let now = Instant::now();
    let mut t = transaction(Health::Running, &["app:1.0.0"], &["app:1.1.0"], false);
    started(&mut t, now);
    let effects = rolling_back(
        &mut t,
        Input::Ended(id("app:1.1.0"), Some(ExitStatus::Exit(1))),
    );
    // Nothing to stop: the old version starts at once, without a step written first.
    assert!(steps(&effects).is_empty());
    assert_eq!(
        actions(&effects),
        [
            Effect::Restart(id("app:1.0.0")),
            Effect::Abort,
            Effect::Answer(Err("app:1.1.0: ended with exit code 1".into()))
        ]
    );
    assert!(t.done());
}

#[test]
fn a_crash_loop_rolls_back_at_the_first_crash() {
    let now = Instant::now();
    let mut t = transaction(Health::Running, &["app:1.0.0"], &["app:1.1.0"], false);
    started(&mut t, now);
    let effects = rolling_back(
        &mut t,
        Input::Ended(id("app:1.1.0"), Some(ExitStatus::Signal(11))),
    );
    assert!(rolled_back(&effects).is_some());
    assert!(!effects.iter().any(|e| matches!(e, Effect::Start(_))));
}

#[test]
fn ready_commits_when_the_program_says_so() {
    let now = Instant::now();
    let mut t = transaction(Health::Ready, &["app:1.0.0"], &["app:1.1.0"], false);
    assert!(started(&mut t, now).is_empty());
    assert!(t.on(Input::Tick(now + Duration::from_secs(30))).is_empty());
    let effects = t.on(Input::Ready(id("app:1.1.0")));
    assert!(committed(&effects));
}

#[test]
fn ready_before_the_exec_report_counts_at_the_report() {
    let now = Instant::now();
    let mut t = transaction(Health::Ready, &[], &["app:1.1.0"], false);
    let begin = t.on(Input::Begin(now));
    assert_eq!(steps(&begin), [Step::Stopping, Step::Starting]);
    assert!(t.on(Input::Ready(id("app:1.1.0"))).is_empty());
    let effects = t.on(Input::Started(id("app:1.1.0"), now));
    assert!(committed(&effects));
}

#[test]
fn never_ready_rolls_back_at_the_deadline_and_stops_the_new_version() {
    let now = Instant::now();
    let mut t = transaction(Health::Ready, &["app:1.0.0"], &["app:1.1.0"], false);
    started(&mut t, now);
    // The deadline counts from the start of the new version.
    let until = t.deadline().unwrap();
    assert!(
        until >= now + Duration::from_secs(60) && until <= Instant::now() + Duration::from_secs(60)
    );
    assert!(t
        .on(Input::Tick(until - Duration::from_millis(1)))
        .is_empty());
    let effects = t.on(Input::Tick(until));
    assert_eq!(steps(&effects), [Step::RollingBack]);
    assert_eq!(actions(&effects), [Effect::Stop(id("app:1.1.0"))]);
    assert!(t.owns(&id("app:1.1.0")));
    // A late READY changes nothing once the rollback began.
    assert!(t.on(Input::Ready(id("app:1.1.0"))).is_empty());
    let effects = rolling_back(
        &mut t,
        Input::Ended(id("app:1.1.0"), Some(ExitStatus::Signal(15))),
    );
    let reason = rolled_back(&effects).unwrap();
    assert!(reason.contains("never sent READY=1"), "{reason}");
    assert!(effects.contains(&Effect::Restart(id("app:1.0.0"))));
}

#[test]
fn exited_with_zero_commits_and_non_zero_rolls_back() {
    let now = Instant::now();
    let mut t = transaction(Health::Exited, &["app:1.0.0"], &["app:1.1.0"], false);
    started(&mut t, now);
    assert!(committed(
        &t.on(Input::Ended(id("app:1.1.0"), Some(ExitStatus::Exit(0))))
    ));
    let mut t = transaction(Health::Exited, &["app:1.0.0"], &["app:1.1.0"], false);
    started(&mut t, now);
    let effects = rolling_back(
        &mut t,
        Input::Ended(id("app:1.1.0"), Some(ExitStatus::Exit(3))),
    );
    assert!(rolled_back(&effects).is_some());
}

#[test]
fn a_start_failure_rolls_back_without_a_stop() {
    let now = Instant::now();
    let mut t = transaction(Health::Running, &["app:1.0.0"], &["app:1.1.0"], false);
    t.on(Input::Begin(now));
    t.on(Input::Ended(id("app:1.0.0"), None));
    let effects = rolling_back(
        &mut t,
        Input::StartFailed(id("app:1.1.0"), "no such file".into()),
    );
    assert!(!effects.iter().any(|e| matches!(e, Effect::Stop(_))));
    assert_eq!(rolled_back(&effects).as_deref(), Some("no such file"));
}

#[test]
fn snapshot_is_taken_after_the_stop_and_restored_on_rollback() {
    let now = Instant::now();
    let mut t = transaction(Health::Exited, &["app:1.0.0"], &["app:1.1.0"], true);
    t.on(Input::Begin(now));
    let effects = t.on(Input::Ended(id("app:1.0.0"), None));
    assert_eq!(steps(&effects), [Step::Snapshot, Step::Starting]);
    assert_eq!(
        actions(&effects),
        [Effect::Snapshot, Effect::Start(id("app:1.1.0"))]
    );
    t.on(Input::Started(id("app:1.1.0"), now));
    let effects = rolling_back(
        &mut t,
        Input::Ended(id("app:1.1.0"), Some(ExitStatus::Exit(1))),
    );
    let restore = effects.iter().position(|e| *e == Effect::Restore).unwrap();
    let restart = effects
        .iter()
        .position(|e| matches!(e, Effect::Restart(_)))
        .unwrap();
    assert!(
        restore < restart,
        "the data is back before the old version runs"
    );
}

#[test]
fn a_failed_effect_before_the_start_rolls_back_to_the_old_version() {
    let now = Instant::now();
    let mut t = transaction(Health::Running, &["app:1.0.0"], &["app:1.1.0"], true);
    t.on(Input::Begin(now));
    let effects = rolling_back(&mut t, Input::Failed("snapshot: disk full".into()));
    assert_eq!(
        actions(&effects),
        [
            Effect::Restore,
            Effect::Restart(id("app:1.0.0")),
            Effect::Abort,
            Effect::Answer(Err("snapshot: disk full".into()))
        ]
    );
    let mut t = transaction(Health::Running, &["app:1.0.0"], &["app:1.1.0"], false);
    t.on(Input::Begin(now));
    t.on(Input::Ended(id("app:1.0.0"), None));
    let effects = t.on(Input::Failed("commit: read-only".into()));
    assert_eq!(actions(&effects), [Effect::Stop(id("app:1.1.0"))]);
}

#[test]
fn two_packages_commit_together_or_roll_back_together() {
    let now = Instant::now();
    let old = ["app:1.0.0", "db:1.0.0"];
    let new = ["app:1.1.0", "db:2.0.0"];
    let mut t = transaction(Health::Ready, &old, &new, false);
    t.on(Input::Begin(now));
    t.on(Input::Ended(id("app:1.0.0"), None));
    let effects = t.on(Input::Ended(id("db:1.0.0"), None));
    assert_eq!(
        actions(&effects),
        [
            Effect::Start(id("app:1.1.0")),
            Effect::Start(id("db:2.0.0"))
        ]
    );
    t.on(Input::Started(id("app:1.1.0"), now));
    t.on(Input::Started(id("db:2.0.0"), now));
    let healthy = t.on(Input::Ready(id("app:1.1.0")));
    assert!(!committed(&healthy));
    // db fails: app, healthy and running, is stopped too, and both old versions return.
    let effects = t.on(Input::Ended(id("db:2.0.0"), Some(ExitStatus::Exit(1))));
    assert_eq!(actions(&effects), [Effect::Stop(id("app:1.1.0"))]);
    let effects = rolling_back(
        &mut t,
        Input::Ended(id("app:1.1.0"), Some(ExitStatus::Signal(15))),
    );
    assert!(effects.contains(&Effect::Restart(id("app:1.0.0"))));
    assert!(effects.contains(&Effect::Restart(id("db:1.0.0"))));
    assert!(effects.contains(&Effect::Notify(Notification::RolledBack {
        ids: new.iter().map(|n| id(n)).collect(),
        reason: "db:2.0.0: ended with exit code 1".into()
    })));

    let mut t = transaction(Health::Ready, &old, &new, false);
    t.on(Input::Begin(now));
    t.on(Input::Ended(id("app:1.0.0"), None));
    t.on(Input::Ended(id("db:1.0.0"), None));
    for n in new {
        t.on(Input::Started(id(n), now));
    }
    assert!(!committed(&t.on(Input::Ready(id("db:2.0.0")))));
    assert!(committed(&t.on(Input::Ready(id("app:1.1.0")))));
}

#[test]
fn a_resource_only_update_commits_without_starting_anything() {
    let mut t = transaction(Health::Ready, &[], &[], false);
    t.ids = vec![id("lib:2.0.0")];
    t.changes = vec![Change {
        name: "lib".into(),
        from: Some(v("1.0.0")),
        to: v("2.0.0"),
    }];
    let effects = t.on(Input::Begin(Instant::now()));
    assert!(committed(&effects));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Start(_))));
}

#[test]
fn inputs_of_other_containers_change_nothing() {
    let now = Instant::now();
    let mut t = transaction(Health::Running, &["app:1.0.0"], &["app:1.1.0"], false);
    started(&mut t, now);
    assert!(t
        .on(Input::Ended(id("other:1.0.0"), Some(ExitStatus::Exit(1))))
        .is_empty());
    assert!(t.on(Input::Ready(id("other:1.0.0"))).is_empty());
    assert!(!t.owns(&id("other:1.0.0")));
}

#[test]
fn every_persisted_step_names_the_changes() {
    let mut t = transaction(Health::Running, &["app:1.0.0"], &["app:1.1.0"], true);
    let effects = t.on(Input::Begin(Instant::now()));
    let Some(Effect::Persist(pending)) = effects.first() else {
        panic!("{effects:?}");
    };
    assert_eq!(pending.repository, "r");
    assert!(pending.snapshot);
    assert_eq!(
        pending.changes,
        [Change {
            name: "app".into(),
            from: Some(v("1.0.0")),
            to: v("1.1.0")
        }]
    );
}

#[test]
fn a_commit_that_cannot_be_written_rolls_back() {
    let now = Instant::now();
    let mut t = transaction(Health::Ready, &["app:1.0.0"], &["app:1.1.0"], false);
    started(&mut t, now);
    assert!(committed(&t.on(Input::Ready(id("app:1.1.0")))));
    let effects = t.on(Input::Failed("commit: read-only file system".into()));
    assert_eq!(steps(&effects), [Step::RollingBack]);
    assert_eq!(actions(&effects), [Effect::Stop(id("app:1.1.0"))]);
    let effects = rolling_back(
        &mut t,
        Input::Ended(id("app:1.1.0"), Some(ExitStatus::Signal(15))),
    );
    assert_eq!(
        actions(&effects),
        [
            Effect::Restart(id("app:1.0.0")),
            Effect::Abort,
            Effect::Answer(Err("commit: read-only file system".into()))
        ]
    );
}

#[test]
fn the_rollback_is_answered_when_the_old_version_runs_or_failed_to() {
    let now = Instant::now();
    let mut t = transaction(Health::Running, &["app:1.0.0"], &["app:1.1.0"], false);
    started(&mut t, now);
    let effects = t.on(Input::Ended(id("app:1.1.0"), Some(ExitStatus::Exit(1))));
    assert!(effects.contains(&Effect::Restart(id("app:1.0.0"))));
    assert!(rolled_back(&effects).is_none());
    assert!(t.on(Input::Ready(id("app:1.0.0"))).is_empty());
    let effects = t.on(Input::StartFailed(id("app:1.0.0"), "mount: ENOSPC".into()));
    assert_eq!(
        rolled_back(&effects).as_deref(),
        Some("app:1.1.0: ended with exit code 1")
    );
    assert!(t.done());
}
