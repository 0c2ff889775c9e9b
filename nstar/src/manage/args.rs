//! The command line of the management subcommands: the global connection options and one
//! struct per request. Parsing only; `manage` carries them out.

use super::values;
use clap::{Args, Subcommand};
use northstar_client::{
    api::{ContainerId, ContainerName, Health, RepositoryName, Signal, SlotTarget},
    Url,
};
use std::{path::PathBuf, time::Duration};

/// Options of every management subcommand, accepted before or after the subcommand.
#[derive(Debug, Args)]
pub struct Global {
    /// Where the runtime's management API listens: unix:///path or tcp://host:port
    /// [default: $NSTAR_URL, else unix:///run/northstar/api.sock].
    #[arg(short, long, global = true, value_name = "URL", value_parser = values::url)]
    pub url: Option<Url>,
    /// Longest wait for the connection and for each answer: 500ms, 10s, 2m; 0 waits
    /// forever [default: 30s].
    #[arg(long, global = true, value_name = "DURATION", value_parser = values::duration)]
    pub timeout: Option<Duration>,
    /// Print JSON instead of text (management subcommands and `inspect`).
    #[arg(long, global = true)]
    pub json: bool,
    /// For tcp:// URLs (TLS 1.3): the CA certificate(s) that issued the runtime's
    /// certificate (PEM).
    #[arg(long, global = true, value_name = "FILE", requires_all = ["tls_cert", "tls_key"])]
    pub tls_ca: Option<PathBuf>,
    /// For tcp:// URLs: this client's certificate (PEM, leaf first), issued by the CA
    /// the runtime trusts; its common name chooses the permissions.
    #[arg(long, global = true, value_name = "FILE", requires_all = ["tls_ca", "tls_key"])]
    pub tls_cert: Option<PathBuf>,
    /// For tcp:// URLs: this client's private key (PEM).
    #[arg(long, global = true, value_name = "FILE", requires_all = ["tls_ca", "tls_cert"])]
    pub tls_key: Option<PathBuf>,
    /// Accept a tcp:// URL without TLS or authentication (a unix socket forwarded over
    /// ssh): whoever can reach the port gets what is behind it.
    #[arg(long, global = true, conflicts_with = "tls_ca")]
    pub unauthenticated_tcp: bool,
}

/// The management subcommands: each sends one request to a running runtime.
#[derive(Debug, Subcommand)]
pub enum ManageCommand {
    /// List every container of the runtime: state, pid, uptime, last exit.
    #[command(after_help = "EXAMPLES:
  nstar list
  nstar list --json | jq -r '.containers[] | select(.state == \"running\") | .container'")]
    List,
    Start(StartArgs),
    Kill(KillArgs),
    Stop(StopArgs),
    /// Stop a running container as `stop` does, then start it again with the arguments and
    /// environment of the run that ended; prints how the old run ended and the new pid.
    ///
    /// The wait for the answer is `--timeout` plus `--grace`.
    #[command(after_help = "EXAMPLES:
  nstar restart hello-world:0.0.1
  nstar restart hello-world:0.0.1 --grace 500ms")]
    Restart(StopArgs),
    Install(InstallArgs),
    Update(UpdateArgs),
    Rollback(RollbackArgs),
    /// Start the active version of a container name at boot, whatever its manifest says
    /// (kept across reboots).
    #[command(after_help = "EXAMPLES:
  nstar enable hello-world
  nstar enable hello-world --repository default")]
    Enable(NameArgs),
    /// Never start a container name at boot, whatever its manifest says (kept across
    /// reboots).
    #[command(after_help = "EXAMPLES:
  nstar disable hello-world")]
    Disable(NameArgs),
    Uninstall(UninstallArgs),
    /// Mount a package's image.
    #[command(after_help = "EXAMPLES:
  nstar mount message:0.1.2")]
    Mount(ContainerArgs),
    /// Unmount a package's image (refused while a running container uses it).
    #[command(after_help = "EXAMPLES:
  nstar umount message:0.1.2")]
    Umount(ContainerArgs),
    /// List the repositories of the runtime's configuration and what they hold.
    #[command(after_help = "EXAMPLES:
  nstar repositories
  nstar repositories --json")]
    Repositories,
    Logs(LogsArgs),
    /// Show PID 1's boot report: the kernel's time, each boot step, and how each autostart
    /// container's start ended (the host daemon answers `unsupported`).
    #[command(after_help = "EXAMPLES:
  nstar boot-report
  nstar boot-report --json | jq '.report.finished_ms'")]
    BootReport,
    /// Stop every container and power off (PID 1) or end the runtime (host daemon).
    #[command(after_help = "EXAMPLES:
  nstar shutdown")]
    Shutdown,
    /// Stop every container and reboot (PID 1 only).
    #[command(after_help = "EXAMPLES:
  nstar reboot")]
    Reboot,
    Notifications(NotificationsArgs),
    #[command(subcommand)]
    System(SystemCommand),
}

/// The A/B system slots of the device (PID 1 with A/B slots configured; elsewhere
/// `unsupported`), as `rauc status` shows and marks them.
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show the boot loader, the booted and the primary slot, and per slot its root and
    /// boot devices, whether it is booted or primary, good or bad, and its attempts left.
    #[command(after_help = "EXAMPLES:
  nstar system status
  nstar system status --json | jq -r '.status.booted'")]
    Status,
    /// Mark a slot good: bootable again, its boot attempts reset (after an update booted
    /// well; needs the `system_update` permission, which no wildcard grants). Prints the
    /// state after the mark.
    #[command(after_help = "EXAMPLES:
  nstar system mark-good            # the booted slot
  nstar system mark-good other")]
    MarkGood(SlotArgs),
    /// Mark a slot bad: the boot loader does not boot it any more (needs
    /// `system_update`). Prints the state after the mark.
    #[command(after_help = "EXAMPLES:
  nstar system mark-bad other")]
    MarkBad(SlotArgs),
    /// Mark a slot active: the boot loader boots it next, and it is good (needs
    /// `system_update`). Prints the state after the mark.
    #[command(after_help = "EXAMPLES:
  nstar system mark-active other && nstar reboot
  nstar system mark-active B")]
    MarkActive(SlotArgs),
    Install(SystemInstallArgs),
    /// Stop every container and reboot the device, into the primary slot (the `reboot`
    /// request, as `nstar reboot`).
    #[command(after_help = "EXAMPLES:
  nstar system install update.raucb && nstar system reboot")]
    Reboot,
}

/// Install a system update bundle (RAUC format, see `nstar bundle create`) into the slot
/// that did not boot: the device checks its signature and `compatible`, writes its image
/// into that slot and marks the slot active, so the next boot runs it (needs
/// `system_update`, which no wildcard grants). A progress bar shows the upload on stderr
/// when it is a terminal; then the written slot, the bundle's version and the state of
/// the slots are printed. The wait for the answer after the upload is `--timeout` plus
/// 30 minutes.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  nstar system install update-2.0.0.raucb
  nstar system install update.raucb --check-digest --json | jq -r .installed.slot")]
pub struct SystemInstallArgs {
    /// The bundle file.
    pub bundle: PathBuf,
    /// Send the bundle's SHA-256 digest first: the device refuses bytes that differ.
    #[arg(long)]
    pub check_digest: bool,
}

/// The slot a mark is about.
#[derive(Debug, Args)]
pub struct SlotArgs {
    /// `booted` (the slot this boot runs), `other` (the slot that did not boot) or a
    /// slot's name (`A`, `B`).
    #[arg(value_name = "booted|other|SLOT", default_value = "booted", value_parser = values::slot)]
    pub slot: SlotTarget,
}

/// One container of the runtime.
#[derive(Debug, Args)]
pub struct ContainerArgs {
    /// The container (name:version).
    pub container: ContainerId,
}

/// Start a container; prints its pid once its program runs.
///
/// `--arg` replaces the manifest's arguments (all of them, in order); `--env` adds to the
/// manifest's environment. Either one needs the `start_with_args` permission.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  nstar start hello-world:0.0.1
  nstar start hello-world:0.0.1 --arg --from --arg nstar --env GREETING=hi")]
pub struct StartArgs {
    /// The container (name:version).
    pub container: ContainerId,
    /// An argument instead of the manifest's (repeat for several).
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    pub args: Vec<String>,
    /// An environment variable added to the manifest's (repeat for several).
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = values::env_var)]
    pub env: Vec<(String, String)>,
}

/// Send a signal to every process of a running container.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  nstar kill hello-world:0.0.1                 # SIGTERM
  nstar kill hello-world:0.0.1 --signal USR1
  nstar kill hello-world:0.0.1 -s 9")]
pub struct KillArgs {
    /// The container (name:version).
    pub container: ContainerId,
    /// The signal: a number (1 to 64) or a name (TERM, SIGKILL, usr1, ...).
    #[arg(short, long, default_value = "TERM", value_parser = values::signal)]
    pub signal: Signal,
}

/// Stop a container (SIGTERM, then SIGKILL after the grace period) and print how it
/// ended.
///
/// The wait for the answer is `--timeout` plus `--grace`.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  nstar stop hello-world:0.0.1
  nstar stop hello-world:0.0.1 --grace 2s")]
pub struct StopArgs {
    /// The container (name:version).
    pub container: ContainerId,
    /// Time between SIGTERM and SIGKILL, at most 1h [default: the runtime's stop_timeout].
    #[arg(long, value_name = "DURATION", value_parser = values::grace)]
    pub grace: Option<Duration>,
}

/// Install a package into a repository of the runtime; prints the installed container.
///
/// The file is sent as it is; the runtime checks it (signature and verity tree for a keyed
/// repository) before it becomes visible. A progress bar is shown on stderr when it is a
/// terminal (not with --json).
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  nstar install repo/hello-world-0.0.2.npk default
  nstar install hello.npk dev --json
  nstar install hello.npk dev --check-digest")]
pub struct InstallArgs {
    /// The package file.
    pub npk: PathBuf,
    /// The repository of the runtime's configuration.
    #[arg(value_parser = values::repository)]
    pub repository: RepositoryName,
    /// Hash the file first and have the runtime check the received bytes against the
    /// digest: for a repository without a key, whose packages carry no signature (costs a
    /// read of the file here and a hash of the bytes there).
    #[arg(long)]
    pub check_digest: bool,
}

/// Update containers in one transaction: install the packages, stop the active versions
/// of their names, start the new ones, check their health, then commit all of them or
/// roll all of them back.
///
/// The files are sent as `install` sends one (progress bar on stderr when it is a
/// terminal, not with --json); then the transaction's notifications are printed as they
/// come (with the `notifications` permission). Exit status 0: committed; 5: rolled back
/// (the versions before are active again); the other codes as for every subcommand. The
/// wait for the answer is `--timeout` plus `--deadline` (without `--deadline`,
/// `--timeout` plus 10 minutes).
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  nstar update repo/hello-world-0.0.3.npk default
  nstar update hello.npk message.npk default --health ready --deadline 30s
  nstar update hello.npk dev --health running --window 5s --snapshot
  nstar update hello-0.0.1.npk default --downgrade    # needs the downgrade permission")]
pub struct UpdateArgs {
    /// The package files (one or more), then the repository of the runtime's
    /// configuration.
    #[arg(value_name = "NPK", required = true, num_args = 1..)]
    pub npks: Vec<PathBuf>,
    /// The repository of the runtime's configuration.
    #[arg(value_parser = values::repository)]
    pub repository: RepositoryName,
    /// Hash the files first and have the runtime check the received bytes against the
    /// digests (see `install`).
    #[arg(long)]
    pub check_digest: bool,
    #[command(flatten)]
    pub transaction: TransactionArgs,
}

/// How a transaction checks the new versions; absent: the runtime's `[update]` setting.
#[derive(Debug, Args)]
pub struct TransactionArgs {
    /// What a new version must do: ready (its program sends READY=1 on its notify
    /// socket), running (it still runs after --window) or exited (it exits with 0).
    #[arg(long, value_name = "CHECK", value_parser = values::health)]
    pub health: Option<Health>,
    /// How long a new version must run for the `running` check.
    #[arg(long, value_name = "DURATION", value_parser = values::duration)]
    pub window: Option<Duration>,
    /// The longest wait for the health check; past it the transaction rolls back.
    #[arg(long, value_name = "DURATION", value_parser = values::duration)]
    pub deadline: Option<Duration>,
    /// Snapshot persistent data first, so that a rollback restores it.
    #[arg(long, conflicts_with = "no_snapshot")]
    pub snapshot: bool,
    /// Do not snapshot persistent data.
    #[arg(long)]
    pub no_snapshot: bool,
    /// Allow a version that is not above the active one (needs the `downgrade`
    /// permission, which no wildcard grants).
    #[arg(long)]
    pub downgrade: bool,
}

/// Switch a container name back to the version that was active before the current one,
/// as a transaction with a health check; prints the version now active.
///
/// Exit status as for `update` (5: the rollback itself rolled back).
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  nstar rollback hello-world
  nstar rollback hello-world --repository default --health ready")]
pub struct RollbackArgs {
    /// The container name.
    pub name: ContainerName,
    /// The repository that holds it [default: the only one that does].
    #[arg(short, long, value_parser = values::repository)]
    pub repository: Option<RepositoryName>,
    #[command(flatten)]
    pub transaction: TransactionArgs,
}

/// A container name, and the repository that holds it.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// The container name.
    pub name: ContainerName,
    /// The repository that holds it [default: the only one that does].
    #[arg(short, long, value_parser = values::repository)]
    pub repository: Option<RepositoryName>,
}

/// Remove a stopped container's package (its image is unmounted first).
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  nstar uninstall hello-world:0.0.1
  nstar uninstall hello-world:0.0.1 --wipe    # and its persistent data")]
pub struct UninstallArgs {
    /// The container (name:version).
    pub container: ContainerId,
    /// Also remove the container's persistent data.
    #[arg(long)]
    pub wipe: bool,
}

/// Print a container's captured output (io: pipe), oldest line first.
///
/// With -f, keep printing new lines until the container is uninstalled, the runtime shuts
/// down or the command is interrupted.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  nstar logs hello-world:0.0.1
  nstar logs hello-world:0.0.1 -n 20 -f")]
pub struct LogsArgs {
    /// The container (name:version).
    pub container: ContainerId,
    /// Keep printing lines as they come.
    #[arg(short, long)]
    pub follow: bool,
    /// At most this many of the kept lines [default: all].
    #[arg(short = 'n', long = "lines", value_name = "N")]
    pub tail: Option<u32>,
}

/// Print the runtime's notifications (container started, exited, installed, ...) as they
/// come, one per line, until the runtime ends or the command is interrupted.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  nstar notifications
  nstar notifications --json | jq -c 'select(.type == \"exited\")'
  nstar notifications -n 1      # wait for the next one")]
pub struct NotificationsArgs {
    /// Exit after this many notifications.
    #[arg(short = 'n', long, value_name = "N")]
    pub count: Option<u64>,
}
