//! The file list of a squashfs image, as `ls -l` lines and as JSON records.

use npk::squashfs::{Entry, EntryKind};
use serde::Serialize;

/// One file of the image, with stable JSON field names (see doc/nstar.md).
#[derive(Debug, Serialize)]
pub struct FileRecord {
    /// Absolute path inside the image (`/` is the root directory).
    pub path: String,
    /// `file`, `dir`, `symlink`, `char`, `block`, `fifo` or `socket`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Permission bits in octal, four digits (`0755`).
    pub mode: String,
    /// `ls -l` style type and permissions (`drwxr-xr-x`).
    pub permissions: String,
    pub uid: u32,
    pub gid: u32,
    /// Size in bytes (regular files; 0 for everything else).
    pub size: u64,
    /// Symlink target, `null` for everything else.
    pub target: Option<String>,
}

impl FileRecord {
    /// The record of a squashfs entry.
    pub fn new(entry: &Entry) -> FileRecord {
        let mode = u32::from(entry.mode) & 0o7777;
        let (kind, letter) = kind(&entry.kind);
        FileRecord {
            path: entry.path.clone(),
            kind,
            mode: format!("{mode:04o}"),
            permissions: permissions(letter, mode),
            uid: entry.uid,
            gid: entry.gid,
            size: entry.size,
            target: entry.target.clone(),
        }
    }

    /// `drwxr-xr-x 1000/1000        0 /bin` (`-> target` for symlinks). `size_width` aligns
    /// the size column.
    pub fn line(&self, size_width: usize) -> String {
        let owner = format!("{}/{}", self.uid, self.gid);
        let mut line = format!(
            "{} {owner:<11} {:>size_width$} {}",
            self.permissions, self.size, self.path
        );
        if let Some(target) = &self.target {
            line.push_str(" -> ");
            line.push_str(target);
        }
        line
    }
}

fn kind(kind: &EntryKind) -> (&'static str, char) {
    match kind {
        EntryKind::File => ("file", '-'),
        EntryKind::Dir => ("dir", 'd'),
        EntryKind::Symlink => ("symlink", 'l'),
        EntryKind::CharDevice => ("char", 'c'),
        EntryKind::BlockDevice => ("block", 'b'),
        EntryKind::Fifo => ("fifo", 'p'),
        EntryKind::Socket => ("socket", 's'),
    }
}

/// `ls -l`'s ten-character mode string, including setuid, setgid and sticky bits.
fn permissions(type_letter: char, mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(type_letter);
    for (shift, special, set, unset) in [
        (6, 0o4000, 's', 'S'),
        (3, 0o2000, 's', 'S'),
        (0, 0o1000, 't', 'T'),
    ] {
        let bits = (mode >> shift) & 0o7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (bits & 1 != 0, mode & special != 0) {
            (true, true) => set,
            (false, true) => unset,
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_strings() {
        assert_eq!(permissions('d', 0o755), "drwxr-xr-x");
        assert_eq!(permissions('-', 0o644), "-rw-r--r--");
        assert_eq!(permissions('-', 0o4755), "-rwsr-xr-x");
        assert_eq!(permissions('-', 0o2644), "-rw-r-Sr--");
        assert_eq!(permissions('d', 0o1777), "drwxrwxrwt");
        assert_eq!(permissions('l', 0o777), "lrwxrwxrwx");
    }
}
