//! The panic hook of PID 1. The init is built with `panic = "abort"`: a panic in any of
//! its threads (main loop, runtime, management server, channel) would end PID 1 and the
//! kernel would panic ("Attempted to kill init"). The hook runs first, in the panicking
//! thread, and never returns. It
//!
//! 1. writes the panic (location and message) to the kernel log and the console,
//! 2. writes it to [`RECORD`] on the data partition, opened with `O_SYNC`, which the
//!    next boot puts into its boot report and removes ([`take_record`]),
//! 3. applies the board's reaction itself: sync and `reboot(2)` (reboot or power-off),
//!    or for `hold` a message and reaping forever in the panicking thread.
//!
//! The hook formats into a buffer on its stack, opens files by short paths (no
//! allocation), takes none of the logger's locks and never unwinds. Only the first
//! panic is handled: a panic in another thread meanwhile waits for the first to end
//! the machine (and reacts itself if that has not happened after [`SECOND_PANIC_WAIT`]).
//! A panic inside the hook itself is not recoverable: the standard library aborts.

use super::{board::Reaction, shutdown};
use nix::{
    fcntl::OFlag,
    sys::reboot::{reboot, RebootMode},
};
use std::{
    fmt::{self, Write as _},
    fs::{File, OpenOptions},
    io::{self, Write as _},
    os::unix::fs::OpenOptionsExt,
    panic::PanicHookInfo,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU8, Ordering},
        OnceLock,
    },
    time::Duration,
};

/// The record of a panic, relative to the data partition's mount point.
const RECORD: &str = "northstar/last-panic";
/// Longest text of a panic kept (the kernel log's record limit, with room for the
/// prefix).
const MAX_TEXT: usize = 900;
/// How long a second panicking thread waits for the first to end the machine.
const SECOND_PANIC_WAIT: Duration = Duration::from_secs(10);

/// Set by the first panic.
static PANICKING: AtomicBool = AtomicBool::new(false);
/// The board's reaction ([`code`]); until the board is read, the default.
static REACTION: AtomicU8 = AtomicU8::new(0);
/// Where the record is written, once the data partition is mounted.
static RECORD_PATH: OnceLock<PathBuf> = OnceLock::new();

fn code(reaction: Reaction) -> u8 {
    match reaction {
        Reaction::Reboot => 0,
        Reaction::PowerOff => 1,
        Reaction::Hold => 2,
    }
}

fn reaction(code: u8) -> Reaction {
    match code {
        1 => Reaction::PowerOff,
        2 => Reaction::Hold,
        _ => Reaction::Reboot,
    }
}

/// Install the hook (PID 1 only: tests and the host daemon keep the standard one).
pub fn install() {
    std::panic::set_hook(Box::new(hook));
}

/// The board's reaction, from when the board configuration has been read.
pub fn set_reaction(reaction: Reaction) {
    REACTION.store(code(reaction), Ordering::SeqCst);
}

/// Write the record of a panic under `data` (the data partition's mount point) from now on.
pub fn set_data(data: &Path) {
    let _ = RECORD_PATH.set(data.join(RECORD));
}

/// The record a panic of the previous boot left under `data`, removed. `Ok(None)` when
/// there is none.
pub fn take_record(data: &Path) -> io::Result<Option<String>> {
    let path = data.join(RECORD);
    let text = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    std::fs::remove_file(&path)?;
    let text = String::from_utf8_lossy(text.get(..MAX_TEXT).unwrap_or(&text));
    Ok(Some(text.trim_end().to_string()))
}

/// Text in a fixed buffer: what does not fit is cut, line breaks become spaces.
struct Text {
    bytes: [u8; MAX_TEXT],
    len: usize,
}

impl Text {
    fn new() -> Text {
        Text {
            bytes: [0; MAX_TEXT],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

impl fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            let Some(slot) = self.bytes.get_mut(self.len) else {
                break;
            };
            *slot = if b == b'\n' || b == b'\r' { b' ' } else { b };
            self.len = self.len.saturating_add(1);
        }
        Ok(())
    }
}

/// The one line of a panic: `panicked at <file>:<line>:<column>: <message>`.
fn describe(info: &PanicHookInfo<'_>) -> Text {
    let mut text = Text::new();
    let _ = write!(text, "{info}");
    text
}

fn hook(info: &PanicHookInfo<'_>) {
    if PANICKING.swap(true, Ordering::SeqCst) {
        // Another thread is handling its panic and ends the machine.
        std::thread::sleep(SECOND_PANIC_WAIT);
        react(reaction(REACTION.load(Ordering::SeqCst)));
    }
    let text = describe(info);
    let reaction = reaction(REACTION.load(Ordering::SeqCst));
    // The kernel log: one write is one record, priority 2 (critical).
    let mut record = [0u8; MAX_TEXT + 32];
    let kmsg = join(&mut record, &[b"<2>northstar: ", text.as_bytes(), b"\n"]);
    if let Ok(mut file) = OpenOptions::new().write(true).open("/dev/kmsg") {
        let _ = file.write(kmsg);
    }
    let mut stderr = io::stderr();
    let _ = stderr.write_all(b"northstar: ");
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.write_all(b"\n");
    if let Some(path) = RECORD_PATH.get() {
        if let Err(e) = write_record(path, text.as_bytes()) {
            let _ = writeln!(stderr, "northstar: cannot write {}: {e}", path.display());
        }
    }
    let _ = writeln!(
        stderr,
        "northstar: panic: {reaction} (the board's reaction)"
    );
    react(reaction)
}

/// `parts` one after another in `buffer`, cut at its end.
fn join<'a>(buffer: &'a mut [u8], parts: &[&[u8]]) -> &'a [u8] {
    let mut len = 0usize;
    for byte in parts.iter().flat_map(|p| p.iter()) {
        let Some(slot) = buffer.get_mut(len) else {
            break;
        };
        *slot = *byte;
        len = len.saturating_add(1);
    }
    buffer.get(..len).unwrap_or_default()
}

/// Write `text` to `path` synchronously, replacing what was there.
fn write_record(path: &Path, text: &[u8]) -> io::Result<()> {
    let mut file: File = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(OFlag::O_SYNC.bits())
        .open(path)?;
    file.write_all(text)?;
    file.write_all(b"\n")
}

/// The reaction, without the runtime's orderly shutdown (its thread may be the one that
/// panicked): the file systems are synced first. Never returns.
fn react(reaction: Reaction) -> ! {
    nix::unistd::sync();
    let mode = match reaction {
        Reaction::Reboot => RebootMode::RB_AUTOBOOT,
        Reaction::PowerOff => RebootMode::RB_POWER_OFF,
        Reaction::Hold => {
            let _ = io::stderr()
                .write_all(b"northstar: HOLD after a panic: the system is held for inspection\n");
            shutdown::last_resort(None)
        }
    };
    let Err(e) = reboot(mode);
    let _ = writeln!(
        io::stderr(),
        "northstar: reboot(2) failed after a panic: {e}"
    );
    shutdown::last_resort(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_and_kept_on_one_line() {
        let mut text = Text::new();
        write!(text, "a\nb\r").unwrap();
        assert_eq!(text.as_bytes(), b"a b ");
        write!(text, "{}", "x".repeat(2 * MAX_TEXT)).unwrap();
        assert_eq!(text.as_bytes().len(), MAX_TEXT);
        let mut buffer = [0u8; 4];
        assert_eq!(join(&mut buffer, &[b"ab", b"cde"]), b"abcd");
    }

    #[test]
    fn the_hook_describes_location_and_message() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let into = seen.clone();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = describe(info);
            *into.lock().unwrap() = String::from_utf8_lossy(text.as_bytes()).into_owned();
        }));
        let line = line!() + 1;
        let _ = std::panic::catch_unwind(|| panic!("injected {}\nsecond line", 42));
        std::panic::set_hook(previous);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            format!("panicked at {}:{line}:45: injected 42 second line", file!())
        );
    }

    #[test]
    fn the_record_is_written_read_once_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("northstar")).unwrap();
        assert_eq!(take_record(dir.path()).unwrap(), None);
        let path = dir.path().join(RECORD);
        write_record(&path, b"panicked at a.rs:1:2: first").unwrap();
        write_record(&path, b"panicked at b.rs:3:4: second").unwrap();
        assert_eq!(
            take_record(dir.path()).unwrap().as_deref(),
            Some("panicked at b.rs:3:4: second")
        );
        assert!(!path.exists());
        assert_eq!(take_record(dir.path()).unwrap(), None);
    }

    #[test]
    fn reactions_round_trip() {
        for r in [Reaction::Reboot, Reaction::PowerOff, Reaction::Hold] {
            assert_eq!(reaction(code(r)), r);
        }
    }
}
