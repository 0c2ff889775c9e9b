//! Parsers of option values (durations, signals, `NAME=VALUE`, URLs, repositories, slots, health
//! checks) and the formatting of sizes and times for the text output.

use northstar_client::{
    api::{Health, InvalidValue, RepositoryName, Signal, SlotTarget, StopTimeout},
    Url,
};
use std::time::Duration;

/// `unix:///path` or `tcp://host:port`.
pub fn url(text: &str) -> Result<Url, String> {
    text.parse().map_err(|e| format!("{e}"))
}

/// A repository name.
pub fn repository(text: &str) -> Result<RepositoryName, String> {
    RepositoryName::new(text).map_err(|e| e.to_string())
}

/// A slot: `booted`, `other` or a slot's name.
pub fn slot(text: &str) -> Result<SlotTarget, String> {
    text.parse().map_err(|e: InvalidValue| e.reason)
}

/// A health check: `ready`, `running` or `exited`.
pub fn health(text: &str) -> Result<Health, String> {
    text.parse().map_err(|e: InvalidValue| e.reason)
}

/// `250ms`, `10s`, `2m`, `1h`, or a number of seconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    let fail = || format!("{text:?} is not a duration (examples: 500ms, 10s, 2m, 1h)");
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(fail());
    }
    let n: u64 = number.parse().map_err(|_| fail())?;
    let ms = match unit {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => return Err(fail()),
    };
    ms.map(Duration::from_millis).ok_or_else(fail)
}

/// A stop's grace period: a duration of at most one hour, in whole milliseconds.
pub fn grace(text: &str) -> Result<Duration, String> {
    let d = duration(text)?;
    StopTimeout::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX))
        .map(StopTimeout::as_duration)
        .map_err(|e| e.to_string())
}

/// `NAME=VALUE` (the value may be empty and may contain `=`).
pub fn env_var(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected NAME=VALUE"))?;
    Ok((name.to_string(), value.to_string()))
}

/// Linux signal names, by number (index + 1).
const SIGNALS: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// A signal number (1 to 64) or name (`TERM`, `SIGTERM`, `term`).
pub fn signal(text: &str) -> Result<Signal, String> {
    if let Ok(n) = text.parse::<i32>() {
        return Signal::new(n).map_err(|e| e.to_string());
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let n = SIGNALS.iter().position(|s| *s == name).ok_or_else(|| {
        format!("unknown signal {text:?} (a number from 1 to 64, or TERM, KILL, HUP, USR1, ...)")
    })?;
    Signal::new(n as i32 + 1).map_err(|e| e.to_string())
}

/// `SIGTERM` for 15, the number for signals without a name here.
pub fn signal_name(number: i32) -> String {
    usize::try_from(number - 1)
        .ok()
        .and_then(|i| SIGNALS.get(i))
        .map_or_else(|| number.to_string(), |name| format!("SIG{name}"))
}

/// `512 B`, `1.5 KiB`, `2.3 MiB`, `1.0 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `850ms`, `5.3s`, `2m 3s`, `1h 2m`, `3d 4h`.
pub fn elapsed(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{ms}ms"),
        1..60 => format!("{:.1}s", ms as f64 / 1000.0),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        for bad in ["", "s", "-1s", "1.5s", "1 s", "10x", "99999999999999999999"] {
            assert!(duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(grace("2s"), Ok(Duration::from_secs(2)));
        assert!(grace("2h").is_err());
    }

    #[test]
    fn signals() {
        for (text, n) in [
            ("9", 9),
            ("TERM", 15),
            ("sigusr1", 10),
            ("SIGKILL", 9),
            ("64", 64),
        ] {
            assert_eq!(signal(text).map(Signal::number), Ok(n), "{text}");
        }
        for bad in ["0", "65", "SIGFOO", "", "-9"] {
            assert!(signal(bad).is_err(), "{bad:?}");
        }
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(40), "40");
        assert_eq!(signal_name(0), "0");
    }

    #[test]
    fn env_vars() {
        assert_eq!(env_var("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert_eq!(env_var("A="), Ok(("A".into(), String::new())));
        assert!(env_var("A").is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(2441216), "2.3 MiB");
        assert_eq!(elapsed(850), "850ms");
        assert_eq!(elapsed(5320), "5.3s");
        assert_eq!(elapsed(123_000), "2m 3s");
        assert_eq!(elapsed(3_720_000), "1h 2m");
        assert_eq!(elapsed(277_200_000), "3d 5h");
    }
}
