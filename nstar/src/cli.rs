//! The command line: every subcommand, its arguments and its `--help` examples.
//!
//! Only parsing lives here; each packaging subcommand is carried out by the module of the
//! same name, the management subcommands (whose arguments are in `manage::args`) by
//! `manage`.

use crate::manage::args::{Global, ManageCommand};
use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;
use npk::squashfs::Compression;
use std::path::PathBuf;

/// Build, sign, inspect and verify Northstar packages (NPKs), and manage a running
/// runtime through its management API.
#[derive(Debug, Parser)]
#[command(name = "nstar", version, about, max_term_width = 100)]
#[command(after_help = "EXAMPLES:
  nstar keygen vendor --out keys/
  nstar pack hello/manifest.yaml hello/root --key keys/vendor.key --out repo/
  nstar verify repo/hello-0.0.1.npk --key keys/vendor.pub
  nstar verify --installed
  nstar inspect repo/hello-0.0.1.npk --key keys/vendor.pub
  nstar install repo/hello-0.0.1.npk default
  nstar start hello:0.0.1
  nstar update repo/hello-0.0.2.npk default --health ready
  nstar -u unix:///run/northstar/api.sock list --json

Exit status: 0 on success, 1 when the operation failed (bad package, failed verification,
a request the runtime refused), 2 on a usage error, 3 when the runtime cannot be reached or
breaks the protocol, 4 when it does not answer in time, 5 when an update or rollback
transaction rolled back.")]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    Pack(PackArgs),
    Inspect(InspectArgs),
    Unpack(UnpackArgs),
    Verify(VerifyArgs),
    Keygen(KeygenArgs),
    #[command(subcommand)]
    Manifest(ManifestCommand),
    Completions(CompletionsArgs),
    Channel(ChannelArgs),
    #[command(subcommand)]
    Bundle(BundleCommand),
    #[command(flatten)]
    Manage(ManageCommand),
}

/// Serve a device's management channel on a local socket: keep the one connection to
/// the device's end (a QEMU chardev socket, or a serial line to a board) and give every
/// client of SOCKET its own session of the link.
///
/// Clients use `nstar -u unix://SOCKET …` as they would the device's API socket, any
/// number of them, one after another or at once. The proxy reconnects when the device's
/// end goes away (QEMU restarted, a USB serial adapter replugged); the sessions of that
/// moment end and new clients wait for the link's handshake. Whoever can open SOCKET
/// has what the device grants to the channel (root's grant): it is created mode 0600.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  # A QEMU guest started with -chardev socket,id=c0,path=chardev.sock,server=on,wait=off:
  nstar channel chardev.sock --listen api.sock &
  nstar -u unix://$PWD/api.sock list
  # A board whose [channel] is its second UART, on a USB serial adapter:
  nstar channel /dev/ttyUSB0 --baud 115200 --listen /tmp/board.sock")]
pub struct ChannelArgs {
    /// The device's end: a unix socket (QEMU's `-chardev socket`) or a tty.
    pub link: PathBuf,
    /// Where clients connect (a unix socket, created; a stale one is replaced).
    #[arg(long, value_name = "SOCKET")]
    pub listen: PathBuf,
    /// The serial line's speed in bits per second (ignored for a socket).
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
}

/// Pack a root directory and a manifest into `<name>-<version>.npk`.
///
/// Without `--key` the package is unsigned and carries no dm-verity data; the runtime
/// accepts unsigned packages only from repositories configured without a key. The path of
/// the new package is printed on stdout.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  # Signed, reproducible (fixed salt), into ./repo:
  nstar pack manifest.yaml root/ --key vendor.key --out repo \\
      --salt 0000000000000000000000000000000000000000000000000000000000000000
  # Unsigned, smaller blocks and faster compression:
  nstar pack manifest.yaml root/ --compression lz4 --block-size 128K")]
pub struct PackArgs {
    /// The manifest file (YAML).
    pub manifest: PathBuf,
    /// The directory whose content becomes the container's root file system.
    pub root: PathBuf,
    /// Secret key file to sign with (raw 32-byte ed25519 seed, see `nstar keygen`).
    #[arg(long, value_name = "SECRET")]
    pub key: Option<PathBuf>,
    /// Directory to write the package into.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// Squashfs compression: none, gzip, xz, zstd or lz4 [default: npk's default].
    #[arg(long, value_name = "ALG", value_parser = crate::pack::parse_compression)]
    pub compression: Option<Compression>,
    /// Squashfs block size: bytes, or with a K or M suffix (128K, 1M) [default: npk's].
    #[arg(long, value_name = "N", value_parser = crate::pack::parse_block_size)]
    pub block_size: Option<u32>,
    /// dm-verity salt as 64 hex digits (random when absent). A fixed salt makes the
    /// package byte-for-byte reproducible.
    #[arg(long, value_name = "HEX")]
    pub salt: Option<String>,
}

/// Show what a package contains (format, manifest, sizes, hashes, verity data, files), or
/// the state of a container of the runtime.
///
/// The argument is a container when it is not an existing file and reads as name:version
/// (the runtime is asked, see --url); otherwise it is a package file.
///
/// For a package: without `--key` nothing is verified and the verity values shown are those the package
/// claims. With `--key` the signature, hashes and verity metadata are checked (not the
/// data blocks: use `nstar verify` for that) and the state reads `verified` or
/// `invalid: <reason>`. The exit status is 0 whenever the package could be read and
/// listed, whatever its state.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  nstar inspect hello-0.0.1.npk
  nstar inspect hello-0.0.1.npk --key vendor.pub
  nstar inspect hello-0.0.1.npk --json | jq -r '.files[].path'
  nstar inspect hello-world:0.0.1      # a container of the runtime
  (the JSON fields are described in doc/nstar.md)")]
pub struct InspectArgs {
    /// The package file, or a container of the runtime (name:version).
    #[arg(value_name = "NPK|CONTAINER")]
    pub npk: PathBuf,
    /// Public key file to verify the signature with (packages only).
    #[arg(long, value_name = "PUB")]
    pub key: Option<PathBuf>,
}

/// Unpack a package: manifest.yaml, signature.yaml (if any) and fs.img, and the content of
/// the squashfs image in `<dir>/root`.
///
/// The directory is created if needed and must be empty. With `--key` the package is
/// verified (signature, hashes, verity metadata) before anything is written. Device nodes,
/// fifos and sockets are not extracted (each is reported); owners are set only as root.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  nstar unpack hello-0.0.1.npk hello/
  nstar unpack hello-0.0.1.npk hello/ --key vendor.pub
  ls hello/   # manifest.yaml  signature.yaml  fs.img  root/")]
pub struct UnpackArgs {
    /// The package file.
    pub npk: PathBuf,
    /// Directory to unpack into (must not exist or be empty).
    pub dir: PathBuf,
    /// Public key file: verify the package before unpacking it.
    #[arg(long, value_name = "PUB")]
    pub key: Option<PathBuf>,
}

/// Verify a package completely: signature, hashes, verity metadata, and every block of
/// fs.img against its hash tree; or have the runtime check its installed packages so.
///
/// For a package file (`--key` required): prints each check and its result; the exit
/// status is 0 only if all of them pass.
///
/// For a container of the runtime (an argument that is not an existing file and reads
/// as name:version), or every installed package with `--installed`: the runtime reads
/// each package in full, one after the other, and the result of each is printed on one
/// line (`--json`: the `verified` answer). The exit status is 1 when any package failed.
/// The wait for the answer is `--timeout` plus 10 minutes.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  nstar verify hello-0.0.1.npk --key vendor.pub
  for p in repo/*.npk; do nstar verify \"$p\" --key vendor.pub || echo \"BAD: $p\"; done
  nstar verify hello-world:0.0.1        # the installed package, checked by the runtime
  nstar verify --installed              # every installed package
  nstar verify --installed --json | jq -r '.packages[] | select(.result.type == \"failed\") | .container'")]
pub struct VerifyArgs {
    /// The package file, or a container of the runtime (name:version).
    #[arg(
        value_name = "NPK|CONTAINER",
        required_unless_present = "installed",
        conflicts_with = "installed"
    )]
    pub npk: Option<PathBuf>,
    /// Public key file (raw 32-byte ed25519 public key); required for a package file.
    #[arg(long, value_name = "PUB")]
    pub key: Option<PathBuf>,
    /// Check every package installed in the runtime.
    #[arg(long, conflicts_with = "key")]
    pub installed: bool,
}

/// Generate an ed25519 key pair: `<name>.key` (secret seed, mode 0600) and `<name>.pub`.
///
/// Existing files are never overwritten.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  nstar keygen vendor              # ./vendor.key and ./vendor.pub
  nstar keygen vendor --out keys/  # keys/vendor.key and keys/vendor.pub")]
pub struct KeygenArgs {
    /// Base name of the key files.
    pub name: String,
    /// Directory to write the key files into.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
}

/// Create and check system update bundles (RAUC's `verity` format), offline: no device.
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    Create(BundleCreateArgs),
    Info(BundleInfoArgs),
}

/// Create a signed system update bundle that RAUC and `nstar system install` accept: a
/// squashfs of the images and the manifest, its dm-verity hash tree, and a CMS signature
/// over the manifest (format `verity`). Prints the bundle's summary as `bundle info` does.
///
/// The signer certificate (PEM, intermediates after it) and its PKCS#8 key (RSA or
/// ECDSA P-256) must chain to a CA of the device's keyring.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  nstar bundle create --cert signer.pem --key signer.key --compatible acme-board \\
      --version 2.0.0 --rootfs rootfs.ext4 -o update-2.0.0.raucb
  nstar bundle create --cert signer.pem --key signer.key --compatible acme-board \\
      --version 2.0.0 --image rootfs=rootfs.ext4 --image appfs=app.squashfs -o update.raucb")]
pub struct BundleCreateArgs {
    /// The signer certificate (PEM; intermediate certificates may follow it).
    #[arg(long, value_name = "PEM")]
    pub cert: PathBuf,
    /// The signer's private key (PEM, PKCS#8: `-----BEGIN PRIVATE KEY-----`).
    #[arg(long, value_name = "PEM")]
    pub key: PathBuf,
    /// The system the bundle is for: the device refuses another `compatible`.
    #[arg(long)]
    pub compatible: String,
    /// The bundle's version.
    #[arg(long)]
    pub version: String,
    /// The root file system image, for the slot class `rootfs` (as `--image rootfs=IMG`).
    #[arg(long, value_name = "IMG")]
    pub rootfs: Option<PathBuf>,
    /// An image for a slot class, `CLASS=FILE`; repeatable, one per class.
    #[arg(long = "image", value_name = "CLASS=FILE", value_parser = crate::bundle::parse_image)]
    pub images: Vec<(String, PathBuf)>,
    /// Squashfs compression of the payload: none, gzip, xz, zstd or lz4.
    #[arg(long, value_name = "ALG", default_value = "xz", value_parser = crate::pack::parse_compression)]
    pub compression: Compression,
    /// The bundle file to write (replaced if it exists).
    #[arg(short, long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Verify a bundle against a keyring at the current time (signature, manifest, payload
/// hash tree) and show its compatible, version, signer and images with their sizes and
/// sha256. Exits with 1 when the bundle does not verify.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  nstar bundle info update.raucb --keyring ca.pem
  nstar bundle info update.raucb --keyring ca.pem --json | jq -r .version")]
pub struct BundleInfoArgs {
    /// The bundle file.
    pub bundle: PathBuf,
    /// The CA certificates (PEM) the signer must chain to.
    #[arg(long, value_name = "PEM")]
    pub keyring: PathBuf,
}

/// Work with manifests.
#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    Check(ManifestCheckArgs),
    Schema(ManifestSchemaArgs),
}

/// Parse and validate a manifest: prints `ok`, or `<file>: line N: <field>: <problem>`
/// on stderr and exits with 1.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  nstar manifest check hello/manifest.yaml
  # hello/manifest.yaml: line 7: mounts./data.dir: must not contain \"..\"")]
pub struct ManifestCheckArgs {
    /// The manifest file.
    pub file: PathBuf,
}

/// Print the JSON Schema of the manifest (for editors and other tools).
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  nstar manifest schema > manifest.schema.json
  # In VS Code with the YAML extension, first line of a manifest:
  # yaml-language-server: $schema=manifest.schema.json")]
pub struct ManifestSchemaArgs {}

/// Print a shell completion script.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  nstar completions bash > /etc/bash_completion.d/nstar
  nstar completions zsh > \"${fpath[1]}/_nstar\"
  nstar completions fish > ~/.config/fish/completions/nstar.fish")]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_has_examples() {
        fn walk(cmd: &clap::Command) {
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                if sub.has_subcommands() {
                    walk(sub);
                } else {
                    let help = sub
                        .get_after_help()
                        .map(|h| h.to_string())
                        .unwrap_or_default();
                    assert!(
                        help.starts_with("EXAMPLES:"),
                        "{} has no examples",
                        sub.get_name()
                    );
                }
            }
        }
        walk(&Cli::command());
    }
}
