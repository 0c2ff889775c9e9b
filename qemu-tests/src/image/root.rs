//! The root image and its signed descriptor (`doc/boot.md`, "The root file system" and
//! "The root descriptor").
//!
//! [`build`] stages the root's files (the mount points `/dev /proc /sys /run /tmp /data`,
//! `/etc/northstar/runtime.toml`, `/etc/northstar/packages.pub` and the caller's extra
//! files, such as a scenario's bundle keyring), writes them as a squashfs with npk's
//! writer, pads it with zeros to a multiple of 4096 bytes, appends the verity superblock and hash tree with npk's verity code (random salt), and signs the
//! descriptor (`root_hash`, `salt`, `data_blocks` as TOML) with the root key: the
//! signature is the raw 64 bytes of ed25519 over the descriptor's exact bytes.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use npk::key::{PublicKey, SecretKey};
use npk::squashfs;
use npk::verity::{self, Salt};

/// The root's mount points: the init moves its mounts there and mounts `/data`.
pub const MOUNT_POINTS: [&str; 6] = ["/dev", "/proc", "/sys", "/run", "/tmp", "/data"];
/// The runtime configuration in the root.
pub const RUNTIME_CONFIG: &str = "etc/northstar/runtime.toml";
/// The packages' public key in the root.
pub const PACKAGES_KEY: &str = "etc/northstar/packages.pub";

/// Errors building the root image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("root image: cannot {step} {path}")]
    Io {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("root image: squashfs of {staging}")]
    Squashfs {
        staging: PathBuf,
        #[source]
        source: squashfs::Error,
    },
    #[error("root image: verity")]
    Verity(#[from] verity::Error),
}

/// What the root holds besides its mount points.
#[derive(Clone, Debug)]
pub struct RootContents {
    /// The runtime configuration (host file), copied to `/etc/northstar/runtime.toml`.
    pub runtime_config: PathBuf,
    /// The repositories' key, written to `/etc/northstar/packages.pub`.
    pub packages_key: PublicKey,
    /// More files: each host file copied to its path in the root (relative, under `etc/`
    /// for instance; its directories are created).
    pub files: Vec<(PathBuf, PathBuf)>,
}

/// The signed values of a root image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootDescriptor {
    pub root_hash: [u8; 32],
    pub salt: Salt,
    /// 4096-byte blocks of squashfs (= the verity superblock's offset / 4096).
    pub data_blocks: u64,
}

impl RootDescriptor {
    /// The descriptor file's text (`root.verity`): exactly the three keys.
    pub fn to_toml(&self) -> String {
        format!(
            "root_hash = \"{}\"\nsalt = \"{}\"\ndata_blocks = {}\n",
            hex(&self.root_hash),
            self.salt.to_hex(),
            self.data_blocks
        )
    }

    /// The byte offset of the verity superblock in the image.
    pub fn hash_offset(&self) -> u64 {
        self.data_blocks * verity::BLOCK_SIZE
    }
}

/// A root image built by [`build`].
#[derive(Clone, Debug)]
pub struct RootImage {
    /// squashfs, padding, verity superblock, hash tree.
    pub path: PathBuf,
    pub descriptor: RootDescriptor,
    /// `root.verity`: the descriptor's bytes as signed.
    pub descriptor_text: String,
    /// `root.verity.sig`: ed25519 over `descriptor_text`.
    pub signature: [u8; 64],
    /// `root.pub`: the key that verifies the signature.
    pub key: PublicKey,
}

/// Builds the root image at `out`, staging its files in `staging` (emptied first), and
/// signs its descriptor with `key`.
pub fn build(
    contents: &RootContents,
    staging: &Path,
    out: &Path,
    key: &SecretKey,
) -> Result<RootImage, Error> {
    let io = |step, path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { step, path, source }
    };
    super::fresh_dir(staging).map_err(io("create", staging))?;
    let etc = staging.join("etc/northstar");
    std::fs::create_dir_all(&etc).map_err(io("create", &etc))?;
    let config = staging.join(RUNTIME_CONFIG);
    std::fs::copy(&contents.runtime_config, &config)
        .map_err(io("copy the runtime configuration to", &config))?;
    let packages_key = staging.join(PACKAGES_KEY);
    std::fs::write(&packages_key, contents.packages_key.to_bytes())
        .map_err(io("write", &packages_key))?;
    for (from, to) in &contents.files {
        let target = staging.join(in_root(to).ok_or_else(|| Error::Io {
            step: "place (not a relative path)",
            path: to.clone(),
            source: std::io::ErrorKind::InvalidInput.into(),
        })?);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        }
        std::fs::copy(from, &target).map_err(io("copy into the root", from))?;
    }

    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(out)
        .map_err(io("create", out))?;
    let options = squashfs::Options {
        mount_points: MOUNT_POINTS.iter().map(PathBuf::from).collect(),
        ..squashfs::Options::default()
    };
    let len = squashfs::build(staging, &options, &mut file, &mut |_| ()).map_err(|source| {
        Error::Squashfs {
            staging: staging.to_path_buf(),
            source,
        }
    })?;
    let data_len = len.div_ceil(verity::BLOCK_SIZE) * verity::BLOCK_SIZE;
    file.set_len(data_len).map_err(io("pad", out))?;
    let salt = Salt::random()?;
    let (superblock, root_hash) = verity::append(&file, 0, data_len, &salt)?;
    file.sync_all().map_err(io("sync", out))?;
    drop(file);

    let descriptor = RootDescriptor {
        root_hash,
        salt,
        data_blocks: superblock.data_blocks,
    };
    let descriptor_text = descriptor.to_toml();
    let signature = key.sign(descriptor_text.as_bytes());
    Ok(RootImage {
        path: out.to_path_buf(),
        descriptor,
        descriptor_text,
        signature,
        key: key.public(),
    })
}

/// `path` as a path under the root: relative and without `..`.
fn in_root(path: &Path) -> Option<&Path> {
    use std::path::Component;
    let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
    (plain && !path.as_os_str().is_empty()).then_some(path)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
