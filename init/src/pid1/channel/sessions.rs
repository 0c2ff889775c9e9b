//! Where a host client's session begins in the bytes that come through the port.
//!
//! The guest learns that the host side of a virtio port closed only when a read finds the
//! port empty and closed. A client that disconnects and the next one that connects right
//! after (QEMU accepts the next client of its socket as soon as the previous one is gone)
//! can both have happened before the relay reads again: their bytes then arrive as one
//! stream. Every session of the protocol begins with a `hello` frame and has only that
//! one, so the relay follows the frames (with the protocol's own decoder, which also
//! knows the raw bytes of an install) and starts a new connection to the API socket at
//! every `hello`.
//!
//! When the bytes are not valid frames, the server will refuse them and close its
//! connection; from then on they are passed through as they are (nothing more is
//! recognised) until the host side closes.

use runtime_core::server::api::{
    codec::{Decoder, Frame},
    ClientMessage,
};

/// A piece of the stream from the host, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// A `hello` frame follows: the bytes from here belong to a new session.
    Hello,
    /// Bytes to pass on.
    Bytes(Vec<u8>),
}

/// Splits the host's stream at every `hello` frame.
pub struct Sessions {
    decoder: Decoder<ClientMessage>,
    /// Bytes given to the decoder and not handed out yet.
    held: Vec<u8>,
    /// The stream was not valid: everything is passed through.
    failed: bool,
}

impl Sessions {
    /// A tracker for one connection of the host; `max_frame` is the server's limit of a
    /// client's frame (`[api] max_frame`).
    pub fn new(max_frame: usize) -> Sessions {
        Sessions {
            decoder: Decoder::new(max_frame),
            held: Vec::new(),
            failed: false,
        }
    }

    /// The pieces of `data`, the next bytes of the stream. Bytes of a frame that is not
    /// complete yet are held back until it is (at most one frame).
    pub fn feed(&mut self, mut data: &[u8]) -> Vec<Piece> {
        let mut pieces = Vec::new();
        while !data.is_empty() && !self.failed {
            let taken = self.decoder.push(data);
            self.held.extend_from_slice(&data[..taken]);
            data = &data[taken..];
            self.frames(&mut pieces);
        }
        if self.failed {
            let mut rest = std::mem::take(&mut self.held);
            rest.extend_from_slice(data);
            if !rest.is_empty() {
                pieces.push(Piece::Bytes(rest));
            }
        }
        pieces
    }

    /// Hand out every complete frame and raw chunk the decoder holds.
    fn frames(&mut self, pieces: &mut Vec<Piece>) {
        loop {
            let before = self.decoder.offset();
            let hello = match self.decoder.next_frame() {
                Ok(Some(Frame::Message(ClientMessage::Hello(_)))) => true,
                Ok(Some(_)) => false,
                Ok(None) => return,
                Err(_) => {
                    self.failed = true;
                    return;
                }
            };
            let len = usize::try_from(self.decoder.offset() - before)
                .unwrap_or(usize::MAX)
                .min(self.held.len());
            if hello {
                pieces.push(Piece::Hello);
            }
            let bytes: Vec<u8> = self.held.drain(..len).collect();
            match pieces.last_mut() {
                Some(Piece::Bytes(last)) => last.extend_from_slice(&bytes),
                _ => pieces.push(Piece::Bytes(bytes)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = "{\"type\":\"hello\",\"version\":\"1.0\",\"client\":\"nstar 0.1.0\"}\n";
    const LIST: &str = "{\"type\":\"request\",\"id\":1,\"request\":{\"type\":\"list\"}}\n";

    fn install(size: usize) -> String {
        format!(
            "{{\"type\":\"request\",\"id\":2,\"request\":{{\"type\":\"install\",\
             \"repository\":\"apps\",\"size\":{size}}}}}\n"
        )
    }

    /// The pieces of `chunks` fed one after the other, adjacent bytes joined.
    fn pieces(chunks: &[&[u8]]) -> Vec<Piece> {
        let mut s = Sessions::new(65536);
        let mut all: Vec<Piece> = Vec::new();
        for chunk in chunks {
            for piece in s.feed(chunk) {
                match (all.last_mut(), piece) {
                    (Some(Piece::Bytes(last)), Piece::Bytes(more)) => last.extend(more),
                    (_, piece) => all.push(piece),
                }
            }
        }
        all
    }

    fn bytes(s: &str) -> Piece {
        Piece::Bytes(s.as_bytes().to_vec())
    }

    #[test]
    fn one_session() {
        let stream = format!("{HELLO}{LIST}");
        assert_eq!(pieces(&[stream.as_bytes()]), [Piece::Hello, bytes(&stream)]);
    }

    #[test]
    fn two_sessions_in_one_read() {
        let stream = format!("{HELLO}{LIST}{HELLO}{LIST}");
        let one = format!("{HELLO}{LIST}");
        assert_eq!(
            pieces(&[stream.as_bytes()]),
            [Piece::Hello, bytes(&one), Piece::Hello, bytes(&one)]
        );
    }

    #[test]
    fn frames_split_anywhere() {
        let stream = format!("{HELLO}{LIST}{HELLO}");
        for cut in 1..stream.len() {
            let (a, b) = stream.as_bytes().split_at(cut);
            assert_eq!(
                pieces(&[a, b]),
                [
                    Piece::Hello,
                    bytes(&format!("{HELLO}{LIST}")),
                    Piece::Hello,
                    bytes(HELLO)
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_hello_inside_the_raw_bytes_of_an_install_is_data() {
        let raw = HELLO.repeat(3);
        let stream = format!("{HELLO}{}{raw}{LIST}{HELLO}", install(raw.len()));
        let first = format!("{HELLO}{}{raw}{LIST}", install(raw.len()));
        assert_eq!(
            pieces(&[stream.as_bytes()]),
            [Piece::Hello, bytes(&first), Piece::Hello, bytes(HELLO)]
        );
        // Byte by byte: the same.
        let chunks: Vec<&[u8]> = stream.as_bytes().chunks(1).collect();
        assert_eq!(
            pieces(&chunks),
            [Piece::Hello, bytes(&first), Piece::Hello, bytes(HELLO)]
        );
    }

    #[test]
    fn an_incomplete_frame_is_held_back() {
        let mut s = Sessions::new(65536);
        assert_eq!(s.feed(&HELLO.as_bytes()[..10]), []);
        assert_eq!(
            s.feed(&HELLO.as_bytes()[10..]),
            [Piece::Hello, bytes(HELLO)]
        );
    }

    #[test]
    fn garbage_is_passed_through_from_there_on() {
        let stream = format!("{HELLO}not json\n{HELLO}");
        assert_eq!(
            pieces(&[stream.as_bytes()]),
            [
                Piece::Hello,
                bytes(HELLO),
                bytes(&format!("not json\n{HELLO}"))
            ]
            .into_iter()
            .fold(Vec::new(), |mut all, p| {
                match (all.last_mut(), p) {
                    (Some(Piece::Bytes(last)), Piece::Bytes(more)) => last.extend(more),
                    (_, p) => all.push(p),
                }
                all
            })
        );
        // A frame over the limit: passed through too, never held beyond the limit.
        let mut s = Sessions::new(1024);
        let long = vec![b'x'; 5000];
        let out = s.feed(&long);
        assert_eq!(out, [Piece::Bytes(long)]);
    }
}
