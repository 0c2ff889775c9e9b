//! Property tests: every message survives encode → decode, and the decoder gives the same
//! frames whatever pieces the byte stream arrives in.

mod common;

use common::*;
use northstar_api::{
    codec::{Decoder, Encoder, Frame, Message, MAX_CLIENT_FRAME, MAX_SERVER_FRAME},
    ApiError, ClientMessage, ServerMessage,
};
use proptest::{collection::vec, prelude::*};

#[derive(Debug, PartialEq)]
enum Item<T> {
    Message(T),
    Raw(Vec<u8>),
}

/// Decode `input`, pushed in pieces whose sizes cycle through `pieces`.
fn decode<T: Message>(input: &[u8], pieces: &[usize], limit: usize) -> Vec<Item<T>> {
    let mut decoder = Decoder::<T>::new(limit);
    let mut items = Vec::new();
    let mut raw = Vec::new();
    let mut rest = input;
    for piece in pieces.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let mut chunk = &rest[..(*piece).min(rest.len())];
        rest = &rest[chunk.len()..];
        while !chunk.is_empty() {
            let taken = decoder.push(chunk);
            chunk = &chunk[taken..];
            assert!(decoder.buffered() <= decoder.capacity());
            let mut progress = taken > 0;
            while let Some(frame) = decoder.next_frame().unwrap() {
                progress = true;
                match frame {
                    Frame::Message(m) => items.push(Item::Message(m)),
                    Frame::Raw { data, remaining } => {
                        raw.extend_from_slice(data);
                        if remaining == 0 {
                            items.push(Item::Raw(std::mem::take(&mut raw)));
                        }
                    }
                }
            }
            assert!(progress, "the decoder took nothing and gave nothing");
        }
    }
    decoder.finish().unwrap();
    assert_eq!(decoder.offset(), input.len() as u64);
    items
}

fn pieces() -> impl Strategy<Value = Vec<usize>> {
    vec(1..64usize, 1..16)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// (Installs announce 0 bytes here: no raw bytes follow.)
    #[test]
    fn client_message_round_trip(message in client_message(0)) {
        let bytes = Encoder::new(MAX_CLIENT_FRAME).to_vec(&message).unwrap();
        prop_assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 1);
        let items = decode::<ClientMessage>(&bytes, &[bytes.len()], MAX_CLIENT_FRAME);
        prop_assert_eq!(items, vec![Item::Message(message)]);
    }

    #[test]
    fn server_message_round_trip(message in server_message()) {
        let bytes = Encoder::new(MAX_SERVER_FRAME).to_vec(&message).unwrap();
        prop_assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 1);
        let items = decode::<ServerMessage>(&bytes, &[bytes.len()], MAX_SERVER_FRAME);
        prop_assert_eq!(items, vec![Item::Message(message)]);
    }

    /// A client's stream, installs with their raw bytes included, in random pieces and
    /// with a limit just large enough for its largest frame (so raw bytes come in
    /// several chunks).
    #[test]
    fn client_stream_in_any_pieces(
        messages in vec((client_message(300), any::<u8>()), 1..12),
        pieces in pieces(),
    ) {
        let encoder = Encoder::new(MAX_CLIENT_FRAME);
        let mut input = Vec::new();
        let mut expected = Vec::new();
        let mut limit = 1;
        for (message, fill) in messages {
            let frame = encoder.to_vec(&message).unwrap();
            limit = limit.max(frame.len() - 1);
            input.extend(&frame);
            let raw = message.raw_len();
            expected.push(Item::Message(message));
            if let Some(size) = raw.filter(|s| *s > 0) {
                // Raw bytes that hold newlines and frames.
                let mut package: Vec<u8> = frame.iter().copied().cycle().take(size as usize).collect();
                package[0] = fill;
                input.extend(&package);
                expected.push(Item::Raw(package));
            }
        }
        prop_assert_eq!(decode::<ClientMessage>(&input, &pieces, limit), expected);
    }

    #[test]
    fn server_stream_in_any_pieces(
        messages in vec(server_message(), 1..12),
        pieces in pieces(),
    ) {
        let encoder = Encoder::new(MAX_SERVER_FRAME);
        let mut input = Vec::new();
        for m in &messages {
            encoder.encode(m, &mut input).unwrap();
        }
        let expected: Vec<_> = messages.into_iter().map(Item::Message).collect();
        prop_assert_eq!(decode::<ServerMessage>(&input, &pieces, MAX_SERVER_FRAME), expected);
    }

    /// An oversized frame is refused once `limit + 1` of its bytes are held, whatever the
    /// pieces, and the decoder never holds more.
    #[test]
    fn oversized_frames_are_refused(
        limit in 1..300usize,
        extra in 0..300usize,
        fill in "[a-z {}\":,]",
        pieces in pieces(),
    ) {
        let flood = fill.repeat(limit + 1 + extra).into_bytes();
        let mut decoder = Decoder::<ClientMessage>::new(limit);
        let mut taken_total = 0;
        let mut rest = &flood[..];
        let mut error = None;
        'outer: for piece in pieces.iter().cycle() {
            let mut chunk = &rest[..(*piece).min(rest.len())];
            rest = &rest[chunk.len()..];
            loop {
                let taken = decoder.push(chunk);
                taken_total += taken;
                chunk = &chunk[taken..];
                prop_assert!(decoder.buffered() <= limit + 1);
                match decoder.next_frame() {
                    Ok(None) => {}
                    Ok(Some(_)) => prop_assert!(false, "no frame in a flood"),
                    Err(e) => {
                        error = Some(e);
                        break 'outer;
                    }
                }
                if chunk.is_empty() {
                    break;
                }
            }
            prop_assert!(!rest.is_empty(), "the flood ended without an error");
        }
        prop_assert_eq!(taken_total, limit + 1);
        prop_assert_eq!(
            error.unwrap().to_api_error(),
            ApiError::FrameTooLarge { limit: limit as u64 }
        );
    }

    /// The error frame's code is the error's code, its message the error's text.
    #[test]
    fn error_frames(error in api_error()) {
        let message = ServerMessage::error(None, error.clone());
        let json = serde_json::to_value(&message).unwrap();
        prop_assert_eq!(json["error"]["code"].as_str(), Some(error.code()));
        prop_assert!(ApiError::CODES.contains(&error.code()));
        let text = error.to_string();
        prop_assert_eq!(json["message"].as_str(), Some(text.as_str()));
        prop_assert!(!text.is_empty());
    }

    /// Whatever is announced, a value's type and its wire `type` agree.
    #[test]
    fn request_name_is_the_wire_type(request in request(u64::MAX)) {
        let json = serde_json::to_value(&request).unwrap();
        prop_assert_eq!(json["type"].as_str(), Some(request.name()));
    }
}

#[test]
fn error_codes_are_unique() {
    let mut codes = ApiError::CODES.to_vec();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), ApiError::CODES.len());
}
