//! Every transition of a container's lifecycle, without a runtime.

use super::*;
use npk::manifest::RestartPolicy;

const GRACE: Duration = Duration::from_secs(5);

fn policy(policy: RestartPolicy) -> Option<Restart> {
    Some(Restart {
        policy,
        max_retries: Some(2),
        delay_ms: Some(100),
        max_delay_ms: Some(1000),
    })
}

fn exited(now: Instant, status: ExitStatus, policy: Option<Restart>) -> Input {
    Input::Exited {
        now,
        status,
        policy,
        held: false,
        critical: false,
    }
}

/// A container whose program runs since `now`.
fn running(now: Instant) -> Lifecycle {
    let mut l = Lifecycle::default();
    assert_eq!(l.on(Input::Start { explicit: true }), [Effect::Launch]);
    assert_eq!(l.phase, Phase::Launching { stop: false });
    assert!(l.on(Input::Launched { now }).is_empty());
    assert_eq!(l.phase, Phase::Starting);
    assert_eq!(
        l.on(Input::Executed),
        [Effect::NotifyStarted, Effect::AnswerStart(Ok(()))]
    );
    assert_eq!(l.phase, Phase::Running);
    l
}

#[test]
fn a_start_launches_and_the_exec_report_answers_it() {
    running(Instant::now());
}

#[test]
fn a_second_start_is_refused_in_every_live_phase() {
    let now = Instant::now();
    let mut l = Lifecycle::default();
    l.on(Input::Start { explicit: true });
    for phase in [
        Phase::Launching { stop: false },
        Phase::Launching { stop: true },
        Phase::Starting,
        Phase::Running,
        Phase::Failed,
        Phase::Stopping { kill_at: now },
    ] {
        l.phase = phase;
        assert_eq!(
            l.on(Input::Start { explicit: true }),
            [Effect::Refuse(Refusal::Running)]
        );
        assert_eq!(l.phase, phase);
    }
}

#[test]
fn a_launch_failure_answers_and_leaves_it_stopped() {
    let mut l = Lifecycle::default();
    l.on(Input::Start { explicit: true });
    let effects = l.on(Input::LaunchFailed("no image".into()));
    assert_eq!(
        effects,
        [
            Effect::NotifyFailed("no image".into()),
            Effect::AnswerStart(Err("no image".into()))
        ]
    );
    assert_eq!(l.phase, Phase::Stopped);
}

#[test]
fn an_exec_failure_answers_and_waits_for_the_exit() {
    let now = Instant::now();
    let mut l = Lifecycle::default();
    l.on(Input::Start { explicit: true });
    l.on(Input::Launched { now });
    let effects = l.on(Input::ExecFailed("exec: ENOENT".into()));
    assert!(effects.contains(&Effect::AnswerStart(Err("exec: ENOENT".into()))));
    assert_eq!(l.phase, Phase::Failed);
    assert!(l.phase.alive());
    let effects = l.on(exited(now, ExitStatus::Exit(127), None));
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(l.phase, Phase::Stopped);
}

#[test]
fn an_exit_before_the_exec_report_fails_the_start() {
    let now = Instant::now();
    let mut l = Lifecycle::default();
    l.on(Input::Start { explicit: true });
    l.on(Input::Launched { now });
    let effects = l.on(exited(now, ExitStatus::Signal(9), None));
    assert!(matches!(effects.as_slice(), [Effect::AnswerStart(Err(_))]));
}

#[test]
fn a_stop_sends_sigterm_then_sigkill_at_the_deadline() {
    let now = Instant::now();
    let mut l = running(now);
    assert_eq!(
        l.on(Input::Stop { now, grace: GRACE }),
        [Effect::Signal(libc::SIGTERM)]
    );
    assert_eq!(l.deadline(), Some(now + GRACE));
    assert!(l
        .on(Input::Tick(now + GRACE - Duration::from_millis(1)))
        .is_empty());
    assert_eq!(l.on(Input::Tick(now + GRACE)), [Effect::Kill]);
    // Not killed twice while the exit is on its way.
    assert!(l.on(Input::Tick(now + GRACE)).is_empty());
    let effects = l.on(exited(
        now,
        ExitStatus::Signal(9),
        policy(RestartPolicy::Always),
    ));
    assert_eq!(effects, [Effect::AnswerStop(Some(ExitStatus::Signal(9)))]);
    assert_eq!(
        l.phase,
        Phase::Stopped,
        "a stopped container is not restarted"
    );
}

#[test]
fn a_stop_without_grace_kills_at_once() {
    let now = Instant::now();
    let mut l = running(now);
    assert_eq!(
        l.on(Input::Stop {
            now,
            grace: Duration::ZERO
        }),
        [Effect::Signal(libc::SIGKILL)]
    );
}

#[test]
fn a_second_stop_with_a_shorter_grace_brings_the_kill_forward() {
    let now = Instant::now();
    let mut l = running(now);
    l.on(Input::Stop { now, grace: GRACE });
    assert!(l
        .on(Input::Stop {
            now,
            grace: Duration::from_secs(1)
        })
        .is_empty());
    assert_eq!(l.deadline(), Some(now + Duration::from_secs(1)));
    l.on(Input::Stop {
        now,
        grace: Duration::from_secs(10),
    });
    assert_eq!(l.deadline(), Some(now + Duration::from_secs(1)));
}

#[test]
fn a_stop_of_a_stopped_container_is_refused() {
    let mut l = Lifecycle::default();
    assert_eq!(
        l.on(Input::Stop {
            now: Instant::now(),
            grace: GRACE
        }),
        [Effect::Refuse(Refusal::NotRunning)]
    );
}

#[test]
fn on_failure_restarts_with_backoff_then_gives_up() {
    let now = Instant::now();
    let mut l = running(now);
    let effects = l.on(exited(
        now,
        ExitStatus::Exit(1),
        policy(RestartPolicy::OnFailure),
    ));
    assert_eq!(
        effects,
        [Effect::NotifyRestarting {
            attempt: 1,
            delay: Duration::from_millis(100)
        }]
    );
    let at = now + Duration::from_millis(100);
    assert_eq!(l.phase, Phase::Restarting { at });
    assert!(l.on(Input::Tick(at - Duration::from_millis(1))).is_empty());
    assert_eq!(l.on(Input::Tick(at)), [Effect::Launch]);
    assert_eq!(l.restarts, 1);
    l.on(Input::Launched { now: at });
    l.on(Input::Executed);
    let effects = l.on(exited(
        at,
        ExitStatus::Exit(1),
        policy(RestartPolicy::OnFailure),
    ));
    assert!(matches!(
        effects.as_slice(),
        [Effect::NotifyRestarting { attempt: 2, .. }]
    ));
    let Phase::Restarting { at } = l.phase else {
        panic!("{:?}", l.phase)
    };
    l.on(Input::Tick(at));
    l.on(Input::Launched { now: at });
    l.on(Input::Executed);
    let effects = l.on(exited(
        at,
        ExitStatus::Exit(1),
        policy(RestartPolicy::OnFailure),
    ));
    assert_eq!(effects, [Effect::NotifyGaveUp { attempts: 2 }]);
    assert_eq!(l.phase, Phase::Stopped);
}

#[test]
fn on_failure_leaves_a_clean_exit_stopped() {
    let now = Instant::now();
    let mut l = running(now);
    let effects = l.on(exited(
        now,
        ExitStatus::Exit(0),
        policy(RestartPolicy::OnFailure),
    ));
    assert!(effects.is_empty());
    assert_eq!(l.phase, Phase::Stopped);
    assert_eq!(l.last_exit, Some(ExitStatus::Exit(0)));
}

#[test]
fn a_stop_cancels_a_scheduled_restart_and_reports_the_last_exit() {
    let now = Instant::now();
    let mut l = running(now);
    l.on(exited(
        now,
        ExitStatus::Exit(3),
        policy(RestartPolicy::Always),
    ));
    assert!(matches!(l.phase, Phase::Restarting { .. }));
    assert_eq!(
        l.on(Input::Stop { now, grace: GRACE }),
        [Effect::AnswerStop(Some(ExitStatus::Exit(3)))]
    );
    assert_eq!(l.phase, Phase::Stopped);
}

#[test]
fn an_explicit_start_resets_the_backoff_and_a_restart_counts() {
    let now = Instant::now();
    let mut l = running(now);
    l.on(exited(
        now,
        ExitStatus::Exit(1),
        policy(RestartPolicy::Always),
    ));
    assert_eq!(l.backoff.attempts, 1);
    assert_eq!(l.on(Input::Start { explicit: true }), [Effect::Launch]);
    assert_eq!(l.backoff.attempts, 0);
    assert_eq!(l.restarts, 0);
}

#[test]
fn a_critical_failure_is_reported_only_without_a_restart_or_a_stop() {
    let now = Instant::now();
    let critical = |status, policy| Input::Exited {
        now,
        status,
        policy,
        held: false,
        critical: true,
    };
    let mut l = running(now);
    let effects = l.on(critical(ExitStatus::Exit(1), None));
    assert_eq!(effects, [Effect::Critical("ended with exit code 1".into())]);

    let mut l = running(now);
    let effects = l.on(critical(ExitStatus::Exit(1), policy(RestartPolicy::Always)));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Critical(_))));

    let mut l = running(now);
    l.on(Input::Stop { now, grace: GRACE });
    let effects = l.on(critical(ExitStatus::Signal(15), None));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Critical(_))));
}

#[test]
fn a_held_exit_neither_restarts_nor_reacts() {
    let now = Instant::now();
    let mut l = running(now);
    let effects = l.on(Input::Exited {
        now,
        status: ExitStatus::Exit(1),
        policy: policy(RestartPolicy::Always),
        held: true,
        critical: true,
    });
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(l.phase, Phase::Stopped);
}

#[test]
fn inputs_that_do_not_apply_change_nothing() {
    let now = Instant::now();
    let mut l = Lifecycle::default();
    for input in [
        Input::Executed,
        Input::Launched { now },
        Input::Tick(now),
        exited(now, ExitStatus::Exit(0), None),
    ] {
        assert!(l.on(input).is_empty());
        assert_eq!(l.phase, Phase::Stopped);
    }
    let mut l = running(now);
    assert!(l.on(Input::Executed).is_empty());
    assert!(l
        .on(Input::Tick(now + Duration::from_secs(3600)))
        .is_empty());
    assert_eq!(l.phase, Phase::Running);
}

#[test]
fn a_launch_in_flight_is_alive_and_not_started_twice() {
    let mut l = Lifecycle::default();
    assert_eq!(l.on(Input::Start { explicit: true }), [Effect::Launch]);
    assert!(l.phase.alive());
    assert_eq!(
        l.on(Input::Start { explicit: false }),
        [Effect::Refuse(Refusal::Running)]
    );
    // No deadline while in flight: nothing to kill yet.
    assert_eq!(l.deadline(), None);
    assert!(l.on(Input::Tick(Instant::now())).is_empty());
    assert_eq!(l.phase, Phase::Launching { stop: false });
}

#[test]
fn a_stop_during_the_launch_kills_once_the_pid_is_known() {
    let now = Instant::now();
    let mut l = Lifecycle::default();
    l.on(Input::Start { explicit: true });
    assert!(l.on(Input::Stop { now, grace: GRACE }).is_empty());
    assert_eq!(l.phase, Phase::Launching { stop: true });
    // A second stop changes nothing.
    assert!(l.on(Input::Stop { now, grace: GRACE }).is_empty());
    assert_eq!(
        l.on(Input::Launched { now }),
        [Effect::Signal(libc::SIGKILL)]
    );
    assert!(matches!(l.phase, Phase::Stopping { .. }));
    // Its exec report (end of file as it is killed) answers nobody twice.
    assert_eq!(l.on(Input::Executed), [Effect::AnswerStart(Ok(()))]);
    let effects = l.on(exited(
        now,
        ExitStatus::Signal(9),
        policy(RestartPolicy::Always),
    ));
    assert_eq!(effects, [Effect::AnswerStop(Some(ExitStatus::Signal(9)))]);
    assert_eq!(l.phase, Phase::Stopped);
}

#[test]
fn a_stop_during_the_launch_answers_the_start_at_the_exit() {
    let now = Instant::now();
    let mut l = Lifecycle::default();
    l.on(Input::Start { explicit: true });
    l.on(Input::Stop { now, grace: GRACE });
    l.on(Input::Launched { now });
    let effects = l.on(exited(now, ExitStatus::Signal(9), None));
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::AnswerStart(Err(_)), Effect::AnswerStop(Some(_))]
        ),
        "{effects:?}"
    );
}

#[test]
fn a_failed_launch_after_a_stop_answers_both() {
    let now = Instant::now();
    let mut l = Lifecycle::default();
    l.on(Input::Start { explicit: true });
    l.on(Input::Stop { now, grace: GRACE });
    let effects = l.on(Input::LaunchFailed("clone: EAGAIN".into()));
    assert_eq!(
        effects,
        [
            Effect::NotifyFailed("clone: EAGAIN".into()),
            Effect::AnswerStart(Err("clone: EAGAIN".into())),
            Effect::AnswerStop(None),
        ]
    );
    assert_eq!(l.phase, Phase::Stopped);
    // Not restarted, and a new start launches again.
    assert_eq!(l.deadline(), None);
    assert_eq!(l.on(Input::Start { explicit: true }), [Effect::Launch]);
}

#[test]
fn a_failed_launch_of_a_restart_is_not_retried() {
    let now = Instant::now();
    let mut l = running(now);
    l.on(exited(
        now,
        ExitStatus::Exit(1),
        policy(RestartPolicy::OnFailure),
    ));
    let Phase::Restarting { at } = l.phase else {
        panic!("not restarting: {:?}", l.phase);
    };
    assert_eq!(l.on(Input::Tick(at)), [Effect::Launch]);
    let effects = l.on(Input::LaunchFailed("no image".into()));
    assert!(effects.contains(&Effect::NotifyFailed("no image".into())));
    assert_eq!(l.phase, Phase::Stopped);
}

#[test]
fn a_stop_before_the_exec_report_answers_the_start_once() {
    let now = Instant::now();
    let mut l = Lifecycle::default();
    l.on(Input::Start { explicit: true });
    l.on(Input::Launched { now });
    assert_eq!(
        l.on(Input::Stop { now, grace: GRACE }),
        [Effect::Signal(libc::SIGTERM)]
    );
    assert_eq!(
        l.on(Input::ExecFailed("exec: ENOENT".into())),
        [Effect::AnswerStart(Err("exec: ENOENT".into()))]
    );
    let effects = l.on(exited(now, ExitStatus::Exit(127), None));
    assert_eq!(effects, [Effect::AnswerStop(Some(ExitStatus::Exit(127)))]);
}
