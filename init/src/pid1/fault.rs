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

/// A fault asked for on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// The main loop hangs this long after the start.
    Hang(Duration),
    /// A thread panics this long after the start.
    Panic(Duration),
}

/// When the main loop hangs (since the init started), if it was asked to.
static HANG_AFTER: OnceLock<Duration> = OnceLock::new();

/// Take the test keys out of `params`, remember what they ask for and return the rest.
/// A malformed or unknown test key is logged and ignored.
pub fn take(params: Vec<Param>, start: Instant) -> Vec<Param> {
    let (test, rest): (Vec<Param>, Vec<Param>) =
        params.into_iter().partition(|p| p.key.starts_with(PREFIX));
    for param in test {
        match parse(&param) {
            Ok(Fault::Hang(after)) => {
                log::warn!("test fault armed: the main loop hangs {after:?} after the start");
                let _ = HANG_AFTER.set(after);
            }
            Ok(Fault::Panic(after)) => {
                log::warn!("test fault armed: a thread panics {after:?} after the start");
                let spawned = std::thread::Builder::new()
                    .name("test-panic".into())
                    .spawn(move || panic_at(start, after));
                if let Err(e) = spawned {
                    log::error!("northstar.{}: cannot start its thread: {e}", param.key);
                }
            }
            Err(reason) => log::error!("northstar.{}: {reason}: ignored", param.key),
        }
    }
    rest
}

/// The fault of a `test.*` parameter.
fn parse(param: &Param) -> Result<Fault, String> {
    let fault: fn(Duration) -> Fault = match param.key.as_str() {
        HANG => Fault::Hang,
        PANIC => Fault::Panic,
        _ => return Err("unknown test key (known: test.hang, test.panic)".into()),
    };
    let value = param.value.as_deref().ok_or("needs a value in seconds")?;
    value
        .parse::<u64>()
        .map(|secs| fault(Duration::from_secs(secs)))
        .map_err(|_| format!("{value:?} is not a whole number of seconds"))
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
}
