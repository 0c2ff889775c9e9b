//! Writing `verity` bundles that RAUC accepts.
//!
//! [`create`] stages the images named in the manifest and the manifest itself (with the
//! images' sizes and sha256) into a squashfs payload (npk's builder, no external tools),
//! pads it to 4096 bytes, appends the dm-verity hash tree (random salt), and appends a
//! CMS SignedData that encapsulates the final manifest (with verity-hash/-salt/-size),
//! signed with a PKCS#8 RSA or ECDSA P-256 key, followed by its size as a big-endian u64.

use std::{
    fs::{self, File},
    io::{self, BufWriter, Read, Seek, SeekFrom},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

use npk::{
    squashfs::{self, Compression},
    verity::{self, Salt, BLOCK_SIZE},
};
use ring::{
    digest,
    rand::SystemRandom,
    signature::{self, EcdsaKeyPair, RsaKeyPair},
};
use rustls_pki_types::{pem::PemObject, PrivatePkcs8KeyDer};
use sha2::{Digest as _, Sha256};
use thiserror::Error;

use crate::{
    cms::{OID_CONTENT_TYPE, OID_DATA, OID_ECDSA_SHA256, OID_MESSAGE_DIGEST, OID_RSA, OID_SHA256},
    der::{self, encode, encode_all, tag},
    manifest::{Format, Manifest, Verity},
    x509::{self, Certificate},
};

const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];

/// A bundle that cannot be written.
#[derive(Debug, Error)]
pub enum Error {
    #[error("bundle writer: {what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("bundle writer: signing key: {0}")]
    Key(String),
    #[error("bundle writer: signing key: expected a PKCS#8 PEM key")]
    KeyPem(#[source] rustls_pki_types::pem::Error),
    #[error("bundle writer: signer certificate: {0}")]
    Certificate(String),
    #[error("bundle writer: signer certificate: invalid PEM")]
    CertificatePem(#[source] rustls_pki_types::pem::Error),
    #[error("bundle writer: signer certificate")]
    CertificateDer(#[source] x509::Error),
    #[error("bundle writer: image {filename:?}: {what}")]
    Image { filename: String, what: String },
    #[error("bundle writer: payload")]
    Squashfs(#[from] squashfs::Error),
    #[error("bundle writer: payload verity")]
    Verity(#[from] verity::Error),
    #[error("bundle writer: signing failed")]
    Sign,
}

enum Key {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
}

/// A signing key and its certificate chain.
pub struct Signer {
    key: Key,
    /// The signer certificate first, then intermediates.
    chain: Vec<Vec<u8>>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("certificates", &self.chain.len())
            .finish()
    }
}

impl Signer {
    /// A PEM certificate file (signer first, intermediates after) and a PEM PKCS#8 key
    /// (`-----BEGIN PRIVATE KEY-----`, RSA or ECDSA P-256).
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Signer, Error> {
        let chain = x509::pem_certificates(cert_pem).map_err(Error::CertificatePem)?;
        let first = chain
            .first()
            .ok_or_else(|| Error::Certificate("no certificate in the PEM".into()))?;
        Certificate::parse(first).map_err(Error::CertificateDer)?;
        let key = PrivatePkcs8KeyDer::from_pem_slice(key_pem).map_err(Error::KeyPem)?;
        let rng = SystemRandom::new();
        let der = key.secret_pkcs8_der();
        let key = match RsaKeyPair::from_pkcs8(der) {
            Ok(rsa) => Key::Rsa(rsa),
            Err(rsa) => {
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng)
                    .map(Key::Ecdsa)
                    .map_err(|ec| {
                        Error::Key(format!("neither RSA ({rsa}) nor ECDSA P-256 ({ec})"))
                    })?
            }
        };
        Ok(Signer { key, chain, rng })
    }

    /// The CMS SignedData (DER) encapsulating `content`.
    pub fn sign(&self, content: &[u8]) -> Result<Vec<u8>, Error> {
        let cert = self
            .chain
            .first()
            .ok_or_else(|| Error::Certificate("no certificate".into()))
            .and_then(|c| Certificate::parse(c).map_err(Error::CertificateDer))?;
        let sha256 = encode(tag::SEQUENCE, &encode(tag::OID, OID_SHA256));
        let content_type = encode(tag::OID, OID_DATA);
        let digest = digest::digest(&digest::SHA256, content);
        let mut attrs = [
            encode_all(
                tag::SEQUENCE,
                &[
                    &encode(tag::OID, OID_CONTENT_TYPE),
                    &encode(tag::SET, &content_type),
                ],
            ),
            encode_all(
                tag::SEQUENCE,
                &[
                    &encode(tag::OID, OID_MESSAGE_DIGEST),
                    &encode(tag::SET, &encode(tag::OCTET_STRING, digest.as_ref())),
                ],
            ),
        ];
        // DER: the elements of a SET OF in the order of their encodings.
        attrs.sort();
        let attrs = attrs.concat();
        let signed = encode(tag::SET, &attrs);
        let (signature, algorithm) = match &self.key {
            Key::Rsa(key) => {
                let mut sig = vec![0u8; key.public().modulus_len()];
                key.sign(&signature::RSA_PKCS1_SHA256, &self.rng, &signed, &mut sig)
                    .map_err(|_| Error::Sign)?;
                let alg = encode_all(
                    tag::SEQUENCE,
                    &[&encode(tag::OID, OID_RSA), &encode(tag::NULL, &[])],
                );
                (sig, alg)
            }
            Key::Ecdsa(key) => {
                let sig = key.sign(&self.rng, &signed).map_err(|_| Error::Sign)?;
                let alg = encode(tag::SEQUENCE, &encode(tag::OID, OID_ECDSA_SHA256));
                (sig.as_ref().to_vec(), alg)
            }
        };
        let sid = encode_all(
            tag::SEQUENCE,
            &[cert.issuer, &encode(tag::INTEGER, cert.serial)],
        );
        let signer_info = encode_all(
            tag::SEQUENCE,
            &[
                &der::encode_small_uint(1),
                &sid,
                &sha256,
                &encode(tag::context(0), &attrs),
                &algorithm,
                &encode(tag::OCTET_STRING, &signature),
            ],
        );
        let encap = encode_all(
            tag::SEQUENCE,
            &[
                &content_type,
                &encode(tag::context(0), &encode(tag::OCTET_STRING, content)),
            ],
        );
        let certificates = encode(tag::context(0), &self.chain.concat());
        let signed_data = encode_all(
            tag::SEQUENCE,
            &[
                &der::encode_small_uint(1),
                &encode(tag::SET, &sha256),
                &encap,
                &certificates,
                &encode(tag::SET, &signer_info),
            ],
        );
        Ok(encode_all(
            tag::SEQUENCE,
            &[
                &encode(tag::OID, OID_SIGNED_DATA),
                &encode(tag::context(0), &signed_data),
            ],
        ))
    }
}

fn io_error<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Fills in each image's size and sha256 from `content/<filename>`.
fn hash_images(content: &Path, manifest: &mut Manifest) -> Result<(), Error> {
    for image in &mut manifest.images {
        let fail = |what: String| Error::Image {
            filename: image.filename.clone(),
            what,
        };
        if image.filename.is_empty()
            || image.filename.contains('/')
            || image.filename.starts_with('.')
        {
            return Err(fail("file name must be a plain name".into()));
        }
        let path = content.join(&image.filename);
        let mut file =
            File::open(&path).map_err(|e| fail(format!("cannot open {}: {e}", path.display())))?;
        let mut hasher = Sha256::new();
        let size =
            io::copy(&mut file, &mut hasher).map_err(|e| fail(format!("cannot read: {e}")))?;
        image.size = Some(size);
        image.sha256 = Some(hasher.finalize().into());
    }
    Ok(())
}

/// Links (or copies) the images into `staging` and writes the manifest there.
fn stage(content: &Path, manifest: &Manifest, staging: &Path) -> Result<(), Error> {
    fs::create_dir(staging).map_err(io_error("cannot create", staging))?;
    for image in &manifest.images {
        let from = content.join(&image.filename);
        let to = staging.join(&image.filename);
        if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to).map_err(io_error("cannot copy to", &to))?;
        }
    }
    let path = staging.join("manifest.raucm");
    fs::write(&path, manifest.render()).map_err(io_error("cannot write", &path))
}

/// Creates the verity bundle `out` from the images in `content` named by `manifest`
/// (its `compatible`, `version`, images' slot classes and file names are used; sizes,
/// digests and verity fields are computed) and returns the signed manifest.
pub fn create(
    content: &Path,
    manifest: &Manifest,
    signer: &Signer,
    compression: Compression,
    out: &Path,
) -> Result<Manifest, Error> {
    let mut manifest = manifest.clone();
    manifest.format = Format::Verity;
    manifest.verity = None;
    hash_images(content, &mut manifest)?;

    let mut staging = out.as_os_str().to_owned();
    staging.push(".staging");
    let staging = PathBuf::from(staging);
    let result = stage(content, &manifest, &staging).and_then(|()| {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(out)
            .map_err(io_error("cannot create", out))?;
        write_bundle(&staging, file, out, manifest, signer, compression)
    });
    let _ = fs::remove_dir_all(&staging);
    if result.is_err() {
        let _ = fs::remove_file(out);
    }
    result
}

fn write_bundle(
    staging: &Path,
    file: File,
    out: &Path,
    mut manifest: Manifest,
    signer: &Signer,
    compression: Compression,
) -> Result<Manifest, Error> {
    let opts = squashfs::Options {
        compression,
        ..squashfs::Options::default()
    };
    let mut writer = BufWriter::new(file);
    let len = squashfs::build(staging, &opts, &mut writer, &mut |_| {})?;
    // RAUC wants a payload of whole blocks and more than one block.
    let padded = len.div_ceil(BLOCK_SIZE).max(2).saturating_mul(BLOCK_SIZE);
    writer
        .seek(SeekFrom::Start(len))
        .map_err(io_error("cannot seek in", out))?;
    io::copy(
        &mut io::repeat(0).take(padded.saturating_sub(len)),
        &mut writer,
    )
    .map_err(io_error("cannot pad", out))?;
    let file = writer
        .into_inner()
        .map_err(|e| io_error("cannot write", out)(e.into_error()))?;

    let salt = Salt::random()?;
    let tree = verity::hash_tree(&file, 0, padded / BLOCK_SIZE, &salt)?;
    file.write_all_at(&tree.levels_bytes, padded)
        .map_err(io_error("cannot write the hash tree to", out))?;
    manifest.verity = Some(Verity {
        hash: tree.root,
        salt: salt.0,
        size: tree.levels_bytes.len() as u64,
    });
    let cms = signer.sign(manifest.render().as_bytes())?;
    let at = padded.saturating_add(tree.levels_bytes.len() as u64);
    file.write_all_at(&cms, at)
        .map_err(io_error("cannot write the signature to", out))?;
    file.write_all_at(
        &(cms.len() as u64).to_be_bytes(),
        at.saturating_add(cms.len() as u64),
    )
    .map_err(io_error("cannot write the signature size to", out))?;
    file.sync_all().map_err(io_error("cannot sync", out))?;
    Ok(manifest)
}
