//! Durations (`"5s"`, `"500ms"`, `"2m"`) and byte sizes (`65536`, `"64K"`, `"1M"`) in the
//! configuration file: parsing, formatting and the serde glue for the fields that use them.
//!
//! Sizes use binary multiples only (`K` = 1024), so `"64K"` is 65536. This module knows
//! nothing about which field holds what, or about limits on the values: that is validation.

use serde::{de, Deserializer, Serializer};
use std::{fmt, time::Duration};

/// Units of a duration, largest first (formatting picks the largest exact one).
const DURATION_UNITS: [(&str, u128); 6] = [
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// Units of a size; every one is a power of 1024.
const SIZE_UNITS: [(&str, u32); 7] = [
    ("", 0),
    ("K", 1),
    ("KiB", 1),
    ("M", 2),
    ("MiB", 2),
    ("G", 3),
    ("GiB", 3),
];

/// Parse a duration: a whole number directly followed by `h`, `m`, `s`, `ms`, `us` or `ns`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let fail = || {
        format!(
            "invalid duration {text:?}: expected a whole number followed by h, m, s, ms, us \
             or ns (e.g. \"5s\")"
        )
    };
    let (number, unit) = split_number(text).ok_or_else(fail)?;
    let (_, factor) = DURATION_UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .ok_or_else(fail)?;
    let number: u128 = number.parse().map_err(|_| fail())?;
    let nanos = number
        .checked_mul(*factor)
        .ok_or_else(|| format!("invalid duration {text:?}: too large"))?;
    let secs = u64::try_from(nanos / 1_000_000_000)
        .map_err(|_| format!("invalid duration {text:?}: too large"))?;
    // The remainder is below 10^9 and fits.
    let subsec = (nanos % 1_000_000_000) as u32;
    Ok(Duration::new(secs, subsec))
}

/// Format a duration with the largest unit that represents it exactly (`"5s"`, `"1500ms"`).
pub fn format_duration(duration: &Duration) -> String {
    let nanos = duration.as_nanos();
    for (name, factor) in DURATION_UNITS {
        if let Some(count) = nanos.checked_div(factor) {
            if nanos.is_multiple_of(factor) {
                return format!("{count}{name}");
            }
        }
    }
    format!("{nanos}ns")
}

/// Parse a size: a whole number of bytes, optionally followed by `K`, `M`, `G` (or `KiB`,
/// `MiB`, `GiB`), all multiples of 1024.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let fail = || {
        format!(
            "invalid size {text:?}: expected a whole number of bytes, optionally followed by \
             K, M or G (multiples of 1024, e.g. \"64K\")"
        )
    };
    let (number, unit) = split_number(text).ok_or_else(fail)?;
    let (_, power) = SIZE_UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .ok_or_else(fail)?;
    let number: u64 = number.parse().map_err(|_| fail())?;
    1024u64
        .checked_pow(*power)
        .and_then(|factor| number.checked_mul(factor))
        .ok_or_else(|| format!("invalid size {text:?}: too large"))
}

/// Split `"123abc"` into `("123", "abc")`; `None` without leading digits.
fn split_number(text: &str) -> Option<(&str, &str)> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    (end > 0).then(|| text.split_at(end))
}

/// Serde glue for a `Duration` written as a string.
pub mod duration {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string such as \"5s\", \"500ms\" or \"2m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                parse_duration(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// Serde glue for a size in bytes written as an integer or a string with a unit.
pub mod size {
    use super::*;

    struct V;
    impl de::Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a size: an integer number of bytes or a string such as \"64K\"")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("invalid size {v}: negative")))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            parse_size(v).map_err(E::custom)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(V)
    }

    /// For `Option<u64>` fields with `#[serde(default)]`: present means `Some`.
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(value: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
            match value {
                Some(v) => s.serialize_some(v),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
            d.deserialize_any(V).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("7us"), Ok(Duration::from_micros(7)));
        assert_eq!(parse_duration("9ns"), Ok(Duration::from_nanos(9)));
        for bad in [
            "",
            "5",
            "s",
            "5 s",
            "-5s",
            "5x",
            "1.5s",
            " 5s",
            "5S",
            "99999999999999999999999h",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.starts_with("invalid duration"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn durations_format_exactly() {
        for (text, value) in [
            ("5s", Duration::from_secs(5)),
            ("1500ms", Duration::from_millis(1500)),
            ("2m", Duration::from_secs(120)),
            ("1h", Duration::from_secs(3600)),
            ("0h", Duration::ZERO),
            ("1001us", Duration::from_micros(1001)),
            ("3ns", Duration::from_nanos(3)),
        ] {
            assert_eq!(format_duration(&value), text);
            assert_eq!(parse_duration(text), Ok(value));
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("3MiB"), Ok(3 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("0"), Ok(0));
        for bad in [
            "",
            "K",
            "64k",
            "64 K",
            "64KB",
            "1.5M",
            "-1",
            "64T",
            "99999999999G",
        ] {
            let err = parse_size(bad).unwrap_err();
            assert!(err.starts_with("invalid size"), "{bad:?}: {err}");
        }
    }
}
