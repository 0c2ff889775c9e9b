//! The data partition's image: ext4 made from a staged directory with `mke2fs -t ext4 -d`
//! (no loop mount, no root privileges needed), and the host-side checks after a boot:
//! `e2fsck -fn` (read-only, forced full check), `dumpe2fs -h` (state and features) and
//! `debugfs -R "ls -p"` (what a directory holds). Every tool runs under a timeout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::tool::{self, ToolError};

/// The image's size: room for the example packages and what containers write.
pub const SIZE_MIB: u64 = 64;
/// The file system's label.
pub const LABEL: &str = "northstar-data";
/// Limit for each tool run.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Errors making or reading the data image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("data image {path}: non-UTF-8 path")]
    Path { path: PathBuf },
    #[error("data image: cannot remove the old {path}")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("data image {image}")]
    Tool {
        image: PathBuf,
        #[source]
        source: ToolError,
    },
    #[error("data image {image}: unexpected output of {tool}: {line:?}")]
    Output {
        image: PathBuf,
        tool: &'static str,
        line: String,
    },
}

/// Writes an ext4 image of `size_mib` MiB at `out` (replacing it) holding the tree in
/// `staging`, owned by root, 4096-byte blocks.
pub fn make_ext4(staging: &Path, out: &Path, size_mib: u64) -> Result<(), Error> {
    match std::fs::remove_file(out) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(Error::Remove {
                path: out.to_path_buf(),
                source,
            })
        }
    }
    let size = format!("{size_mib}M");
    let args = [
        "-t",
        "ext4",
        "-b",
        "4096",
        "-L",
        LABEL,
        "-E",
        "root_owner=0:0",
        "-d",
        utf8(staging)?,
        "-F",
        "-q",
        utf8(out)?,
        &size,
    ];
    tool::run("mke2fs", &args, TIMEOUT).map_err(|source| Error::Tool {
        image: out.to_path_buf(),
        source,
    })?;
    Ok(())
}

/// The result of `e2fsck -fn`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fsck {
    /// e2fsck's exit status: 0 when the file system is clean.
    pub status: i32,
    /// Its output (the last 40 lines).
    pub output: String,
}

impl Fsck {
    pub fn clean(&self) -> bool {
        self.status == 0
    }
}

/// Checks `image` read-only and in full (`e2fsck -fn`). A file system with errors is a
/// result, not an error; only a failure to run e2fsck (or exit status 8 and above, e2fsck's
/// operational errors) is.
pub fn fsck(image: &Path) -> Result<Fsck, Error> {
    let tool_err = |source| Error::Tool {
        image: image.to_path_buf(),
        source,
    };
    let output = tool::output("e2fsck", &["-fn", utf8(image)?], TIMEOUT).map_err(tool_err)?;
    let status = output.status.code().unwrap_or(-1);
    if !(0..8).contains(&status) {
        return Err(tool_err(ToolError::Failed {
            command: tool::command_line("e2fsck", &["-fn", utf8(image)?]),
            status: output.status,
            output: tool::text(&output),
        }));
    }
    Ok(Fsck {
        status,
        output: tool::text(&output),
    })
}

/// The superblock's state and features (`dumpe2fs -h`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Superblock {
    /// `Filesystem state`: `clean` after an orderly unmount.
    pub state: String,
    /// `Filesystem features`; `needs_recovery` means the journal was not replayed (the
    /// file system was not unmounted).
    pub features: Vec<String>,
}

/// Reads the superblock of `image`.
pub fn superblock(image: &Path) -> Result<Superblock, Error> {
    let output =
        tool::run("dumpe2fs", &["-h", utf8(image)?], TIMEOUT).map_err(|source| Error::Tool {
            image: image.to_path_buf(),
            source,
        })?;
    parse_superblock(&String::from_utf8_lossy(&output.stdout)).ok_or_else(|| Error::Output {
        image: image.to_path_buf(),
        tool: "dumpe2fs",
        line: crate::cargo::tail(&String::from_utf8_lossy(&output.stdout), 5),
    })
}

fn parse_superblock(text: &str) -> Option<Superblock> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim_start().strip_prefix(':'))
            .map(str::trim)
    };
    Some(Superblock {
        state: field("Filesystem state")?.to_owned(),
        features: field("Filesystem features")?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    })
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    /// The mode with the file type bits (`0o40755` for a directory).
    pub mode: u32,
}

impl DirEntry {
    pub fn is_dir(&self) -> bool {
        self.mode & 0o170000 == 0o040000
    }
}

/// The entries of directory `dir` of `image` (without `.` and `..`), read with `debugfs`.
pub fn list(image: &Path, dir: &str) -> Result<Vec<DirEntry>, Error> {
    let request = format!("ls -p {dir}");
    let output =
        tool::run("debugfs", &["-R", &request, utf8(image)?], TIMEOUT).map_err(|source| {
            Error::Tool {
                image: image.to_path_buf(),
                source,
            }
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut entries = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let entry = parse_ls_line(line).ok_or_else(|| Error::Output {
            image: image.to_path_buf(),
            tool: "debugfs",
            line: format!("{line} ({})", tool::text(&output)),
        })?;
        if entry.name != "." && entry.name != ".." {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// Whether `path` (absolute in the image) is a directory of `image`.
pub fn is_dir(image: &Path, path: &str) -> Result<bool, Error> {
    let path = path.trim_end_matches('/');
    let Some((parent, name)) = path.rsplit_once('/') else {
        return Ok(false);
    };
    let parent = if parent.is_empty() { "/" } else { parent };
    Ok(list(image, parent)?
        .iter()
        .any(|e| e.name == name && e.is_dir()))
}

/// `debugfs`' `ls -p` line: `/inode/mode (octal)/uid/gid/name/size/`.
fn parse_ls_line(line: &str) -> Option<DirEntry> {
    let fields: Vec<&str> = line.trim().split('/').collect();
    if fields.len() < 7 || !fields[0].is_empty() {
        return None;
    }
    Some(DirEntry {
        mode: u32::from_str_radix(fields[2], 8).ok()?,
        name: fields[5].to_owned(),
    })
}

fn utf8(path: &Path) -> Result<&str, Error> {
    path.to_str().ok_or_else(|| Error::Path {
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_holds_the_staged_tree_and_checks_clean() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join("stage");
        let repo = staging.join("northstar/repositories/system");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(repo.join("a-1.0.0.npk"), vec![7u8; 10_000]).unwrap();
        let image = dir.path().join("data.img");
        make_ext4(&staging, &image, 16).unwrap();
        assert_eq!(std::fs::metadata(&image).unwrap().len(), 16 << 20);

        let top = list(&image, "/").unwrap();
        assert!(
            top.iter().any(|e| e.name == "northstar" && e.is_dir()),
            "{top:?}"
        );
        let files = list(&image, "/northstar/repositories/system").unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].name, "a-1.0.0.npk");
        assert!(!files[0].is_dir());
        assert!(is_dir(&image, "/northstar/repositories/system").unwrap());
        assert!(is_dir(&image, "/northstar").unwrap());
        assert!(!is_dir(&image, "/northstar/repositories/system/a-1.0.0.npk").unwrap());
        assert!(!is_dir(&image, "/northstar/nothing").unwrap());

        let checked = fsck(&image).unwrap();
        assert!(checked.clean(), "{checked:?}");
        let sb = superblock(&image).unwrap();
        assert_eq!(sb.state, "clean");
        assert!(sb.features.iter().any(|f| f == "has_journal"), "{sb:?}");
        assert!(!sb.features.iter().any(|f| f == "needs_recovery"), "{sb:?}");

        // A second build replaces the image.
        make_ext4(&staging, &image, 16).unwrap();
        assert!(fsck(&image).unwrap().clean());
    }

    #[test]
    fn fsck_reports_a_damaged_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join("stage");
        std::fs::create_dir_all(staging.join("x")).unwrap();
        let image = dir.path().join("data.img");
        make_ext4(&staging, &image, 16).unwrap();
        // A wrong link count (debugfs keeps the checksums right): e2fsck's pass 4 finds it.
        tool::run(
            "debugfs",
            &["-w", "-R", "sif /x links_count 7", image.to_str().unwrap()],
            TIMEOUT,
        )
        .unwrap();
        let checked = fsck(&image).unwrap();
        assert!(!checked.clean(), "{checked:?}");
    }

    #[test]
    fn parses_dumpe2fs_and_debugfs_output() {
        let sb = parse_superblock(
            "Filesystem volume name:   data\nFilesystem state:         not clean\n\
             Filesystem features:      has_journal needs_recovery extent\n",
        )
        .unwrap();
        assert_eq!(sb.state, "not clean");
        assert_eq!(sb.features, ["has_journal", "needs_recovery", "extent"]);
        assert_eq!(parse_superblock("nothing"), None);

        let e = parse_ls_line("/13/040755/0/0/b//").unwrap();
        assert_eq!((e.name.as_str(), e.is_dir()), ("b", true));
        let e = parse_ls_line(" /14/100644/0/0/f/3/").unwrap();
        assert_eq!(
            (e.name.as_str(), e.mode, e.is_dir()),
            ("f", 0o100644, false)
        );
        assert_eq!(parse_ls_line("debugfs 1.47.0"), None);
    }
}
