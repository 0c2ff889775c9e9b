//! A serial line (a UART, a USB gadget serial port, a pseudo-terminal) set up for the
//! link: raw (no echo, no line editing, no translation of any byte), 8 data bits, no
//! parity, one stop bit, no flow control, at a given speed.

use nix::sys::termios::{self, BaudRate, ControlFlags, SetArg};
use std::{
    fs::{File, OpenOptions},
    io,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

/// The speed when none is given: the console speed of every board Northstar supports.
pub const DEFAULT_BAUD: u32 = 115_200;

/// Why a serial line cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a terminal, or cannot be set up", path.display())]
    Termios {
        path: PathBuf,
        #[source]
        source: nix::errno::Errno,
    },
    #[error("{baud} is not a speed a serial line supports (e.g. 9600, 57600, 115200, 921600)")]
    Baud { baud: u32 },
}

/// The speed `baud` as the kernel names it.
pub fn baud_rate(baud: u32) -> Result<BaudRate, Error> {
    Ok(match baud {
        9_600 => BaudRate::B9600,
        19_200 => BaudRate::B19200,
        38_400 => BaudRate::B38400,
        57_600 => BaudRate::B57600,
        115_200 => BaudRate::B115200,
        230_400 => BaudRate::B230400,
        460_800 => BaudRate::B460800,
        500_000 => BaudRate::B500000,
        921_600 => BaudRate::B921600,
        1_000_000 => BaudRate::B1000000,
        1_500_000 => BaudRate::B1500000,
        2_000_000 => BaudRate::B2000000,
        3_000_000 => BaudRate::B3000000,
        4_000_000 => BaudRate::B4000000,
        _ => return Err(Error::Baud { baud }),
    })
}

/// Open the tty at `path` non-blocking (never as a controlling terminal) and set it up
/// for the link at `baud` bits per second.
pub fn open(path: &Path, baud: u32) -> Result<File, Error> {
    let speed = baud_rate(baud)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NOCTTY | nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|source| Error::Open {
            path: path.to_owned(),
            source,
        })?;
    let termios_error = |source| Error::Termios {
        path: path.to_owned(),
        source,
    };
    let mut t = termios::tcgetattr(&file).map_err(termios_error)?;
    termios::cfmakeraw(&mut t);
    t.control_flags &= !(ControlFlags::CSTOPB | ControlFlags::PARENB | ControlFlags::CRTSCTS);
    t.control_flags |= ControlFlags::CS8 | ControlFlags::CLOCAL | ControlFlags::CREAD;
    // The speed as Linux reads it from TCSETS: the CBAUD bits of c_cflag. (Not
    // cfsetspeed: the libc crate binds it to a versioned glibc symbol that a static glibc
    // build, the Raspberry Pi 2's, cannot link.)
    t.control_flags
        .remove(ControlFlags::from_bits_retain(nix::libc::CBAUD));
    t.control_flags
        .insert(ControlFlags::from_bits_retain(speed as nix::libc::tcflag_t));
    termios::tcsetattr(&file, SetArg::TCSANOW, &t).map_err(termios_error)?;
    // What the line held before it was set up is not for the link.
    let _ = termios::tcflush(&file, termios::FlushArg::TCIOFLUSH);
    Ok(file)
}

/// Whether `path` is a character device (a tty) rather than a socket.
pub fn is_tty(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_char_device())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds() {
        assert!(baud_rate(115_200).is_ok());
        assert!(baud_rate(921_600).is_ok());
        let e = baud_rate(12_345).unwrap_err();
        assert!(e.to_string().starts_with("12345 is not a speed"), "{e}");
    }

    #[test]
    fn the_speed_is_set() {
        use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
        let master = posix_openpt(nix::fcntl::OFlag::O_RDWR).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let slave = ptsname_r(&master).unwrap();
        for (baud, rate) in [(9_600, BaudRate::B9600), (921_600, BaudRate::B921600)] {
            let line = open(Path::new(&slave), baud).unwrap();
            let t = termios::tcgetattr(&line).unwrap();
            assert_eq!(termios::cfgetospeed(&t), rate);
            assert!(!t.local_flags.contains(termios::LocalFlags::ECHO));
        }
    }

    #[test]
    fn a_file_is_not_a_terminal() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let e = open(tmp.path(), DEFAULT_BAUD).unwrap_err();
        assert!(matches!(e, Error::Termios { .. }), "{e}");
        assert!(!is_tty(tmp.path()));
        assert!(is_tty(Path::new("/dev/null")));
    }
}
