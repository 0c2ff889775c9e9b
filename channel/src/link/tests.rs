use super::*;

/// Everything `from` has for the peer, as written to the wire.
fn drain(from: &mut Link) -> Vec<u8> {
    let mut wire = Vec::new();
    loop {
        let out = from.output();
        if out.is_empty() {
            return wire;
        }
        let n = out.len();
        wire.extend_from_slice(out);
        from.consume_output(n);
    }
}

/// Deliver everything both ways until both are quiet.
fn settle(host: &mut Link, guest: &mut Link) {
    loop {
        let a = drain(host);
        let b = drain(guest);
        if a.is_empty() && b.is_empty() {
            return;
        }
        guest.receive(&a);
        host.receive(&b);
    }
}

fn pair() -> (Link, Link) {
    let mut host = Link::new(Role::Host, 100, 8);
    let mut guest = Link::new(Role::Guest, 7, 8);
    settle(&mut host, &mut guest);
    assert!(host.is_up());
    (host, guest)
}

fn take_all(link: &mut Link, id: u32) -> Vec<u8> {
    let (a, b) = link.inbound(id);
    let all = [a, b].concat();
    link.take(id, all.len());
    all
}

#[test]
fn handshake_then_sessions_interleaved() {
    let (mut host, mut guest) = pair();
    let a = host.open().unwrap();
    let b = host.open().unwrap();
    assert_ne!(a, b);
    assert_eq!(host.send(a, b"to a"), 4);
    assert_eq!(host.send(b, b"to b"), 4);
    assert_eq!(host.send(a, b" again"), 6);
    settle(&mut host, &mut guest);
    assert_eq!(guest.sessions(), [a, b]);
    assert_eq!(take_all(&mut guest, a), b"to a again");
    assert_eq!(take_all(&mut guest, b), b"to b");
    guest.send(b, b"answer b");
    guest.send(a, b"answer a");
    settle(&mut host, &mut guest);
    assert_eq!(take_all(&mut host, a), b"answer a");
    assert_eq!(take_all(&mut host, b), b"answer b");
}

#[test]
fn no_session_before_the_handshake() {
    let mut host = Link::new(Role::Host, 1, 8);
    assert!(!host.is_up());
    assert_eq!(host.open(), None);
    // An answer to another nonce does not count.
    let mut stale = Link::new(Role::Guest, 5, 8);
    stale.receive(&frame::frame(Kind::Hello, 0, &host.hello_payload(0)));
    host.receive(&drain(&mut stale));
    assert!(!host.is_up());
}

#[test]
fn flow_control_bounds_what_is_in_flight() {
    let (mut host, mut guest) = pair();
    let id = host.open().unwrap();
    let big = vec![9u8; 3 * WINDOW];
    assert_eq!(host.send(id, &big), WINDOW);
    assert_eq!(host.can_send(id), 0);
    settle(&mut host, &mut guest);
    // Not taken yet: no credit back.
    assert_eq!(host.can_send(id), 0);
    let (a, b) = guest.inbound(id);
    assert_eq!(a.len() + b.len(), WINDOW);
    let mut got = [a, b].concat()[..WINDOW / 2].to_vec();
    guest.take(id, WINDOW / 2);
    settle(&mut host, &mut guest);
    assert_eq!(host.can_send(id), WINDOW / 2);
    // Every byte arrives, in order.
    got.extend(take_all(&mut guest, id));
    let mut sent = WINDOW;
    while sent < big.len() {
        settle(&mut host, &mut guest);
        sent += host.send(id, &big[sent..]);
        settle(&mut host, &mut guest);
        got.extend(take_all(&mut guest, id));
    }
    settle(&mut host, &mut guest);
    got.extend(take_all(&mut guest, id));
    assert_eq!(got.len(), big.len());
    assert!(got == big);
}

#[test]
fn a_sender_past_its_credit_loses_only_its_session() {
    let (mut host, mut guest) = pair();
    let bad = host.open().unwrap();
    let good = host.open().unwrap();
    settle(&mut host, &mut guest);
    // Frames beyond the window, written by hand.
    let mut wire = Vec::new();
    for _ in 0..(WINDOW / MAX_PAYLOAD + 1) {
        frame::encode(Kind::Data, bad, &[1; MAX_PAYLOAD], &mut wire);
    }
    guest.receive(&wire);
    host.send(good, b"fine");
    settle(&mut host, &mut guest);
    assert!(matches!(guest.state(bad), Some(State::Over(Some(_)))));
    assert!(
        matches!(host.state(bad), Some(State::Over(Some(reason))) if reason.contains("credit"))
    );
    assert_eq!(take_all(&mut guest, good), b"fine");
    assert_eq!(guest.counters().violations, 1);
}

#[test]
fn closing_while_data_is_in_flight_delivers_it_first() {
    let (mut host, mut guest) = pair();
    let id = host.open().unwrap();
    host.send(id, b"request");
    host.close(id);
    // The guest answers before it read the host's close.
    guest.receive(&drain(&mut host));
    assert_eq!(
        guest.state(id),
        Some(State::Open {
            closed: false,
            peer_closed: true
        })
    );
    assert_eq!(take_all(&mut guest, id), b"request");
    guest.send(id, b"last words");
    guest.close(id);
    assert_eq!(guest.state(id), Some(State::Over(None)));
    guest.release(id);
    host.receive(&drain(&mut guest));
    assert_eq!(take_all(&mut host, id), b"last words");
    assert_eq!(host.state(id), Some(State::Over(None)));
    host.release(id);
    // Nothing more flows, and neither side complains.
    settle(&mut host, &mut guest);
    assert_eq!(host.counters().violations, 0);
    assert_eq!(guest.counters().violations, 0);
}

#[test]
fn aborting_ends_both_ways() {
    let (mut host, mut guest) = pair();
    let id = host.open().unwrap();
    settle(&mut host, &mut guest);
    guest.abort(id, "cannot reach the API socket");
    guest.release(id);
    host.send(id, b"lost");
    settle(&mut host, &mut guest);
    assert_eq!(
        host.state(id),
        Some(State::Over(Some(
            "the peer ended the session: cannot reach the API socket".into()
        )))
    );
    assert_eq!(host.can_send(id), 0);
}

#[test]
fn a_new_host_end_clears_the_guest() {
    let (mut host, mut guest) = pair();
    let id = host.open().unwrap();
    host.send(id, b"half a");
    settle(&mut host, &mut guest);
    guest.send(id, &[5; 10_000]);
    // The host end goes away with the guest's bytes unread; a new one starts.
    let mut wire = drain(&mut guest);
    wire.truncate(100);
    let mut host = Link::new(Role::Host, 200, 8);
    host.receive(&wire);
    settle(&mut host, &mut guest);
    assert!(host.is_up());
    assert!(guest.sessions().is_empty());
    let id2 = host.open().unwrap();
    host.send(id2, b"fresh");
    settle(&mut host, &mut guest);
    assert_eq!(take_all(&mut guest, id2), b"fresh");
}

#[test]
fn a_new_guest_end_clears_the_host() {
    let (mut host, mut guest) = pair();
    let id = host.open().unwrap();
    settle(&mut host, &mut guest);
    guest.send(id, b"answered");
    settle(&mut host, &mut guest);
    // The guest reboots in the middle of a frame for the host.
    guest.send(id, &[1; 3000]);
    let mut wire = drain(&mut guest);
    wire.truncate(50);
    host.receive(&wire);
    drop(guest);
    let mut guest = Link::new(Role::Guest, 8, 8);
    settle(&mut host, &mut guest);
    assert!(host.is_up());
    assert!(host.sessions().is_empty());
    assert_eq!(host.counters().handshakes, 2);
    let id2 = host.open().unwrap();
    guest.receive(&drain(&mut host));
    assert_eq!(guest.sessions(), [id2]);
}

#[test]
fn a_guest_restart_during_the_handshake_is_settled() {
    let mut host = Link::new(Role::Host, 1, 8);
    let mut guest = Link::new(Role::Guest, 2, 8);
    // Both hellos cross; then the guest restarts again before it heard anything.
    let from_host = drain(&mut host);
    let _lost = drain(&mut guest);
    let mut guest2 = Link::new(Role::Guest, 3, 8);
    guest2.receive(&from_host);
    settle(&mut host, &mut guest2);
    assert!(host.is_up());
    let id = host.open().unwrap();
    host.send(id, b"x");
    settle(&mut host, &mut guest2);
    assert_eq!(take_all(&mut guest2, id), b"x");
    drop(guest);
}

#[test]
fn garbage_and_bad_frames_harm_no_session() {
    let (mut host, mut guest) = pair();
    let id = host.open().unwrap();
    host.send(id, b"one ");
    let mut wire = drain(&mut host);
    // Kernel output, a frame with a broken checksum, an oversized header, a frame for a
    // session that does not exist, then the rest.
    wire.extend(b"[    1.234] random: crng init done\r\n");
    let mut broken = frame::frame(Kind::Data, id, b"evil");
    let last = broken.len() - 1;
    broken[last] ^= 1;
    wire.extend(broken);
    wire.extend([0x4e, 0xc5, 4, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 0]);
    wire.extend(frame::frame(Kind::Data, 999, b"who?"));
    host.send(id, b"two");
    wire.extend(drain(&mut host));
    guest.receive(&wire);
    assert_eq!(take_all(&mut guest, id), b"one two");
    assert!(guest.counters().skipped > 0);
    // The unknown session is told it does not exist.
    let mut frames = Decoder::new();
    frames.push(&drain(&mut guest));
    let aborts: Vec<u32> = std::iter::from_fn(|| frames.next_frame())
        .filter(|f| f.kind == Kind::Abort)
        .map(|f| f.session)
        .collect();
    assert_eq!(aborts, [999]);
}

#[test]
fn the_guest_refuses_more_sessions_than_it_has_room_for() {
    let mut host = Link::new(Role::Host, 1, 8);
    let mut guest = Link::new(Role::Guest, 2, 2);
    settle(&mut host, &mut guest);
    let ids: Vec<u32> = (0..3).map(|_| host.open().unwrap()).collect();
    settle(&mut host, &mut guest);
    assert_eq!(guest.sessions(), ids[..2]);
    assert!(
        matches!(host.state(ids[2]), Some(State::Over(Some(reason))) if reason.contains("too many"))
    );
}

#[test]
fn the_output_is_bounded() {
    let (mut host, mut guest) = pair();
    let ids: Vec<u32> = (0..8).map(|_| host.open().unwrap()).collect();
    settle(&mut host, &mut guest);
    let big = vec![0u8; WINDOW];
    let sent: usize = ids.iter().map(|id| host.send(*id, &big)).sum();
    assert!(sent <= OUTPUT && sent > OUTPUT - 4096, "{sent}");
    assert!(host.queued <= OUTPUT + 4096, "{}", host.queued);
    assert!(ids.iter().all(|id| host.can_send(*id) == 0));
}

#[test]
fn a_session_the_restarted_guest_never_answered_is_opened_again() {
    let (mut host, mut guest) = pair();
    // Answered by the old guest: gone with it.
    let answered = host.open().unwrap();
    host.send(answered, b"hello\n");
    settle(&mut host, &mut guest);
    take_all(&mut guest, answered);
    guest.send(answered, b"welcome\n");
    settle(&mut host, &mut guest);
    take_all(&mut host, answered);
    // Opened while the guest restarts: its frames reach nobody.
    let waiting = host.open().unwrap();
    host.send(waiting, b"hello\n");
    host.close(waiting);
    drop(drain(&mut host));
    drop(guest);
    let mut guest = Link::new(Role::Guest, 9, 8);
    settle(&mut host, &mut guest);
    assert!(host.is_up());
    assert_eq!(host.sessions(), [waiting]);
    // The new guest has it, with its bytes and its close, under the same id.
    assert_eq!(guest.sessions(), [waiting]);
    assert_eq!(take_all(&mut guest, waiting), b"hello\n");
    assert_eq!(
        guest.state(waiting),
        Some(State::Open {
            closed: false,
            peer_closed: true
        })
    );
    guest.send(waiting, b"welcome\n");
    settle(&mut host, &mut guest);
    assert_eq!(take_all(&mut host, waiting), b"welcome\n");
    assert_eq!(host.counters().violations, 0);
}

#[test]
fn frames_of_an_earlier_link_do_not_reach_the_new_handshake() {
    let (mut host, mut guest) = pair();
    let id = host.open().unwrap();
    host.send(id, b"x");
    settle(&mut host, &mut guest);
    // The guest restarts; before the host's new handshake is answered, an abort of the
    // old link arrives (e.g. from the old guest's last writes).
    let mut guest2 = Link::new(Role::Guest, 3, 8);
    host.receive(&drain(&mut guest2));
    assert!(!host.is_up());
    host.receive(&frame::frame(Kind::Abort, id, b"old"));
    settle(&mut host, &mut guest2);
    assert!(host.is_up());
    assert_eq!(
        host.state(id),
        Some(State::Open {
            closed: false,
            peer_closed: false
        })
    );
    drop(guest);
}
