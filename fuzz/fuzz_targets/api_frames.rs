//! Decode arbitrary bytes as a client's stream and as a server's stream, in pieces of
//! different sizes and with different frame limits. The decoder must never panic, never
//! hold more than its limit plus one byte, give the same frames and the same error
//! however the bytes arrive, and every message it gives must survive encode → decode.
#![no_main]
use libfuzzer_sys::fuzz_target;
use northstar_api::{
    codec::{DecodeError, Decoder, Encoder, Frame, Message},
    ClientMessage, Response, ServerMessage,
};
use std::fmt::Debug;

#[derive(Debug, PartialEq)]
enum Item<T> {
    Message(T),
    /// The raw bytes of one raw phase, joined.
    Raw(Vec<u8>),
}

/// Everything the decoder gives for `data` pushed in pieces of `piece` bytes, and how it
/// ended (an error, or the result of `finish`).
fn decode<T: Message + Debug>(
    data: &[u8],
    limit: usize,
    piece: usize,
) -> (Vec<Item<T>>, Result<(), DecodeError>) {
    let mut decoder = Decoder::<T>::new(limit);
    let mut items = Vec::new();
    let mut raw = Vec::new();
    for chunk in data.chunks(piece) {
        let mut chunk = chunk;
        loop {
            let taken = decoder.push(chunk);
            chunk = &chunk[taken..];
            assert!(decoder.buffered() <= limit + 1, "holds more than the limit");
            let mut gave = false;
            loop {
                match decoder.next_frame() {
                    Ok(None) => break,
                    Ok(Some(Frame::Message(m))) => {
                        gave = true;
                        items.push(Item::Message(m));
                    }
                    Ok(Some(Frame::Raw { data, remaining })) => {
                        gave = true;
                        assert!(!data.is_empty() && data.len() <= limit + 1);
                        raw.extend_from_slice(data);
                        if remaining == 0 {
                            items.push(Item::Raw(std::mem::take(&mut raw)));
                        }
                    }
                    Err(e) => {
                        // Final: the same error again, nothing more taken.
                        assert_eq!(decoder.next_frame().unwrap_err(), e);
                        assert_eq!(decoder.push(b"{}\n"), 0);
                        flush(&mut items, raw);
                        return (items, Err(e));
                    }
                }
            }
            if chunk.is_empty() {
                break;
            }
            assert!(taken > 0 || gave, "the decoder is stuck");
        }
    }
    flush(&mut items, raw);
    (items, decoder.finish())
}

fn flush<T>(items: &mut Vec<Item<T>>, raw: Vec<u8>) {
    if !raw.is_empty() {
        items.push(Item::Raw(raw));
    }
}

/// Decode with a few limits and piece sizes: the results agree per limit.
fn check<T: Message + Debug + PartialEq>(data: &[u8], round_trip: impl Fn(&T) -> bool) {
    for limit in [64, 4096] {
        let (items, end) = decode::<T>(data, limit, data.len().max(1));
        for piece in [1, 1 + data.len() % 13] {
            let (other, other_end) = decode::<T>(data, limit, piece);
            assert_eq!(items, other, "pieces of {piece} bytes give other frames");
            assert_eq!(end, other_end, "pieces of {piece} bytes end otherwise");
        }
        for item in &items {
            if let Item::Message(m) = item {
                if round_trip(m) {
                    let frame = Encoder::new(usize::MAX).to_vec(m).expect("encodes");
                    // (An install's announced raw bytes are missing here: only the
                    // message is compared.)
                    let (again, _) = decode::<T>(&frame, frame.len(), frame.len());
                    assert_eq!(again.first(), Some(item), "round trip changed the message");
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check::<ClientMessage>(data, |_| true);
    // A manifest's `custom` can hold floats, which JSON does not always carry bit-exactly.
    check::<ServerMessage>(data, |m| {
        !matches!(
            m,
            ServerMessage::Response {
                response: Response::Inspect(_),
                ..
            }
        )
    });
});
