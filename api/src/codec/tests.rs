use super::*;
use crate::{ClientMessage, Request, ServerMessage};

fn list(id: u64) -> ClientMessage {
    ClientMessage::Request {
        id: RequestId(id),
        request: Request::List {},
    }
}

fn install(id: u64, size: u64) -> ClientMessage {
    ClientMessage::Request {
        id: RequestId(id),
        request: Request::Install {
            repository: crate::RepositoryName::new("default").unwrap(),
            size,
            sha256: None,
        },
    }
}

fn frame(message: &ClientMessage) -> Vec<u8> {
    Encoder::new(MAX_CLIENT_FRAME).to_vec(message).unwrap()
}

/// Everything a decoder yields for `input` pushed in pieces of `piece` bytes: messages,
/// and the raw bytes joined per raw phase.
#[derive(Debug, PartialEq)]
enum Item {
    Message(ClientMessage),
    Raw(Vec<u8>),
}

fn decode_all(
    decoder: &mut Decoder<ClientMessage>,
    input: &[u8],
    piece: usize,
) -> Result<Vec<Item>, DecodeError> {
    let mut items = Vec::new();
    let mut raw = Vec::new();
    for chunk in input.chunks(piece) {
        let mut chunk = chunk;
        loop {
            let taken = decoder.push(chunk);
            chunk = &chunk[taken..];
            assert!(decoder.buf.len() <= decoder.capacity());
            assert!(decoder.buf.capacity() <= decoder.capacity());
            while let Some(frame) = decoder.next_frame()? {
                match frame {
                    Frame::Message(m) => items.push(Item::Message(m)),
                    Frame::Raw { data, remaining } => {
                        assert!(!data.is_empty());
                        raw.extend_from_slice(data);
                        if remaining == 0 {
                            items.push(Item::Raw(std::mem::take(&mut raw)));
                        }
                    }
                }
            }
            if chunk.is_empty() {
                break;
            }
            assert!(taken > 0 || decoder.push(chunk) > 0, "decoder stuck");
        }
    }
    Ok(items)
}

#[test]
fn frames_in_any_pieces() {
    let mut input = frame(&list(1));
    input.extend(frame(&list(2)));
    let expected = vec![Item::Message(list(1)), Item::Message(list(2))];
    for piece in 1..=input.len() {
        let mut decoder = Decoder::new(64);
        assert_eq!(decode_all(&mut decoder, &input, piece).unwrap(), expected);
        assert_eq!(decoder.offset(), input.len() as u64);
        decoder.finish().unwrap();
    }
}

#[test]
fn frame_of_exactly_the_limit() {
    let bytes = frame(&list(12345));
    let limit = bytes.len() - 1;
    let mut decoder = Decoder::<ClientMessage>::new(limit);
    assert_eq!(decoder.push(&bytes), bytes.len());
    assert!(matches!(decoder.next_frame(), Ok(Some(Frame::Message(_)))));
    // One byte less is refused, by the encoder and by the decoder.
    assert!(matches!(
        Encoder::new(limit - 1).to_vec(&list(12345)),
        Err(EncodeError::FrameTooLarge { size, limit: l }) if size == limit && l == limit - 1
    ));
    let mut decoder = Decoder::<ClientMessage>::new(limit - 1);
    assert_eq!(decoder.push(&bytes), limit);
    assert_eq!(
        decoder.next_frame().unwrap_err(),
        DecodeError::FrameTooLarge {
            frame: 0,
            limit: limit - 1
        }
    );
}

#[test]
fn oversized_frame_is_refused_with_bounded_memory() {
    let limit = 100;
    let mut decoder = Decoder::<ClientMessage>::new(limit);
    // A valid frame, then a flood without a newline, given in one piece.
    let mut input = frame(&list(1));
    input.extend(std::iter::repeat_n(b'x', 1 << 20));
    let taken = decoder.push(&input);
    assert_eq!(taken, limit + 1, "takes no more than it may hold");
    assert!(matches!(decoder.next_frame(), Ok(Some(Frame::Message(_)))));
    let mut rest = &input[taken..];
    let error = loop {
        let taken = decoder.push(rest);
        rest = &rest[taken..];
        assert!(decoder.buf.len() <= limit + 1);
        assert!(decoder.buf.capacity() <= limit + 1);
        match decoder.next_frame() {
            Ok(None) => {}
            Ok(Some(_)) => panic!("no frame in the flood"),
            Err(e) => break e,
        }
    };
    let first = frame(&list(1)).len() as u64;
    assert_eq!(
        error,
        DecodeError::FrameTooLarge {
            frame: first,
            limit
        }
    );
    // The flood was refused after limit + 1 of its bytes.
    assert_eq!(input.len() - rest.len(), first as usize + limit + 1);
    assert_eq!(
        error.to_api_error(),
        ApiError::FrameTooLarge {
            limit: limit as u64
        }
    );
    // Final: nothing more is taken, the same error again, memory released.
    assert_eq!(decoder.push(b"\n"), 0);
    assert_eq!(decoder.next_frame().unwrap_err(), error);
    assert_eq!(decoder.finish().unwrap_err(), error);
    assert_eq!(decoder.buf.capacity(), 0);
}

#[test]
fn a_long_line_with_its_newline_past_the_limit_is_refused() {
    let limit = 10;
    let mut decoder = Decoder::<ClientMessage>::new(limit);
    let mut line = vec![b' '; limit + 1];
    line.push(b'\n');
    assert_eq!(decoder.push(&line), limit + 1);
    assert!(matches!(
        decoder.next_frame(),
        Err(DecodeError::FrameTooLarge { frame: 0, .. })
    ));
}

#[test]
fn utf8_error_names_the_byte() {
    let mut input = frame(&list(1));
    let first = input.len() as u64;
    input.extend_from_slice(b"{\"type\":\"hel\xfflo\"}\n");
    let mut decoder = Decoder::<ClientMessage>::new(MAX_CLIENT_FRAME);
    let error = decode_all(&mut decoder, &input, 7).unwrap_err();
    assert_eq!(
        error,
        DecodeError::Utf8 {
            frame: first,
            offset: first + 12
        }
    );
    assert!(matches!(
        error.to_api_error(),
        ApiError::InvalidRequest { offset: Some(o), .. } if o == first + 12
    ));
}

#[test]
fn json_error_names_the_byte_and_keeps_the_id() {
    let mut input = frame(&list(1));
    let first = input.len() as u64;
    input.extend_from_slice(b"{\"type\":\"request\",\"id\":7,\"request\":{\"type\":\"format\"}}\n");
    let mut decoder = Decoder::<ClientMessage>::new(MAX_CLIENT_FRAME);
    let error = decode_all(&mut decoder, &input, 1000).unwrap_err();
    let DecodeError::Json {
        frame,
        offset,
        ref message,
        id,
    } = error
    else {
        panic!("{error:?}");
    };
    assert_eq!(frame, first);
    // A valid JSON text that is not a valid message: the offset is the frame's start.
    assert_eq!(offset, first);
    assert!(message.contains("unknown variant `format`"), "{message}");
    assert!(!message.contains("line 1"), "{message}");
    assert_eq!(id, Some(RequestId(7)));
    assert_eq!(error.request_id(), Some(RequestId(7)));

    // Not JSON at all: the offset is the offending byte.
    let mut decoder = Decoder::<ClientMessage>::new(MAX_CLIENT_FRAME);
    decoder.push(b"{\"type\" x}\n");
    assert!(matches!(
        decoder.next_frame(),
        Err(DecodeError::Json {
            offset: 8,
            id: None,
            ..
        })
    ));
    // An empty line is not a message.
    let mut decoder = Decoder::<ClientMessage>::new(MAX_CLIENT_FRAME);
    decoder.push(b"\n");
    assert!(matches!(
        decoder.next_frame(),
        Err(DecodeError::Json { .. })
    ));
}

#[test]
fn invalid_values_are_refused_by_the_decoder() {
    let frames: [&[u8]; 5] = [
        br#"{"type":"request","id":1,"request":{"type":"kill","container":"a:1.0.0","signal":0}}"#,
        br#"{"type":"request","id":1,"request":{"type":"inspect","container":"../a:1.0.0"}}"#,
        br#"{"type":"request","id":1,"request":{"type":"start","container":"a:1.0.0","env":{"NORTHSTAR_X":""}}}"#,
        br#"{"type":"hello","version":"1.0","client":"x","extra":1}"#,
        br#"{"type":"request","id":1,"request":{"type":"list"},"type":"hello"}"#,
    ];
    for bytes in frames {
        let mut decoder = Decoder::<ClientMessage>::new(MAX_CLIENT_FRAME);
        decoder.push(bytes);
        decoder.push(b"\n");
        let error = decoder.next_frame().unwrap_err();
        assert_eq!(error.to_api_error().code(), "invalid_request", "{error}");
    }
}

#[test]
fn long_messages_are_shortened() {
    let name = "x".repeat(10_000);
    let line = format!(r#"{{"type":"request","id":1,"request":{{"type":"{name}"}}}}"#);
    let mut decoder = Decoder::<ClientMessage>::new(MAX_CLIENT_FRAME);
    decoder.push(line.as_bytes());
    decoder.push(b"\n");
    let error = decoder.next_frame().unwrap_err();
    assert!(error.to_string().len() < 2 * MAX_MESSAGE, "{error}");
}

#[test]
fn raw_bytes_follow_an_install() {
    let package: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    // The package holds newlines and looks like frames: it must not be read as frames.
    let mut package = package;
    package.extend(frame(&list(99)));
    let mut input = frame(&install(1, package.len() as u64));
    input.extend(&package);
    input.extend(frame(&list(2)));
    let expected = vec![
        Item::Message(install(1, package.len() as u64)),
        Item::Raw(package.clone()),
        Item::Message(list(2)),
    ];
    for piece in [1, 2, 3, 7, 64, 65, 200, input.len()] {
        // A limit smaller than the package: raw bytes come in several chunks.
        let mut decoder = Decoder::new(200);
        assert_eq!(decode_all(&mut decoder, &input, piece).unwrap(), expected);
        decoder.finish().unwrap();
    }
}

#[test]
fn an_empty_install_has_no_raw_bytes() {
    let mut input = frame(&install(1, 0));
    input.extend(frame(&list(2)));
    let mut decoder = Decoder::new(MAX_CLIENT_FRAME);
    assert_eq!(
        decode_all(&mut decoder, &input, 5).unwrap(),
        vec![Item::Message(install(1, 0)), Item::Message(list(2))]
    );
}

#[test]
fn truncated_streams() {
    let mut decoder = Decoder::<ClientMessage>::new(MAX_CLIENT_FRAME);
    decoder.push(b"{\"type\":");
    assert!(decoder.next_frame().unwrap().is_none());
    assert!(matches!(
        decoder.finish(),
        Err(DecodeError::Truncated { offset: 8, .. })
    ));

    let mut decoder = Decoder::<ClientMessage>::new(MAX_CLIENT_FRAME);
    let mut input = frame(&install(1, 10));
    input.extend_from_slice(b"0123");
    decode_all(&mut decoder, &input, 3).unwrap();
    assert_eq!(decoder.raw_remaining(), 6);
    let error = decoder.finish().unwrap_err();
    assert!(error.to_string().contains("6 raw bytes"), "{error}");
    assert_eq!(error.to_api_error().code(), "invalid_request");
}

#[test]
fn encoder_escapes_newlines_and_keeps_out_on_error() {
    let message = ServerMessage::Log {
        id: RequestId(1),
        lines: vec!["a\nb\r\n".into(), "\u{2028}".into()],
    };
    let bytes = Encoder::new(MAX_SERVER_FRAME).to_vec(&message).unwrap();
    assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 1);
    assert_eq!(bytes.last(), Some(&b'\n'));

    let mut out = b"kept".to_vec();
    assert!(Encoder::new(10).encode(&message, &mut out).is_err());
    assert_eq!(out, b"kept");
}
