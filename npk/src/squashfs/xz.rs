//! xz blocks, encoded the way backhand's xz does, without its multi-threaded encoder.
//!
//! backhand encodes every xz block with a liblzma *multi-threaded* stream encoder (two
//! threads), which starts threads and allocates per-thread buffers for each block of at
//! most 1 MiB, which one thread then encodes. [`compress`] encodes with the same filter
//! chain (LZMA2 preset 6, dictionary = block size, no BCJ filter), the same container
//! (an .xz stream, one block, CRC32 check: what the kernel's squashfs xz decompressor
//! reads) and a single-threaded stream encoder, as `mksquashfs` does. The block header
//! omits the optional sizes the multi-threaded encoder writes in it (the index has them),
//! so a block is the same size or a few bytes smaller (checked in the tests). The output
//! depends only on the input.

use backhand::BackhandError;
use liblzma::stream::{Action, Check, Filters, LzmaOptions, Status, Stream};

/// backhand's (and mksquashfs') xz preset: LZMA_PRESET_DEFAULT.
const PRESET: u32 = 6;

/// Bytes an .xz stream of one block adds to the LZMA2 data, with room to spare.
const STREAM_OVERHEAD: usize = 128;

fn encoder_error(e: liblzma::stream::Error) -> BackhandError {
    BackhandError::CompressionInit(format!("xz encoder: {e}"))
}

/// `bytes` as an .xz stream of one block, LZMA2 preset 6 with a `dict_size` dictionary,
/// CRC32 check.
pub(crate) fn compress(bytes: &[u8], dict_size: u32) -> Result<Vec<u8>, BackhandError> {
    let mut options = LzmaOptions::new_preset(PRESET).map_err(encoder_error)?;
    options.dict_size(dict_size);
    let mut filters = Filters::new();
    filters.lzma2(&options);
    let mut stream = Stream::new_stream_encoder(&filters, Check::Crc32).map_err(encoder_error)?;
    // LZMA2 stores incompressible data in chunks of 64 KiB with 3 bytes of header each.
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 1024 + STREAM_OVERHEAD);
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(4096));
        }
        let rest = usize::try_from(stream.total_in())
            .ok()
            .and_then(|n| bytes.get(n..))
            .ok_or(liblzma::stream::Error::Program)
            .map_err(encoder_error)?;
        match stream.process_vec(rest, &mut out, Action::Finish) {
            Ok(Status::StreamEnd) => return Ok(out),
            Ok(Status::Ok | Status::GetCheck) => {}
            // No progress although there was room in `out`.
            Ok(Status::MemNeeded) => return Err(encoder_error(liblzma::stream::Error::Program)),
            Err(e) => return Err(encoder_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use backhand::{
        compression::{CompressionAction, Compressor as Id, DefaultCompressor},
        FilesystemCompressor,
    };

    use super::*;

    const BLOCK: u32 = 128 * 1024;

    fn inputs() -> Vec<Vec<u8>> {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let random: Vec<u8> = (0..BLOCK)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let text: Vec<u8> = (0..BLOCK as usize / 16)
            .flat_map(|i| format!("line {:>9} x\n", i * 7 % 1000).into_bytes())
            .collect();
        let mut mixed = text[..BLOCK as usize / 2].to_vec();
        mixed.extend_from_slice(&random[..BLOCK as usize / 2]);
        vec![
            Vec::new(),
            b"a".to_vec(),
            vec![0; BLOCK as usize],
            random,
            text,
            mixed,
            b"metadata block".repeat(500),
        ]
    }

    /// Readable by backhand (liblzma's stream decoder), no larger than backhand's own
    /// encoding, and the same on every run.
    #[test]
    fn matches_backhand_xz() {
        let fc = FilesystemCompressor::new(Id::Xz, None).unwrap();
        for input in inputs() {
            let ours = compress(&input, BLOCK).unwrap();
            let theirs = DefaultCompressor.compress(&input, fc, BLOCK).unwrap();
            assert!(
                ours.len() <= theirs.len(),
                "{} > {}",
                ours.len(),
                theirs.len()
            );
            assert_eq!(ours, compress(&input, BLOCK).unwrap());
            let mut back = Vec::with_capacity(BLOCK as usize);
            DefaultCompressor
                .decompress(&ours, &mut back, Id::Xz)
                .unwrap();
            assert_eq!(back, input);
        }
    }
}
