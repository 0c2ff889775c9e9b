//! Helpers for the repository tests: a temporary world with a key file, packing resource
//! packages, listing directories, and tampering with package files.
#![allow(dead_code)]

use npk::{archive::Archive, key::SecretKey, pack, squashfs::Compression};
use runtime_core::{
    config::RepositoryConfig,
    id::ContainerId,
    repository::{Rejected, Repository},
};
use std::{
    fs,
    io::{self, Read},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
};
use tempfile::TempDir;

pub fn secret(seed: u8) -> SecretKey {
    SecretKey::from_seed(&[seed; 32])
}

/// A test directory with a public key file of `secret(1)` at `key.pub`.
pub struct World {
    pub dir: TempDir,
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        secret(1)
            .public()
            .save(&dir.path().join("key.pub"))
            .unwrap();
        World { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn keyed(&self, repo: &str) -> RepositoryConfig {
        RepositoryConfig {
            dir: self.path(repo),
            key: Some(self.path("key.pub")),
            unverified: false,
            max_packages: None,
            max_bytes: None,
            mount_on_start: false,
            resources_from: Vec::new(),
            policy: Default::default(),
        }
    }

    pub fn unverified(&self, repo: &str) -> RepositoryConfig {
        RepositoryConfig {
            key: None,
            unverified: true,
            ..self.keyed(repo)
        }
    }

    /// Pack a resource package `name:version` (signed with `key` if given) into a fresh
    /// staging directory and return its path.
    pub fn pack(&self, name: &str, version: &str, key: Option<&SecretKey>) -> PathBuf {
        self.pack_with(name, version, key, "")
    }

    /// Like [`World::pack`], with `extra` appended to the manifest.
    pub fn pack_with(
        &self,
        name: &str,
        version: &str,
        key: Option<&SecretKey>,
        extra: &str,
    ) -> PathBuf {
        static N: AtomicU32 = AtomicU32::new(0);
        let stage = self.path(&format!("stage-{}", N.fetch_add(1, Ordering::Relaxed)));
        let root = stage.join("root");
        fs::create_dir_all(&root).unwrap();
        // Incompressible content over several 4 KiB blocks.
        let mut x = 0x2545_f491_4f6c_dd1du64 ^ (name.len() as u64);
        let data: Vec<u8> = (0..40_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        fs::write(root.join("data"), data).unwrap();
        let manifest = stage.join("manifest.yaml");
        fs::write(
            &manifest,
            format!("name: {name}\nversion: {version}\nuid: 1000\ngid: 1000\n{extra}"),
        )
        .unwrap();
        let options = pack::Options {
            compression: Compression::None,
            key,
            ..pack::Options::default()
        };
        pack::pack(&manifest, &root, &stage, &options, &mut |_| ()).unwrap()
    }

    /// Pack into the repository directory `repo` under the file name `file`.
    pub fn put(&self, repo: &str, file: &str, name: &str, version: &str, key: Option<&SecretKey>) {
        let packed = self.pack(name, version, key);
        fs::create_dir_all(self.path(repo)).unwrap();
        fs::rename(packed, self.path(repo).join(file)).unwrap();
    }
}

pub fn id(text: &str) -> ContainerId {
    text.parse().unwrap()
}

pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

pub fn rejected_files(rejected: &[Rejected]) -> Vec<String> {
    let mut names: Vec<String> = rejected
        .iter()
        .map(|r| r.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

pub fn loaded(config: &RepositoryConfig) -> (Repository, Vec<Rejected>) {
    let mut repo = Repository::open("repo", config).unwrap();
    let rejected = repo.load_all().unwrap();
    (repo, rejected)
}

/// Replace `old` by `new` (same length) inside the manifest or signature entry, fixing the
/// zip CRC in both headers as an attacker would.
pub fn patch_entry(path: &Path, signature_entry: bool, old: &[u8], new: &[u8]) {
    let archive = Archive::read(&fs::File::open(path).unwrap()).unwrap();
    let entry = if signature_entry {
        archive.signature.unwrap()
    } else {
        archive.manifest
    };
    let at = find(&entry, old);
    let mut patched = entry.clone();
    patched[at..at + new.len()].copy_from_slice(new);
    let mut bytes = fs::read(path).unwrap();
    let start = find(&bytes, &entry);
    bytes[start..start + entry.len()].copy_from_slice(&patched);
    let (old_crc, new_crc) = (crc32(&entry).to_le_bytes(), crc32(&patched).to_le_bytes());
    let mut count = 0;
    for i in 0..bytes.len() - 4 {
        if bytes[i..i + 4] == old_crc {
            bytes[i..i + 4].copy_from_slice(&new_crc);
            count += 1;
        }
    }
    assert_eq!(count, 2, "crc in the local and the central header");
    fs::write(path, bytes).unwrap();
}

pub fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}

pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

pub fn flip(path: &Path, at: u64) {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    file.read_exact_at(&mut b, at).unwrap();
    file.write_all_at(&[b[0] ^ 0x01], at).unwrap();
}

/// A reader that yields `data` and then fails, like a connection that drops.
pub struct Cut<'a> {
    pub data: &'a [u8],
}

impl Read for Cut<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.data.is_empty() {
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "cut"));
        }
        let n = buf.len().min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}
