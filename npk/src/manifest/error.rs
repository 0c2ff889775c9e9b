//! The one error type of the manifest module.

use std::fmt;

/// Why a manifest was rejected (or could not be written).
///
/// Displayed as `line 12: mounts./data.dir: must not contain ".."`: the caller prefixes the
/// file name. `line` is 1-based and present whenever the offending text could be located.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifest text is larger than [`super::MAX_MANIFEST_SIZE`].
    #[error("manifest is {size} bytes, larger than the limit of {limit} bytes")]
    TooLarge {
        /// Size of the text in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The YAML is malformed, or a value has the wrong type or shape, an unknown field, or a
    /// value that one of the validating types (name, version, paths, capabilities, ...) refused.
    #[error("{}{message}", Location(*.line, .field))]
    Parse {
        /// Dotted path of the field, e.g. `mounts./data.dir`; empty if unknown.
        field: String,
        /// 1-based line number.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// The manifest parsed but breaks a rule checked afterwards.
    #[error("{}{problem}", Location(*.line, .field))]
    Invalid {
        /// Dotted path of the field, e.g. `mounts./data.dir`.
        field: String,
        /// 1-based line number.
        line: Option<usize>,
        /// What is wrong.
        problem: String,
    },
    /// Serializing the manifest failed.
    #[error("failed to serialize the manifest: {0}")]
    Serialize(#[source] serde_yaml_ng::Error),
}

impl Error {
    /// The dotted field path the error is about, if known.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Parse { field, .. } | Error::Invalid { field, .. } if !field.is_empty() => {
                Some(field)
            }
            _ => None,
        }
    }

    /// The 1-based line of the manifest text the error is about, if known.
    pub fn line(&self) -> Option<usize> {
        match self {
            Error::Parse { line, .. } | Error::Invalid { line, .. } => *line,
            _ => None,
        }
    }

    /// Convert an error of the YAML parser, keeping its line and the field path it names.
    pub(crate) fn from_yaml(error: &serde_yaml_ng::Error, text: &str) -> Error {
        let mut message = error.to_string();
        let mut line = None;
        if let Some(location) = error.location() {
            if let Some(at) = message.rfind(" at line ") {
                message.truncate(at);
                line = Some(location.line());
            }
        }
        // serde_yaml_ng puts the path of the value in front: `mounts./data.dir: message`.
        let mut field = String::new();
        if let Some((path, rest)) = message.split_once(": ") {
            if !path.is_empty() && !path.contains(' ') {
                field = path.to_string();
                message = rest.to_string();
            }
        }
        // Name the unknown field itself, and find its line.
        if let Some(name) = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
        {
            let mut segments: Vec<&str> = if field.is_empty() {
                Vec::new()
            } else {
                field.split('.').collect()
            };
            segments.push(name);
            if let Some(found) = super::lines::find_line(text, &segments) {
                line = Some(found);
            }
            field = segments.join(".");
        }
        // Name a missing field too (it has no line of its own).
        if let Some(name) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            field = if field.is_empty() {
                name.to_string()
            } else {
                format!("{field}.{name}")
            };
        }
        Error::Parse {
            field,
            line,
            message,
        }
    }
}

/// The `line N: field: ` prefix of a message.
struct Location<'a>(Option<usize>, &'a str);

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.0 {
            write!(f, "line {line}: ")?;
        }
        if !self.1.is_empty() {
            write!(f, "{}: ", self.1)?;
        }
        Ok(())
    }
}
