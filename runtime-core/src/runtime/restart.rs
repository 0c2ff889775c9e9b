//! The restart policy of a container: whether an ended container is started again, and
//! after which delay (exponential backoff with a limit on restarts in a row).

use crate::container::ExitStatus;
use npk::manifest::{Restart, RestartPolicy};
use std::time::Duration;

/// The restart state of one container across its runs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Backoff {
    /// Restarts in a row so far.
    pub attempts: u32,
}

/// What to do after a container ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Leave it stopped: the policy does not ask for a restart.
    Stay,
    /// Start it again after this delay; this is restart number `attempt` in a row.
    Restart { delay: Duration, attempt: u32 },
    /// The policy asks for a restart but the retries are used up.
    GiveUp { attempts: u32 },
}

impl Backoff {
    /// Decide after a run that lasted `ran` and ended with `status`. `stopped` is true when
    /// the runtime stopped it on request (never restarted).
    pub(crate) fn decide(
        &mut self,
        restart: Option<&Restart>,
        status: ExitStatus,
        ran: Duration,
        stopped: bool,
    ) -> Decision {
        let Some(restart) = restart else {
            return Decision::Stay;
        };
        let wanted = match restart.policy {
            RestartPolicy::No => false,
            RestartPolicy::OnFailure => !status.success(),
            RestartPolicy::Always => true,
        };
        if stopped || !wanted {
            self.attempts = 0;
            return Decision::Stay;
        }
        let initial = restart.delay_ms.unwrap_or(Restart::DEFAULT_DELAY_MS);
        let max = restart
            .max_delay_ms
            .unwrap_or(Restart::DEFAULT_MAX_DELAY_MS)
            .max(initial);
        // A run that lasted longer than the longest delay was healthy: start over.
        if ran > Duration::from_millis(max) {
            self.attempts = 0;
        }
        let limit = restart.max_retries.unwrap_or(Restart::DEFAULT_MAX_RETRIES);
        if self.attempts >= limit {
            return Decision::GiveUp {
                attempts: self.attempts,
            };
        }
        let factor = 1u64.checked_shl(self.attempts.min(63)).unwrap_or(u64::MAX);
        let delay = initial.saturating_mul(factor).min(max);
        self.attempts = self.attempts.saturating_add(1);
        Decision::Restart {
            delay: Duration::from_millis(delay),
            attempt: self.attempts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(policy: RestartPolicy, retries: u32) -> Restart {
        Restart {
            policy,
            max_retries: Some(retries),
            delay_ms: Some(100),
            max_delay_ms: Some(1000),
        }
    }

    const SHORT: Duration = Duration::from_millis(10);

    #[test]
    fn exponential_then_capped_then_give_up() {
        let r = policy(RestartPolicy::Always, 6);
        let mut b = Backoff::default();
        let delays: Vec<Decision> = (0..7)
            .map(|_| b.decide(Some(&r), ExitStatus::Exit(1), SHORT, false))
            .collect();
        let ms = |d: u64, attempt| Decision::Restart {
            delay: Duration::from_millis(d),
            attempt,
        };
        assert_eq!(
            delays,
            [
                ms(100, 1),
                ms(200, 2),
                ms(400, 3),
                ms(800, 4),
                ms(1000, 5),
                ms(1000, 6),
                Decision::GiveUp { attempts: 6 }
            ]
        );
    }

    #[test]
    fn on_failure_only_on_failure() {
        let r = policy(RestartPolicy::OnFailure, 3);
        let mut b = Backoff::default();
        assert_eq!(
            b.decide(Some(&r), ExitStatus::Exit(0), SHORT, false),
            Decision::Stay
        );
        assert!(matches!(
            b.decide(Some(&r), ExitStatus::Signal(9), SHORT, false),
            Decision::Restart { attempt: 1, .. }
        ));
        assert!(matches!(
            b.decide(Some(&r), ExitStatus::Exit(3), SHORT, false),
            Decision::Restart { attempt: 2, .. }
        ));
    }

    #[test]
    fn no_policy_stop_and_healthy_run() {
        let mut b = Backoff::default();
        assert_eq!(
            b.decide(None, ExitStatus::Exit(1), SHORT, false),
            Decision::Stay
        );
        let r = policy(RestartPolicy::Always, 2);
        assert_eq!(
            b.decide(Some(&r), ExitStatus::Exit(1), SHORT, true),
            Decision::Stay
        );
        b.decide(Some(&r), ExitStatus::Exit(1), SHORT, false);
        b.decide(Some(&r), ExitStatus::Exit(1), SHORT, false);
        assert!(matches!(
            b.decide(Some(&r), ExitStatus::Exit(1), SHORT, false),
            Decision::GiveUp { .. }
        ));
        // A long healthy run resets the count.
        assert!(matches!(
            b.decide(Some(&r), ExitStatus::Exit(1), Duration::from_secs(2), false),
            Decision::Restart { attempt: 1, .. }
        ));
        let never = policy(RestartPolicy::No, 5);
        assert_eq!(
            b.decide(Some(&never), ExitStatus::Exit(1), SHORT, false),
            Decision::Stay
        );
    }
}
