//! `DM_TABLE_STATUS`: the status line of each target of a device's active table (what
//! `dmsetup status` shows), e.g. `V -` for a dm-verity target that has found no
//! corruption.
//!
//! The kernel writes the reply into the request's own buffer: after the header, at
//! `data_start`, one `struct dm_target_spec` per target, each followed by its
//! NUL-terminated status line; a spec's `next` is the offset of the following spec from
//! `data_start` (not from the spec itself, as in a table load). When the lines do not fit
//! it sets [`BUFFER_FULL_FLAG`]; [`table_status`] then asks again with a buffer twice the
//! size, up to [`STATUS_BUFFER_LIMIT`].

use super::{
    get_u32, get_u64, ioctl, put, validate_name, Command, Error, Header, Reply, Request, Target,
    TargetSpec, BUFFER_FULL_FLAG, HEADER_SIZE, SPEC_SIZE,
};
use std::{mem::offset_of, os::fd::BorrowedFd};

/// The first buffer a status request uses (header included).
pub const STATUS_BUFFER: usize = 4096;
/// The largest buffer a status request grows to.
pub const STATUS_BUFFER_LIMIT: usize = 1 << 20;

const COMMAND: &str = "DM_TABLE_STATUS";

/// `DM_TABLE_STATUS` of the device `name`: each target of its active table with its
/// status line in [`Target::params`].
pub fn table_status(control: BorrowedFd<'_>, name: &str) -> Result<Vec<Target>, Error> {
    validate_name(name)?;
    let header = Request {
        name,
        ..Request::default()
    }
    .encode()?;
    let buf = grow(STATUS_BUFFER, STATUS_BUFFER_LIMIT, |size| {
        let mut buf = with_room(&header, size)?;
        let reply = ioctl(control, Command::TableStatus, &mut buf)?;
        Ok((reply, buf))
    })?;
    decode_status(&buf)
}

/// `header` (an encoded request without targets) in a buffer of `size` bytes, its
/// `data_size` saying so.
fn with_room(header: &[u8], size: usize) -> Result<Vec<u8>, Error> {
    let mut buf = header.to_vec();
    buf.resize(size.max(header.len()), 0);
    let len = u32::try_from(buf.len()).map_err(|_| Error::TooLarge(buf.len()))?;
    put(
        &mut buf,
        &[(
            offset_of!(Header, data_size),
            "data_size",
            &len.to_ne_bytes(),
        )],
    )?;
    Ok(buf)
}

/// Run `attempt` with a buffer of `start` bytes, doubled while the reply says
/// [`BUFFER_FULL_FLAG`], up to `limit` bytes; the buffer of the first complete reply.
fn grow(
    start: usize,
    limit: usize,
    mut attempt: impl FnMut(usize) -> Result<(Reply, Vec<u8>), Error>,
) -> Result<Vec<u8>, Error> {
    let mut size = start.min(limit);
    loop {
        let (reply, buf) = attempt(size)?;
        if reply.flags & BUFFER_FULL_FLAG == 0 {
            return Ok(buf);
        }
        if size >= limit {
            return Err(Error::ReplyTooLarge {
                command: COMMAND,
                limit,
            });
        }
        size = size.saturating_mul(2).min(limit);
    }
}

fn malformed(reason: String) -> Error {
    Error::Malformed {
        command: COMMAND,
        reason,
    }
}

/// The bytes of `buf` from `at` up to (without) the first NUL before `end`.
fn c_string(buf: &[u8], at: usize, end: usize, field: &str) -> Result<String, Error> {
    let bytes = buf
        .get(at..end)
        .ok_or_else(|| malformed(format!("{field} at byte {at} lies outside the reply")))?;
    let len = bytes
        .iter()
        .position(|b| *b == 0)
        .ok_or_else(|| malformed(format!("{field} at byte {at} has no terminating NUL")))?;
    let text = bytes.get(..len).unwrap_or_default();
    String::from_utf8(text.to_vec())
        .map_err(|_| malformed(format!("{field} at byte {at} is not UTF-8")))
}

/// Read the targets and their status lines from a `DM_TABLE_STATUS` reply buffer. Every
/// offset is checked against the buffer and the reply's `data_size`; each spec must lie
/// after the one before, so a malformed reply cannot loop.
pub fn decode_status(buf: &[u8]) -> Result<Vec<Target>, Error> {
    let reply = Reply::decode(buf)
        .ok_or_else(|| malformed(format!("{} bytes, shorter than the header", buf.len())))?;
    let field = |name: &str, at: usize| {
        get_u32(buf, at)
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| malformed(format!("no {name}")))
    };
    let data_start = field("data_start", offset_of!(Header, data_start))?;
    let data_size = field("data_size", offset_of!(Header, data_size))?;
    let end = data_size.min(buf.len());
    if data_start < HEADER_SIZE || data_start > end {
        return Err(malformed(format!(
            "data_start {data_start} outside {HEADER_SIZE}..={end}"
        )));
    }
    let count = usize::try_from(reply.target_count).unwrap_or(usize::MAX);
    let mut targets = Vec::new();
    let mut at = data_start;
    for index in 0..count {
        let text_at = at
            .checked_add(SPEC_SIZE)
            .filter(|t| *t <= end)
            .ok_or_else(|| {
                malformed(format!("target {index} at byte {at} runs past byte {end}"))
            })?;
        let number = |offset: usize| {
            at.checked_add(offset)
                .and_then(|a| get_u64(buf, a))
                .ok_or_else(|| malformed(format!("target {index} is cut short")))
        };
        let start = number(offset_of!(TargetSpec, sector_start))?;
        let length = number(offset_of!(TargetSpec, length))?;
        let kind_at = at.saturating_add(offset_of!(TargetSpec, target_type));
        let kind = c_string(buf, kind_at, text_at, "target type")?;
        let params = c_string(buf, text_at, end, "status line")?;
        let next = field("next", at.saturating_add(offset_of!(TargetSpec, next)))?;
        // The line and its NUL lie before the next spec.
        let after = text_at.saturating_add(params.len());
        targets.push(Target {
            start,
            length,
            kind,
            params,
        });
        if index.saturating_add(1) < count {
            let following = data_start.saturating_add(next);
            if following <= after {
                return Err(malformed(format!(
                    "target {index}: next spec at byte {following} overlaps it"
                )));
            }
            at = following;
        }
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dm::BUFFER_FULL_FLAG;
    use proptest::prelude::*;

    /// A reply as the kernel's `retrieve_status` writes it into a buffer of `size` bytes:
    /// data_start after the header (8-aligned), each spec with `next` relative to
    /// data_start, data_size the end of the last line; BUFFER_FULL when a spec or line
    /// does not fit.
    fn kernel_reply(targets: &[Target], size: usize) -> Vec<u8> {
        let mut buf = with_room(
            &Request {
                name: "northstar-x-0.0.1",
                ..Request::default()
            }
            .encode()
            .unwrap(),
            size,
        )
        .unwrap();
        let data_start = HEADER_SIZE.next_multiple_of(8);
        let len = size - data_start;
        let mut out = 0usize;
        let mut used = 0usize;
        let mut flags = 0u32;
        for t in targets {
            if len - out <= SPEC_SIZE {
                flags |= BUFFER_FULL_FLAG;
                break;
            }
            let spec = data_start + out;
            buf[spec..spec + 8].copy_from_slice(&t.start.to_ne_bytes());
            buf[spec + 8..spec + 16].copy_from_slice(&t.length.to_ne_bytes());
            buf[spec + 24..spec + 24 + t.kind.len()].copy_from_slice(t.kind.as_bytes());
            out += SPEC_SIZE;
            let remaining = len - out;
            let line = t.params.as_bytes();
            // The target writes at most `remaining` bytes, NUL included.
            let written = line.len().min(remaining - 1);
            let text = data_start + out;
            buf[text..text + written].copy_from_slice(&line[..written]);
            buf[text + written] = 0;
            if written + 1 == remaining {
                flags |= BUFFER_FULL_FLAG;
                break;
            }
            out += written + 1;
            used = data_start + out;
            out = out.next_multiple_of(8);
            buf[spec + 20..spec + 24].copy_from_slice(&(out as u32).to_ne_bytes());
        }
        let put32 = |buf: &mut Vec<u8>, at: usize, v: u32| {
            buf[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        };
        put32(&mut buf, 16, data_start as u32);
        if used != 0 {
            put32(&mut buf, 12, used as u32);
        }
        put32(&mut buf, 20, targets.len() as u32);
        put32(&mut buf, 28, flags);
        buf
    }

    fn verity(status: &str) -> Target {
        Target {
            start: 0,
            length: 80,
            kind: "verity".into(),
            params: status.into(),
        }
    }

    #[test]
    fn a_verity_status_reply() {
        for status in ["V -", "C -", "C 3"] {
            let buf = kernel_reply(&[verity(status)], STATUS_BUFFER);
            assert_eq!(get_u32(&buf, 28).unwrap() & BUFFER_FULL_FLAG, 0);
            assert_eq!(decode_status(&buf).unwrap(), vec![verity(status)]);
        }
    }

    #[test]
    fn next_counts_from_data_start() {
        let targets = [
            verity("V -"),
            Target {
                start: 80,
                length: 8,
                kind: "linear".into(),
                params: String::new(),
            },
            verity("C -"),
        ];
        let buf = kernel_reply(&targets, STATUS_BUFFER);
        // The second spec: 40 + "V -\0" rounded up to 8 bytes after data_start.
        assert_eq!(get_u32(&buf, 312 + 20), Some(48));
        assert_eq!(decode_status(&buf).unwrap(), targets);
    }

    #[test]
    fn malformed_replies_are_errors() {
        let good = kernel_reply(&[verity("V -"), verity("V -")], STATUS_BUFFER);
        assert!(
            decode_status(&good[..300]).is_err(),
            "shorter than the header"
        );
        // `next` pointing back at the spec itself would loop.
        let mut back = good.clone();
        back[312 + 20..312 + 24].copy_from_slice(&0u32.to_ne_bytes());
        let e = decode_status(&back).unwrap_err();
        assert!(e.to_string().contains("overlaps"), "{e}");
        // More targets than the bytes hold.
        let mut many = good.clone();
        many[20..24].copy_from_slice(&1000u32.to_ne_bytes());
        let e = decode_status(&many).unwrap_err();
        assert!(e.to_string().contains("runs past"), "{e}");
        // A line without its NUL inside data_size.
        let mut cut = good.clone();
        cut[12..16].copy_from_slice(&(312u32 + 42).to_ne_bytes());
        assert!(decode_status(&cut).is_err());
        // data_start inside the header.
        let mut start = good;
        start[16..20].copy_from_slice(&100u32.to_ne_bytes());
        let e = decode_status(&start).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("DM_TABLE_STATUS: malformed reply"),
            "{e}"
        );
    }

    #[test]
    fn a_full_buffer_is_asked_again_bigger() {
        let long = verity(&"x".repeat(10_000));
        let mut sizes = Vec::new();
        let buf = grow(STATUS_BUFFER, STATUS_BUFFER_LIMIT, |size| {
            sizes.push(size);
            let buf = kernel_reply(std::slice::from_ref(&long), size);
            Ok((Reply::decode(&buf).unwrap(), buf))
        })
        .unwrap();
        assert_eq!(sizes, [4096, 8192, 16384]);
        assert_eq!(decode_status(&buf).unwrap(), vec![long.clone()]);
        // Never past the limit.
        let mut sizes = Vec::new();
        let e = grow(STATUS_BUFFER, 8192, |size| {
            sizes.push(size);
            let buf = kernel_reply(std::slice::from_ref(&long), size);
            Ok((Reply::decode(&buf).unwrap(), buf))
        })
        .unwrap_err();
        assert_eq!(sizes, [4096, 8192]);
        assert!(matches!(e, Error::ReplyTooLarge { limit: 8192, .. }), "{e}");
    }

    #[test]
    fn the_request_buffer_says_its_size() {
        let header = Request {
            name: "x",
            ..Request::default()
        }
        .encode()
        .unwrap();
        let buf = with_room(&header, STATUS_BUFFER).unwrap();
        assert_eq!(buf.len(), STATUS_BUFFER);
        assert_eq!(get_u32(&buf, 12), Some(STATUS_BUFFER as u32));
        assert_eq!(&buf[48..49], b"x");
        assert_eq!(Command::TableStatus.request() as u32 & 0xff, 12);
    }

    #[test]
    fn status_validates_before_the_ioctl() {
        let file = std::fs::File::open("/dev/null").unwrap();
        use std::os::fd::AsFd;
        assert!(matches!(
            table_status(file.as_fd(), ""),
            Err(Error::EmptyName)
        ));
        let e = table_status(file.as_fd(), "x").unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENOTTY), "{e}");
        assert!(e.to_string().starts_with("DM_TABLE_STATUS: "), "{e}");
    }

    proptest! {
        #[test]
        fn replies_round_trip(
            specs in proptest::collection::vec(
                (any::<u64>(), any::<u64>(), "[a-z-]{1,15}", "[ -~]{0,300}"),
                1..6,
            ),
        ) {
            let targets: Vec<Target> = specs
                .into_iter()
                .map(|(start, length, kind, params)| Target { start, length, kind, params })
                .collect();
            let buf = kernel_reply(&targets, STATUS_BUFFER);
            prop_assert_eq!(decode_status(&buf).unwrap(), targets);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let _ = decode_status(&bytes);
        }
    }
}
