//! Frames on the wire, and a decoder that finds them again after garbage.
//!
//! ```text
//! offset size
//!  0     2    magic 0x4e 0xc5
//!  2     1    kind (Kind)
//!  3     4    session id, big-endian (0 for Hello and Ack)
//!  7     2    payload length, big-endian, at most MAX_PAYLOAD
//!  9     4    CRC-32 of bytes 0..9, big-endian
//! 13     n    payload
//! 13+n   4    CRC-32 of the payload, big-endian
//! ```
//!
//! A byte stream between two machines carries more than frames: the tail of a frame cut
//! off when a peer went away, boot-loader or kernel output on a UART, line noise. The
//! decoder therefore looks for the magic, checks the header's own checksum before it
//! trusts the length (a false header is refused at once instead of holding the stream
//! until its length arrived), and checks the payload's checksum; whatever does not
//! check is skipped byte by byte until a frame does. Memory is bounded by one frame plus
//! the bytes given to [`Decoder::push`].

/// The two bytes every frame begins with.
pub const MAGIC: [u8; 2] = [0x4e, 0xc5];
/// Bytes before the payload.
pub const HEADER: usize = 13;
/// Bytes after the payload.
pub const TRAILER: usize = 4;
/// Largest payload of a frame.
pub const MAX_PAYLOAD: usize = 4096;
/// Largest frame.
pub const MAX_FRAME: usize = HEADER + MAX_PAYLOAD + TRAILER;

/// What a frame says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The sender (re)started its end of the link: payload version (1 byte) and nonce
    /// (8 bytes). The receiver drops every session it has.
    Hello,
    /// The answer to a `Hello`, with its version and nonce.
    Ack,
    /// The host opens a session with a new id.
    Open,
    /// Bytes of a session.
    Data,
    /// The receiver of a session's bytes took this many more (4 bytes): the sender may
    /// send them.
    Credit,
    /// The sender sends nothing more on the session (it still takes what comes).
    Close,
    /// The session is over both ways; the payload says why (UTF-8).
    Abort,
}

impl Kind {
    fn code(self) -> u8 {
        match self {
            Kind::Hello => 1,
            Kind::Ack => 2,
            Kind::Open => 3,
            Kind::Data => 4,
            Kind::Credit => 5,
            Kind::Close => 6,
            Kind::Abort => 7,
        }
    }

    fn from_code(code: u8) -> Option<Kind> {
        Some(match code {
            1 => Kind::Hello,
            2 => Kind::Ack,
            3 => Kind::Open,
            4 => Kind::Data,
            5 => Kind::Credit,
            6 => Kind::Close,
            7 => Kind::Abort,
            _ => return None,
        })
    }
}

/// A decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: Kind,
    pub session: u32,
    pub payload: Vec<u8>,
}

/// Appends the frame to `out`. The payload is cut to [`MAX_PAYLOAD`] (callers split data).
pub fn encode(kind: Kind, session: u32, payload: &[u8], out: &mut Vec<u8>) {
    let payload = payload.get(..MAX_PAYLOAD).unwrap_or(payload);
    let [s0, s1, s2, s3] = session.to_be_bytes();
    // At most MAX_PAYLOAD, which fits.
    let [l0, l1] = u16::try_from(payload.len())
        .unwrap_or(u16::MAX)
        .to_be_bytes();
    let header = [MAGIC[0], MAGIC[1], kind.code(), s0, s1, s2, s3, l0, l1];
    out.extend_from_slice(&header);
    out.extend_from_slice(&crc32fast::hash(&header).to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&crc32fast::hash(payload).to_be_bytes());
}

/// One encoded frame.
pub fn frame(kind: Kind, session: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        payload
            .len()
            .min(MAX_PAYLOAD)
            .saturating_add(HEADER + TRAILER),
    );
    encode(kind, session, payload, &mut out);
    out
}

/// Finds frames in a byte stream.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    pos: usize,
    skipped: u64,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// The next bytes of the stream.
    pub fn push(&mut self, data: &[u8]) {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes skipped so far because they were not part of a valid frame.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The next complete, valid frame, if the bytes pushed so far hold one.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            // `pos` never passes the end of `buf`.
            let rest = self.buf.get(self.pos..).unwrap_or_default();
            let Some(at) = find_magic(rest) else {
                // Keep a last byte that may begin the magic.
                let keep = usize::from(rest.last() == Some(&MAGIC[0]));
                self.skip(rest.len().saturating_sub(keep));
                return None;
            };
            self.skip(at);
            let rest = self.buf.get(self.pos..).unwrap_or_default();
            let (header, body) = rest.split_first_chunk::<HEADER>()?;
            let crc = u32::from_be_bytes([header[9], header[10], header[11], header[12]]);
            let kind = Kind::from_code(header[2]);
            let len = usize::from(u16::from_be_bytes([header[7], header[8]]));
            let (Some(kind), true) = (
                kind,
                crc32fast::hash(&header[..9]) == crc && len <= MAX_PAYLOAD,
            ) else {
                self.skip(1);
                continue;
            };
            let (payload, trailer) = body.split_at_checked(len)?;
            let trailer = trailer.first_chunk::<TRAILER>()?;
            if crc32fast::hash(payload) != u32::from_be_bytes(*trailer) {
                self.skip(1);
                continue;
            }
            let session = u32::from_be_bytes([header[3], header[4], header[5], header[6]]);
            let frame = Frame {
                kind,
                session,
                payload: payload.to_vec(),
            };
            // At most MAX_FRAME: `len` was checked above.
            self.pos = self
                .pos
                .saturating_add(len.saturating_add(HEADER + TRAILER));
            return Some(frame);
        }
    }

    fn skip(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n);
        self.skipped = self.skipped.saturating_add(n as u64);
    }
}

/// Where the magic begins in `bytes`.
fn find_magic(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(decoder: &mut Decoder) -> Vec<Frame> {
        std::iter::from_fn(|| decoder.next_frame()).collect()
    }

    #[test]
    fn a_frame_comes_back() {
        let mut d = Decoder::new();
        d.push(&frame(Kind::Data, 7, b"hello"));
        assert_eq!(
            all(&mut d),
            [Frame {
                kind: Kind::Data,
                session: 7,
                payload: b"hello".to_vec()
            }]
        );
        assert_eq!(d.skipped(), 0);
    }

    #[test]
    fn garbage_around_frames_is_skipped() {
        let mut d = Decoder::new();
        let mut stream = b"login: \x4e\x4e\xc5garbage".to_vec();
        stream.extend(frame(Kind::Open, 1, b""));
        stream.extend([0x4e, 0xc5, 4, 0, 0, 0, 1, 0xff, 0xff]);
        stream.extend(frame(Kind::Close, 1, b""));
        d.push(&stream);
        let kinds: Vec<Kind> = all(&mut d).iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [Kind::Open, Kind::Close]);
        assert!(d.skipped() > 0);
    }

    #[test]
    fn a_false_header_does_not_hold_the_frames_behind_it() {
        // A header whose length says 4096 but whose checksum is wrong: the frame behind it
        // is found without waiting for 4096 bytes.
        let mut d = Decoder::new();
        let mut stream = vec![0x4e, 0xc5, 4, 0, 0, 0, 1, 0x10, 0x00, 1, 2, 3, 4];
        stream.extend(frame(Kind::Hello, 0, &[1; 9]));
        d.push(&stream);
        assert_eq!(all(&mut d).len(), 1);
    }

    #[test]
    fn a_cut_frame_is_completed_by_the_preamble() {
        // The first half of a data frame, then a run of zeros as long as a frame (what a
        // Hello is sent behind), then a frame: the cut frame fails its checksum and the
        // frame is found.
        let mut d = Decoder::new();
        let cut = frame(Kind::Data, 3, &[7; MAX_PAYLOAD]);
        d.push(&cut[..100]);
        assert!(d.next_frame().is_none());
        d.push(&[0; MAX_FRAME]);
        d.push(&frame(Kind::Hello, 0, &[1; 9]));
        let frames = all(&mut d);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].kind, Kind::Hello);
    }

    #[test]
    fn oversized_and_unknown_frames_are_refused() {
        let mut d = Decoder::new();
        let mut big = frame(Kind::Data, 1, b"x");
        big[7..9].copy_from_slice(&0x2000u16.to_be_bytes());
        let crc = crc32fast::hash(&big[..9]);
        big[9..13].copy_from_slice(&crc.to_be_bytes());
        let mut unknown = frame(Kind::Data, 1, b"x");
        unknown[2] = 99;
        let crc = crc32fast::hash(&unknown[..9]);
        unknown[9..13].copy_from_slice(&crc.to_be_bytes());
        d.push(&big);
        d.push(&unknown);
        d.push(&frame(Kind::Data, 2, b"y"));
        let frames = all(&mut d);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].session, 2);
    }

    #[test]
    fn memory_stays_bounded_on_endless_garbage() {
        let mut d = Decoder::new();
        for _ in 0..1000 {
            d.push(&[0x4e; 4096]);
            assert!(d.next_frame().is_none());
            assert!(d.buf.len() - d.pos <= 1);
            assert!(d.buf.len() <= 2 * 4096 + 1);
        }
    }

    proptest! {
        #[test]
        fn frames_survive_any_split_and_garbage(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..8),
            garbage in proptest::collection::vec(any::<u8>(), 0..64),
            cut in 0usize..4000,
        ) {
            let mut stream = garbage.clone();
            let mut expected = Vec::new();
            for (i, p) in payloads.iter().enumerate() {
                let session = u32::try_from(i).unwrap() + 1;
                stream.extend(frame(Kind::Data, session, p));
                expected.push(Frame { kind: Kind::Data, session, payload: p.clone() });
            }
            let cut = cut.min(stream.len());
            let mut d = Decoder::new();
            d.push(&stream[..cut]);
            let mut got = all(&mut d);
            d.push(&stream[cut..]);
            got.extend(all(&mut d));
            // Garbage may hide a frame only by containing a valid frame itself, which
            // random bytes of this length do not: every frame comes back.
            prop_assert_eq!(got, expected);
        }
    }
}
