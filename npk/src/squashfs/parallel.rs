//! Compression on all cores behind backhand's sequential writer.
//!
//! backhand's writer compresses one block at a time, in a fixed order: for each file (in
//! path order) its full blocks and its last partial block, all-zero blocks skipped; files
//! shorter than a block are packed into fragment blocks, each compressed when the next
//! file no longer fits, and the last one at the end. A producer thread predicts that
//! sequence from the same files, compresses the blocks ahead on a thread pool, and queues
//! the results in order. The [`Compressor`] backhand calls takes the result for the same
//! input bytes from the queue (compared byte for byte), and compresses anything it cannot
//! find (metadata, or data that changed since the prediction) itself. Every block is
//! compressed by the same function ([`compress_block`]) either way, so the image does not
//! depend on thread scheduling or on whether a prediction was right.
//!
//! For xz, gzip and zstd a block is first tried with zstd level 1; a block it cannot
//! shrink by 1/128 is stored uncompressed without running the slow compressor on it.
//! xz blocks are encoded by [`super::xz`] (backhand's settings, single-threaded encoder).

use std::{
    cell::RefCell,
    collections::VecDeque,
    fs::File,
    io::{self, Read},
    path::PathBuf,
    sync::{Arc, Condvar, Mutex, MutexGuard},
};

use backhand::{
    compression::{
        CompressionAction, CompressionOptions, Compressor as Id, DefaultCompressor, Zstd,
    },
    kind::Kind,
    BackhandError, FilesystemCompressor, SuperBlock,
};

/// Input bytes queued ahead of the writer, at most (plus the results).
const WINDOW_BYTES: usize = 32 * 1024 * 1024;

/// The compressor an image is written with. See the module documentation.
pub(crate) struct Compressor;

pub(crate) static COMPRESSOR: Compressor = Compressor;

thread_local! {
    /// The session of the image being written on this thread, if any.
    static SESSION: RefCell<Option<Arc<Session>>> = const { RefCell::new(None) };
}

impl CompressionAction for Compressor {
    type Error = BackhandError;
    type Compressor = Id;
    type FilesystemCompressor = FilesystemCompressor;
    type SuperBlock = SuperBlock;

    fn decompress(&self, bytes: &[u8], out: &mut Vec<u8>, id: Id) -> Result<(), BackhandError> {
        DefaultCompressor.decompress(bytes, out, id)
    }

    fn compress(
        &self,
        bytes: &[u8],
        fc: FilesystemCompressor,
        block_size: u32,
    ) -> Result<Vec<u8>, BackhandError> {
        let session = SESSION.with(|s| s.borrow().clone());
        if let Some(session) = session {
            if session.store_only {
                // Longer than the input: backhand then stores the block uncompressed.
                return Ok(vec![0; bytes.len() + 1]);
            }
            if let Some(result) = session.take(bytes) {
                return result;
            }
            return compress_block(&session, bytes, fc, block_size);
        }
        DefaultCompressor.compress(bytes, fc, block_size)
    }

    fn compression_options(
        &self,
        superblock: &mut SuperBlock,
        kind: &Kind,
        fc: FilesystemCompressor,
    ) -> Result<Option<Vec<u8>>, BackhandError> {
        DefaultCompressor.compression_options(superblock, kind, fc)
    }
}

struct Slot {
    input: Arc<Vec<u8>>,
    output: Option<Result<Vec<u8>, BackhandError>>,
}

#[derive(Default)]
struct Queue {
    slots: VecDeque<Slot>,
    /// Sequence number of `slots[0]`.
    front: u64,
    /// The producer has queued everything it will.
    done: bool,
    cancelled: bool,
}

/// Shared by the writing thread, the producer and the pool.
pub(crate) struct Session {
    store_only: bool,
    /// Skip the compressor for blocks that a fast zstd pass cannot shrink.
    precheck: bool,
    /// The image is xz with backhand's default settings: encode with [`super::xz`].
    xz: bool,
    window: usize,
    queue: Mutex<Queue>,
    changed: Condvar,
}

impl Session {
    pub(crate) fn new(store_only: bool, precheck: bool, xz: bool, block_size: u32) -> Arc<Self> {
        let window = (WINDOW_BYTES / block_size.max(1) as usize).max(8);
        Arc::new(Session {
            store_only,
            precheck,
            xz,
            window,
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, Queue>) -> MutexGuard<'a, Queue> {
        self.changed
            .wait(guard)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The queued result for `bytes`, waiting for it if it is being compressed; `None`
    /// when the prediction has no such block.
    fn take(&self, bytes: &[u8]) -> Option<Result<Vec<u8>, BackhandError>> {
        let mut q = self.lock();
        loop {
            if q.cancelled {
                return None;
            }
            let matching = q
                .slots
                .iter()
                .position(|s| s.input.len() == bytes.len() && s.input[..] == *bytes);
            match matching {
                Some(0) if q.slots[0].output.is_some() => {
                    let slot = q.slots.pop_front()?;
                    q.front += 1;
                    self.changed.notify_all();
                    return slot.output;
                }
                Some(0) => q = self.wait(q),
                // The prediction went astray (a file changed): resynchronise.
                Some(skip) => {
                    q.slots.drain(..skip);
                    q.front += skip as u64;
                    self.changed.notify_all();
                }
                None if q.slots.is_empty() && !q.done => q = self.wait(q),
                None => return None,
            }
        }
    }

    /// Stops the producer and drops what is queued.
    pub(crate) fn cancel(&self) {
        let mut q = self.lock();
        q.cancelled = true;
        q.slots.clear();
        self.changed.notify_all();
    }

    fn finish(&self) {
        self.lock().done = true;
        self.changed.notify_all();
    }

    /// Queues `input` and compresses it on `pool`. False once cancelled.
    fn push(
        self: &Arc<Self>,
        input: Vec<u8>,
        fc: FilesystemCompressor,
        block_size: u32,
        pool: &rayon::ThreadPool,
    ) -> bool {
        let input = Arc::new(input);
        let id = {
            let mut q = self.lock();
            while q.slots.len() >= self.window && !q.cancelled {
                q = self.wait(q);
            }
            if q.cancelled {
                return false;
            }
            q.slots.push_back(Slot {
                input: input.clone(),
                output: None,
            });
            q.front + q.slots.len() as u64 - 1
        };
        let session = self.clone();
        pool.spawn(move || {
            let output = compress_block(&session, &input, fc, block_size);
            let mut q = session.lock();
            if let Some(index) = id.checked_sub(q.front) {
                if let Some(slot) = q.slots.get_mut(index as usize) {
                    slot.output = Some(output);
                }
            }
            session.changed.notify_all();
        });
        true
    }

    /// Predicts the writer's data blocks for `files` (in writer order) and queues them.
    /// Stops predicting at a read error: the writer reports it when it reads the file.
    pub(crate) fn produce(
        self: &Arc<Self>,
        files: &[PathBuf],
        fc: FilesystemCompressor,
        block_size: u32,
        pool: &rayon::ThreadPool,
    ) {
        let _ = self.predict(files, fc, block_size, pool);
        self.finish();
    }

    fn predict(
        self: &Arc<Self>,
        files: &[PathBuf],
        fc: FilesystemCompressor,
        block_size: u32,
        pool: &rayon::ThreadPool,
    ) -> io::Result<()> {
        let size = block_size as usize;
        let mut fragment = Vec::with_capacity(size);
        for path in files {
            let mut file = File::open(path)?;
            let mut chunk = read_chunk(&mut file, size)?;
            if chunk.is_empty() {
                continue;
            }
            if chunk.len() < size {
                if chunk.len() + fragment.len() > size {
                    let full = std::mem::replace(&mut fragment, Vec::with_capacity(size));
                    if !self.push(full, fc, block_size, pool) {
                        return Ok(());
                    }
                }
                fragment.extend_from_slice(&chunk);
                continue;
            }
            while !chunk.is_empty() {
                let next = read_chunk(&mut file, size)?;
                if chunk.iter().any(|b| *b != 0) && !self.push(chunk, fc, block_size, pool) {
                    return Ok(());
                }
                chunk = next;
            }
        }
        // The writer compresses the last fragment block, even an empty one, at the end.
        self.push(fragment, fc, block_size, pool);
        Ok(())
    }
}

/// A block that zstd at level 1 cannot shrink by 1/128 is close to random: xz or gzip
/// would spend most of their time on it (xz is 5-10x slower on random data than on text)
/// to save at most a few bytes, or nothing, and backhand would then store it as is.
const PRECHECK_MARGIN: usize = 128;

/// Compresses one block: the same function for queued and inline blocks, so the image
/// does not depend on which path a block took. With `session.precheck`, a block found
/// incompressible is answered with bytes longer than it, so backhand stores it as is.
fn compress_block(
    session: &Session,
    bytes: &[u8],
    fc: FilesystemCompressor,
    block_size: u32,
) -> Result<Vec<u8>, BackhandError> {
    if session.precheck && bytes.len() >= 4096 {
        let fast = Zstd {
            compression_level: 1,
        };
        let probe = FilesystemCompressor::new(Id::Zstd, Some(CompressionOptions::Zstd(fast)))?;
        let trial = DefaultCompressor.compress(bytes, probe, block_size)?;
        if trial.len() >= bytes.len() - bytes.len() / PRECHECK_MARGIN {
            return Ok(vec![0; bytes.len() + 1]);
        }
    }
    if session.xz {
        // backhand's xz without options: dictionary = block size.
        return super::xz::compress(bytes, block_size);
    }
    DefaultCompressor.compress(bytes, fc, block_size)
}

/// Reads up to `size` bytes, fewer only at the end of the file (as backhand does).
fn read_chunk(file: &mut File, size: usize) -> io::Result<Vec<u8>> {
    let mut chunk = Vec::with_capacity(size);
    file.by_ref().take(size as u64).read_to_end(&mut chunk)?;
    Ok(chunk)
}

/// Makes `session` the one [`Compressor`] uses on this thread until dropped.
pub(crate) struct Installed(Arc<Session>);

impl Installed {
    pub(crate) fn new(session: Arc<Session>) -> Self {
        SESSION.with(|s| *s.borrow_mut() = Some(session.clone()));
        Installed(session)
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        self.0.cancel();
        SESSION.with(|s| *s.borrow_mut() = None);
    }
}
