//! Ordering RAUC versions.
//!
//! RAUC treats `[update] version=` as an opaque string. For "is this bundle newer" we use
//! a semver-like order that also accepts versions that are not semver:
//!
//! - `+build` suffixes are ignored;
//! - the rest splits at the first `-` into a release and a pre-release; a version with a
//!   pre-release sorts before the same release without one (`1.0-rc1 < 1.0`);
//! - both parts split at `.` into fields compared left to right: two numeric fields
//!   compare as numbers (leading zeros ignored), a numeric field sorts before a
//!   non-numeric one, non-numeric fields compare bytewise; a missing field sorts before
//!   any present one (`1.0 < 1.0.0 < 1.0.1`).

use std::cmp::Ordering;

fn field_cmp(a: &str, b: &str) -> Ordering {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    match (numeric(a), numeric(b)) {
        (true, true) => {
            let a = a.trim_start_matches('0');
            let b = b.trim_start_matches('0');
            a.len().cmp(&b.len()).then_with(|| a.cmp(b))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

fn fields_cmp(a: &str, b: &str) -> Ordering {
    let mut a = a.split('.');
    let mut b = b.split('.');
    loop {
        match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match field_cmp(x, y) {
                Ordering::Equal => {}
                other => return other,
            },
        }
    }
}

/// Compares two RAUC version strings (see the module documentation).
pub fn compare(a: &str, b: &str) -> Ordering {
    let strip = |v: &str| v.split_once('+').map_or(v, |(v, _)| v).trim().to_owned();
    let (a, b) = (strip(a), strip(b));
    let (ra, pa) = a
        .split_once('-')
        .map_or((a.as_str(), None), |(r, p)| (r, Some(p)));
    let (rb, pb) = b
        .split_once('-')
        .map_or((b.as_str(), None), |(r, p)| (r, Some(p)));
    fields_cmp(ra, rb).then_with(|| match (pa, pb) {
        (None, None) => Ordering::Equal,
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(x), Some(y)) => fields_cmp(x, y),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn order() {
        let sorted = [
            "0.9",
            "1.0-alpha",
            "1.0-alpha.1",
            "1.0-beta",
            "1.0-rc.2",
            "1.0-rc.10",
            "1.0",
            "1.0.0",
            "1.0.1",
            "1.2",
            "1.10",
            "2",
            "2.a",
            "10.0",
        ];
        for (i, a) in sorted.iter().enumerate() {
            for (j, b) in sorted.iter().enumerate() {
                assert_eq!(compare(a, b), i.cmp(&j), "{a} vs {b}");
            }
        }
        assert_eq!(compare("1.02", "1.2"), Ordering::Equal);
        assert_eq!(compare("1.2+build5", "1.2+build6"), Ordering::Equal);
    }

    proptest! {
        #[test]
        fn antisymmetric(a in "[0-9a-c.+-]{0,8}", b in "[0-9a-c.+-]{0,8}") {
            prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
        }
    }
}
