//! Console limits out of every documented range, as a manifest that escaped validation
//! would give them: the server caps them where it computes deadlines, and a panic in its
//! thread (which would end PID 1) never happens.

use super::*;
use npk::manifest::{Console, Permissions};
use runtime_core::server::Event;
use std::os::unix::net::UnixStream;

#[test]
fn a_console_with_an_overlong_stream_timeout_keeps_the_server_serving() {
    let mut world = World::new();
    let served = Served::start(&mut world, "", "", TestHost::default());
    let (ours, theirs) = UnixStream::pair().unwrap();
    let console = Console {
        permissions: Permissions::full(),
        max_requests_per_sec: Some(u64::MAX),
        max_request_size: Some(u64::MAX),
        max_npk_install_size: Some(u64::MAX),
        npk_stream_timeout: Some(u64::MAX),
    };
    served
        .server
        .as_ref()
        .unwrap()
        .inbox()
        .send(Event::Console {
            id: "console:0.0.1".parse().unwrap(),
            console,
            fd: ours.into(),
        });
    let mut c = Client::from_stream(theirs);
    c.hello();
    // Refused with bytes announced: the server reads and drops them until the install
    // deadline, `npk_stream_timeout` (2^64 s) after now, capped.
    let id = c.send_request(Request::Install {
        repository: repo("nonesuch"),
        size: 1000,
        sha256: None,
    });
    let e = c.answer(id).unwrap_err();
    assert!(matches!(e, ApiError::RepositoryNotFound { .. }), "{e:?}");
    // The server still serves a new connection...
    let mut other = served.connect();
    other.hello();
    let id = other.send_request(Request::List {});
    assert!(other.answer(id).is_ok());
    // ...and the console, once the announced bytes have passed.
    c.stream.write_all(&[0u8; 1000]).unwrap();
    let id = c.send_request(Request::List {});
    assert!(c.answer(id).is_ok());
}
