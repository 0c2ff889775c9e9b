//! Arbitrary bytes from the peer of a management channel's link, at both ends (the guest
//! and the host, each after a handshake and with sessions open), in pieces of different
//! sizes: the bytes as they are, and the same bytes read as a list of frames (kind,
//! session, payload) encoded with valid checksums, so that the state machine behind the
//! decoder is reached. Neither end may panic; the frames found must not depend on how the
//! bytes were cut; what each end holds stays within the protocol's bounds (a window per
//! session, the output limit plus control frames).
#![no_main]
use libfuzzer_sys::fuzz_target;
use northstar_channel::{
    frame::{encode, Decoder, Kind, MAX_FRAME},
    link::{Link, Role, OUTPUT, WINDOW},
};

/// `data` read as frames: a kind byte, a session byte, a length byte, that many bytes.
fn frames(data: &[u8]) -> Vec<u8> {
    let kinds = [
        Kind::Hello,
        Kind::Ack,
        Kind::Open,
        Kind::Data,
        Kind::Credit,
        Kind::Close,
        Kind::Abort,
    ];
    let mut out = Vec::new();
    let mut rest = data;
    while let [kind, session, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let kind = kinds[usize::from(*kind) % kinds.len()];
        encode(kind, u32::from(*session % 4), &tail[..n], &mut out);
        rest = &tail[n..];
    }
    out
}

/// Everything `link` has for its peer.
fn drain(link: &mut Link) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let n = link.output().len();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(link.output());
        link.consume_output(n);
    }
}

/// A host and a guest after their handshake, with two sessions open.
fn pair() -> (Link, Link) {
    let mut host = Link::new(Role::Host, 1, 8);
    let mut guest = Link::new(Role::Guest, 2, 8);
    for _ in 0..4 {
        let a = drain(&mut host);
        guest.receive(&a);
        let b = drain(&mut guest);
        host.receive(&b);
    }
    assert!(host.is_up());
    host.open();
    host.open();
    guest.receive(&drain(&mut host));
    (host, guest)
}

fn check(link: &Link) {
    for id in link.sessions() {
        let (a, b) = link.inbound(id);
        assert!(a.len() + b.len() <= WINDOW);
    }
}

fuzz_target!(|data: &[u8]| {
    let piece = 1 + usize::from(data.first().copied().unwrap_or(0));
    run(data, piece);
    run(&frames(data), piece);
});

fn run(data: &[u8], piece: usize) {
    let (mut host, mut guest) = pair();
    for chunk in data.chunks(piece) {
        host.receive(chunk);
        guest.receive(chunk);
        check(&host);
        check(&guest);
    }
    // Control frames answer frames; the answers to garbage are bounded by its size.
    let out = drain(&mut guest).len();
    assert!(out <= OUTPUT + 2 * MAX_FRAME + 64 * (data.len() / 13 + 1));
    drop(drain(&mut host));
    // The decoder finds the same frames however the bytes are cut.
    let mut whole = Decoder::new();
    whole.push(data);
    let all: Vec<_> = std::iter::from_fn(|| whole.next_frame()).collect();
    let mut cut = Decoder::new();
    let mut pieces = Vec::new();
    for chunk in data.chunks(piece) {
        cut.push(chunk);
        pieces.extend(std::iter::from_fn(|| cut.next_frame()));
    }
    assert_eq!(all, pieces);
}
