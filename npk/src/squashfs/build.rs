//! Building an image from a directory tree.

use std::{
    cell::{Cell, RefCell},
    fs::File,
    io::{self, Read, Seek, Write},
    path::{Path, PathBuf},
    rc::Rc,
};

use backhand::{
    compression::{CompressionOptions, Compressor as Id, Lz4, Zstd},
    kind::Kind,
    BackhandError, FilesystemCompressor, FilesystemWriter, NodeHeader,
};

use super::{
    check_block_size,
    output::Output,
    parallel,
    tree::{add_mount_points, walk, Item},
    Compression, Error, Options, ZSTD_LEVEL,
};

/// Builds the image of the directory tree `root` into `out`, starting at the current
/// position of `out`, and returns its length in bytes (not padded). On success `out` is
/// positioned at the end of the image.
///
/// The output depends only on the tree's names, types, permission bits, symlink targets
/// and file contents, and on `opts`: timestamps are 0, entries are sorted by name, every
/// entry belongs to `opts.uid:opts.gid`. Permission bits are kept as they are, setuid and
/// setgid included (images are mounted `nosuid`). Hard links become separate entries whose
/// data is stored once (data deduplication). Fifos, sockets and device files in the tree
/// are errors. `progress` is called with the number of file bytes read so far.
pub fn build(
    root: &Path,
    opts: &Options,
    out: &mut (impl Write + Seek),
    progress: &mut dyn FnMut(u64),
) -> Result<u64, Error> {
    check_block_size(opts.block_size)?;
    let (root_mode, mut tree) = walk(root)?;
    add_mount_points(&mut tree, opts)?;
    if tree.is_empty() && (opts.uid != 0 || opts.gid != 0) {
        // backhand records an owner in its id table only when an entry is added.
        return Err(Error::EmptyTree {
            uid: opts.uid,
            gid: opts.gid,
        });
    }

    let (fc, store_only) = compressor(opts.compression)?;
    let mut fs = FilesystemWriter::default();
    fs.set_kind(Kind::new_v4(&parallel::COMPRESSOR));
    fs.set_block_size(opts.block_size);
    fs.set_compressor(fc);
    fs.set_time(0);
    fs.set_no_padding();
    fs.set_root_mode(root_mode);
    fs.set_root_uid(opts.uid);
    fs.set_root_gid(opts.gid);

    let reading = Rc::new(Reading {
        done: Cell::new(0),
        progress: RefCell::new(progress),
        failed: RefCell::new(None),
    });
    let mut files = Vec::new();
    for (path, item) in &tree {
        let header = |mode| NodeHeader::new(mode, opts.uid, opts.gid, 0);
        match item {
            Item::Dir { mode } => fs.push_dir(path, header(*mode)),
            Item::File { mode, source } => {
                files.push(source.clone());
                let reader = Source {
                    path: source.clone(),
                    file: None,
                    shared: reading.clone(),
                };
                fs.push_file(reader, path, header(*mode))
            }
            Item::Symlink { mode, target } => fs.push_symlink(target, path, header(*mode)),
            Item::CharDevice { mode, major, minor } => {
                let device_number = (major << 8) | (minor & 0xff) | ((minor & !0xff) << 12);
                fs.push_char_device(device_number, path, header(*mode))
            }
        }
        .map_err(Error::Write)?;
    }

    let precheck = matches!(
        opts.compression,
        Compression::Xz | Compression::Gzip | Compression::Zstd
    );
    let xz = opts.compression == Compression::Xz;
    let session = parallel::Session::new(store_only, precheck, xz, opts.block_size);
    let pool = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("squashfs-{i}"))
        .build()
        .map_err(|e| Error::Threads(io::Error::other(e)))?;
    let mut output = Output::new(out).map_err(Error::Output)?;
    let written = std::thread::scope(|scope| {
        let installed = parallel::Installed::new(session.clone());
        if !store_only {
            std::thread::Builder::new()
                .name("squashfs-read".into())
                .spawn_scoped(scope, || {
                    session.produce(&files, fc, opts.block_size, &pool);
                })
                .map_err(Error::Threads)?;
        }
        let written = fs.write(&mut output);
        drop(installed); // stops the producer, which the scope then joins
        Ok::<_, Error>(written)
    })?;
    drop(fs);
    let error = |e: BackhandError| match (reading.failed.take(), output.failed.take()) {
        (Some((path, source)), _) => Error::Source { path, source },
        (None, Some(source)) => Error::Output(source),
        (None, None) => Error::Write(e),
    };
    let (_, len) = written.map_err(error)?;
    output.finish(len).map_err(Error::Output)?;
    Ok(len)
}

/// backhand's settings for `compression`, and whether blocks are stored uncompressed.
fn compressor(compression: Compression) -> Result<(FilesystemCompressor, bool), Error> {
    let (id, options) = match compression {
        // The kernel knows no "none" compressor: name gzip, store every block as is.
        Compression::None => (Id::Gzip, None),
        Compression::Gzip => (Id::Gzip, None),
        Compression::Xz => (Id::Xz, None),
        Compression::Zstd => (
            Id::Zstd,
            Some(CompressionOptions::Zstd(Zstd {
                compression_level: ZSTD_LEVEL,
            })),
        ),
        // The kernel requires version 1 (the legacy frame) in the options.
        Compression::Lz4 => (
            Id::Lz4,
            Some(CompressionOptions::Lz4(Lz4 {
                version: 1,
                flags: 0,
            })),
        ),
    };
    let fc = FilesystemCompressor::new(id, options).map_err(Error::Write)?;
    Ok((fc, compression == Compression::None))
}

/// Progress and errors of reading the source files, shared by their readers.
struct Reading<'p> {
    done: Cell<u64>,
    progress: RefCell<&'p mut dyn FnMut(u64)>,
    failed: RefCell<Option<(PathBuf, io::Error)>>,
}

/// A source file, opened when the writer first reads it and closed when it is done.
struct Source<'p> {
    path: PathBuf,
    file: Option<File>,
    shared: Rc<Reading<'p>>,
}

impl Read for Source<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = match &mut self.file {
            Some(file) => file.read(buf),
            None => File::open(&self.path).and_then(|file| self.file.insert(file).read(buf)),
        };
        match result {
            Ok(n) => {
                let done = self.shared.done.get() + n as u64;
                self.shared.done.set(done);
                if n > 0 {
                    if let Ok(mut progress) = self.shared.progress.try_borrow_mut() {
                        progress(done);
                    }
                }
                Ok(n)
            }
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.shared
                    .failed
                    .borrow_mut()
                    .get_or_insert((self.path.clone(), e));
                Err(copy)
            }
        }
    }
}
