//! The entry point of the fuzz target of the notify socket's datagrams (feature
//! `fuzzing`, never in a product build).

/// Parse `datagram` as the loop parses what a container sends on its notify socket, and
/// check the bounds the runtime relies on.
pub fn notify(datagram: &[u8]) {
    let message = super::notify::parse(datagram);
    let status = message.status.unwrap_or_default();
    assert!(status.len() <= super::notify::MAX_STATUS);
    assert!(!status.chars().any(char::is_control));
}
