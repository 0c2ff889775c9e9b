//! Device-mapper ioctls (`<linux/dm-ioctl.h>`, interface version 4) on
//! `/dev/mapper/control`: version check, create, table load, resume, remove, status, and
//! the targets' status lines ([`table_status`]).
//!
//! Every request is one buffer: a `struct dm_ioctl` header (312 bytes), followed for a
//! table load by `struct dm_target_spec` entries (40 bytes), each with its NUL-terminated
//! parameter string, padded so the next entry starts 8-byte aligned. The buffers are
//! built and decoded in safe code ([`Request::encode`], [`Reply::decode`]); only the
//! `ioctl` call itself is unsafe. Fields are in the machine's byte order, as the kernel
//! reads them.
//!
//! Not owned here: device names chosen, tables (callers build them), device nodes, the
//! order of the steps and cleaning up after a failed one.

use std::{
    io,
    mem::{offset_of, size_of},
    os::fd::{AsRawFd, BorrowedFd},
};

/// Interface major version this module speaks.
pub const VERSION_MAJOR: u32 = 4;
/// Size of the name field, including the terminating NUL (`DM_NAME_LEN`).
pub const NAME_LEN: usize = 128;
/// Size of the uuid field, including the terminating NUL (`DM_UUID_LEN`).
pub const UUID_LEN: usize = 129;
/// Size of a target type field, including the terminating NUL (`DM_MAX_TYPE_NAME`).
pub const MAX_TYPE_NAME: usize = 16;

/// `DM_READONLY_FLAG`: the table (and device) is read-only.
pub const READONLY_FLAG: u32 = 1 << 0;
/// `DM_SUSPEND_FLAG`: suspend (set) or resume (clear) with `DM_DEV_SUSPEND`.
pub const SUSPEND_FLAG: u32 = 1 << 1;
/// `DM_ACTIVE_PRESENT_FLAG` (out): the device has an active table.
pub const ACTIVE_PRESENT_FLAG: u32 = 1 << 5;
/// `DM_BUFFER_FULL_FLAG` (out): the reply did not fit the buffer.
pub const BUFFER_FULL_FLAG: u32 = 1 << 8;
/// `DM_DEFERRED_REMOVE`: remove when the last user closes the device (interface 4.27).
pub const DEFERRED_REMOVE: u32 = 1 << 17;

/// `struct dm_ioctl`. Only used for its layout: requests are encoded by hand.
#[repr(C)]
struct Header {
    version: [u32; 3],
    data_size: u32,
    data_start: u32,
    target_count: u32,
    open_count: i32,
    flags: u32,
    event_nr: u32,
    padding: u32,
    dev: u64,
    name: [u8; NAME_LEN],
    uuid: [u8; UUID_LEN],
    data: [u8; 7],
}

/// `struct dm_target_spec`, followed by the parameter string.
#[repr(C)]
struct TargetSpec {
    sector_start: u64,
    length: u64,
    status: i32,
    next: u32,
    target_type: [u8; MAX_TYPE_NAME],
}

/// Size of the request header.
pub const HEADER_SIZE: usize = size_of::<Header>();
/// Size of a target spec before its parameters.
pub const SPEC_SIZE: usize = size_of::<TargetSpec>();
const _: () = assert!(HEADER_SIZE == 312 && SPEC_SIZE == 40);

/// The commands used here (`DM_*_CMD`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `DM_VERSION`: the kernel's interface version.
    Version = 0,
    /// `DM_DEV_CREATE`: a new device without table, suspended.
    DevCreate = 3,
    /// `DM_DEV_REMOVE`: remove a device.
    DevRemove = 4,
    /// `DM_DEV_SUSPEND`: suspend, or (without [`SUSPEND_FLAG`]) resume: make the loaded
    /// table active.
    DevSuspend = 6,
    /// `DM_DEV_STATUS`: flags, open count and device number.
    DevStatus = 7,
    /// `DM_TABLE_LOAD`: load a table into the inactive slot.
    TableLoad = 9,
    /// `DM_TABLE_STATUS`: the status line of each target of the active table.
    TableStatus = 12,
}

impl Command {
    /// The ioctl request number (`_IOWR(0xfd, cmd, struct dm_ioctl)`).
    pub const fn request(self) -> libc::Ioctl {
        libc::_IOWR::<Header>(0xfd, self as u32)
    }

    fn name(self) -> &'static str {
        match self {
            Command::Version => "DM_VERSION",
            Command::DevCreate => "DM_DEV_CREATE",
            Command::DevRemove => "DM_DEV_REMOVE",
            Command::DevSuspend => "DM_DEV_SUSPEND",
            Command::DevStatus => "DM_DEV_STATUS",
            Command::TableLoad => "DM_TABLE_LOAD",
            Command::TableStatus => "DM_TABLE_STATUS",
        }
    }
}

/// Why a request could not be encoded or was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("device-mapper name is empty")]
    EmptyName,
    #[error("device-mapper name {name:?} is {len} bytes, the limit is {} bytes", NAME_LEN - 1)]
    NameTooLong { name: String, len: usize },
    #[error("device-mapper name {0:?} is not allowed (no '/', NUL, \".\", \"..\" or \"control\")")]
    InvalidName(String),
    #[error("device-mapper uuid {uuid:?} is {len} bytes, the limit is {} bytes", UUID_LEN - 1)]
    UuidTooLong { uuid: String, len: usize },
    #[error("device-mapper uuid {0:?} contains a NUL byte")]
    InvalidUuid(String),
    #[error("target type {0:?} is empty, longer than 15 bytes or contains a NUL byte")]
    TargetType(String),
    #[error("parameters of target {index} contain a NUL byte")]
    TargetParams { index: usize },
    #[error("a table needs at least one target")]
    NoTargets,
    #[error("request of {0} bytes is too large")]
    TooLarge(usize),
    #[error(
        "device-mapper request: field {field} at byte {at} does not fit the {len}-byte buffer"
    )]
    Layout {
        field: &'static str,
        at: usize,
        len: usize,
    },
    #[error("{command}: {source}")]
    Ioctl {
        command: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{command}: the kernel's reply is truncated (buffer full)")]
    BufferFull { command: &'static str },
    #[error("{command}: the kernel's reply does not fit {limit} bytes")]
    ReplyTooLarge { command: &'static str, limit: usize },
    #[error("{command}: malformed reply: {reason}")]
    Malformed {
        command: &'static str,
        reason: String,
    },
}

impl Error {
    /// The errno of a refused ioctl.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Ioctl { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// One line of a table: `<start> <length> <type> <params>`, in 512-byte sectors. In a
/// status reply ([`table_status`]) `params` is the target's status line instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// First sector.
    pub start: u64,
    /// Number of sectors.
    pub length: u64,
    /// Target type, e.g. `verity`.
    pub kind: String,
    /// The target's parameter string (a table) or status line (a status reply).
    pub params: String,
}

/// A request: header fields and, for a table load, the targets.
#[derive(Clone, Debug, Default)]
pub struct Request<'a> {
    /// Device name (empty: not used for the lookup).
    pub name: &'a str,
    /// Device uuid (empty: none).
    pub uuid: &'a str,
    /// `DM_*_FLAG` bits.
    pub flags: u32,
    /// Targets of a table load.
    pub targets: &'a [Target],
}

fn check_name(name: &str) -> Result<(), Error> {
    if name.len() > NAME_LEN - 1 {
        return Err(Error::NameTooLong {
            name: name.to_string(),
            len: name.len(),
        });
    }
    if name.contains(['/', '\0']) || matches!(name, "." | ".." | "control") {
        return Err(Error::InvalidName(name.to_string()));
    }
    Ok(())
}

/// Check a name for [`Command::DevCreate`]: 1 to 127 bytes, no `/` or NUL, not `.`,
/// `..` or `control`.
pub fn validate_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::EmptyName);
    }
    check_name(name)
}

/// Copy each `(offset, field, bytes)` into `buf`; an error naming the field that does
/// not fit.
fn put(buf: &mut [u8], fields: &[(usize, &'static str, &[u8])]) -> Result<(), Error> {
    let len = buf.len();
    for &(at, field, bytes) in fields {
        at.checked_add(bytes.len())
            .and_then(|end| buf.get_mut(at..end))
            .ok_or(Error::Layout { field, at, len })?
            .copy_from_slice(bytes);
    }
    Ok(())
}

/// The `N` bytes of `buf` at `at`, if `buf` holds them.
fn get<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    let end = at.checked_add(N)?;
    buf.get(at..end)?.try_into().ok()
}

fn get_u32(buf: &[u8], at: usize) -> Option<u32> {
    get(buf, at).map(u32::from_ne_bytes)
}

fn get_u64(buf: &[u8], at: usize) -> Option<u64> {
    get(buf, at).map(u64::from_ne_bytes)
}

impl Request<'_> {
    /// The request buffer: header, then the targets (each spec 8-byte aligned, `next` the
    /// distance from one spec to the next). Its length is the header's `data_size`.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        check_name(self.name)?;
        if self.uuid.len() > UUID_LEN - 1 {
            return Err(Error::UuidTooLong {
                uuid: self.uuid.to_string(),
                len: self.uuid.len(),
            });
        }
        if self.uuid.contains('\0') {
            return Err(Error::InvalidUuid(self.uuid.to_string()));
        }
        let mut buf = vec![0u8; HEADER_SIZE];
        for (index, target) in self.targets.iter().enumerate() {
            let kind = target.kind.as_bytes();
            if kind.is_empty() || kind.len() > MAX_TYPE_NAME - 1 || kind.contains(&0) {
                return Err(Error::TargetType(target.kind.clone()));
            }
            if target.params.contains('\0') {
                return Err(Error::TargetParams { index });
            }
            // Spec, parameters, their NUL, padding to the next 8-byte boundary.
            let next = SPEC_SIZE
                .checked_add(target.params.len())
                .and_then(|n| n.checked_add(1))
                .and_then(|n| n.checked_next_multiple_of(8))
                .ok_or(Error::TooLarge(target.params.len()))?;
            let next32 = u32::try_from(next).map_err(|_| Error::TooLarge(next))?;
            let (start, length) = (target.start.to_ne_bytes(), target.length.to_ne_bytes());
            let mut spec = vec![0u8; next];
            put(
                &mut spec,
                &[
                    (offset_of!(TargetSpec, sector_start), "sector_start", &start),
                    (offset_of!(TargetSpec, length), "length", &length),
                    (offset_of!(TargetSpec, next), "next", &next32.to_ne_bytes()),
                    (offset_of!(TargetSpec, target_type), "target_type", kind),
                    (SPEC_SIZE, "params", target.params.as_bytes()),
                ],
            )?;
            buf.extend_from_slice(&spec);
        }
        let size = u32::try_from(buf.len()).map_err(|_| Error::TooLarge(buf.len()))?;
        let size = size.to_ne_bytes();
        let version = VERSION_MAJOR.to_ne_bytes();
        let start = (HEADER_SIZE as u32).to_ne_bytes();
        let count = (self.targets.len() as u32).to_ne_bytes();
        let flags = self.flags.to_ne_bytes();
        put(
            &mut buf,
            &[
                (offset_of!(Header, version), "version", &version),
                (offset_of!(Header, data_size), "data_size", &size),
                (offset_of!(Header, data_start), "data_start", &start),
                (offset_of!(Header, target_count), "target_count", &count),
                (offset_of!(Header, flags), "flags", &flags),
                (offset_of!(Header, name), "name", self.name.as_bytes()),
                (offset_of!(Header, uuid), "uuid", self.uuid.as_bytes()),
            ],
        )?;
        Ok(buf)
    }
}

/// The header fields of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The kernel's interface version.
    pub version: [u32; 3],
    /// `DM_*_FLAG` bits.
    pub flags: u32,
    /// Number of users holding the device open.
    pub open_count: i32,
    /// Number of targets of the table asked about.
    pub target_count: u32,
    /// Device number in the kernel's `new_encode_dev` form.
    pub dev: u64,
}

impl Reply {
    /// Read the header fields of a reply buffer (at least [`HEADER_SIZE`] bytes).
    pub fn decode(buf: &[u8]) -> Option<Reply> {
        if buf.len() < HEADER_SIZE {
            return None;
        }
        // The three `u32` of the version field.
        let version = |i: usize| {
            let at = i.checked_mul(4)?.checked_add(offset_of!(Header, version))?;
            get_u32(buf, at)
        };
        Some(Reply {
            version: [version(0)?, version(1)?, version(2)?],
            flags: get_u32(buf, offset_of!(Header, flags))?,
            open_count: get_u32(buf, offset_of!(Header, open_count))? as i32,
            target_count: get_u32(buf, offset_of!(Header, target_count))?,
            dev: get_u64(buf, offset_of!(Header, dev))?,
        })
    }

    /// Major and minor of [`Reply::dev`].
    pub fn major_minor(&self) -> (u32, u32) {
        decode_dev(self.dev)
    }
}

/// Split a device number in the kernel's `new_encode_dev` form into major and minor.
pub fn decode_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) as u32;
    let minor = ((dev & 0xff) | ((dev >> 12) & 0xfff00)) as u32;
    (major, minor)
}

/// Send one request on `control` (`/dev/mapper/control`) and decode the reply header.
pub fn call(control: BorrowedFd<'_>, command: Command, request: &Request) -> Result<Reply, Error> {
    let mut buf = request.encode()?;
    let reply = ioctl(control, command, &mut buf)?;
    if reply.flags & BUFFER_FULL_FLAG != 0 {
        return Err(Error::BufferFull {
            command: command.name(),
        });
    }
    Ok(reply)
}

/// The ioctl itself on `buf`, a request whose header's `data_size` is `buf.len()` (the
/// kernel writes its reply into the same buffer, within those bytes).
fn ioctl(control: BorrowedFd<'_>, command: Command, buf: &mut [u8]) -> Result<Reply, Error> {
    let at = offset_of!(Header, data_size);
    let layout = Error::Layout {
        field: "data_size",
        at,
        len: buf.len(),
    };
    let size = get_u32(buf, at).and_then(|size| usize::try_from(size).ok());
    if buf.len() < HEADER_SIZE || size != Some(buf.len()) {
        return Err(layout);
    }
    let failed = |source| Error::Ioctl {
        command: command.name(),
        source,
    };
    // SAFETY: `buf` is a writable allocation of exactly `data_size` bytes (checked just
    // above) that starts with a complete `struct dm_ioctl` (at least HEADER_SIZE bytes);
    // the kernel reads and writes at most `data_size` bytes of it, and `buf` outlives
    // the call.
    let ret = unsafe { libc::ioctl(control.as_raw_fd(), command.request(), buf.as_mut_ptr()) };
    if ret < 0 {
        return Err(failed(io::Error::last_os_error()));
    }
    Reply::decode(buf).ok_or_else(|| failed(io::Error::from_raw_os_error(libc::EIO)))
}

/// `DM_VERSION`: the kernel's interface version (fails unless its major is 4).
pub fn version(control: BorrowedFd<'_>) -> Result<[u32; 3], Error> {
    call(control, Command::Version, &Request::default()).map(|r| r.version)
}

/// `DM_DEV_CREATE`: a new device `name` (with `uuid`, may be empty), without a table.
pub fn create(control: BorrowedFd<'_>, name: &str, uuid: &str) -> Result<Reply, Error> {
    validate_name(name)?;
    let request = Request {
        name,
        uuid,
        ..Request::default()
    };
    call(control, Command::DevCreate, &request)
}

/// `DM_TABLE_LOAD`: load `targets` into the inactive slot of `name`.
pub fn load_table(
    control: BorrowedFd<'_>,
    name: &str,
    targets: &[Target],
    read_only: bool,
) -> Result<Reply, Error> {
    validate_name(name)?;
    if targets.is_empty() {
        return Err(Error::NoTargets);
    }
    let request = Request {
        name,
        flags: if read_only { READONLY_FLAG } else { 0 },
        targets,
        ..Request::default()
    };
    call(control, Command::TableLoad, &request)
}

/// `DM_DEV_SUSPEND` without [`SUSPEND_FLAG`]: activate the loaded table of `name`.
pub fn resume(control: BorrowedFd<'_>, name: &str) -> Result<Reply, Error> {
    validate_name(name)?;
    let request = Request {
        name,
        ..Request::default()
    };
    call(control, Command::DevSuspend, &request)
}

/// `DM_DEV_REMOVE`: remove `name`; with `deferred`, a device still open is removed at its
/// last close instead of failing with `EBUSY`.
pub fn remove(control: BorrowedFd<'_>, name: &str, deferred: bool) -> Result<Reply, Error> {
    validate_name(name)?;
    let request = Request {
        name,
        flags: if deferred { DEFERRED_REMOVE } else { 0 },
        ..Request::default()
    };
    call(control, Command::DevRemove, &request)
}

/// `DM_DEV_STATUS`: flags, open count and device number of `name`.
pub fn status(control: BorrowedFd<'_>, name: &str) -> Result<Reply, Error> {
    validate_name(name)?;
    let request = Request {
        name,
        ..Request::default()
    };
    call(control, Command::DevStatus, &request)
}

mod table_status;
pub use table_status::{decode_status, table_status, STATUS_BUFFER, STATUS_BUFFER_LIMIT};

#[cfg(test)]
mod tests;
