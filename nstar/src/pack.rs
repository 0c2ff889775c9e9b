//! `nstar pack`: manifest + root directory → `<out>/<name>-<version>.npk`.
//!
//! The work is `npk::pack::pack`; this module turns the arguments into its options and
//! shows a progress bar while a large tree is packed (only on a terminal).

use crate::cli::PackArgs;
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use npk::{
    key::SecretKey,
    squashfs::{self, Compression},
    verity::Salt,
};
use std::{fs, io::IsTerminal, path::Path};

/// Trees smaller than this are packed without a progress bar: it would only flicker.
const PROGRESS_THRESHOLD: u64 = 32 * 1024 * 1024;
/// Squashfs block sizes: powers of two in this range.
const BLOCK_SIZES: std::ops::RangeInclusive<u64> =
    squashfs::MIN_BLOCK_SIZE as u64..=squashfs::MAX_BLOCK_SIZE as u64;

/// Run `nstar pack`.
pub fn run(args: &PackArgs) -> anyhow::Result<()> {
    if !args.root.is_dir() {
        bail!("{}: not a directory", args.root.display());
    }
    if !args.out.is_dir() {
        bail!("{}: output directory does not exist", args.out.display());
    }
    let key = match &args.key {
        Some(path) => Some(SecretKey::load(path).context("cannot load the signing key")?),
        None => None,
    };
    let salt = match &args.salt {
        Some(hex) => Some(Salt::from_hex(hex).context("--salt")?),
        None => None,
    };
    if salt.is_some() && key.is_none() {
        err!("nstar: warning: --salt has no effect without --key (unsigned packages carry no verity data)");
    }
    let mut options = npk::pack::Options {
        salt,
        key: key.as_ref(),
        ..Default::default()
    };
    if let Some(compression) = args.compression {
        options.compression = compression;
    }
    if let Some(block_size) = args.block_size {
        options.block_size = block_size;
    }

    let bar = progress_bar(&args.root);
    let result = npk::pack::pack(&args.manifest, &args.root, &args.out, &options, &mut |n| {
        bar.set_position(n)
    });
    bar.finish_and_clear();
    let path = result?;
    out!("{}", path.display())?;
    Ok(())
}

/// A progress bar over the bytes of the tree, or a hidden one when stderr is not a
/// terminal or the tree is small.
fn progress_bar(root: &Path) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let total = tree_size(root);
    if total < PROGRESS_THRESHOLD {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "packing {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Bytes of regular files below `dir`, without following symlinks. Unreadable parts count
/// as empty: the packer reports them properly.
fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => tree_size(&entry.path()),
            Ok(t) if t.is_file() => entry.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// `--compression`: `none`, `gzip`, `xz`, `zstd` or `lz4`.
pub fn parse_compression(text: &str) -> Result<Compression, String> {
    text.parse::<Compression>().map_err(|e| e.to_string())
}

/// `--block-size`: bytes, or a number with `K`/`KiB` or `M`/`MiB` (powers of 1024); a power
/// of two from 4K to 1M (the squashfs limits).
pub fn parse_block_size(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let factor: u64 = match unit.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" | "kib" => 1024,
        "m" | "mib" => 1024 * 1024,
        _ => return Err(format!("{text:?}: expected bytes, or a number with K or M")),
    };
    let size = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| format!("{text:?}: expected bytes, or a number with K or M"))?;
    if !size.is_power_of_two() || !BLOCK_SIZES.contains(&size) {
        return Err(format!(
            "{text:?}: the block size must be a power of two from 4K to 1M"
        ));
    }
    u32::try_from(size).map_err(|_| format!("{text:?}: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sizes() {
        assert_eq!(parse_block_size("128K"), Ok(128 * 1024));
        assert_eq!(parse_block_size("128k"), Ok(128 * 1024));
        assert_eq!(parse_block_size("1M"), Ok(1024 * 1024));
        assert_eq!(parse_block_size("1MiB"), Ok(1024 * 1024));
        assert_eq!(parse_block_size("4096"), Ok(4096));
        for bad in [
            "",
            "K",
            "2M",
            "1000",
            "2K",
            "12Q",
            "-4K",
            "99999999999999999999",
        ] {
            assert!(parse_block_size(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn tree_size_counts_files_not_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a/b")).unwrap();
        fs::write(dir.path().join("a/b/f"), [0u8; 100]).unwrap();
        fs::write(dir.path().join("g"), [0u8; 20]).unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("link")).unwrap();
        assert_eq!(tree_size(dir.path()), 120);
    }
}
