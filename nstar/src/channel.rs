//! `nstar channel`: the host's end of a management channel, served to local clients.
//!
//! One connection to the device's end (a QEMU chardev socket or a serial line) carries
//! the link protocol (`doc/channel.md`); every client of the listening socket gets a
//! session of it. When the device's end goes away the proxy connects again, every 100 ms,
//! for as long as it runs.

use crate::cli::ChannelArgs;
use anyhow::{bail, Context, Result};
use northstar_channel::{serial, OnEof, Pump, Role, Sessions};
use std::{
    io::ErrorKind,
    os::unix::{fs::PermissionsExt, net::UnixListener, net::UnixStream},
    path::Path,
    time::Duration,
};

/// Most sessions at once (the device refuses what is over its own limit).
const MAX_SESSIONS: usize = 256;
/// How often a missing device end is tried again.
const RETRY: Duration = Duration::from_millis(100);

/// Run the proxy until it is killed or fails.
pub fn run(args: &ChannelArgs) -> Result<()> {
    serial::baud_rate(args.baud)?;
    let listener = bind(&args.listen)?;
    log::set_logger(&LOGGER)
        .map(|()| log::set_max_level(log::LevelFilter::Info))
        .ok();
    let listen = std::path::absolute(&args.listen).unwrap_or_else(|_| args.listen.clone());
    eprintln!(
        "nstar channel: {} served to clients of unix://{} (nstar -u unix://{} …)",
        args.link.display(),
        listen.display(),
        listen.display()
    );
    let mut pump = Pump::new(Role::Host, Sessions::Accept(listener), MAX_SESSIONS)?;
    let mut missing = false;
    loop {
        // A tty that is gone (an adapter unplugged) is waited for like a missing socket.
        let ended = if serial::is_tty(&args.link) {
            let mut tty = serial::open(&args.link, args.baud)?;
            eprintln!("nstar channel: link open on {}", args.link.display());
            pump.run(&mut tty, OnEof::End)
        } else {
            let mut socket = match UnixStream::connect(&args.link) {
                Ok(socket) => socket,
                Err(e)
                    if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) =>
                {
                    if !missing {
                        eprintln!("nstar channel: waiting for {} ({e})", args.link.display());
                        missing = true;
                    }
                    std::thread::sleep(RETRY);
                    continue;
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot connect to {}", args.link.display()))
                }
            };
            socket.set_nonblocking(true)?;
            eprintln!("nstar channel: link open on {}", args.link.display());
            pump.run(&mut socket, OnEof::End)
        };
        missing = false;
        match ended {
            Ok(_) => eprintln!("nstar channel: the link ended; connecting again"),
            // The device's end failed (a reset, an unplugged adapter): a new connection.
            Err(e @ northstar_channel::pump::Error::Link { .. }) => {
                eprintln!(
                    "nstar channel: {}; connecting again",
                    crate::error::chain(&e)
                )
            }
            Err(e) => return Err(e.into()),
        }
        std::thread::sleep(RETRY);
    }
}

/// Listen on `path`, mode 0600, replacing a socket nobody listens on any more.
fn bind(path: &Path) -> Result<UnixListener> {
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            bail!("another process listens on {} already", path.display());
        }
        let meta = std::fs::symlink_metadata(path)?;
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            bail!("{} exists and is not a socket", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot make {} private", path.display()))?;
    Ok(listener)
}

/// The link's own messages (sessions aborted, clients turned away) on stderr.
struct Logger;
static LOGGER: Logger = Logger;

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            eprintln!("nstar channel: {}", record.args());
        }
    }

    fn flush(&self) {}
}
