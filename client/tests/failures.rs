//! Servers that refuse, hang, break frames or go away, and connections that cannot be
//! made: each gives a clear error of the right kind.

use northstar_client::{
    api::{
        ApiError, ClientMessage, Notification, Permissions, ProtocolVersion, RequestId, Response,
        ServerMessage, PROTOCOL_VERSION,
    },
    testing::FakeServer,
    Client, Error, ErrorKind, Options, TcpAuthentication,
};
use std::{
    net::TcpListener,
    time::{Duration, Instant},
};

/// Timeouts that a working server always meets, even on a loaded machine.
fn quick() -> Options {
    Options {
        connect_timeout: Some(Duration::from_secs(10)),
        request_timeout: Some(Duration::from_secs(10)),
        ..Options::default()
    }
}

/// A short request timeout, for servers that do not answer.
fn hurried() -> Options {
    Options {
        request_timeout: Some(Duration::from_millis(300)),
        ..quick()
    }
}

#[test]
fn version_mismatch_names_the_server_version() {
    let server = FakeServer::start(|mut peer| {
        let _ = peer.welcome_as(ProtocolVersion::new(2, 0), Permissions::all());
    })
    .unwrap();
    let error = Client::connect(&server.url(), quick()).unwrap_err();
    match &error {
        Error::VersionMismatch { server, client } => {
            assert_eq!(*server, ProtocolVersion::new(2, 0));
            assert_eq!(*client, PROTOCOL_VERSION);
        }
        other => panic!("expected a version mismatch, got {other:?}"),
    }
    assert_eq!(error.kind(), ErrorKind::Connection);
    assert!(error.to_string().contains("it speaks 2.0"), "{error}");
}

#[test]
fn a_newer_minor_server_is_accepted() {
    // The server speaks 1.5 and accepts our 1.0: the connection speaks 1.0.
    let server = FakeServer::start(|mut peer| {
        if peer
            .welcome_as(ProtocolVersion::new(1, 5), Permissions::all())
            .unwrap()
        {
            let (id, _) = peer.request().unwrap().unwrap();
            peer.answer(id, Ok(Response::Ok {})).unwrap();
        }
    })
    .unwrap();
    let mut client = Client::connect(&server.url(), quick()).unwrap();
    assert_eq!(client.server_version(), ProtocolVersion::new(1, 5));
    client.subscribe().unwrap();
}

#[test]
fn a_refused_handshake_carries_the_error() {
    let server = FakeServer::start(|mut peer| {
        let _ = peer.hello();
        let busy = ApiError::Busy {
            reason: "too many connections".into(),
        };
        let _ = peer.send(&ServerMessage::error(None, busy));
    })
    .unwrap();
    let error = Client::connect(&server.url(), quick()).unwrap_err();
    assert_eq!(error.api_error().map(ApiError::code), Some("busy"));
    assert_eq!(error.to_string(), "handshake: busy: too many connections");
}

#[test]
fn a_server_that_never_answers_times_out() {
    let server = FakeServer::start(|mut peer| {
        if peer.welcome(Permissions::all()).unwrap() {
            peer.wait_closed();
        }
    })
    .unwrap();
    let mut client = Client::connect(&server.url(), hurried()).unwrap();
    let begin = Instant::now();
    let error = client.list().unwrap_err();
    let waited = begin.elapsed();
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert_eq!(
        error.to_string(),
        "timed out after 300ms waiting for the answer to `list`"
    );
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
}

#[test]
fn a_server_that_never_welcomes_times_out() {
    let server = FakeServer::start(|mut peer| peer.wait_closed()).unwrap();
    let options = Options {
        connect_timeout: Some(Duration::from_millis(300)),
        ..quick()
    };
    let error = Client::connect(&server.url(), options).unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert!(error.to_string().contains("the handshake"), "{error}");
}

#[test]
fn a_late_answer_after_a_timeout_is_dropped() {
    // The first answer comes after the client gave up; the second request must get its
    // own answer, not the late one.
    let server = FakeServer::start(|mut peer| {
        if !peer.welcome(Permissions::all()).unwrap() {
            return;
        }
        let (first, _) = peer.request().unwrap().unwrap();
        let (second, _) = peer.request().unwrap().unwrap();
        peer.answer(first, Ok(Response::Containers { containers: vec![] }))
            .unwrap();
        peer.answer(second, Ok(Response::Ok {})).unwrap();
        peer.wait_closed();
    })
    .unwrap();
    let mut client = Client::connect(&server.url(), hurried()).unwrap();
    assert!(client.list().unwrap_err().is_timeout());
    client.set_request_timeout(Some(Duration::from_secs(10)));
    client.subscribe().unwrap();
}

#[test]
fn a_server_closing_mid_answer_is_a_clear_error() {
    let server = FakeServer::start(|mut peer| {
        if !peer.welcome(Permissions::all()).unwrap() {
            return;
        }
        let (id, _) = peer.request().unwrap().unwrap();
        let frame = format!(r#"{{"type":"response","id":{id},"response":{{"type":"contai"#);
        peer.send_bytes(frame.as_bytes()).unwrap();
    })
    .unwrap();
    let mut client = Client::connect(&server.url(), quick()).unwrap();
    let error = client.list().unwrap_err();
    assert!(matches!(error, Error::Closed { .. }), "{error:?}");
    assert_eq!(error.kind(), ErrorKind::Connection);
    let text = error.to_string();
    assert!(
        text.starts_with("the server closed the connection while waiting for the answer to `list`"),
        "{text}"
    );
    assert!(
        text.ends_with("(in the middle of a frame, after 52 bytes of it)"),
        "{text}"
    );
    // The connection is not used again.
    assert!(matches!(client.list(), Err(Error::Broken { .. })));
}

#[test]
fn a_broken_frame_is_a_protocol_error() {
    let server = FakeServer::start(|mut peer| {
        if !peer.welcome(Permissions::all()).unwrap() {
            return;
        }
        let _ = peer.request();
        let _ = peer
            .send_bytes(b"{\"type\":\"response\",\"id\":1,\"response\":{\"type\":\"teapot\"}}\n");
        peer.wait_closed();
    })
    .unwrap();
    let mut client = Client::connect(&server.url(), quick()).unwrap();
    let error = client.list().unwrap_err();
    assert!(matches!(error, Error::Protocol { .. }), "{error:?}");
    assert!(error.to_string().contains("teapot"), "{error}");
}

#[test]
fn an_answer_of_the_wrong_type_or_unknown_id_is_a_protocol_error() {
    let server = FakeServer::start(|mut peer| {
        if !peer.welcome(Permissions::all()).unwrap() {
            return;
        }
        let (id, _) = peer.request().unwrap().unwrap();
        peer.answer(id, Ok(Response::Ok {})).unwrap();
        let _ = peer.request().unwrap();
        peer.answer(RequestId(99), Ok(Response::Ok {})).unwrap();
        peer.wait_closed();
    })
    .unwrap();
    let mut client = Client::connect(&server.url(), quick()).unwrap();
    let error = client.list().unwrap_err();
    assert_eq!(
        error.to_string(),
        "protocol error while waiting for the answer to `list`: answered with `ok`"
    );
    let error = client.list().unwrap_err();
    assert!(error.to_string().contains("request 99"), "{error}");
}

#[test]
fn connection_level_errors_end_the_connection() {
    let server = FakeServer::start(|mut peer| {
        if !peer.welcome(Permissions::all()).unwrap() {
            return;
        }
        let _ = peer.request();
        let error = ApiError::FrameTooLarge { limit: 65536 };
        let _ = peer.send(&ServerMessage::error(None, error));
    })
    .unwrap();
    let mut client = Client::connect(&server.url(), quick()).unwrap();
    let error = client.list().unwrap_err();
    assert_eq!(
        error.api_error().map(ApiError::code),
        Some("frame_too_large")
    );
    assert!(matches!(client.list(), Err(Error::Broken { .. })));
}

#[test]
fn notifications_end_when_the_server_closes() {
    let server = FakeServer::start(|mut peer| {
        if !peer.welcome(Permissions::all()).unwrap() {
            return;
        }
        let (id, _) = peer.request().unwrap().unwrap();
        peer.answer(id, Ok(Response::Ok {})).unwrap();
        peer.notify(Notification::Shutdown {}).unwrap();
    })
    .unwrap();
    let mut client = Client::connect(&server.url(), quick()).unwrap();
    client.subscribe().unwrap();
    let mut notifications = client.notifications();
    assert_eq!(
        notifications.next().unwrap().unwrap(),
        Notification::Shutdown {}
    );
    let error = notifications.next().unwrap().unwrap_err();
    assert!(matches!(error, Error::Closed { .. }), "{error:?}");
    assert!(notifications.next().is_none());
}

#[test]
fn connect_errors() {
    let error = Client::connect("unix:///nonexistent/api.sock", quick()).unwrap_err();
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "cannot connect to unix:///nonexistent/api.sock"
    );
    let error = Client::connect("http://localhost", quick()).unwrap_err();
    assert!(matches!(error, Error::Url(_)));
    assert_eq!(error.kind(), ErrorKind::Local);
    let error = Client::connect("tcp://127.0.0.1:1", quick()).unwrap_err();
    assert!(
        matches!(error, Error::TcpUnauthenticated { .. }),
        "{error:?}"
    );
    let bad_name = Options {
        client_name: "a\nb".into(),
        ..quick()
    };
    let error = Client::connect("unix:///nonexistent/api.sock", bad_name).unwrap_err();
    assert!(matches!(error, Error::ClientName(_)), "{error:?}");
}

#[test]
fn tcp_without_authentication_when_asked_for() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
        let hello: ClientMessage = serde_json::from_str(&line).unwrap();
        assert!(matches!(hello, ClientMessage::Hello(_)));
        let welcome = r#"{"type":"welcome","version":"1.0","permissions":["list"]}"#;
        std::io::Write::write_all(&mut &stream, format!("{welcome}\n").as_bytes()).unwrap();
    });
    let options = Options {
        tcp: TcpAuthentication::Unauthenticated,
        ..quick()
    };
    let client = Client::connect(&format!("tcp://127.0.0.1:{port}"), options).unwrap();
    assert_eq!(client.permissions().to_string(), "list");
    server.join().unwrap();
}
