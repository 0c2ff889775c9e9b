//! The kernel command line (`/proc/cmdline`): parameters split as the kernel splits them,
//! and the `northstar.*` keys collected for the board configuration.
//!
//! Splitting follows the kernel's `next_arg`: parameters are separated by white space
//! outside double quotes; a parameter may be quoted as a whole (`"key=a b"`) or only its
//! value (`key="a b"`), and those enclosing quotes are removed. The `--` that separates
//! the init's own arguments is skipped; what follows it is read like the rest.

use std::{fs, io, path::Path};

/// Prefix of the keys that belong to the init.
pub const PREFIX: &str = "northstar.";

/// `/proc/cmdline` could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}")]
pub struct Error {
    path: String,
    #[source]
    source: io::Error,
}

/// One `northstar.*` parameter: the key without the prefix and its value, if it had one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub key: String,
    pub value: Option<String>,
}

/// The parsed command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cmdline {
    params: Vec<(String, Option<String>)>,
}

impl Cmdline {
    /// Read and parse `path` (`/proc/cmdline`).
    pub fn read(path: &Path) -> Result<Cmdline, Error> {
        fs::read_to_string(path)
            .map(|text| Cmdline::parse(&text))
            .map_err(|source| Error {
                path: path.display().to_string(),
                source,
            })
    }

    /// Parse the text of a command line.
    pub fn parse(text: &str) -> Cmdline {
        let params = split(text)
            .into_iter()
            .filter(|token| token != "--")
            .map(|token| param(&token))
            .filter(|(name, _)| !name.is_empty())
            .collect();
        Cmdline { params }
    }

    /// Every parameter in order: name and value (`None` for a bare word).
    #[cfg(test)]
    pub fn params(&self) -> &[(String, Option<String>)] {
        &self.params
    }

    /// The value of parameter `name` (the last one given), if it has one.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// The `northstar.*` parameters in order, prefix removed. A key given twice appears
    /// twice; applied in order, the last one wins.
    pub fn northstar(&self) -> Vec<Param> {
        self.params
            .iter()
            .filter_map(|(name, value)| {
                name.strip_prefix(PREFIX).map(|key| Param {
                    key: key.to_string(),
                    value: value.clone(),
                })
            })
            .collect()
    }
}

/// Split at white space outside double quotes; quotes are kept for [`param`].
fn split(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut in_quote = false;
    for c in text.chars() {
        if c.is_whitespace() && !in_quote {
            if !current.is_empty() {
                tokens.push(std::mem::take(&mut current));
            }
            continue;
        }
        if c == '"' {
            in_quote = !in_quote;
        }
        current.push(c);
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// One token into name and value, removing the enclosing quotes as the kernel does.
fn param(token: &str) -> (String, Option<String>) {
    let (quoted, body) = match token.strip_prefix('"') {
        Some(rest) => (true, rest),
        None => (false, token),
    };
    match body.split_once('=') {
        None => {
            let name = if quoted {
                body.strip_suffix('"').unwrap_or(body)
            } else {
                body
            };
            (name.to_string(), None)
        }
        Some((name, value)) => {
            let value = match value.strip_prefix('"') {
                Some(inner) => inner.strip_suffix('"').unwrap_or(inner),
                None if quoted => value.strip_suffix('"').unwrap_or(value),
                None => value,
            };
            (name.to_string(), Some(value.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(text: &str) -> Vec<(String, Option<String>)> {
        Cmdline::parse(text).params().to_vec()
    }

    fn p(name: &str, value: Option<&str>) -> (String, Option<String>) {
        (name.to_string(), value.map(str::to_string))
    }

    #[test]
    fn plain_parameters() {
        assert_eq!(
            params("console=ttyS0 panic=-1 quiet root=/dev/vda\n"),
            vec![
                p("console", Some("ttyS0")),
                p("panic", Some("-1")),
                p("quiet", None),
                p("root", Some("/dev/vda")),
            ]
        );
        assert_eq!(params("  \n\t "), vec![]);
        assert_eq!(
            params("a= b==c"),
            vec![p("a", Some("")), p("b", Some("=c"))]
        );
    }

    #[test]
    fn quoted_values_and_parameters() {
        assert_eq!(
            params(r#"northstar.name="my board" x=1"#),
            vec![p("northstar.name", Some("my board")), p("x", Some("1"))]
        );
        assert_eq!(
            params(r#""northstar.name=a  b" y"#),
            vec![p("northstar.name", Some("a  b")), p("y", None)]
        );
        assert_eq!(params(r#""lonely word""#), vec![p("lonely word", None)]);
        // Quotes inside a value that does not start with one stay, as in the kernel.
        assert_eq!(params(r#"a=x"y z"w"#), vec![p("a", Some(r#"x"y z"w"#))]);
        // An unterminated quote runs to the end of the line.
        assert_eq!(params(r#"a="open end"#), vec![p("a", Some("open end"))]);
    }

    #[test]
    fn northstar_keys_in_order() {
        let cmdline = Cmdline::parse(
            "console=ttyAMA0 northstar.reaction=hold northstar.data.device=/dev/sda2 \
             -- northstar.reaction=reboot northstar.bare",
        );
        let keys: Vec<_> = cmdline
            .northstar()
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect();
        assert_eq!(
            keys,
            vec![
                p("reaction", Some("hold")),
                p("data.device", Some("/dev/sda2")),
                p("reaction", Some("reboot")),
                p("bare", None),
            ]
        );
        assert_eq!(cmdline.value("northstar.reaction"), Some("reboot"));
        assert_eq!(cmdline.value("northstar.bare"), None);
        assert_eq!(cmdline.value("console"), Some("ttyAMA0"));
        assert!(Cmdline::parse("northstarx=1 northstar=2")
            .northstar()
            .is_empty());
    }
}
