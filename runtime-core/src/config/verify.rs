//! The `[verify]` section: checking installed packages in full, off the boot path.

use super::units;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::{fmt, time::Duration};

/// Shortest `scrub_interval` accepted: a check reads every installed package.
pub const MIN_SCRUB_INTERVAL: Duration = Duration::from_secs(1);

/// Settings of the checks of installed packages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerifyConfig {
    /// Check every installed package in full this often, the first time one interval
    /// after the runtime started, the next one interval after the previous check ended.
    /// Absent: never (a check is then only done on request).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_interval",
        deserialize_with = "deserialize_interval"
    )]
    pub scrub_interval: Option<Duration>,
}

fn serialize_interval<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(d) => s.serialize_str(&units::format_duration(d)),
        None => s.serialize_none(),
    }
}

fn deserialize_interval<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    struct V;
    impl de::Visitor<'_> for V {
        type Value = Option<Duration>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a duration string such as \"24h\" or \"90m\"")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<Duration>, E> {
            units::parse_duration(v).map(Some).map_err(E::custom)
        }
    }
    d.deserialize_str(V)
}

/// The rule of `[verify]`: an interval of at least [`MIN_SCRUB_INTERVAL`].
pub(super) fn check(verify: &VerifyConfig) -> Result<(), String> {
    match verify.scrub_interval {
        Some(interval) if interval < MIN_SCRUB_INTERVAL => Err(format!(
            "{} is shorter than the minimum of 1s",
            units::format_duration(&interval)
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use std::{path::Path, time::Duration};

    fn parse(text: &str) -> Result<Config, super::super::Error> {
        Config::from_toml_str(text, Path::new("runtime.toml"))
    }

    #[test]
    fn off_by_default_and_a_duration_when_set() {
        assert_eq!(parse("").unwrap().verify.scrub_interval, None);
        assert_eq!(parse("[verify]\n").unwrap().verify.scrub_interval, None);
        let config = parse("[verify]\nscrub_interval = \"24h\"\n").unwrap();
        assert_eq!(
            config.verify.scrub_interval,
            Some(Duration::from_secs(24 * 3600))
        );
        // Written back as read.
        let text = toml::to_string(&config).unwrap();
        assert!(text.contains("scrub_interval = \"24h\""), "{text}");
        assert_eq!(parse(&text).unwrap(), config);
    }

    #[test]
    fn bad_values_name_the_key() {
        let interval = Some("verify.scrub_interval");
        for (text, at, expected) in [
            (
                "[verify]\nscrub_interval = \"500ms\"\n",
                interval,
                "shorter than",
            ),
            (
                "[verify]\nscrub_interval = \"0s\"\n",
                interval,
                "shorter than",
            ),
            ("[verify]\nscrub_interval = 3600\n", interval, "duration"),
            (
                "[verify]\nscrub_interval = \"daily\"\n",
                interval,
                "invalid duration",
            ),
            (
                "[verify]\nscrub = \"1h\"\n",
                Some("verify.scrub"),
                "unknown field",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.key(), at, "{text}: {e}");
            assert!(e.to_string().contains(expected), "{text}: {e}");
        }
    }
}
