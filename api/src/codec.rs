//! Framing: how messages become bytes and bytes become messages.
//!
//! A frame is one JSON object on one line: the compact JSON text (which never holds a raw
//! newline: newlines inside strings are escaped) followed by `\n`. A frame's length is
//! counted without its newline and is limited: a decoder refuses a longer frame as soon
//! as it holds `limit + 1` bytes of it without a newline, and never holds more than
//! `limit + 1` bytes at all, whatever it is given. Memory per connection is bounded by the
//! limit.
//!
//! After a message that announces raw bytes ([`Message::raw_len`]: an `install` request
//! or a `system_install` with its `size`, an `update` with the sizes of its packages
//! together), exactly that many bytes follow on the stream, not framed, not encoded. The decoder switches to that mode by itself and hands them out as
//! [`Frame::Raw`] chunks, then returns to lines.
//!
//! Every decode error is final: the stream is no longer known to be in step (a broken
//! frame could have been an `install` whose bytes follow), so the decoder keeps returning
//! the error, and the server answers it and closes the connection.

use crate::{error::ApiError, types::RequestId};
use serde::{de::DeserializeOwned, Serialize};
use std::marker::PhantomData;

/// Default limit of a client's frames, which the server's decoder applies (a container's
/// manifest can set its own: `console.max_request_size`).
pub const MAX_CLIENT_FRAME: usize = 64 * 1024;

/// Limit of a server's frames: the client's decoder applies it, and the server's encoder
/// refuses to produce a longer one.
pub const MAX_SERVER_FRAME: usize = 4 * 1024 * 1024;

/// Longest error message a decode error carries (serde's messages can quote the input).
const MAX_MESSAGE: usize = 256;

/// A type that is sent as frames.
pub trait Message: Serialize + DeserializeOwned {
    /// Raw bytes that follow this message's frame on the stream.
    fn raw_len(&self) -> Option<u64> {
        None
    }
}

/// What the decoder hands out.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a, T> {
    /// A message.
    Message(T),
    /// The next raw bytes after a message that announced them; `remaining` are still to
    /// come after these. When it is 0 the decoder is back to frames. Never empty.
    Raw {
        /// The bytes.
        data: &'a [u8],
        /// Raw bytes still expected.
        remaining: u64,
    },
}

/// Bytes that are not a valid frame. Offsets count bytes since the start of the stream.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// More than `limit` bytes without a newline.
    #[error("frame at byte {frame} is larger than {limit} bytes")]
    FrameTooLarge {
        /// Where the frame began.
        frame: u64,
        /// The limit.
        limit: usize,
    },
    /// A frame that is not UTF-8.
    #[error("frame at byte {frame}: invalid UTF-8 at byte {offset}")]
    Utf8 {
        /// Where the frame began.
        frame: u64,
        /// The first byte that is not UTF-8.
        offset: u64,
    },
    /// A frame that is not JSON, or not a valid message.
    #[error("frame at byte {frame}: {message} (at byte {offset})")]
    Json {
        /// Where the frame began.
        frame: u64,
        /// The byte where the JSON text breaks; the frame's start when the frame is JSON
        /// but not a valid message (then `message` names the field or value).
        offset: u64,
        /// What is wrong.
        message: String,
        /// The frame's request id, when it has a readable one.
        id: Option<RequestId>,
    },
    /// The stream ended inside a frame or inside raw bytes.
    #[error("stream ended at byte {offset} inside a frame or raw bytes ({missing})")]
    Truncated {
        /// Where the stream ended.
        offset: u64,
        /// What is missing.
        missing: String,
    },
}

impl DecodeError {
    /// The error the server answers with.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            DecodeError::FrameTooLarge { limit, .. } => ApiError::FrameTooLarge {
                limit: *limit as u64,
            },
            DecodeError::Utf8 { offset, .. } => ApiError::InvalidRequest {
                what: "invalid UTF-8".into(),
                field: None,
                offset: Some(*offset),
            },
            DecodeError::Json {
                offset, message, ..
            } => ApiError::InvalidRequest {
                what: message.clone(),
                field: None,
                offset: Some(*offset),
            },
            DecodeError::Truncated { offset, missing } => ApiError::InvalidRequest {
                what: format!("stream ended: {missing}"),
                field: None,
                offset: Some(*offset),
            },
        }
    }

    /// The request id of the broken frame, when it could be read.
    pub fn request_id(&self) -> Option<RequestId> {
        match self {
            DecodeError::Json { id, .. } => *id,
            _ => None,
        }
    }
}

/// An incremental decoder of a byte stream into frames of `T`, holding at most
/// `limit + 1` bytes.
///
/// ```
/// use northstar_api::{codec::{Decoder, Frame, MAX_CLIENT_FRAME}, ClientMessage};
/// let mut decoder = Decoder::<ClientMessage>::new(MAX_CLIENT_FRAME);
/// let mut input: &[u8] = b"{\"type\":\"request\",\"id\":1,\"request\":{\"type\":\"list\"}}\n";
/// while !input.is_empty() {
///     let taken = decoder.push(input);
///     input = &input[taken..];
///     while let Some(frame) = decoder.next_frame().unwrap() {
///         assert!(matches!(frame, Frame::Message(ClientMessage::Request { .. })));
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Decoder<T> {
    /// Bytes held; `buf[start..]` are not handed out yet.
    buf: Vec<u8>,
    start: usize,
    /// Bytes after `start` known to hold no newline.
    scanned: usize,
    /// Stream offset of `buf[start]`.
    offset: u64,
    limit: usize,
    /// Raw bytes still to hand out; 0: frames.
    raw: u64,
    failed: Option<DecodeError>,
    message: PhantomData<fn() -> T>,
}

impl<T: Message> Decoder<T> {
    /// A decoder of frames of at most `limit` bytes (without the newline).
    pub fn new(limit: usize) -> Decoder<T> {
        Decoder {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            offset: 0,
            limit,
            raw: 0,
            failed: None,
            message: PhantomData,
        }
    }

    /// The frame limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Most bytes the decoder holds: a frame of `limit` bytes and its newline.
    pub fn capacity(&self) -> usize {
        self.limit.saturating_add(1)
    }

    /// Bytes taken but not handed out yet.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Bytes handed out so far (frames with their newlines, and raw bytes).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Raw bytes still expected; 0 when the decoder reads frames.
    pub fn raw_remaining(&self) -> u64 {
        self.raw
    }

    /// Take bytes of the stream. Returns how many were taken: fewer than given when the
    /// decoder is full, then [`Decoder::next_frame`] makes room (or reports a frame that is
    /// too large), and the rest is pushed again. Takes nothing after an error.
    pub fn push(&mut self, data: &[u8]) -> usize {
        if self.failed.is_some() {
            return 0;
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let take = data.len().min(self.capacity() - self.buf.len());
        if take == 0 {
            return 0;
        }
        let needed = self.buf.len() + take;
        if needed > self.buf.capacity() {
            // Grow geometrically, but never past the capacity.
            let target = needed
                .max(self.buf.capacity().saturating_mul(2))
                .max(4096)
                .min(self.capacity());
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(&data[..take]);
        take
    }

    /// The next complete frame, `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_, T>>, DecodeError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        if self.raw > 0 {
            return Ok(self.next_raw());
        }
        let pending = &self.buf[self.start..];
        let Some(newline) = pending[self.scanned..].iter().position(|b| *b == b'\n') else {
            self.scanned = pending.len();
            if pending.len() > self.limit {
                return Err(self.fail(DecodeError::FrameTooLarge {
                    frame: self.offset,
                    limit: self.limit,
                }));
            }
            return Ok(None);
        };
        let len = self.scanned + newline;
        let frame = self.offset;
        if len > self.limit {
            return Err(self.fail(DecodeError::FrameTooLarge {
                frame,
                limit: self.limit,
            }));
        }
        let begin = self.start;
        self.start += len + 1;
        self.offset += len as u64 + 1;
        self.scanned = 0;
        match parse::<T>(&self.buf[begin..begin + len], frame) {
            Ok(message) => {
                self.raw = message.raw_len().unwrap_or(0);
                Ok(Some(Frame::Message(message)))
            }
            Err(error) => Err(self.fail(error)),
        }
    }

    /// Call at the end of the stream, after [`Decoder::next_frame`] returned `None`: an
    /// error when the stream ended inside a frame or inside raw bytes.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let pending = self.buffered() as u64;
        let missing = if self.raw > 0 {
            format!("{} raw bytes", self.raw.saturating_sub(pending))
        } else if pending > 0 {
            format!("the newline of a frame of {pending} bytes")
        } else {
            return Ok(());
        };
        Err(DecodeError::Truncated {
            offset: self.offset + pending,
            missing,
        })
    }

    fn next_raw(&mut self) -> Option<Frame<'_, T>> {
        let available = self.buf.len() - self.start;
        if available == 0 {
            return None;
        }
        // `available` fits in usize, so the minimum does too.
        let n = (available as u64).min(self.raw) as usize;
        let begin = self.start;
        self.start += n;
        self.offset += n as u64;
        self.raw -= n as u64;
        Some(Frame::Raw {
            data: &self.buf[begin..begin + n],
            remaining: self.raw,
        })
    }

    fn fail(&mut self, error: DecodeError) -> DecodeError {
        // Nothing more is decoded: drop what is held.
        self.buf = Vec::new();
        self.start = 0;
        self.scanned = 0;
        self.failed = Some(error.clone());
        error
    }
}

/// Parse one frame (without its newline) that began at stream offset `frame`.
fn parse<T: Message>(line: &[u8], frame: u64) -> Result<T, DecodeError> {
    let text = std::str::from_utf8(line).map_err(|e| DecodeError::Utf8 {
        frame,
        offset: frame + e.valid_up_to() as u64,
    })?;
    serde_json::from_str(text).map_err(|e| {
        // serde_json's column is 1-based and counts bytes on the (single) line. Errors found
        // after the text was buffered (tagged enums: every message) have no position (0).
        let column = e.column().saturating_sub(1) as u64;
        let full = e.to_string();
        let position = format!(" at line {} column {}", e.line(), e.column());
        let message = shorten(full.strip_suffix(&position).unwrap_or(&full));
        let id = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("id")?.as_u64())
            .map(RequestId);
        DecodeError::Json {
            frame,
            offset: frame + column,
            message,
            id,
        }
    })
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// A message that cannot be sent.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The frame would be longer than the limit.
    #[error("frame of {size} bytes is larger than the limit of {limit} bytes")]
    FrameTooLarge {
        /// The frame's length without its newline.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Serialization failed.
    #[error("cannot encode the message")]
    Json(#[source] serde_json::Error),
}

/// Turns messages into frames of at most `limit` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoder {
    limit: usize,
}

impl Encoder {
    /// An encoder of frames of at most `limit` bytes (without the newline).
    pub fn new(limit: usize) -> Encoder {
        Encoder { limit }
    }

    /// Append the frame of `message` (JSON and newline) to `out`. On error `out` is left
    /// as it was.
    pub fn encode<T: Serialize>(&self, message: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let begin = out.len();
        if let Err(e) = serde_json::to_writer(&mut *out, message) {
            out.truncate(begin);
            return Err(EncodeError::Json(e));
        }
        let size = out.len() - begin;
        if size > self.limit {
            out.truncate(begin);
            return Err(EncodeError::FrameTooLarge {
                size,
                limit: self.limit,
            });
        }
        out.push(b'\n');
        Ok(())
    }

    /// The frame of `message`.
    pub fn to_vec<T: Serialize>(&self, message: &T) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode(message, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
