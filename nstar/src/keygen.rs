//! `nstar keygen`: a new ed25519 key pair as `<name>.key` (seed, 0600) and `<name>.pub`.
//!
//! Neither file is ever overwritten, and either both are written or neither is.

use crate::cli::KeygenArgs;
use anyhow::{bail, Context};
use npk::key::SecretKey;
use std::fs;

/// Run `nstar keygen`.
pub fn run(args: &KeygenArgs) -> anyhow::Result<()> {
    let name = &args.name;
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        bail!("{name:?}: a key name must be a plain file name (use --out for the directory)");
    }
    let secret_path = args.out.join(format!("{name}.key"));
    let public_path = args.out.join(format!("{name}.pub"));
    for path in [&secret_path, &public_path] {
        if path.symlink_metadata().is_ok() {
            bail!("{}: already exists, not overwritten", path.display());
        }
    }
    let key = SecretKey::generate().context("cannot generate a key")?;
    key.save(&secret_path)?;
    if let Err(e) = key.public().save(&public_path) {
        // Keep the pair together: without its public half the secret key is useless.
        let _ = fs::remove_file(&secret_path);
        return Err(e.into());
    }
    out!("{}", secret_path.display())?;
    out!("{}", public_path.display())?;
    Ok(())
}
