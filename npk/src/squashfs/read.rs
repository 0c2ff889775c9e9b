//! Listing and extracting an image stored at an offset of a file. The image is untrusted.

use std::{
    collections::HashMap,
    fs::{self, File, OpenOptions},
    io::{self, BufReader, Read, Seek, SeekFrom, Write},
    os::unix::{
        ffi::OsStrExt,
        fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt},
    },
    path::{Path, PathBuf},
};

use backhand::{FilesystemReader, InnerNode, Node, SquashfsFileReader};

use super::{Entry, EntryKind, Error, MAX_ENTRIES};

/// Stack of the thread that parses an image: backhand reads directories recursively, so
/// the nesting depth of a hostile image (bounded by [`MAX_ENTRIES`]) decides the stack.
const PARSE_STACK: usize = 256 * 1024 * 1024;
/// Mode bits an extracted entry may get: setuid and setgid are dropped, since the
/// destination is not necessarily mounted `nosuid` like an image is.
const EXTRACT_MODE_MASK: u16 = 0o1777;

/// `offset..offset + len` of a file as a stand-alone image. Reads with `pread`, so the
/// file's own position is neither used nor changed.
struct Slice<'f> {
    file: &'f File,
    offset: u64,
    len: u64,
    pos: u64,
}

impl Read for Slice<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        let read = self.file.read_at(&mut buf[..n], self.offset + self.pos)?;
        self.pos += read as u64;
        Ok(read)
    }
}

impl Seek for Slice<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => self.len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.pos.checked_add_signed(delta),
        };
        self.pos = target.ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        Ok(self.pos)
    }
}

/// Parses the image at `offset..offset + len` of `file`, with its entries checked.
pub(super) fn open(file: &File, offset: u64, len: u64) -> Result<FilesystemReader<'_>, Error> {
    let corrupt = |what: &str| Error::Corrupt(what.to_string());
    let file_len = file.metadata().map_err(|e| Error::ReadEntry {
        path: "/".into(),
        source: e,
    })?;
    if offset
        .checked_add(len)
        .is_none_or(|end| end > file_len.len())
    {
        return Err(corrupt("the image extends past the end of the file"));
    }
    let mut header = [0u8; 96];
    let mut slice = Slice {
        file,
        offset,
        len,
        pos: 0,
    };
    slice
        .read_exact(&mut header)
        .map_err(|_| corrupt("shorter than a superblock"))?;
    if &header[..4] != b"hsqs" {
        return Err(corrupt("no squashfs magic"));
    }
    let inodes = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if inodes > MAX_ENTRIES {
        return Err(Error::TooManyEntries {
            count: inodes.into(),
            max: MAX_ENTRIES,
        });
    }
    slice.pos = 0;
    let reader = BufReader::with_capacity(64 * 1024, slice);
    let fs = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("squashfs-parse".into())
            .stack_size(PARSE_STACK)
            .spawn_scoped(scope, move || FilesystemReader::from_reader(reader))
            .map_err(|e| Error::ReadEntry {
                path: "/".into(),
                source: e,
            })?
            .join()
            .map_err(|_| corrupt("the parser failed"))?
            .map_err(Error::Image)
    })?;
    check_nodes(&fs.root.nodes)?;
    Ok(fs)
}

/// Checks that a path of an image is `/` or `/name/name…`, each name neither empty nor
/// `.` nor `..` (backhand rejects most of these; this does not rely on it).
fn check_path(path: &Path) -> Result<(), Error> {
    let bytes = path.as_os_str().as_bytes();
    let unsafe_path = || Error::UnsafePath(path.to_string_lossy().into_owned());
    let rest = bytes.strip_prefix(b"/").ok_or_else(unsafe_path)?;
    if rest.is_empty() {
        return Ok(());
    }
    for name in rest.split(|b| *b == b'/') {
        if name.is_empty() || name == b"." || name == b".." || name.contains(&0) {
            return Err(unsafe_path());
        }
    }
    Ok(())
}

/// Checks every node: safe path, the root first and only once, no duplicate, and the
/// parent of each a directory of the image. Extraction relies on all of these.
fn check_nodes(nodes: &[Node<SquashfsFileReader>]) -> Result<(), Error> {
    let mut dirs: HashMap<&Path, bool> = HashMap::with_capacity(nodes.len());
    for (index, node) in nodes.iter().enumerate() {
        let path = node.fullpath.as_path();
        check_path(path)?;
        let is_root = path == Path::new("/");
        if is_root != (index == 0) {
            return Err(Error::UnsafePath(path.to_string_lossy().into_owned()));
        }
        let is_dir = matches!(node.inner, InnerNode::Dir(_));
        if dirs.insert(path, is_dir).is_some() {
            return Err(Error::DuplicatePath(path.to_string_lossy().into_owned()));
        }
        if let Some(parent) = path.parent() {
            if dirs.get(parent) != Some(&true) {
                return Err(Error::UnsafePath(path.to_string_lossy().into_owned()));
            }
        }
    }
    Ok(())
}

fn entry(node: &Node<SquashfsFileReader>) -> Entry {
    let (kind, size, target) = match &node.inner {
        InnerNode::Dir(_) => (EntryKind::Dir, 0, None),
        InnerNode::File(file) => (EntryKind::File, file.file_len() as u64, None),
        InnerNode::Symlink(link) => (
            EntryKind::Symlink,
            0,
            Some(link.link.to_string_lossy().into_owned()),
        ),
        InnerNode::CharacterDevice(_) => (EntryKind::CharDevice, 0, None),
        InnerNode::BlockDevice(_) => (EntryKind::BlockDevice, 0, None),
        InnerNode::NamedPipe => (EntryKind::Fifo, 0, None),
        InnerNode::Socket => (EntryKind::Socket, 0, None),
    };
    Entry {
        path: node.fullpath.to_string_lossy().into_owned(),
        kind,
        mode: node.header.permissions & 0o7777,
        uid: node.header.uid,
        gid: node.header.gid,
        size,
        target,
    }
}

/// Lists every entry of the image stored at `offset..offset + len` of `file`, sorted by
/// path (component by component), the root `/` first.
///
/// Memory is bounded for hostile input: at most [`MAX_ENTRIES`] inodes are accepted, and
/// backhand reads no more metadata than the image holds.
pub fn list(file: &File, offset: u64, len: u64) -> Result<Vec<Entry>, Error> {
    let fs = open(file, offset, len)?;
    Ok(fs.files().map(entry).collect())
}

fn extract_error(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Extract {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dest` (or accepts it as an empty directory) and tells whether this process
/// creates files as root.
fn prepare(dest: &Path) -> Result<bool, Error> {
    match fs::symlink_metadata(dest) {
        Ok(meta) => {
            let empty = meta.is_dir()
                && fs::read_dir(dest)
                    .map_err(extract_error(dest))?
                    .next()
                    .is_none();
            if !empty {
                return Err(Error::DestinationNotEmpty(dest.to_path_buf()));
            }
            let probe = dest.join(".npk-extract-probe");
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&probe)
                .map_err(extract_error(&probe))?;
            let uid = file.metadata().map_err(extract_error(&probe))?.uid();
            fs::remove_file(&probe).map_err(extract_error(&probe))?;
            Ok(uid == 0)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).map_err(extract_error(parent))?;
            }
            fs::DirBuilder::new()
                .mode(0o700)
                .create(dest)
                .map_err(extract_error(dest))?;
            Ok(fs::symlink_metadata(dest)
                .map_err(extract_error(dest))?
                .uid()
                == 0)
        }
        Err(e) => Err(extract_error(dest)(e)),
    }
}

/// Extracts the image stored at `offset..offset + len` of `file` to `dest`, which must not
/// exist or be an empty directory. Returns the image paths of the entries not extracted:
/// device nodes, fifos and sockets.
///
/// Nothing is written outside `dest`: every path is checked ([`check_nodes`]), entries
/// are created with `O_EXCL`/`mkdir` (which never follow a symlink), and symlinks are
/// created last, so no path used while extracting passes through one. Modes are kept
/// without setuid/setgid; owners are set (without following symlinks) only when running
/// as root. Timestamps are not restored.
pub fn extract(file: &File, offset: u64, len: u64, dest: &Path) -> Result<Vec<String>, Error> {
    let fs = open(file, offset, len)?;
    let as_root = prepare(dest)?;
    let mut skipped = Vec::new();
    let mut created: Vec<(PathBuf, &Node<SquashfsFileReader>)> = Vec::new();
    let mut symlinks = Vec::new();
    let mut buf = vec![0u8; 128 * 1024];
    for node in fs.files() {
        let relative = node.fullpath.strip_prefix("/").unwrap_or(&node.fullpath);
        let target = dest.join(relative);
        let mode = u32::from(node.header.permissions & EXTRACT_MODE_MASK);
        match &node.inner {
            InnerNode::Dir(_) if relative.as_os_str().is_empty() => {}
            InnerNode::Dir(_) => fs::DirBuilder::new()
                .mode(0o700)
                .create(&target)
                .map_err(extract_error(&target))?,
            InnerNode::File(content) => {
                let mut out = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(0)
                    .open(&target)
                    .map_err(extract_error(&target))?;
                let mut reader = fs.file(content).reader();
                loop {
                    let n = reader.read(&mut buf).map_err(|source| Error::ReadEntry {
                        path: node.fullpath.to_string_lossy().into_owned(),
                        source,
                    })?;
                    if n == 0 {
                        break;
                    }
                    out.write_all(&buf[..n]).map_err(extract_error(&target))?;
                }
                out.set_permissions(fs::Permissions::from_mode(mode))
                    .map_err(extract_error(&target))?;
            }
            InnerNode::Symlink(link) => {
                symlinks.push((target, &link.link, node));
                continue;
            }
            _ => {
                skipped.push(node.fullpath.to_string_lossy().into_owned());
                continue;
            }
        }
        created.push((target, node));
    }
    for (target, link, node) in symlinks {
        std::os::unix::fs::symlink(link, &target).map_err(extract_error(&target))?;
        created.push((target, node));
    }
    if as_root {
        for (target, node) in &created {
            std::os::unix::fs::lchown(target, Some(node.header.uid), Some(node.header.gid))
                .map_err(extract_error(target))?;
        }
    }
    // Directory modes last, deepest first, so a read-only directory is filled first.
    for (target, node) in created.iter().rev() {
        if matches!(node.inner, InnerNode::Dir(_)) {
            let mode = u32::from(node.header.permissions & EXTRACT_MODE_MASK);
            fs::set_permissions(target, fs::Permissions::from_mode(mode))
                .map_err(extract_error(target))?;
        }
    }
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_paths_are_rejected() {
        for bad in [
            "", "a", "/..", "/a/..", "/a/../b", "/.", "/a//b", "/a/", "//", "/a/./b",
        ] {
            assert!(
                matches!(check_path(Path::new(bad)), Err(Error::UnsafePath(_))),
                "{bad:?}"
            );
        }
        for good in ["/", "/a", "/a/b", "/..a", "/a..", "/.hidden", "/a b/c"] {
            check_path(Path::new(good)).unwrap();
        }
    }

    #[test]
    fn slice_reads_only_its_range() {
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(b"0123456789").unwrap();
        let mut slice = Slice {
            file: &tmp,
            offset: 2,
            len: 5,
            pos: 0,
        };
        let mut out = Vec::new();
        slice.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"23456");
        assert_eq!(slice.seek(SeekFrom::End(-2)).unwrap(), 3);
        out.clear();
        slice.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"56");
    }
}
