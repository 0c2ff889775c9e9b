//! Value types of the protocol. Each checks its rules when it is constructed, including
//! when it is parsed from a frame, so a value of the type is always valid.

use npk::manifest::{limits, Name, Version};
use serde::{de, Deserialize, Deserializer, Serialize};
use std::{collections::BTreeMap, fmt, str::FromStr, time::Duration};

/// A value that breaks its type's rules.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {reason}")]
pub struct InvalidValue {
    /// The kind of value (`container`, `signal`, ...).
    pub what: &'static str,
    /// The value as given, shortened to 64 characters.
    pub value: String,
    /// The broken rule.
    pub reason: String,
}

impl InvalidValue {
    pub(crate) fn new(
        what: &'static str,
        value: impl fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        let mut value = value.to_string();
        if let Some((cut, _)) = value.char_indices().nth(64) {
            value.truncate(cut);
            value.push('…');
        }
        InvalidValue {
            what,
            value,
            reason: reason.into(),
        }
    }
}

/// The identifier a client gives a request; the server echoes it in the response (and in
/// the `log` frames of a followed log), so responses and notifications can interleave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A container: a package's name and version, written `"name:version"` on the wire.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct ContainerId {
    /// Package name.
    pub name: Name,
    /// Package version.
    pub version: Version,
}

impl ContainerId {
    /// The container of this name and version.
    pub fn new(name: Name, version: Version) -> ContainerId {
        ContainerId { name, version }
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.version)
    }
}

impl FromStr for ContainerId {
    type Err = InvalidValue;
    fn from_str(text: &str) -> Result<ContainerId, InvalidValue> {
        let fail = |reason: String| InvalidValue::new("container", text, reason);
        let (name, version) = text
            .split_once(':')
            .ok_or_else(|| fail("expected name:version".into()))?;
        if version.trim() != version {
            return Err(fail("white space around the version".into()));
        }
        let name = Name::new(name).map_err(fail)?;
        let version = Version::new_from_str(version).map_err(fail)?;
        Ok(ContainerId { name, version })
    }
}

impl From<ContainerId> for String {
    fn from(id: ContainerId) -> String {
        id.to_string()
    }
}

impl TryFrom<String> for ContainerId {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<ContainerId, InvalidValue> {
        s.parse()
    }
}

/// The name of a repository of the runtime configuration: 1 to 64 characters of
/// `A-Z a-z 0-9 . _ -` (the configuration's rule).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct RepositoryName(String);

impl RepositoryName {
    /// Longest repository name.
    pub const MAX_LEN: usize = 64;

    /// Validate `name`.
    pub fn new(name: &str) -> Result<RepositoryName, InvalidValue> {
        let fail = |reason| Err(InvalidValue::new("repository", name, reason));
        if name.is_empty() || name.len() > Self::MAX_LEN {
            return fail("expected 1 to 64 characters");
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return fail("allowed characters: A-Z a-z 0-9 . _ -");
        }
        Ok(RepositoryName(name.to_string()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<RepositoryName> for String {
    fn from(name: RepositoryName) -> String {
        name.0
    }
}

impl TryFrom<String> for RepositoryName {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<RepositoryName, InvalidValue> {
        RepositoryName::new(&s)
    }
}

/// How a client names itself in the handshake (for the server's log): 1 to 128 bytes,
/// no control characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct ClientName(String);

impl ClientName {
    /// Longest client name, in bytes.
    pub const MAX_LEN: usize = 128;

    /// Validate `name`.
    pub fn new(name: &str) -> Result<ClientName, InvalidValue> {
        let fail = |reason| Err(InvalidValue::new("client name", name, reason));
        if name.is_empty() || name.len() > Self::MAX_LEN {
            return fail("expected 1 to 128 bytes");
        }
        if name.chars().any(char::is_control) {
            return fail("must not contain control characters");
        }
        Ok(ClientName(name.to_string()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ClientName> for String {
    fn from(name: ClientName) -> String {
        name.0
    }
}

impl TryFrom<String> for ClientName {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<ClientName, InvalidValue> {
        ClientName::new(&s)
    }
}

/// A signal number, 1 to 64 (Linux numbering: the same on every supported target).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "i32", try_from = "i32")]
pub struct Signal(i32);

impl Signal {
    /// `SIGKILL`.
    pub const KILL: Signal = Signal(9);
    /// `SIGTERM`.
    pub const TERM: Signal = Signal(15);
    /// Highest signal number (`SIGRTMAX`).
    pub const MAX: i32 = 64;

    /// Validate `number`.
    pub fn new(number: i32) -> Result<Signal, InvalidValue> {
        if (1..=Self::MAX).contains(&number) {
            Ok(Signal(number))
        } else {
            Err(InvalidValue::new("signal", number, "expected 1 to 64"))
        }
    }

    /// The number.
    pub fn number(self) -> i32 {
        self.0
    }
}

impl From<Signal> for i32 {
    fn from(s: Signal) -> i32 {
        s.0
    }
}

impl TryFrom<i32> for Signal {
    type Error = InvalidValue;
    fn try_from(number: i32) -> Result<Signal, InvalidValue> {
        Signal::new(number)
    }
}

/// The grace period of a stop, in milliseconds on the wire: 0 to one hour (the
/// configuration's `stop_timeout` range).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "u64", try_from = "u64")]
pub struct StopTimeout(u64);

impl StopTimeout {
    /// Longest grace period, in milliseconds.
    pub const MAX_MS: u64 = 3_600_000;

    /// Validate a grace period in milliseconds.
    pub fn from_millis(ms: u64) -> Result<StopTimeout, InvalidValue> {
        if ms <= Self::MAX_MS {
            Ok(StopTimeout(ms))
        } else {
            Err(InvalidValue::new(
                "stop timeout",
                format!("{ms}ms"),
                "longer than one hour",
            ))
        }
    }

    /// The grace period.
    pub fn as_duration(self) -> Duration {
        Duration::from_millis(self.0)
    }

    /// In milliseconds.
    pub fn as_millis(self) -> u64 {
        self.0
    }
}

impl From<StopTimeout> for u64 {
    fn from(t: StopTimeout) -> u64 {
        t.0
    }
}

impl TryFrom<u64> for StopTimeout {
    type Error = InvalidValue;
    fn try_from(ms: u64) -> Result<StopTimeout, InvalidValue> {
        StopTimeout::from_millis(ms)
    }
}

/// The SHA-256 digest of a package, 64 hexadecimal digits on the wire (written in lower
/// case, read in either case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Sha256(pub [u8; 32]);

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl FromStr for Sha256 {
    type Err = InvalidValue;
    fn from_str(text: &str) -> Result<Sha256, InvalidValue> {
        let mut digest = [0u8; 32];
        hex::decode_to_slice(text, &mut digest)
            .map_err(|_| InvalidValue::new("sha256", text, "expected 64 hexadecimal digits"))?;
        Ok(Sha256(digest))
    }
}

impl From<Sha256> for String {
    fn from(d: Sha256) -> String {
        d.to_string()
    }
}

impl TryFrom<String> for Sha256 {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Sha256, InvalidValue> {
        s.parse()
    }
}

/// Arguments that replace a manifest's `args` for one start: the manifest's rules (at
/// most 256, each at most 4096 bytes, no NUL).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "Vec<String>", try_from = "Vec<String>")]
pub struct Args(Vec<String>);

impl Args {
    /// Validate `args`.
    pub fn new(args: Vec<String>) -> Result<Args, InvalidValue> {
        if args.len() > limits::MAX_ARGS {
            return Err(InvalidValue::new(
                "args",
                format!("{} arguments", args.len()),
                format!("more than {}", limits::MAX_ARGS),
            ));
        }
        for (i, arg) in args.iter().enumerate() {
            let fail = |reason| Err(InvalidValue::new("args", format!("[{i}] {arg}"), reason));
            if arg.contains('\0') {
                return fail("must not contain a NUL byte".to_string());
            }
            if arg.len() > limits::MAX_ARG_LEN {
                return fail(format!("longer than {} bytes", limits::MAX_ARG_LEN));
            }
        }
        Ok(Args(args))
    }

    /// The arguments.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

impl From<Args> for Vec<String> {
    fn from(a: Args) -> Vec<String> {
        a.0
    }
}

impl TryFrom<Vec<String>> for Args {
    type Error = InvalidValue;
    fn try_from(args: Vec<String>) -> Result<Args, InvalidValue> {
        Args::new(args)
    }
}

/// Environment variables added to (or replacing those of) a manifest's `env` for one
/// start: the manifest's rules (at most 64; names 1 to 64 bytes without `=`, white space
/// or control characters, not starting with `NORTHSTAR_`; values at most 1024 bytes
/// without NUL; 32 KiB together). A name given twice is refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    /// Validate `env`.
    pub fn new(env: BTreeMap<String, String>) -> Result<Env, InvalidValue> {
        use limits::*;
        if env.len() > MAX_ENV_VARS {
            return Err(InvalidValue::new(
                "env",
                format!("{} variables", env.len()),
                format!("more than {MAX_ENV_VARS}"),
            ));
        }
        let mut total = 0;
        for (key, value) in &env {
            let fail = |reason: String| Err(InvalidValue::new("env", key, reason));
            if key.is_empty() || key.len() > MAX_ENV_KEY_LEN {
                return fail(format!("name: expected 1 to {MAX_ENV_KEY_LEN} bytes"));
            }
            if let Some(c) = key
                .chars()
                .find(|c| *c == '=' || c.is_control() || c.is_whitespace())
            {
                return fail(format!("name must not contain {c:?}"));
            }
            if key.starts_with(RESERVED_ENV_PREFIX) {
                return fail(format!(
                    "names starting with {RESERVED_ENV_PREFIX} are reserved for the runtime"
                ));
            }
            if value.contains('\0') {
                return fail("value must not contain a NUL byte".into());
            }
            if value.len() > MAX_ENV_VALUE_LEN {
                return fail(format!("value is longer than {MAX_ENV_VALUE_LEN} bytes"));
            }
            total += key.len() + value.len() + 2;
        }
        if total > MAX_ENV_TOTAL {
            return Err(InvalidValue::new(
                "env",
                format!("{total} bytes"),
                format!("larger than {MAX_ENV_TOTAL} bytes in total"),
            ));
        }
        Ok(Env(env))
    }

    /// The variables.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

impl From<Env> for BTreeMap<String, String> {
    fn from(e: Env) -> BTreeMap<String, String> {
        e.0
    }
}

impl<'de> Deserialize<'de> for Env {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Env, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Env;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of environment variables")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Env, A::Error> {
                let mut env = BTreeMap::new();
                while let Some((key, value)) = map.next_entry::<String, String>()? {
                    // Refuse at the first variable too many, not after collecting them all.
                    if env.len() == limits::MAX_ENV_VARS {
                        return Err(de::Error::custom(format!(
                            "env: more than {} variables",
                            limits::MAX_ENV_VARS
                        )));
                    }
                    if env.contains_key(&key) {
                        return Err(de::Error::custom(format!(
                            "env: variable {key:?} given twice"
                        )));
                    }
                    env.insert(key, value);
                }
                Env::new(env).map_err(de::Error::custom)
            }
        }
        d.deserialize_map(V)
    }
}

/// How a container's program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExitStatus {
    /// It exited with this code.
    Exit {
        /// The exit code.
        code: i32,
    },
    /// It was killed by this signal.
    Signal {
        /// The signal number.
        signal: i32,
    },
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Exit { code } => write!(f, "exit code {code}"),
            ExitStatus::Signal { signal } => write!(f, "signal {signal}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_id() {
        let id: ContainerId = "hello-world:0.0.1".parse().unwrap();
        assert_eq!(id.to_string(), "hello-world:0.0.1");
        for bad in [
            "hello",
            "hello:x",
            "../x:1.0.0",
            "hello: 1.0.0",
            ":1.0.0",
            "a:1.0.0-rc1",
        ] {
            assert!(bad.parse::<ContainerId>().is_err(), "{bad:?}");
        }
        let json: Result<ContainerId, _> = serde_json::from_str("\"a/b:1.0.0\"");
        assert!(json.unwrap_err().to_string().contains("invalid container"));
    }

    #[test]
    fn repository_name() {
        assert!(RepositoryName::new("default").is_ok());
        assert!(RepositoryName::new(&"a".repeat(64)).is_ok());
        for bad in ["", "a/b", "a b", &"a".repeat(65)] {
            assert!(RepositoryName::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn signal_and_timeout() {
        assert_eq!(Signal::new(15).unwrap(), Signal::TERM);
        assert!(Signal::new(0).is_err());
        assert!(Signal::new(65).is_err());
        assert!(serde_json::from_str::<Signal>("-9").is_err());
        assert!(StopTimeout::from_millis(StopTimeout::MAX_MS).is_ok());
        assert!(serde_json::from_str::<StopTimeout>("3600001").is_err());
    }

    #[test]
    fn sha256() {
        let text = "ab".repeat(32);
        let d: Sha256 = text.to_uppercase().parse().unwrap();
        assert_eq!(d.to_string(), text);
        assert!("ab".parse::<Sha256>().is_err());
        assert!("zz".repeat(32).parse::<Sha256>().is_err());
    }

    #[test]
    fn args() {
        assert!(Args::new(vec!["a".into(); limits::MAX_ARGS]).is_ok());
        assert!(Args::new(vec!["a".into(); limits::MAX_ARGS + 1]).is_err());
        assert!(Args::new(vec!["a\0b".into()]).is_err());
        assert!(Args::new(vec!["a".repeat(limits::MAX_ARG_LEN + 1)]).is_err());
    }

    #[test]
    fn env() {
        let parse = |json: &str| serde_json::from_str::<Env>(json);
        assert_eq!(parse(r#"{"A":"1","B":""}"#).unwrap().as_map().len(), 2);
        let duplicate = parse(r#"{"A":"1","A":"2"}"#).unwrap_err().to_string();
        assert!(duplicate.contains("given twice"), "{duplicate}");
        for bad in [
            r#"{"":"x"}"#,
            r#"{"A=B":"x"}"#,
            r#"{"A B":"x"}"#,
            r#"{"NORTHSTAR_NAME":"x"}"#,
            r#"{"A":"x\u0000"}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let many: BTreeMap<String, String> = (0..=limits::MAX_ENV_VARS)
            .map(|i| (format!("V{i}"), String::new()))
            .collect();
        assert!(Env::new(many).is_err());
        let big: BTreeMap<String, String> = (0..40)
            .map(|i| (format!("V{i}"), "x".repeat(1000)))
            .collect();
        assert!(Env::new(big).is_err(), "over 32 KiB together");
    }

    #[test]
    fn long_values_are_shortened_in_errors() {
        let e = ClientName::new(&"x".repeat(1000)).unwrap_err();
        assert!(e.to_string().len() < 200, "{e}");
    }
}
