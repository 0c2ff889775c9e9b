//! The example containers the boot test installs, packed and signed as npks into a
//! repository directory with npk's packer:
//!
//! - `hello-world` (`examples/hello-world`): the static binary at `/bin/hello-world` and
//!   its manifest, with `autostart: relaxed` added so that the runtime starts it at boot;
//! - `message` (`examples/message`): a resource container, as it is;
//! - `rebooter` ([`pack_rebooter`]): the `test-container` program, whose manifest's
//!   `console` permits `list`, `notifications` and `shutdown`: it waits until hello-world
//!   has ended, then asks the runtime for a reboot through its console connection (the
//!   management API) and sleeps until it is stopped.
//!
//! Building the binary is not this module's work (see [`crate::cargo`]).

use std::path::{Path, PathBuf};

use npk::key::SecretKey;
use npk::manifest::{Autostart, Manifest};
use npk::pack;

/// Errors packing the examples.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {step} {path}")]
    Io {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("packing {name}")]
    Pack {
        name: &'static str,
        #[source]
        source: pack::Error,
    },
}

/// A package written by [`pack_examples`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packed {
    /// `name:version`, the container's id in the runtime and its log.
    pub id: String,
    /// Whether the runtime starts it at boot.
    pub autostart: bool,
    pub path: PathBuf,
}

/// The container the boot test expects to run and print.
pub const HELLO_WORLD: &str = "hello-world";
/// Its version (`examples/hello-world/manifest.yaml`).
pub const HELLO_WORLD_VERSION: &str = "0.0.1";

/// Packs `hello-world` (with `hello_world`, its static binary for the board) and `message`
/// into `repository`, signed with `key`; `staging` (emptied first) holds hello-world's
/// root while it is packed.
pub fn pack_examples(
    hello_world: &Path,
    staging: &Path,
    repository: &Path,
    key: &SecretKey,
) -> Result<Vec<Packed>, Error> {
    let io = |step, path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { step, path, source }
    };
    let examples = crate::cargo::workspace_root().join("examples");
    std::fs::create_dir_all(repository).map_err(io("create", repository))?;

    let manifest_of = |name: &'static str| {
        pack::read_manifest(&examples.join(name).join("manifest.yaml"))
            .map_err(|source| Error::Pack { name, source })
    };
    let mut hello = manifest_of(HELLO_WORLD)?;
    hello.autostart = Some(Autostart::Relaxed);
    super::fresh_dir(staging).map_err(io("create", staging))?;
    let bin = staging.join("bin");
    std::fs::create_dir_all(&bin).map_err(io("create", &bin))?;
    let target = bin.join(HELLO_WORLD);
    std::fs::copy(hello_world, &target).map_err(io("copy the binary to", &target))?;

    let message = manifest_of("message")?;
    let message_root = examples.join("message/root");
    Ok(vec![
        pack_one(HELLO_WORLD, &hello, staging, repository, key)?,
        pack_one("message", &message, &message_root, repository, key)?,
    ])
}

/// The container that reboots the system.
pub const REBOOTER: &str = "rebooter";

/// The rebooter's manifest: `test-container` (`test-container/README.md`) at
/// `/bin/test-container` with the steps that wait for hello-world's end, then reboot.
pub fn rebooter_manifest() -> String {
    let wait = format!("console:wait-exit,{HELLO_WORLD}:{HELLO_WORLD_VERSION}");
    let args = ["print:1,ready", &wait, "console:reboot", "sleep-forever"];
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "name: {REBOOTER}\nversion: 0.0.1\ninit: /bin/test-container\nargs: [{}]\n\
         uid: 1000\ngid: 1000\nautostart: relaxed\n\
         console:\n  permissions: [list, notifications, shutdown]\n\
         io:\n  stdout: pipe\n  stderr: pipe\n",
        args.join(", ")
    )
}

/// Packs the rebooter (with `test_container`, its static binary for the board) into
/// `repository`, signed with `key`; `staging` (emptied first) holds its root.
pub fn pack_rebooter(
    test_container: &Path,
    staging: &Path,
    repository: &Path,
    key: &SecretKey,
) -> Result<Packed, Error> {
    let io = |step, path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { step, path, source }
    };
    std::fs::create_dir_all(repository).map_err(io("create", repository))?;
    super::fresh_dir(staging).map_err(io("create", staging))?;
    let bin = staging.join("bin");
    std::fs::create_dir_all(&bin).map_err(io("create", &bin))?;
    let target = bin.join("test-container");
    std::fs::copy(test_container, &target).map_err(io("copy the binary to", &target))?;
    let yaml = staging.with_extension("yaml");
    std::fs::write(&yaml, rebooter_manifest()).map_err(io("write", &yaml))?;
    let manifest = pack::read_manifest(&yaml).map_err(|source| Error::Pack {
        name: REBOOTER,
        source,
    })?;
    pack_one(REBOOTER, &manifest, staging, repository, key)
}

fn pack_one(
    name: &'static str,
    manifest: &Manifest,
    root: &Path,
    repository: &Path,
    key: &SecretKey,
) -> Result<Packed, Error> {
    let options = pack::Options {
        key: Some(key),
        ..pack::Options::default()
    };
    let path = pack::pack_manifest(manifest, root, repository, &options, &mut |_| ())
        .map_err(|source| Error::Pack { name, source })?;
    Ok(Packed {
        id: format!("{}:{}", manifest.name, manifest.version),
        autostart: manifest.autostart.is_some(),
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rebooter_may_reboot_through_its_console() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("test-container");
        std::fs::write(&binary, b"\x7fELF not really").unwrap();
        let key = SecretKey::generate().unwrap();
        let repo = dir.path().join("repo");
        let packed = pack_rebooter(&binary, &dir.path().join("stage"), &repo, &key).unwrap();
        assert_eq!(packed.id, "rebooter:0.0.1");
        assert!(packed.autostart);
        let npk = npk::package::Npk::open(&packed.path).unwrap();
        let verified = npk.verify(&key.public()).unwrap();
        let manifest = verified.manifest();
        let console = manifest.console.as_ref().unwrap();
        use npk::manifest::Permission as P;
        for p in [P::List, P::Notifications, P::Shutdown] {
            assert!(console.permissions.contains(p), "{p:?}");
        }
        let args: Vec<String> = manifest.args.iter().map(ToString::to_string).collect();
        assert_eq!(
            args,
            [
                "print:1,ready",
                "console:wait-exit,hello-world:0.0.1",
                "console:reboot",
                "sleep-forever"
            ]
        );
        // hello-world's id is what the rebooter waits for.
        let hello = pack::read_manifest(
            &crate::cargo::workspace_root().join("examples/hello-world/manifest.yaml"),
        )
        .unwrap();
        assert_eq!(hello.version.to_string(), HELLO_WORLD_VERSION);
    }

    #[test]
    fn packs_signed_examples_that_verify_with_the_key() {
        let dir = tempfile::tempdir().unwrap();
        // Any executable will do as the binary: the package is not run here.
        let binary = dir.path().join("hello");
        std::fs::write(&binary, b"\x7fELF not really").unwrap();
        let key = SecretKey::generate().unwrap();
        let repo = dir.path().join("repo");
        let packed = pack_examples(&binary, &dir.path().join("stage"), &repo, &key).unwrap();
        let ids: Vec<&str> = packed.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["hello-world:0.0.1", "message:0.1.0"]);
        assert_eq!(
            packed.iter().map(|p| p.autostart).collect::<Vec<_>>(),
            [true, false]
        );
        let mut names: Vec<String> = std::fs::read_dir(&repo)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["hello-world-0.0.1.npk", "message-0.1.0.npk"]);

        let other = SecretKey::generate().unwrap();
        for p in &packed {
            let open = || npk::package::Npk::open(&p.path).unwrap();
            let verified = open().verify(&key.public()).unwrap();
            verified.check_fs_img().unwrap();
            assert_eq!(
                verified.manifest().autostart.is_some(),
                p.autostart,
                "{}",
                p.id
            );
            assert!(open().verify(&other.public()).is_err(), "{}", p.id);
        }
    }
}
