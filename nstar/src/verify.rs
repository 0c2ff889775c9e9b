//! `nstar verify`: every check a package can get without the kernel.
//!
//! In order: the archive (zip structure and its bounds, nothing parsed), the ed25519
//! signature over `signature.yaml`'s hashes, those hashes against the archive comment and
//! the manifest, then (signed bytes only) the format version and the manifest, the verity
//! metadata (offset, sizes, superblock) against the signed values,
//! and finally every data and hash block of `fs.img` against the signed root hash. Each
//! check is listed on stdout as it passes; the first failure ends the run, its error is
//! printed by `main` and the exit status is 1.

use anyhow::Context;
use npk::{
    key::PublicKey,
    package::{ErrorKind, Npk},
};
use std::path::Path;

/// The checks, in the order they run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Step {
    Archive,
    Signature,
    Hashes,
    Manifest,
    Verity,
    FsImg,
}

const STEPS: [Step; 6] = [
    Step::Archive,
    Step::Signature,
    Step::Hashes,
    Step::Manifest,
    Step::Verity,
    Step::FsImg,
];

impl Step {
    fn label(self) -> &'static str {
        match self {
            Step::Archive => "archive",
            Step::Signature => "signature",
            Step::Hashes => "hashes",
            Step::Manifest => "manifest",
            Step::Verity => "verity metadata",
            Step::FsImg => "fs.img",
        }
    }

    /// The check that reports a failure of `Npk::verify`.
    fn of(kind: &ErrorKind) -> Step {
        match kind {
            ErrorKind::MetaHash | ErrorKind::ManifestHash => Step::Hashes,
            ErrorKind::Comment(_)
            | ErrorKind::Format { .. }
            | ErrorKind::Manifest(_)
            | ErrorKind::ManifestEncoding => Step::Manifest,
            ErrorKind::VerityOffset { .. }
            | ErrorKind::FsImgSize { .. }
            | ErrorKind::Superblock(_)
            | ErrorKind::SuperblockBlocks { .. }
            | ErrorKind::Read(_) => Step::Verity,
            ErrorKind::FsImg(_) => Step::FsImg,
            _ => Step::Signature,
        }
    }
}

fn passed(step: Step, detail: &str) -> anyhow::Result<()> {
    out!("  {:<16} ok ({detail})", step.label())?;
    Ok(())
}

/// Mark `step` as failed and the later ones as skipped, then fail with `error`.
fn failed<T>(step: Step, error: impl Into<anyhow::Error>) -> anyhow::Result<T> {
    out!("  {:<16} FAILED", step.label())?;
    let later = STEPS.iter().skip_while(|s| **s != step).skip(1);
    for s in later {
        out!("  {:<16} skipped", s.label())?;
    }
    Err(error.into())
}

/// Run `nstar verify`.
pub fn run(path: &Path, key: &Path) -> anyhow::Result<()> {
    let key = PublicKey::load(key).context("cannot load the public key")?;
    out!(
        "{}: checking with key {}",
        path.display(),
        hex::encode(key.to_bytes())
    )?;
    let npk = match Npk::open(path) {
        Ok(npk) => npk,
        Err(e) => return failed(Step::Archive, e),
    };
    let signed = npk.signature_bytes().map_or(0, <[u8]>::len);
    passed(
        Step::Archive,
        &format!(
            "manifest.yaml {} bytes, signature.yaml {signed} bytes, fs.img {} bytes",
            npk.manifest_bytes().len(),
            npk.fs_img().end - npk.fs_img().start
        ),
    )?;
    let npk = match npk.verify(&key) {
        Ok(npk) => npk,
        Err(e) => {
            let step = Step::of(&e.kind);
            for earlier in STEPS.iter().skip(1).take_while(|s| **s != step) {
                passed(*earlier, detail(*earlier))?;
            }
            return failed(step, e);
        }
    };
    passed(Step::Signature, detail(Step::Signature))?;
    passed(Step::Hashes, detail(Step::Hashes))?;
    passed(
        Step::Manifest,
        &format!(
            "format {}, manifest {} {}",
            npk.format_version(),
            npk.manifest().name,
            npk.manifest().version
        ),
    )?;
    let verity = npk.verity();
    let blocks = verity.superblock.data_blocks;
    passed(
        Step::Verity,
        &format!(
            "offset {}, {blocks} data blocks, superblock matches",
            verity.offset
        ),
    )?;
    let root = hex::encode(verity.root);
    if let Err(e) = npk.check_fs_img() {
        return failed(Step::FsImg, e);
    }
    passed(
        Step::FsImg,
        &format!("{blocks} data blocks and the hash tree match root hash {root}"),
    )?;
    out!("verified")?;
    Ok(())
}

/// What a check that passed inside `Npk::verify` established.
fn detail(step: Step) -> &'static str {
    match step {
        Step::Signature => "ed25519 signature over signature.yaml's hashes",
        Step::Hashes => "archive comment and manifest.yaml match their signed sha256",
        Step::Manifest => "format version and manifest.yaml parsed after the hashes matched",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_their_check() {
        assert_eq!(Step::of(&ErrorKind::Unsigned), Step::Signature);
        assert_eq!(Step::of(&ErrorKind::ManifestHash), Step::Hashes);
        assert_eq!(Step::of(&ErrorKind::ManifestEncoding), Step::Manifest);
        assert_eq!(
            Step::of(&ErrorKind::FsImgSize {
                found: 1,
                expected: 2
            }),
            Step::Verity
        );
    }
}
