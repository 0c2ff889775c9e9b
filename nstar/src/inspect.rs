//! `nstar inspect`: everything about a package, as text or as one JSON object.
//!
//! Without a key nothing is authenticated: the verity values are what the package claims
//! and are labelled so. With a key, `Npk::verify` decides the state (signature, hashes and
//! verity metadata; the data blocks are `nstar verify`'s job). Problems found while
//! collecting (an unreadable superblock or squashfs image) are reported in the output and
//! make the exit status 1; an invalid signature alone does not.

use crate::{cli::InspectArgs, error, error::Reported, fs_list::FileRecord, probe};
use anyhow::Context;
use npk::{key::PublicKey, package::Npk};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::{
    fs::File,
    io::{self, Seek, SeekFrom},
    path::Path,
};

/// The whole report; field names are stable and documented in doc/nstar.md.
#[derive(Serialize)]
struct Report {
    path: String,
    format_version: String,
    fs_img_offset: u64,
    signature: SignatureState,
    sizes: Sizes,
    hashes: Hashes,
    verity: Option<Verity>,
    manifest: serde_json::Value,
    manifest_yaml: String,
    files: Vec<FileRecord>,
    errors: Vec<String>,
}

#[derive(Serialize)]
struct SignatureState {
    /// `verified`, `invalid`, `not_verified` (signed, no key given) or `unsigned`.
    state: &'static str,
    /// Why verification failed (`invalid` only).
    reason: Option<String>,
}

#[derive(Serialize)]
struct Sizes {
    package: u64,
    manifest: u64,
    signature: Option<u64>,
    fs_img: u64,
    squashfs: Option<u64>,
    verity: Option<u64>,
}

#[derive(Serialize)]
struct Hashes {
    manifest_sha256: String,
    package_sha256: String,
}

#[derive(Serialize)]
struct Verity {
    /// Whether the values below were authenticated with a key.
    verified: bool,
    root_hash: String,
    offset: u64,
    data_blocks: u64,
    salt: String,
    uuid: String,
}

/// Run `nstar inspect`.
pub fn run(args: &InspectArgs, json: bool) -> anyhow::Result<()> {
    let report = collect(&args.npk, args.key.as_deref())?;
    if json {
        out!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_text(&report)?;
    }
    if report.errors.is_empty() {
        return Ok(());
    }
    for e in &report.errors {
        err!("nstar: error: {e}");
    }
    Err(Reported.into())
}

fn collect(path: &Path, key: Option<&Path>) -> anyhow::Result<Report> {
    let key = match key {
        Some(k) => Some(PublicKey::load(k).context("cannot load the public key")?),
        None => None,
    };
    let npk = Npk::open(path)?;
    let manifest_bytes = npk.manifest_bytes().to_vec();
    let signature_len = npk.signature_bytes().map(|s| s.len() as u64);
    let fs_img = npk.fs_img();
    let mut errors = Vec::new();
    // Only `custom` can hold something JSON cannot (a map with non-string keys).
    let mut json = |manifest: &npk::manifest::Manifest| {
        serde_json::to_value(manifest).unwrap_or_else(|e| {
            errors.push(format!("manifest: cannot be shown as JSON: {e}"));
            serde_json::Value::Null
        })
    };
    // A package is parsed after its signature is checked; without a key, or when the
    // check fails, it is parsed as it claims to be (and shown as such).
    let (signature, layout, file, format_version, manifest) = match key {
        None => {
            let state = if npk.is_signed() {
                "not_verified"
            } else {
                "unsigned"
            };
            let state = SignatureState {
                state,
                reason: None,
            };
            let layout = probe::claimed(&npk);
            let npk = npk.parse_unverified()?;
            let version = npk.format_version().to_string();
            let manifest = json(npk.manifest());
            (state, layout, npk.file().try_clone(), version, manifest)
        }
        Some(key) => match npk.verify(&key) {
            Ok(npk) => {
                let state = SignatureState {
                    state: "verified",
                    reason: None,
                };
                let version = npk.format_version().to_string();
                let manifest = json(npk.manifest());
                let layout = Ok(probe::verified(&npk));
                (state, layout, npk.file().try_clone(), version, manifest)
            }
            Err(e) => {
                let state = SignatureState {
                    state: "invalid",
                    reason: Some(error::chain(&e.kind)),
                };
                let npk = Npk::open(path)?;
                let layout = probe::claimed(&npk);
                let npk = npk.parse_unverified()?;
                let version = npk.format_version().to_string();
                let manifest = json(npk.manifest());
                (state, layout, npk.file().try_clone(), version, manifest)
            }
        },
    };
    let file = file.with_context(|| format!("{}: cannot read", path.display()))?;
    let mut files = Vec::new();
    let (squashfs, verity) = match layout {
        Ok(layout) => {
            let range = layout.squashfs.clone();
            match npk::squashfs::list(&file, range.start, range.end - range.start) {
                Ok(entries) => files = entries.iter().map(FileRecord::new).collect(),
                Err(e) => errors.push(format!("squashfs image: {}", error::chain(&e))),
            }
            let verity = layout.verity.map(|v| Verity {
                verified: signature.state == "verified",
                root_hash: hex::encode(v.root),
                offset: v.offset,
                data_blocks: v.superblock.data_blocks,
                salt: v.superblock.salt.to_hex(),
                uuid: hex::encode(v.superblock.uuid),
            });
            (Some(range.end - range.start), verity)
        }
        Err(e) => {
            errors.push(format!("{e:#}"));
            (None, None)
        }
    };
    let fs_len = fs_img.end - fs_img.start;
    Ok(Report {
        path: path.display().to_string(),
        format_version,
        fs_img_offset: fs_img.start,
        signature,
        sizes: Sizes {
            package: file.metadata()?.len(),
            manifest: manifest_bytes.len() as u64,
            signature: signature_len,
            fs_img: fs_len,
            squashfs,
            verity: squashfs.map(|s| fs_len - s).filter(|_| verity.is_some()),
        },
        hashes: Hashes {
            manifest_sha256: hex::encode(Sha256::digest(&manifest_bytes)),
            package_sha256: sha256_file(&file)
                .with_context(|| format!("{}: cannot read", path.display()))?,
        },
        verity,
        manifest,
        manifest_yaml: String::from_utf8_lossy(&manifest_bytes).into_owned(),
        files,
        errors,
    })
}

fn sha256_file(mut file: &File) -> io::Result<String> {
    let mut hasher = Sha256::new();
    file.seek(SeekFrom::Start(0))?;
    io::copy(&mut io::BufReader::new(file), &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

fn print_text(r: &Report) -> anyhow::Result<()> {
    let state = match (r.signature.state, &r.signature.reason) {
        ("invalid", Some(reason)) => format!("invalid: {reason}"),
        ("not_verified", _) => "signed (not verified: no key given)".to_string(),
        (state, _) => state.to_string(),
    };
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    out!("package          {}", r.path)?;
    out!("format version   {}", r.format_version)?;
    out!("state            {state}")?;
    out!("\nsizes (bytes)")?;
    out!("  package        {}", r.sizes.package)?;
    out!("  manifest.yaml  {}", r.sizes.manifest)?;
    out!("  signature.yaml {}", opt(r.sizes.signature))?;
    out!(
        "  fs.img         {} (at offset {})",
        r.sizes.fs_img,
        r.fs_img_offset
    )?;
    out!("  squashfs       {}", opt(r.sizes.squashfs))?;
    out!(
        "  verity tree    {} (superblock and hash tree)",
        opt(r.sizes.verity)
    )?;
    out!("\nhashes (sha256)")?;
    out!("  manifest.yaml  {}", r.hashes.manifest_sha256)?;
    out!("  package        {}", r.hashes.package_sha256)?;
    if let Some(v) = &r.verity {
        let label = if v.verified {
            "verity (verified)"
        } else {
            "verity (as claimed by the package, not verified)"
        };
        out!("\n{label}")?;
        out!("  root hash      {}", v.root_hash)?;
        out!("  offset         {}", v.offset)?;
        out!("  data blocks    {}", v.data_blocks)?;
        out!("  salt           {}", v.salt)?;
        out!("  uuid           {}", v.uuid)?;
    }
    out!("\nmanifest.yaml")?;
    for line in r.manifest_yaml.lines() {
        out!("  {line}")?;
    }
    out!("\nfiles ({})", r.files.len())?;
    let width = r
        .files
        .iter()
        .map(|f| f.size.to_string().len())
        .max()
        .unwrap_or(1);
    for f in &r.files {
        out!("  {}", f.line(width))?;
    }
    Ok(())
}
