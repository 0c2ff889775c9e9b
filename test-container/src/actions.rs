//! The plain steps: exit, sleep, print, flood, file access, memory and CPU use. Owns
//! what each prints; processes, signals, syscalls, escapes and networking live in their
//! own modules.

use crate::{
    json::Value,
    out::{self, failure, Failure},
    steps::Stream,
    sys,
};
use std::{
    fs,
    io::Write,
    os::unix::fs::{FileTypeExt, MetadataExt},
    time::{Duration, Instant},
};

/// `exit:<code>`: flushes and exits.
pub fn exit(code: u8) -> ! {
    out::flush();
    std::process::exit(i32::from(code))
}

/// `exec:<program>[,<arg>]`: `execve` of `program` with `arg` (if given) and this
/// process's environment. Returns only when the call fails.
pub fn exec(program: &str, arg: Option<&str>) -> Result<(), Failure> {
    use std::os::unix::process::CommandExt;
    out::flush();
    let mut command = std::process::Command::new(program);
    command.args(arg);
    let err = command.exec();
    Err(failure(format_args!("exec {program}"), err))
}

/// `sleep-forever`.
pub fn sleep_forever() -> ! {
    out::flush();
    sys::park()
}

/// `sleep:<seconds>`.
pub fn sleep(duration: Duration) {
    std::thread::sleep(duration);
}

/// `spin:<seconds>`: keeps one CPU busy.
pub fn spin(duration: Duration) {
    let start = Instant::now();
    let mut x = 1u64;
    while start.elapsed() < duration {
        for _ in 0..10_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

/// `print:<n>[,<text>]` / `eprint:...`: `<text>` or `line <i>` (1-based), n times.
pub fn print(stream: Stream, count: u64, text: Option<&str>) -> Result<(), Failure> {
    let mut buf = String::new();
    for i in 1..=count {
        match text {
            Some(t) => buf.push_str(t),
            None => buf.push_str(&format!("line {i}")),
        }
        buf.push('\n');
        if buf.len() >= 64 * 1024 {
            out::write(stream, buf.as_bytes())?;
            buf.clear();
        }
    }
    out::write(stream, buf.as_bytes())
}

/// `flood:<bytes>[,stderr]`: exactly `bytes` bytes in lines of 63 `x` and a newline.
pub fn flood(stream: Stream, bytes: u64) -> Result<(), Failure> {
    let block: Vec<u8> = (0..1024)
        .flat_map(|_| std::iter::repeat_n(b'x', 63).chain([b'\n']))
        .collect();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        out::write(stream, &block[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// `write:<file>,<text>` / `append:<file>,<text>`: the text as given, no newline added.
pub fn write_file(path: &str, text: &str, append: bool) -> Result<(), Failure> {
    let mut file = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)
        .map_err(|e| failure(format_args!("open {path}"), e))?;
    file.write_all(text.as_bytes())
        .map_err(|e| failure(format_args!("write {path}"), e))
}

/// `read:<file>`: the contents on stdout.
pub fn read_file(path: &str) -> Result<(), Failure> {
    let bytes = fs::read(path).map_err(|e| failure(format_args!("read {path}"), e))?;
    out::write(Stream::Stdout, &bytes)
}

/// `mkdir:<dir>`: with missing parents.
pub fn mkdir(path: &str) -> Result<(), Failure> {
    fs::create_dir_all(path).map_err(|e| failure(format_args!("mkdir {path}"), e))
}

/// `stat:<path>`: owner, permission bits and type of `path` (links followed).
pub fn stat(path: &str) -> Result<(), Failure> {
    let meta = fs::metadata(path).map_err(|e| failure(format_args!("stat {path}"), e))?;
    let t = meta.file_type();
    let kind = if t.is_dir() {
        "dir"
    } else if t.is_file() {
        "file"
    } else if t.is_char_device() {
        "char"
    } else if t.is_block_device() {
        "block"
    } else if t.is_fifo() {
        "fifo"
    } else if t.is_socket() {
        "socket"
    } else {
        "other"
    };
    let mode = meta.mode() & 0o7777;
    out::emit(
        &Value::object()
            .set("path", path)
            .set("uid", meta.uid())
            .set("gid", meta.gid())
            .set("mode", mode)
            .set("mode_octal", format!("{mode:o}"))
            .set("type", kind)
            .set("size", meta.size()),
    )
}

/// `alloc:<MiB>`: allocates, touches every byte, keeps the memory until exit.
pub fn alloc(mib: u64) -> Result<(), Failure> {
    let bytes = usize::try_from(mib)
        .ok()
        .and_then(|m| m.checked_mul(1024 * 1024))
        .ok_or_else(|| Failure(format!("alloc: {mib} MiB does not fit the address space")))?;
    let mut memory: Vec<u8> = Vec::new();
    memory
        .try_reserve_exact(bytes)
        .map_err(|e| Failure(format!("alloc: cannot reserve {mib} MiB: {e}")))?;
    memory.resize(bytes, 0x5a);
    std::hint::black_box(&memory);
    // Held until the process ends, so the memory stays charged to it.
    std::mem::forget(memory);
    out::line("allocated")
}
