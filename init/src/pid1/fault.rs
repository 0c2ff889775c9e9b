//! Test-only fault injection, compiled only with the cargo feature `fault-injection`
//! (off by default: production builds do not contain it, and their board step refuses
//! the keys below as unknown). The boot tests build the init with it to prove what the
//! hardware does when the init misbehaves.
//!
//! Keys of the kernel command line (`doc/boot.md`, "Test-only keys"), taken out of the
//! `northstar.*` parameters before the board configuration sees them:
//!
//! - `northstar.test.hang=<seconds>`: the main loop stops at its first wake-up at least
//!   `<seconds>` after the init started and never runs again: no reaping, no watchdog
//!   feeding, no signal handling. With a watchdog, the board resets.
//! - `northstar.test.panic=<seconds>`: a thread of the init (`test-panic`) panics
//!   `<seconds>` after the init started, which the panic hook turns into the board's
//!   reaction with the panic recorded for the next boot (`super::panic`).
//! - `northstar.test.update_cut=<point>`: the runtime ends with `abort()` when an update
//!   transaction reaches `<point>` (`doc/update.md`, "Testing the power-cut paths"), as a
//!   power cut would; PID 1 dies with it and the kernel panics. The runtime runs in this
//!   process and reads its hook from the environment variable
//!   [`UPDATE_CUT_VARIABLE`], which is set here: in the board step, before the init
//!   started any thread, so no other thread can read the environment while it changes.

use super::cmdline::Param;
use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

/// The keys of this module, without the `northstar.` prefix.
const PREFIX: &str = "test.";
/// `northstar.test.hang`.
const HANG: &str = "test.hang";
/// `northstar.test.panic`.
const PANIC: &str = "test.panic";
/// `northstar.test.update_cut`.
const UPDATE_CUT: &str = "test.update_cut";
/// The runtime's test hook of update transactions.
pub const UPDATE_CUT_VARIABLE: &str = "NORTHSTAR_TEST_UPDATE_CUT";
/// The points of a transaction where the runtime's hook can cut (`doc/update.md`).
const CUT_POINTS: [&str; 8] = [
    "installed",
    "stopping",
    "snapshot",
    "starting",
    "checking",
    "rolling_back",
    "restored",
    "committed",
];

/// A fault asked for on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// The main loop hangs this long after the start.
    Hang(Duration),
    /// A thread panics this long after the start.
    Panic(Duration),
    /// The runtime aborts when an update transaction reaches this point.
    UpdateCut(&'static str),
}

/// When the main loop hangs (since the init started), if it was asked to.
static HANG_AFTER: OnceLock<Duration> = OnceLock::new();

/// Take the test keys out of `params`, remember what they ask for and return the rest.
/// A malformed or unknown test key is logged and ignored. Called before the init starts
/// any thread: the environment is set before this starts the thread of a panic.
pub fn take(params: Vec<Param>, start: Instant) -> Vec<Param> {
    let (test, rest): (Vec<Param>, Vec<Param>) =
        params.into_iter().partition(|p| p.key.starts_with(PREFIX));
    let mut faults = Vec::new();
    for param in test {
        match parse(&param) {
            Ok(fault) => faults.push(fault),
            Err(reason) => log::error!("northstar.{}: {reason}: ignored", param.key),
        }
    }
    // The environment first, while this is the only thread.
    for fault in &faults {
        if let Fault::UpdateCut(point) = fault {
            log::warn!("test fault armed: the runtime aborts when an update reaches {point}");
            std::env::set_var(UPDATE_CUT_VARIABLE, point);
        }
    }
    for fault in faults {
        match fault {
            Fault::Hang(after) => {
                log::warn!("test fault armed: the main loop hangs {after:?} after the start");
                let _ = HANG_AFTER.set(after);
            }
            Fault::Panic(after) => {
                log::warn!("test fault armed: a thread panics {after:?} after the start");
                let spawned = std::thread::Builder::new()
                    .name("test-panic".into())
                    .spawn(move || panic_at(start, after));
                if let Err(e) = spawned {
                    log::error!("northstar.{PANIC}: cannot start its thread: {e}");
                }
            }
            Fault::UpdateCut(_) => {}
        }
    }
    rest
}

/// The fault of a `test.*` parameter.
fn parse(param: &Param) -> Result<Fault, String> {
    let fault: fn(Duration) -> Fault = match param.key.as_str() {
        HANG => Fault::Hang,
        PANIC => Fault::Panic,
        UPDATE_CUT => return update_cut(param.value.as_deref()),
        _ => return Err("unknown test key (known: test.hang, test.panic, test.update_cut)".into()),
    };
    let value = param.value.as_deref().ok_or("needs a value in seconds")?;
    value
        .parse::<u64>()
        .map(|secs| fault(Duration::from_secs(secs)))
        .map_err(|_| format!("{value:?} is not a whole number of seconds"))
}

/// The point of `test.update_cut=<point>`: one the runtime knows.
fn update_cut(value: Option<&str>) -> Result<Fault, String> {
    let value = value.ok_or("needs a point of an update transaction")?;
    CUT_POINTS
        .into_iter()
        .find(|p| *p == value)
        .map(Fault::UpdateCut)
        .ok_or_else(|| {
            format!(
                "{value:?} is not a point of an update transaction (known: {})",
                CUT_POINTS.join(", ")
            )
        })
}

/// Sleep until `after` since `start`, then panic: the fault asked for.
#[allow(clippy::panic)]
fn panic_at(start: Instant, after: Duration) {
    std::thread::sleep(after.saturating_sub(start.elapsed()));
    panic!("test fault: northstar.test.panic={}", after.as_secs());
}

/// Called by the main loop at every wake-up: when the hang is due, log it and never
/// return.
pub fn hang_if_due(start: Instant) {
    let Some(after) = HANG_AFTER.get() else {
        return;
    };
    if start.elapsed() < *after {
        return;
    }
    log::error!("test fault: the main loop hangs now (northstar.test.hang)");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(key: &str, value: Option<&str>) -> Param {
        Param {
            key: key.into(),
            value: value.map(Into::into),
        }
    }

    #[test]
    fn test_keys_are_taken_out() {
        let rest = take(
            vec![
                param("reaction", Some("hold")),
                param("test.nonesuch", Some("1")),
                param("log", Some("debug")),
            ],
            Instant::now(),
        );
        assert_eq!(
            rest,
            [param("reaction", Some("hold")), param("log", Some("debug"))]
        );
    }

    #[test]
    fn hang_values() {
        assert_eq!(
            parse(&param("test.hang", Some("12"))),
            Ok(Fault::Hang(Duration::from_secs(12)))
        );
        assert_eq!(
            parse(&param("test.panic", Some("30"))),
            Ok(Fault::Panic(Duration::from_secs(30)))
        );
        assert!(parse(&param("test.panic", None)).is_err());
        assert!(parse(&param("test.panic", Some("-1"))).is_err());
        assert!(parse(&param("test.hang", None)).is_err());
        assert!(parse(&param("test.hang", Some("1.5"))).is_err());
        assert!(parse(&param("test.other", Some("1"))).is_err());
    }

    #[test]
    fn update_cut_points() {
        for point in CUT_POINTS {
            assert_eq!(
                parse(&param("test.update_cut", Some(point))),
                Ok(Fault::UpdateCut(point))
            );
        }
        assert!(parse(&param("test.update_cut", None)).is_err());
        assert!(parse(&param("test.update_cut", Some("commit"))).is_err());
    }
}
