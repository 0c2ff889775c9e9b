//! A small DER reader (and the few encoders the writer needs).
//!
//! Only what CMS SignedData and X.509 certificates use: single-byte tags (tag numbers
//! below 31), definite lengths in minimal form, at most 4 length bytes. BER forms
//! (indefinite lengths, long-form lengths that could be short) are refused, so every
//! accepted encoding is the unique DER one and raw slices can be hashed as they are.
//! Offsets in errors are absolute within the outermost buffer.

use thiserror::Error;

/// Universal tags used by CMS and X.509.
pub mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    /// `[n]` constructed, context-specific.
    pub const fn context(n: u8) -> u8 {
        0xa0 | n
    }
    /// `[n]` primitive, context-specific.
    pub const fn context_primitive(n: u8) -> u8 {
        0x80 | n
    }
}

/// A malformed or unexpected DER encoding.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Error {
    #[error("der: truncated element at byte {offset}")]
    Truncated { offset: usize },
    #[error("der: multi-byte tag at byte {offset} is not supported")]
    HighTag { offset: usize },
    #[error("der: indefinite length at byte {offset} (BER, not DER)")]
    Indefinite { offset: usize },
    #[error("der: length at byte {offset} is not minimally encoded")]
    NonMinimalLength { offset: usize },
    #[error("der: length at byte {offset} exceeds 4 bytes")]
    LengthTooLarge { offset: usize },
    #[error("der: expected tag {expected:#04x} at byte {offset}, found {found:#04x}")]
    UnexpectedTag {
        expected: u8,
        found: u8,
        offset: usize,
    },
    #[error("der: {count} unexpected trailing bytes at byte {offset}")]
    Trailing { offset: usize, count: usize },
    #[error("der: missing element at byte {offset}")]
    Missing { offset: usize },
}

/// One element: its tag, its contents and the whole encoding (tag, length, contents).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    pub raw: &'a [u8],
    /// Absolute offset of the contents.
    pub value_offset: usize,
}

impl<'a> Tlv<'a> {
    /// A reader over the contents of this (constructed) element.
    pub fn reader(&self) -> Reader<'a> {
        Reader {
            data: self.value,
            pos: 0,
            base: self.value_offset,
        }
    }
}

/// Reads consecutive elements from a buffer.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader {
            data,
            pos: 0,
            base: 0,
        }
    }

    /// Absolute offset of the next element.
    pub fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The tag of the next element, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    fn byte(&self, at: usize) -> Result<u8, Error> {
        self.data.get(at).copied().ok_or(Error::Truncated {
            offset: self.offset(),
        })
    }

    /// The next element, whatever its tag.
    pub fn any(&mut self) -> Result<Tlv<'a>, Error> {
        let start = self.pos;
        let offset = self.offset();
        let tag = self.byte(start)?;
        if tag & 0x1f == 0x1f {
            return Err(Error::HighTag { offset });
        }
        let first = self.byte(start.saturating_add(1))?;
        let mut header = 2usize;
        let len = if first < 0x80 {
            usize::from(first)
        } else if first == 0x80 {
            return Err(Error::Indefinite { offset });
        } else {
            let count = usize::from(first & 0x7f);
            if count > 4 {
                return Err(Error::LengthTooLarge { offset });
            }
            let mut len = 0usize;
            for i in 0..count {
                let b = self.byte(start.saturating_add(2).saturating_add(i))?;
                if i == 0 && b == 0 {
                    return Err(Error::NonMinimalLength { offset });
                }
                len = (len << 8) | usize::from(b);
            }
            if len < 0x80 {
                return Err(Error::NonMinimalLength { offset });
            }
            header = header.saturating_add(count);
            len
        };
        let value_start = start.saturating_add(header);
        let end = value_start
            .checked_add(len)
            .filter(|end| *end <= self.data.len())
            .ok_or(Error::Truncated { offset })?;
        let value = self
            .data
            .get(value_start..end)
            .ok_or(Error::Truncated { offset })?;
        let raw = self
            .data
            .get(start..end)
            .ok_or(Error::Truncated { offset })?;
        self.pos = end;
        Ok(Tlv {
            tag,
            value,
            raw,
            value_offset: self.base.saturating_add(value_start),
        })
    }

    /// The next element, which must have tag `expected`.
    pub fn expect(&mut self, expected: u8) -> Result<Tlv<'a>, Error> {
        let offset = self.offset();
        match self.peek_tag() {
            None => Err(Error::Missing { offset }),
            Some(found) if found != expected => Err(Error::UnexpectedTag {
                expected,
                found,
                offset,
            }),
            Some(_) => self.any(),
        }
    }

    /// The next element if it has tag `tag`, else nothing (and nothing is consumed).
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, Error> {
        if self.peek_tag() == Some(tag) {
            self.any().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails if anything is left.
    pub fn finish(&self) -> Result<(), Error> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::Trailing {
                offset: self.offset(),
                count: self.data.len().saturating_sub(self.pos),
            })
        }
    }
}

/// Reads exactly one element of tag `expected` spanning all of `data`.
pub fn single(data: &[u8], expected: u8) -> Result<Tlv<'_>, Error> {
    let mut reader = Reader::new(data);
    let tlv = reader.expect(expected)?;
    reader.finish()?;
    Ok(tlv)
}

/// Encodes one element.
pub fn encode(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len().saturating_add(6));
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(value);
    out
}

/// Encodes a constructed element from already encoded children.
pub fn encode_all(tag: u8, children: &[&[u8]]) -> Vec<u8> {
    encode(tag, &children.concat())
}

/// Encodes a non-negative INTEGER from its big-endian magnitude.
pub fn encode_small_uint(value: u8) -> Vec<u8> {
    if value >= 0x80 {
        encode(tag::INTEGER, &[0, value])
    } else {
        encode(tag::INTEGER, &[value])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nested() {
        let inner = encode(tag::OCTET_STRING, b"abc");
        let outer = encode_all(tag::SEQUENCE, &[&inner, &encode(tag::NULL, &[])]);
        let seq = single(&outer, tag::SEQUENCE).unwrap();
        let mut r = seq.reader();
        let s = r.expect(tag::OCTET_STRING).unwrap();
        assert_eq!(s.value, b"abc");
        assert_eq!(s.value_offset, 4);
        assert_eq!(r.optional(tag::INTEGER).unwrap(), None);
        r.expect(tag::NULL).unwrap();
        r.finish().unwrap();
    }

    #[test]
    fn refuses_ber_and_garbage() {
        assert_eq!(
            single(&[0x30, 0x80, 0, 0], tag::SEQUENCE),
            Err(Error::Indefinite { offset: 0 })
        );
        assert_eq!(
            single(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5], tag::OCTET_STRING),
            Err(Error::NonMinimalLength { offset: 0 })
        );
        assert_eq!(
            single(&[0x04, 0x82, 0x00, 0x85], tag::OCTET_STRING),
            Err(Error::NonMinimalLength { offset: 0 })
        );
        assert_eq!(
            single(&[0x04, 0x85, 1, 1, 1, 1, 1], tag::OCTET_STRING),
            Err(Error::LengthTooLarge { offset: 0 })
        );
        assert_eq!(
            single(&[0x04, 0x03, 1], tag::OCTET_STRING),
            Err(Error::Truncated { offset: 0 })
        );
        assert_eq!(
            single(&[0x1f, 0x01, 0x00], tag::OCTET_STRING),
            Err(Error::UnexpectedTag {
                expected: 4,
                found: 0x1f,
                offset: 0
            })
        );
        assert_eq!(
            Reader::new(&[0x1f, 0x01, 0x00]).any(),
            Err(Error::HighTag { offset: 0 })
        );
        assert_eq!(
            single(&[0x05, 0x00, 0x00], tag::NULL),
            Err(Error::Trailing {
                offset: 2,
                count: 1
            })
        );
    }

    proptest! {
        #[test]
        fn round_trip(tag in 0u8..0x1f, value in proptest::collection::vec(any::<u8>(), 0..70000)) {
            let encoded = encode(tag, &value);
            let tlv = single(&encoded, tag).unwrap();
            prop_assert_eq!(tlv.value, &value[..]);
            prop_assert_eq!(tlv.raw, &encoded[..]);
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&data);
            while !r.is_empty() {
                if r.any().is_err() { break; }
            }
        }
    }
}
