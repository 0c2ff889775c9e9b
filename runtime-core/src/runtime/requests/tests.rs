use super::error_chain;

/// An error that names its cause only through `source()`.
#[derive(Debug, thiserror::Error)]
#[error("install into /data/repo")]
struct Outer(#[source] std::io::Error);

#[test]
fn error_chain_does_not_repeat_a_source_the_message_shows() {
    // npk's errors show their source in their message and return it from `source()`.
    let error = npk::package::Error {
        path: "/tmp/upload".into(),
        kind: npk::package::ErrorKind::Archive(npk::archive::Error::NoEndRecord),
    };
    assert_eq!(
        error_chain(&error),
        "/tmp/upload: archive: not a zip archive: no end-of-central-directory record"
    );
}

#[test]
fn error_chain_appends_a_source_the_message_does_not_show() {
    let error = Outer(std::io::Error::other("disk full"));
    assert_eq!(error_chain(&error), "install into /data/repo: disk full");
}
