//! The demo: the example containers as signed packages on the x86_64 image, booted by
//! Northstar's init under QEMU, and managed from the host through the management channel.
//!
//! - hello-world greets; hello-ferris runs the `ferris` program of one resource container
//!   on the text of another (`message`); persistence counts its starts on the data
//!   partition (the count survives a reboot); cpueater burns CPU under a cgroup CPU limit;
//!   memeater allocates until the OOM killer of its own cgroup ends it.
//! - Beside the images, later versions of hello-world for update transactions (`nstar
//!   update`): 0.0.2 greets anew and commits, 0.0.3 exits with 1 and rolls back.
//! - [`run`] builds the images in `<work_dir>/x86_64/demo/` (the package key in `keys/`,
//!   for the user's own packages), prints the `nstar -u unix://…` line of the channel and
//!   leaves the user at the serial console (QEMU on the terminal; a reboot restarts the
//!   machine; Ctrl-A X ends QEMU).
//! - [`check`] boots the same image without a terminal and checks each example's output,
//!   `nstar list` over the channel, the two updates, a reboot through the channel (the count goes on), a
//!   power-off through the channel and the data partition afterwards ([`check`]'s module).

mod check;
mod images;
mod update;

use std::path::PathBuf;
use std::time::Duration;

use npk::key::SecretKey;

/// Errors preparing or running the demo (what the guest did wrong is in
/// [`CheckRun::problems`]).
pub use crate::error::Error;
pub use check::{CheckRun, Line};

use crate::binaries::Binaries;
use crate::image::config::BoardFiles;
use crate::kernels::{Kernel, KernelCache};
use crate::qemu::{self, channel, Drive, QemuConfig};
use crate::{cargo, Board};

/// The board of the demo.
pub const BOARD: Board = Board::X86_64;

/// How to run the demo.
#[derive(Clone, Debug)]
pub struct Options {
    /// `--check`: from QEMU's start to the last example's output (each boot).
    pub boot_timeout: Duration,
    /// `--check`: from the request to power off or reboot to QEMU's exit.
    pub exit_timeout: Duration,
    /// Everything goes to `<work_dir>/x86_64/demo/`.
    pub work_dir: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            boot_timeout: Duration::from_secs(120),
            exit_timeout: Duration::from_secs(60),
            work_dir: cargo::target_dir().join("qemu-tests"),
        }
    }
}

/// The demo's machine, ready to boot.
pub struct Prepared {
    pub kernel: Kernel,
    pub files: BoardFiles,
    pub images: images::Images,
    pub nstar: channel::Nstar,
    pub dir: PathBuf,
}

impl Prepared {
    /// The QEMU machine: root read-only and data disks, the board's watchdog, the
    /// channel's port; the console logged to `console-<n>.log`.
    pub fn machine(&self, boot: u32) -> Result<QemuConfig, Error> {
        let log = self.dir.join(format!("console-{boot}.log"));
        let mut config = QemuConfig::new(&self.kernel, &self.images.initrd, &log);
        config.drives = vec![
            Drive {
                path: self.images.root.clone(),
                read_only: true,
            },
            Drive {
                path: self.images.data.clone(),
                read_only: false,
            },
        ];
        if self.files.watchdog {
            config
                .devices
                .extend(BOARD.watchdog_device().map(String::from));
        }
        config.serial_ports = vec![channel::serial_port(&self.dir.join(channel::CHARDEV))?];
        Ok(config)
    }

    /// The channel's proxy (`nstar channel`) on the machine's chardev socket, serving
    /// [`channel::API`]; its messages in [`PROXY_LOG`].
    pub fn proxy(&self) -> Result<channel::Proxy, Error> {
        Ok(channel::Proxy::start(
            &self.nstar.binary,
            &self.dir.join(channel::CHARDEV),
            &self.nstar.socket,
            &self.dir.join(PROXY_LOG),
        )?)
    }
}

/// The proxy's messages, in the demo's directory.
pub const PROXY_LOG: &str = "proxy.log";

/// The programs the demo takes from the run's build: the init and the examples' programs
/// for the board, `nstar` for the host.
pub const PROGRAMS: [&str; 6] = [
    "northstar",
    "hello-world",
    "ferris",
    "persistence",
    "cpueater",
    "memeater",
];

/// Builds the images in `<work_dir>/x86_64/demo/` with the run's binaries (the init and
/// the examples of [`PROGRAMS`] for the board, `nstar` for the host).
pub fn prepare(
    cache: &KernelCache,
    built: &Binaries,
    options: &Options,
) -> Result<Prepared, Error> {
    let dir = options.work_dir.join(BOARD.name()).join("demo");
    std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
    let kernel = cache.fetch(BOARD)?;
    let files = BoardFiles::load(BOARD)?;
    let binaries = PROGRAMS
        .into_iter()
        .map(|p| Ok((p, built.guest(BOARD, p)?)))
        .collect::<Result<Vec<(&str, PathBuf)>, Error>>()?;
    let nstar = built.nstar()?;

    // The package key stays beside the images, for the user's own packages.
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).map_err(Error::io("create", &keys))?;
    let key = SecretKey::generate().map_err(Error::key("generate"))?;
    for file in ["demo.key", "demo.pub"] {
        let _ = std::fs::remove_file(keys.join(file));
    }
    key.save(&keys.join("demo.key"))
        .map_err(Error::key("save"))?;
    key.public()
        .save(&keys.join("demo.pub"))
        .map_err(Error::key("save"))?;

    let images = images::build(&kernel, &files, &binaries, &key, &dir)?;
    Ok(Prepared {
        kernel,
        files,
        images,
        nstar: channel::Nstar {
            binary: nstar,
            socket: dir.join(channel::API),
            timeout: Duration::from_secs(30),
            direct: false,
        },
        dir,
    })
}

/// The interactive demo: QEMU on this terminal until the guest powers off or the user
/// ends it (Ctrl-A X). Reboots restart the machine.
pub fn run(prepared: &Prepared) -> Result<std::process::ExitStatus, Error> {
    let mut config = prepared.machine(0)?;
    config.interactive = true;
    config.no_reboot = false;
    // Kept for as long as QEMU runs: it reconnects by itself when the machine restarts.
    let _proxy = prepared.proxy()?;
    let nstar = prepared.nstar.command_line();
    let updates: String = prepared
        .images
        .updates
        .iter()
        .map(|u| {
            let outcome = if u.healthy {
                "commits"
            } else {
                "exits with 1: rolled back"
            };
            format!(
                "  {nstar} update {} {} --health exited   # {outcome}\n",
                u.npk.display(),
                crate::boot::REPOSITORY
            )
        })
        .collect();
    eprintln!(
        "\nNorthstar demo: {} packages on the x86_64 image ({}).\n\
         The serial console follows; Ctrl-A X ends QEMU. From another terminal:\n\n  \
         {nstar} list\n  {nstar} logs hello-ferris:0.0.1\n  {nstar} start memeater:0.0.1\n\
         {updates}  {nstar} list            # the ACTIVE column\n  \
         {nstar} reboot        # persistence counts on; the active hello-world greets\n  \
         {nstar} shutdown\n\n\
         Sign your own packages with {}.\n",
        prepared.images.packages.len(),
        prepared.images.packages.join(" "),
        prepared.dir.join("keys/demo.key").display()
    );
    Ok(qemu::run_interactive(&config)?)
}

/// The non-interactive demo (`--check`).
pub fn check(prepared: &Prepared, options: &Options) -> Result<CheckRun, Error> {
    check::run(prepared, options)
}
