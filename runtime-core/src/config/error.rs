//! Errors of the configuration: reading the file, TOML syntax and types, validation rules.
//! Each names the file (when there is one), the line and the key.

use std::{fmt, io, path::PathBuf};

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file is larger than [`super::MAX_FILE_SIZE`].
    #[error("{}: larger than {limit} bytes", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    /// Not TOML, or TOML that does not fit the schema (unknown key, wrong type, bad value).
    #[error("{}", Located { file: Some(file), line: *line, key: key.as_deref(), message })]
    Parse {
        file: PathBuf,
        line: Option<usize>,
        key: Option<String>,
        message: String,
    },
    /// Well-formed, but a rule is broken. `file` and `line` are known when the
    /// configuration came from text.
    #[error("{}", Located { file: file.as_ref(), line: *line, key: Some(key), message })]
    Invalid {
        file: Option<PathBuf>,
        line: Option<usize>,
        key: String,
        message: String,
    },
}

impl Error {
    /// The line the error is about, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            Error::Parse { line, .. } | Error::Invalid { line, .. } => *line,
            Error::Read { .. } | Error::TooLarge { .. } => None,
        }
    }

    /// The key path (`repositories.apps.dir`) the error is about, when known.
    pub fn key(&self) -> Option<&str> {
        match self {
            Error::Parse { key, .. } => key.as_deref(),
            Error::Invalid { key, .. } => Some(key),
            Error::Read { .. } | Error::TooLarge { .. } => None,
        }
    }
}

/// `file: line N: key: message`, leaving out what is unknown.
struct Located<'a> {
    file: Option<&'a PathBuf>,
    line: Option<usize>,
    key: Option<&'a str>,
    message: &'a str,
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = self.file {
            write!(f, "{}: ", file.display())?;
        }
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if let Some(key) = self.key.filter(|k| !k.is_empty()) {
            write!(f, "{key}: ")?;
        }
        f.write_str(self.message)
    }
}
