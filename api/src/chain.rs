//! How an error and its sources are written in one line, the same in every message of the
//! project: the runtime's errors in API answers and logs, the init's log, `nstar`'s output.

use std::error::Error;

/// `error: source: source ...`. A source whose text the message already contains (an error
/// that shows its source in its own message) is not repeated, nor is an empty one.
pub fn chain(error: &dyn Error) -> String {
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
    use std::fmt;

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
    fn plain_sources_are_appended_in_order() {
        let io = Wrap("permission denied", None);
        let middle = Wrap("cannot create out/", Some(Box::new(io)));
        let outer = Wrap("pack", Some(Box::new(middle)));
        assert_eq!(chain(&outer), "pack: cannot create out/: permission denied");
    }

    #[test]
    fn empty_sources_add_nothing() {
        let outer = Wrap("stopped", Some(Box::new(Wrap("", None))));
        assert_eq!(chain(&outer), "stopped");
    }
}
