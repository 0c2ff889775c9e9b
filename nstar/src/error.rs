//! Error reporting: the whole source chain on one line, without repeating itself.
//!
//! npk's errors follow the house style of naming their context *and* embedding the
//! source's message in their own (`hello.npk: signature.yaml: signature does not
//! verify`), while also returning the source from `source()`. Printing every level would
//! repeat text, so a level is printed only when its message is not already part of the
//! text printed so far.

use std::{error::Error, fmt, io};

/// The command has already printed why it failed (e.g. `verify`'s list of checks, or
/// `manifest check`'s diagnostics): exit with 1 without printing anything more.
#[derive(Debug)]
pub struct Reported;

impl fmt::Display for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("failure already reported")
    }
}

impl Error for Reported {}

/// Writing to stdout failed. A closed pipe (`nstar inspect x.npk | head`) ends the command
/// quietly, with exit status 1 since it did not finish; anything else is reported.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to stdout")]
pub struct Stdout(#[source] pub io::Error);

impl Stdout {
    /// Whether the reader of stdout went away.
    pub fn is_broken_pipe(&self) -> bool {
        self.0.kind() == io::ErrorKind::BrokenPipe
    }
}

/// `error: cause: cause ...`, each level once.
pub fn chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !message.is_empty() && !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrap(&'static str, Option<Box<Wrap>>);
    impl fmt::Display for Wrap {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl Error for Wrap {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    #[test]
    fn embedded_sources_are_not_repeated() {
        let inner = Wrap("line 3: uid: missing", None);
        let outer = Wrap("m.yaml: line 3: uid: missing", Some(Box::new(inner)));
        assert_eq!(chain(&outer), "m.yaml: line 3: uid: missing");
    }

    #[test]
    fn plain_sources_are_appended() {
        let inner = Wrap("permission denied", None);
        let outer = Wrap("cannot create out/", Some(Box::new(inner)));
        assert_eq!(chain(&outer), "cannot create out/: permission denied");
    }
}
