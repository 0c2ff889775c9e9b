//! Limits: handshake versions, frame size, connection count and rate, stuck clients.

use super::*;

#[test]
fn version_mismatch_and_requests_before_the_handshake_are_refused() {
    let mut world = World::new();
    let served = Served::start(&mut world, "", "", TestHost::default());
    for version in [
        ProtocolVersion::new(2, 0),
        ProtocolVersion::new(1, northstar_api::PROTOCOL_VERSION.minor + 1),
        ProtocolVersion::new(0, 9),
    ] {
        let mut c = served.connect();
        match c.hello_version(version) {
            ServerMessage::Error {
                id: None, error, ..
            } => assert_eq!(
                error,
                ApiError::VersionMismatch {
                    server: northstar_api::PROTOCOL_VERSION,
                    client: version
                }
            ),
            other => panic!("{other:?}"),
        }
        assert!(c.closed(), "closed after a version mismatch");
    }
    let mut c = served.connect();
    c.send(&ClientMessage::Request {
        id: northstar_api::RequestId(1),
        request: Request::List {},
    });
    assert!(matches!(
        c.next_message(),
        Some(ServerMessage::Error {
            error: ApiError::InvalidRequest { .. },
            ..
        })
    ));
    assert!(c.closed());
    // A second hello ends the session too.
    let mut c = served.client();
    assert!(matches!(
        c.hello_version(northstar_api::PROTOCOL_VERSION),
        ServerMessage::Error {
            error: ApiError::InvalidRequest { .. },
            ..
        }
    ));
    assert!(c.closed());
    served.shutdown();
}

#[test]
fn an_oversized_frame_closes_only_that_connection() {
    let mut world = World::new();
    let served = Served::start(&mut world, "", "", TestHost::default());
    let mut good = served.client();
    let mut bad = served.client();
    bad.stream.write_all(&vec![b'x'; 70 * 1024]).unwrap();
    match bad.next_message() {
        Some(ServerMessage::Error { error, .. }) => {
            assert_eq!(error, ApiError::FrameTooLarge { limit: 65536 })
        }
        other => panic!("{other:?}"),
    }
    assert!(bad.closed());
    assert!(matches!(
        good.request(Request::List {}),
        Ok(Response::Containers { .. })
    ));
    let mut fresh = served.client();
    assert!(matches!(
        fresh.request(Request::List {}),
        Ok(Response::Containers { .. })
    ));
    served.shutdown();
}

fn raise_fd_limit() {
    use nix::sys::resource::{setrlimit, Resource};
    setrlimit(Resource::RLIMIT_NOFILE, 16384, 16384).unwrap();
}

#[test]
fn idle_connections_and_a_flood_keep_memory_bounded() {
    raise_fd_limit();
    let mut world = World::new();
    let served = Served::start(
        &mut world,
        "max_connections = 1002\nmax_requests_per_sec = 100\nwrite_buffer = \"64K\"",
        "",
        TestHost::default(),
    );
    let before = rss_kib();
    let idle: Vec<Client> = (0..1000).map(|_| served.connect()).collect();
    // Every idle connection is accepted: a handshake on the last one is answered.
    let mut flood = served.client();
    let with_idle = rss_kib();
    // 10,000 requests at once, read by another thread.
    let mut frames = Vec::new();
    for i in 0..10_000u64 {
        let message = ClientMessage::Request {
            id: northstar_api::RequestId(i),
            request: Request::List {},
        };
        northstar_api::codec::Encoder::new(65536)
            .encode(&message, &mut frames)
            .unwrap();
    }
    let mut reader = flood.stream.try_clone().unwrap();
    let counter = std::thread::spawn(move || {
        let mut decoder = northstar_api::codec::Decoder::<ServerMessage>::new(4 << 20);
        let (mut ok, mut limited) = (0u32, 0u32);
        let mut buf = vec![0u8; 65536];
        while ok + limited < 10_000 {
            let n = std::io::Read::read(&mut reader, &mut buf).unwrap();
            assert!(n > 0, "closed after {ok} answers and {limited} refusals");
            let mut data = &buf[..n];
            while !data.is_empty() {
                let taken = decoder.push(data);
                data = &data[taken..];
                while let Some(northstar_api::codec::Frame::Message(m)) =
                    decoder.next_frame().unwrap()
                {
                    match m {
                        ServerMessage::Response { .. } => ok += 1,
                        ServerMessage::Error {
                            error: ApiError::RateLimited { per_second: 100 },
                            ..
                        } => limited += 1,
                        other => panic!("{other:?}"),
                    }
                }
            }
        }
        (ok, limited)
    });
    let sent = Instant::now();
    flood.stream.write_all(&frames).unwrap();
    // Meanwhile a well-behaved client is answered within its timeout.
    let mut good = served.client();
    good.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let asked = Instant::now();
    assert!(matches!(
        good.request(Request::List {}),
        Ok(Response::Containers { .. })
    ));
    let answered_in = asked.elapsed();
    let during = rss_kib();
    // One more connection than allowed is refused with busy.
    let mut extra = served.connect();
    match extra.next_message() {
        Some(ServerMessage::Error {
            error: ApiError::Busy { .. },
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    let (ok, limited) = counter.join().unwrap();
    let flood_took = sent.elapsed();
    let after = rss_kib();
    println!(
        "rss: before {before} KiB, with 1000 idle connections {with_idle} KiB, during the \
         flood {during} KiB, after {after} KiB; flood of 10000: {ok} answered, {limited} \
         rate limited in {flood_took:?}; a good client answered in {answered_in:?}"
    );
    assert!(ok >= 1 && ok + limited == 10_000);
    assert!(limited > 0);
    assert!(answered_in < Duration::from_secs(5));
    // Client and server sides together: far below 1000 × a frame limit.
    assert!(
        after.saturating_sub(before) < 64 * 1024,
        "{before} → {after} KiB"
    );
    drop(idle);
    served.shutdown();
}

#[test]
fn stuck_clients_are_dropped() {
    let mut world = World::new();
    let served = Served::start(
        &mut world,
        "handshake_timeout = \"1s\"\ninstall_timeout = \"1s\"\nidle_timeout = \"1s\"",
        "",
        TestHost::default(),
    );
    let before = listing(&world.repo);
    // No hello.
    let mut silent = served.connect();
    // Hello, then nothing.
    let mut idle = served.client();
    // An install whose bytes stop coming.
    let mut stalled = served.client();
    stalled.send_request(Request::Install {
        repository: repo("test"),
        size: 100_000,
        sha256: None,
    });
    stalled.stream.write_all(&[0u8; 1000]).unwrap();
    // A refused install whose bytes stop coming.
    let mut refused = served.client();
    let id = refused.send_request(Request::Install {
        repository: repo("nope"),
        size: 100_000,
        sha256: None,
    });
    assert!(matches!(
        refused.answer(id),
        Err(ApiError::RepositoryNotFound { .. })
    ));
    for (what, c) in [
        ("no hello", &mut silent),
        ("idle", &mut idle),
        ("stalled install", &mut stalled),
        ("stalled refused install", &mut refused),
    ] {
        assert!(c.closed(), "{what}: closed");
    }
    eventually("the spool file is removed", || {
        listing(&world.repo) == before
    });
    // A subscribed connection is not idle.
    let mut subscribed = served.client();
    assert_eq!(
        subscribed.request(Request::Subscribe {}),
        Ok(Response::Ok {})
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(matches!(
        subscribed.request(Request::List {}),
        Ok(Response::Containers { .. })
    ));
    served.shutdown();
}

#[test]
fn a_client_that_does_not_read_is_dropped() {
    let mut world = World::new();
    let served = Served::start(
        &mut world,
        "write_buffer = \"4K\"\nwrite_timeout = \"1s\"",
        "",
        TestHost::default(),
    );
    let mut deaf = served.client();
    let mut frames = Vec::new();
    for i in 0..50_000u64 {
        let message = ClientMessage::Request {
            id: northstar_api::RequestId(i),
            request: Request::List {},
        };
        northstar_api::codec::Encoder::new(65536)
            .encode(&message, &mut frames)
            .unwrap();
    }
    let mut writer = deaf.stream.try_clone().unwrap();
    // Blocks once the server stops reading; ends with an error when it closes.
    let flood = std::thread::spawn(move || writer.write_all(&frames).is_err());
    let mut good = served.client();
    assert!(matches!(
        good.request(Request::List {}),
        Ok(Response::Containers { .. })
    ));
    assert!(flood.join().unwrap(), "the server closed the connection");
    assert!(deaf.closed());
    assert!(matches!(
        good.request(Request::List {}),
        Ok(Response::Containers { .. })
    ));
    served.shutdown();
}
