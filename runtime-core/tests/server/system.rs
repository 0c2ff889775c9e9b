//! The A/B system slots (1.4): `system_status` and `system_mark` served by the host, their
//! permissions, `unsupported` from a host without slots, and sessions of 1.3; and
//! `system_install`: the bundle spooled, handed to the host and answered from its thread.

use super::*;
use northstar_api::{RequestId, SlotState, SystemInstalled, SystemStatus};
use server_support::{two_slots, SystemRequest};
use std::sync::Mutex;

fn with_slots() -> TestHost {
    TestHost {
        slots: Some(Mutex::new(two_slots())),
        ..TestHost::default()
    }
}

fn mark(mark: SlotMark, slot: &str) -> Request {
    Request::SystemMark {
        mark,
        slot: slot.parse().unwrap(),
    }
}

fn system(answer: Result<Response, ApiError>) -> SystemStatus {
    match answer {
        Ok(Response::System { status }) => status,
        other => panic!("not a system answer: {other:?}"),
    }
}

/// `(name, primary, state, attempts left)` of every slot.
fn slots(status: &SystemStatus) -> Vec<(&str, bool, SlotState, Option<u32>)> {
    status
        .slots
        .iter()
        .map(|s| (s.name.as_str(), s.primary, s.state, s.attempts_left))
        .collect()
}

#[test]
fn status_and_marks_with_the_named_grant() {
    let mut world = World::new();
    let served = Served::start(
        &mut world,
        "",
        "[[api.grants]]\nuid = 0\npermissions = [\"system_status\", \"system_update\"]",
        with_slots(),
    );
    let mut c = served.client();
    let granted = &c.welcome.as_ref().unwrap().permissions;
    assert!(granted.contains(Permission::SystemStatus));
    assert!(granted.contains(Permission::SystemUpdate));

    assert_eq!(system(c.request(Request::SystemStatus {})), two_slots());
    let after = system(c.request(mark(SlotMark::Active, "other")));
    assert_eq!(
        slots(&after),
        [
            ("A", false, SlotState::Good, Some(3)),
            ("B", true, SlotState::Good, Some(3))
        ]
    );
    let after = system(c.request(mark(SlotMark::Bad, "booted")));
    assert_eq!(slots(&after)[0], ("A", false, SlotState::Bad, Some(0)));
    // The answer is the state after the mark, and the next status says the same.
    assert_eq!(system(c.request(Request::SystemStatus {})), after);
    // An unknown slot: refused by the host, the error names it, nothing changed.
    match c.request(mark(SlotMark::Good, "C")) {
        Err(ApiError::SystemFailed { reason }) => {
            assert!(reason.contains("no slot C"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(system(c.request(Request::SystemStatus {})), after);
    assert_eq!(
        *served.host.system_asked.lock().unwrap(),
        [
            SystemRequest::Status,
            SystemRequest::Mark {
                mark: SlotMark::Active,
                slot: SlotTarget::Other
            },
            SystemRequest::Mark {
                mark: SlotMark::Bad,
                slot: SlotTarget::Booted
            },
            SystemRequest::Status,
            SystemRequest::Mark {
                mark: SlotMark::Good,
                slot: SlotTarget::Named("C".into())
            },
            SystemRequest::Status,
        ]
    );
    // A slot name against the rules never reaches the host: the frame is invalid.
    let id = c.send_request(Request::SystemStatus {});
    c.stream
        .write_all(
            format!(
                "{{\"type\":\"request\",\"id\":{},\"request\":{{\"type\":\"system_mark\",\"mark\":\"good\",\"slot\":\"rootfs.0\"}}}}\n",
                id.0 + 1
            )
            .as_bytes(),
        )
        .unwrap();
    system(c.answer(id));
    match c.next_message() {
        Some(ServerMessage::Error {
            error: ApiError::InvalidRequest { what, .. },
            ..
        }) => assert!(what.contains("slot"), "{what}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(served.host.system_asked.lock().unwrap().len(), 7);
    served.shutdown();
}

#[test]
fn the_default_grant_reads_but_does_not_mark() {
    let mut world = World::new();
    let served = Served::start(&mut world, "", "", with_slots());
    let mut c = served.client();
    let granted = &c.welcome.as_ref().unwrap().permissions;
    assert!(granted.contains(Permission::SystemStatus));
    assert!(!granted.contains(Permission::SystemUpdate));
    assert_eq!(system(c.request(Request::SystemStatus {})), two_slots());
    for m in [SlotMark::Good, SlotMark::Bad, SlotMark::Active] {
        assert_eq!(
            c.request(mark(m, "B")),
            Err(ApiError::PermissionDenied {
                permission: Permission::SystemUpdate
            })
        );
    }
    // Nor does it install a bundle: refused before the bytes, which are then dropped.
    let id = c.send_request(Request::SystemInstall {
        size: 10,
        sha256: None,
    });
    assert_eq!(
        c.answer(id),
        Err(ApiError::PermissionDenied {
            permission: Permission::SystemUpdate
        })
    );
    c.stream.write_all(&[0; 10]).unwrap();
    assert_eq!(system(c.request(Request::SystemStatus {})), two_slots());
    // Only the status reached the host.
    assert_eq!(
        *served.host.system_asked.lock().unwrap(),
        [SystemRequest::Status, SystemRequest::Status]
    );
    served.shutdown();
}

#[test]
fn a_host_without_slots_and_a_1_3_session_do_not_serve_them() {
    let mut world = World::new();
    let served = Served::start(
        &mut world,
        "",
        "[[api.grants]]\nuid = 0\npermissions = [\"verify\", \"system_status\", \"system_update\"]",
        TestHost::default(),
    );
    // The trait's default: not supported, named as `boot_report` is.
    let mut c = served.client();
    assert_eq!(
        c.request(Request::SystemStatus {}),
        Err(ApiError::Unsupported {
            request: "system_status".into()
        })
    );
    assert_eq!(
        c.request(mark(SlotMark::Good, "booted")),
        Err(ApiError::Unsupported {
            request: "system_mark".into()
        })
    );
    // A session of 1.3 sees neither permission and does not know the requests.
    let mut old = served.connect();
    let ServerMessage::Welcome(welcome) = old.hello_version(ProtocolVersion::new(1, 3)) else {
        panic!("no welcome")
    };
    assert_eq!(welcome.permissions.to_string(), "verify");
    match old.request(Request::SystemStatus {}) {
        Err(ApiError::InvalidRequest { what, .. }) => {
            assert!(what.contains("unknown variant `system_status`"), "{what}")
        }
        other => panic!("{other:?}"),
    }
    // ... and the connection is closed, as for any unknown type.
    assert!(old.closed());
    served.shutdown();
}

/// Bytes of a pretend bundle (the server does not look inside).
fn bundle(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(31) >> 3) as u8).collect()
}

fn system_install(c: &mut Client, bytes: &[u8], sha256: Option<Sha256>) -> RequestId {
    let id = c.send_request(Request::SystemInstall {
        size: bytes.len() as u64,
        sha256,
    });
    c.stream.write_all(bytes).unwrap();
    id
}

fn installed(answer: Result<Response, ApiError>) -> SystemInstalled {
    match answer {
        Ok(Response::SystemInstalled { installed }) => *installed,
        other => panic!("not a system_installed answer: {other:?}"),
    }
}

const UPDATER: &str = "[[api.grants]]\nuid = 0\npermissions = [\"list\", \"system_update\"]";

/// A host with slots that spools bundles into `<world>/spool` and answers after `delay`.
fn spooling(world: &World, delay: Duration) -> (TestHost, std::path::PathBuf) {
    let spool = world.dir.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let host = TestHost {
        spool: Some(spool.clone()),
        install_delay: delay,
        ..with_slots()
    };
    (host, spool)
}

#[test]
fn a_bundle_is_spooled_handed_over_and_answered_from_the_hosts_thread() {
    let mut world = World::new();
    let (host, spool) = spooling(&world, Duration::from_millis(1500));
    let served = Served::start(&mut world, "", UPDATER, host);
    let mut c = served.client();
    let bytes = bundle(700_000);
    let digest = Sha256(sha2::Sha256::digest(&bytes).into());
    let id = system_install(&mut c, &bytes, Some(digest));
    eventually("the host has the bundle", || {
        served.host.bundles.lock().unwrap().received.len() == 1
    });
    // The host is still writing the slot: the server serves others meanwhile, and a
    // second system install is busy.
    let mut other = served.client();
    assert!(matches!(
        other.request(Request::List {}),
        Ok(Response::Containers { .. })
    ));
    let busy = system_install(&mut other, b"abc", None);
    assert!(
        matches!(other.answer(busy), Err(ApiError::Busy { ref reason }) if reason.contains("system install")),
    );
    assert_eq!(served.host.bundles.lock().unwrap().answered, 0);
    let done = installed(c.answer(id));
    assert_eq!(served.host.bundles.lock().unwrap().answered, 1);
    assert_eq!(
        (done.slot.as_str(), done.version.as_str(), done.bytes),
        ("B", "2.0.0", bytes.len() as u64)
    );
    assert_eq!(done.status, two_slots());
    {
        let bundles = served.host.bundles.lock().unwrap();
        let (path, received) = &bundles.received[0];
        assert_eq!(received, &bytes);
        assert_eq!(path.parent(), Some(spool.as_path()));
        assert!(path.to_string_lossy().ends_with(".partial"), "{path:?}");
    }
    // The host removed its file; nothing else was left in the spool.
    assert!(listing(&spool).is_empty(), "{:?}", listing(&spool));
    // A digest that does not match: refused by the server, the host never sees it.
    let wrong = Sha256([7; 32]);
    let id = system_install(&mut c, &bytes, Some(wrong));
    match c.answer(id) {
        Err(ApiError::SystemFailed { reason }) => assert!(reason.contains("sha256"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(served.host.bundles.lock().unwrap().received.len(), 1);
    assert!(listing(&spool).is_empty(), "{:?}", listing(&spool));
    // An empty bundle is refused before anything is spooled; the connection goes on.
    let id = system_install(&mut c, b"", None);
    assert!(matches!(c.answer(id), Err(ApiError::SystemFailed { .. })));
    let id = system_install(&mut c, &bytes[..5000], None);
    assert_eq!(installed(c.answer(id)).bytes, 5000);
    served.shutdown();
}

#[test]
fn the_hosts_failure_is_system_failed() {
    let mut world = World::new();
    let (host, spool) = spooling(&world, Duration::from_millis(50));
    let host = TestHost {
        install_error: Some("bundle: compatible other-board is not northstar-test".into()),
        ..host
    };
    let served = Served::start(&mut world, "", UPDATER, host);
    let mut c = served.client();
    let id = system_install(&mut c, &bundle(10_000), None);
    assert_eq!(
        c.answer(id),
        Err(ApiError::SystemFailed {
            reason: "bundle: compatible other-board is not northstar-test".into()
        })
    );
    assert!(listing(&spool).is_empty());
    served.shutdown();
}

#[test]
fn without_a_spool_it_is_unsupported_before_any_byte_is_read() {
    let mut world = World::new();
    let served = Served::start(&mut world, "", UPDATER, TestHost::default());
    let mut c = served.client();
    let bytes = bundle(300_000);
    // The answer comes while none of the bytes has been sent.
    let id = c.send_request(Request::SystemInstall {
        size: bytes.len() as u64,
        sha256: None,
    });
    assert_eq!(
        c.answer(id),
        Err(ApiError::Unsupported {
            request: "system_install".into()
        })
    );
    assert!(served.host.bundles.lock().unwrap().received.is_empty());
    // The bytes are read and dropped: the stream stays in step.
    c.stream.write_all(&bytes).unwrap();
    assert!(matches!(
        c.request(Request::List {}),
        Ok(Response::Containers { .. })
    ));
    // A session of 1.3 does not know the request.
    let mut old = served.connect();
    old.hello_version(ProtocolVersion::new(1, 3));
    match old.request(Request::SystemInstall {
        size: 0,
        sha256: None,
    }) {
        Err(ApiError::InvalidRequest { what, .. }) => {
            assert!(what.contains("unknown variant `system_install`"), "{what}")
        }
        other => panic!("{other:?}"),
    }
    served.shutdown();
}

#[test]
fn an_answer_to_a_closed_connection_is_dropped() {
    let mut world = World::new();
    let (host, spool) = spooling(&world, Duration::from_millis(800));
    let served = Served::start(&mut world, "", UPDATER, host);
    {
        let mut c = served.client();
        system_install(&mut c, &bundle(50_000), None);
        eventually("the host has the bundle", || {
            served.host.bundles.lock().unwrap().received.len() == 1
        });
        // The client goes away before the host answers.
    }
    eventually("the host answered", || {
        served.host.bundles.lock().unwrap().answered == 1
    });
    // The server lives on, and the next system install is not busy.
    let mut c = served.client();
    assert!(matches!(
        c.request(Request::List {}),
        Ok(Response::Containers { .. })
    ));
    let id = system_install(&mut c, &bundle(4096), None);
    assert_eq!(installed(c.answer(id)).bytes, 4096);
    eventually("the host removed its files", || listing(&spool).is_empty());
    served.shutdown();
}
