//! The update bundles of `ab-uboot`: a CA and a bundle signer made for the run
//! (`northstar_client::testing::pki`), the CA's certificate placed in the root image as
//! the board's bundle keyring, and RAUC bundles (`verity` format, written by
//! `northstar_bundle::write`) holding the scenario's root image as `rootfs`: the good one,
//! one for another board, a copy of the good one with one payload byte flipped, and
//! one of a lower version. Each is checked on the host against the keyring before any
//! machine sees it, so a refusal on the device is the device's doing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use northstar_bundle::manifest::{Format, Image};
use northstar_bundle::{write, Keyring, Manifest, UnixTime, Unverified};
use northstar_client::testing::pki::{Issued, Pki};
use npk::squashfs::Compression;

use super::super::Error;

/// The board's `slots.compatible`, and the good bundle's.
pub(super) const COMPATIBLE: &str = "northstar-qemu-aarch64";
/// The `compatible` of the bundle for another board.
pub(super) const OTHER_BOARD: &str = "northstar-qemu-other";
/// The version the good bundle installs.
pub(super) const VERSION: &str = "2.0.0";
/// The version of the downgrade, below [`VERSION`].
pub(super) const OLDER: &str = "1.0.0";
/// The keyring in the root image (`slots.keyring`, the init's default), relative.
pub(super) const KEYRING: &str = "etc/northstar/bundle-keyring.pem";
/// The root image's name inside the bundles' payload.
const ROOTFS: &str = "root.img";
/// The signer's common name.
const SIGNER: &str = "ab-uboot update signer";

/// The run's CA and signer, in `<dir>/pki/`.
pub(super) struct Keys {
    /// The CA's certificate: the root image's keyring.
    pub ca: PathBuf,
    signer: Issued,
}

/// Generates the CA and the signer.
pub(super) fn keys(dir: &Path) -> Result<Keys, Error> {
    let pki_dir = dir.join("pki");
    crate::image::fresh_dir(&pki_dir).map_err(Error::io("create", &pki_dir))?;
    let pki = Pki::new(&pki_dir, "ab-uboot").map_err(Error::io("create a CA in", &pki_dir))?;
    let signer = pki
        .signer(SIGNER)
        .map_err(Error::io("issue a signer in", &pki_dir))?;
    Ok(Keys {
        ca: pki.ca_certificate(),
        signer,
    })
}

/// The bundles of the run, in `<dir>/bundles/`.
pub(super) struct Bundles {
    /// [`COMPATIBLE`], [`VERSION`]: installs.
    pub good: PathBuf,
    /// [`OTHER_BOARD`]: refused for its `compatible`.
    pub other_board: PathBuf,
    /// The good bundle with one payload byte flipped: refused as not trusted.
    pub tampered: PathBuf,
    /// [`OLDER`]: refused as a downgrade once [`VERSION`] is booted.
    pub older: PathBuf,
}

/// Writes the bundles of `root_image` signed by `keys`, and checks each on the host:
/// the tampered one fails verification, the others pass.
pub(super) fn build(keys: &Keys, root_image: &Path, dir: &Path) -> Result<Bundles, Error> {
    let out = dir.join("bundles");
    crate::image::fresh_dir(&out).map_err(Error::io("create", &out))?;
    let content = out.join("content");
    std::fs::create_dir_all(&content).map_err(Error::io("create", &content))?;
    let staged = content.join(ROOTFS);
    std::fs::copy(root_image, &staged).map_err(Error::io("copy", root_image))?;
    let read = |path: &Path| std::fs::read(path).map_err(Error::io("read", path));
    let signer =
        write::Signer::from_pem(&read(&keys.signer.certificate)?, &read(&keys.signer.key)?)
            .map_err(|source| Error::Bundle {
                path: keys.signer.certificate.clone(),
                source,
            })?;
    let one = |compatible: &str, version: &str, name: &str| -> Result<PathBuf, Error> {
        let path = out.join(name);
        write::create(
            &content,
            &manifest(compatible, version),
            &signer,
            Compression::None,
            &path,
        )
        .map_err(|source| Error::Bundle {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    };
    let bundles = Bundles {
        good: one(COMPATIBLE, VERSION, "update-2.0.0.raucb")?,
        other_board: one(OTHER_BOARD, VERSION, "other-board.raucb")?,
        tampered: out.join("tampered.raucb"),
        older: one(COMPATIBLE, OLDER, "update-1.0.0.raucb")?,
    };
    flip_payload_byte(&bundles.good, &bundles.tampered)?;
    let keyring = Keyring::from_pem(&read(&keys.ca)?).map_err(|e| Error::Io {
        step: "read the keyring",
        path: keys.ca.clone(),
        source: std::io::Error::other(e),
    })?;
    for (path, trusted) in [
        (&bundles.good, true),
        (&bundles.other_board, true),
        (&bundles.tampered, false),
        (&bundles.older, true),
    ] {
        let verified = Unverified::open(path).and_then(|b| b.verify(&keyring, UnixTime::now()));
        if verified.is_ok() != trusted {
            let state = match verified {
                Ok(_) => "verifies on the host".to_owned(),
                Err(e) => northstar_client::api::chain(&e),
            };
            return Err(Error::Io {
                step: "check the bundle",
                path: path.clone(),
                source: std::io::Error::other(state),
            });
        }
    }
    Ok(bundles)
}

/// A manifest with the root image as `rootfs`.
fn manifest(compatible: &str, version: &str) -> Manifest {
    Manifest {
        compatible: compatible.to_owned(),
        version: Some(version.to_owned()),
        description: None,
        build: None,
        format: Format::Verity,
        verity: None,
        images: vec![Image {
            slot_class: "rootfs".to_owned(),
            variant: None,
            filename: ROOTFS.to_owned(),
            sha256: None,
            size: None,
        }],
        other: BTreeMap::new(),
    }
}

/// Writes `bundle` to `out` with one bit flipped a quarter into the file: inside the
/// payload (the squashfs and its hash tree come before the signature, which is far
/// smaller).
fn flip_payload_byte(bundle: &Path, out: &Path) -> Result<(), Error> {
    let mut bytes = std::fs::read(bundle).map_err(Error::io("read", bundle))?;
    let at = bytes.len() / 4;
    bytes[at] ^= 0x01;
    std::fs::write(out, bytes).map_err(Error::io("write", out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundles_verify_on_the_host_but_the_tampered_one() {
        let dir = tempfile::tempdir().unwrap();
        let keys = keys(dir.path()).unwrap();
        let image = dir.path().join("root.img");
        std::fs::write(&image, vec![0x5a; 3 * 4096]).unwrap();
        // build checks the verification itself; here the manifests.
        let bundles = build(&keys, &image, dir.path()).unwrap();
        let pem = std::fs::read(&keys.ca).unwrap();
        let keyring = Keyring::from_pem(&pem).unwrap();
        let open = |p: &Path| {
            Unverified::open(p)
                .unwrap()
                .verify(&keyring, UnixTime::now())
                .unwrap()
        };
        let good = open(&bundles.good);
        assert_eq!(good.manifest().compatible, COMPATIBLE);
        assert_eq!(good.manifest().version.as_deref(), Some(VERSION));
        assert_eq!(good.image("rootfs").unwrap().size, Some(3 * 4096));
        assert_eq!(
            open(&bundles.other_board).manifest().compatible,
            OTHER_BOARD
        );
        assert_eq!(
            open(&bundles.older).manifest().version.as_deref(),
            Some(OLDER)
        );
        let tampered =
            Unverified::open(&bundles.tampered).and_then(|b| b.verify(&keyring, UnixTime::now()));
        assert!(tampered.is_err());
        // The good one but for one byte.
        let (good, bad) = (
            std::fs::read(&bundles.good).unwrap(),
            std::fs::read(&bundles.tampered).unwrap(),
        );
        assert_eq!(good.len(), bad.len());
        assert_eq!(good.iter().zip(&bad).filter(|(g, b)| g != b).count(), 1);
    }
}
