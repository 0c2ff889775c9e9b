//! `nstar bundle create` and `nstar bundle info`: system update bundles in RAUC's
//! `verity` format, offline (the device installs them with `nstar system install`).
//! The format, signing and checking are `northstar-bundle`'s; this module turns the
//! command line into a manifest and a bundle's manifest into text or JSON.

use crate::cli::{BundleCreateArgs, BundleInfoArgs};
use anyhow::{bail, Context};
use northstar_bundle::{
    manifest::{Format, Image},
    write::{self, Signer},
    Keyring, Manifest, UnixTime, Unverified,
};
use serde::Serialize;
use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

/// `--image CLASS=FILE`.
pub fn parse_image(text: &str) -> Result<(String, PathBuf), String> {
    let Some((class, file)) = text.split_once('=') else {
        return Err(format!("{text:?}: expected CLASS=FILE"));
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if class.is_empty() || !class.chars().all(plain) {
        return Err(format!(
            "{class:?}: a slot class has only the characters A-Z a-z 0-9 _ -"
        ));
    }
    if file.is_empty() {
        return Err(format!("{text:?}: the image file is missing"));
    }
    Ok((class.to_string(), PathBuf::from(file)))
}

/// What `bundle info` shows, and its JSON.
#[derive(Debug, Serialize)]
struct Info {
    path: PathBuf,
    compatible: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    build: Option<String>,
    format: &'static str,
    /// The signer certificate's subject (absent for a bundle just written).
    #[serde(skip_serializing_if = "Option::is_none")]
    signer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verity_hash: Option<String>,
    images: Vec<ImageInfo>,
}

#[derive(Debug, Serialize)]
struct ImageInfo {
    slot_class: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
    filename: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
}

impl Info {
    fn new(path: &Path, manifest: &Manifest, signer: Option<&str>) -> Info {
        Info {
            path: path.to_path_buf(),
            compatible: manifest.compatible.clone(),
            version: manifest.version.clone(),
            description: manifest.description.clone(),
            build: manifest.build.clone(),
            format: manifest.format.as_str(),
            signer: signer.map(str::to_string),
            verity_hash: manifest.verity.map(|v| hex::encode(v.hash)),
            images: manifest
                .images
                .iter()
                .map(|i| ImageInfo {
                    slot_class: i.slot_class.clone(),
                    variant: i.variant.clone(),
                    filename: i.filename.clone(),
                    size: i.size,
                    sha256: i.sha256.map(hex::encode),
                })
                .collect(),
        }
    }

    fn text(&self) -> String {
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let mut text = format!(
            "bundle       {}\ncompatible   {}\nversion      {}\n",
            self.path.display(),
            self.compatible,
            dash(&self.version)
        );
        for (key, value) in [
            ("description", &self.description),
            ("build", &self.build),
            ("signer", &self.signer),
        ] {
            if let Some(value) = value {
                text.push_str(&format!("{key:<13}{value}\n"));
            }
        }
        text.push_str(&format!("format       {}\n", self.format));
        if let Some(hash) = &self.verity_hash {
            text.push_str(&format!("verity hash  {hash}\n"));
        }
        let rows: Vec<Vec<String>> = self
            .images
            .iter()
            .map(|i| {
                let class = match &i.variant {
                    Some(v) => format!("{}.{v}", i.slot_class),
                    None => i.slot_class.clone(),
                };
                let size = i.size.map_or_else(|| "-".into(), |s| s.to_string());
                vec![class, i.filename.clone(), size, dash(&i.sha256)]
            })
            .collect();
        text.push('\n');
        text.push_str(&crate::manage::table(
            &["SLOT CLASS", "FILE", "BYTES", "SHA256"],
            &rows,
        ));
        text
    }

    fn print(&self, json: bool) -> anyhow::Result<()> {
        if json {
            out!("{}", serde_json::to_string(self)?)?;
        } else {
            use std::io::Write as _;
            std::io::stdout()
                .write_all(self.text().as_bytes())
                .map_err(crate::error::Stdout)?;
        }
        Ok(())
    }
}

/// `nstar bundle create`.
pub fn create(a: &BundleCreateArgs, json: bool) -> anyhow::Result<()> {
    let mut images: Vec<(String, PathBuf)> = Vec::new();
    if let Some(rootfs) = &a.rootfs {
        images.push(("rootfs".into(), rootfs.clone()));
    }
    images.extend(a.images.iter().cloned());
    if images.is_empty() {
        bail!("a bundle needs an image: --rootfs IMG or --image CLASS=FILE");
    }
    let mut classes = BTreeMap::new();
    for (class, file) in &images {
        if let Some(first) = classes.insert(class.as_str(), file) {
            bail!(
                "slot class {class} is given twice ({} and {})",
                first.display(),
                file.display()
            );
        }
    }
    let cert = fs::read(&a.cert).with_context(|| format!("{}", a.cert.display()))?;
    let key = fs::read(&a.key).with_context(|| format!("{}", a.key.display()))?;
    let signer = Signer::from_pem(&cert, &key)?;
    let content = Content::new(&a.out, &images)?;
    let manifest = Manifest {
        compatible: a.compatible.clone(),
        version: Some(a.version.clone()),
        description: None,
        build: None,
        format: Format::Verity,
        verity: None,
        images: images
            .iter()
            .zip(&content.names)
            .map(|((class, _), name)| Image {
                slot_class: class.clone(),
                variant: None,
                filename: name.clone(),
                sha256: None,
                size: None,
            })
            .collect(),
        other: BTreeMap::new(),
    };
    // What the reader would make of it: a value it cannot carry (a line break in the
    // version) is refused here, not by the device.
    Manifest::parse(manifest.render().as_bytes()).context("the manifest")?;
    let signed = write::create(&content.dir, &manifest, &signer, a.compression, &a.out);
    drop(content);
    let signed = signed?;
    Info::new(&a.out, &signed, None).print(json)
}

/// `nstar bundle info`.
pub fn info(a: &BundleInfoArgs, json: bool) -> anyhow::Result<()> {
    let pem = fs::read(&a.keyring).with_context(|| format!("{}", a.keyring.display()))?;
    let keyring = Keyring::from_pem(&pem).with_context(|| format!("{}", a.keyring.display()))?;
    let verified = Unverified::open(&a.bundle)?.verify(&keyring, UnixTime::now())?;
    Info::new(&a.bundle, verified.manifest(), Some(verified.signer())).print(json)
}

/// The directory the writer reads the images from, by their names in the bundle: their
/// own directory when they share one and their names differ, otherwise a staging
/// directory beside the output with a link (or a copy) of each, removed on drop.
struct Content {
    dir: PathBuf,
    names: Vec<String>,
    staging: bool,
}

impl Content {
    fn new(out: &Path, images: &[(String, PathBuf)]) -> anyhow::Result<Content> {
        let mut names = Vec::new();
        let mut parents = Vec::new();
        for (_, file) in images {
            if !file.is_file() {
                bail!("image {}: not a file", file.display());
            }
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| !n.starts_with('.'))
                .with_context(|| format!("image {}: not a plain file name", file.display()))?;
            names.push(name.to_string());
            let parent = file.parent().unwrap_or(Path::new(""));
            parents.push(fs::canonicalize(if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            })?);
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        let shared = parents.windows(2).all(|w| w[0] == w[1]);
        if let (true, true, Some(dir)) = (shared, unique.len() == names.len(), parents.first()) {
            return Ok(Content {
                dir: dir.clone(),
                names,
                staging: false,
            });
        }
        // The classes differ: prefixed by its class, every name does.
        if unique.len() != names.len() {
            for ((class, _), name) in images.iter().zip(names.iter_mut()) {
                *name = format!("{class}-{name}");
            }
        }
        let mut dir = out.as_os_str().to_owned();
        dir.push(".images");
        let content = Content {
            dir: PathBuf::from(dir),
            names,
            staging: true,
        };
        fs::create_dir(&content.dir).with_context(|| format!("{}", content.dir.display()))?;
        for ((_, file), name) in images.iter().zip(&content.names) {
            let to = content.dir.join(name);
            if fs::hard_link(file, &to).is_err() {
                fs::copy(file, &to).with_context(|| format!("copy {}", file.display()))?;
            }
        }
        Ok(content)
    }
}

impl Drop for Content {
    fn drop(&mut self) {
        if self.staging {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_arguments() {
        assert_eq!(
            parse_image("rootfs=out/rootfs.ext4").unwrap(),
            ("rootfs".into(), PathBuf::from("out/rootfs.ext4"))
        );
        for bad in ["rootfs", "=x.img", "root fs=x.img", "rootfs=", "a.b=x"] {
            assert!(parse_image(bad).is_err(), "{bad}");
        }
    }
}
