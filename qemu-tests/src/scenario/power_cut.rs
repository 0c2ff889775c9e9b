//! `install-power-cut`: the power is cut (SIGKILL to QEMU) while a large signed package
//! is installed through the management channel, and the same disks boot again, four
//! times. The channel's proxy (`nstar channel`) runs for the whole scenario and connects
//! to each boot's machine by itself; each boot lists the packages on one connection
//! through it (the client library) and acts on a second one:
//!
//! 1. Boot; `list` gives the old package set (`idle`). Install `big` (a signed package of
//!    [`PAYLOAD_MIB`] MiB that does not compress) into the `apps` repository, and cut the
//!    power once half of its bytes went into the channel's socket.
//! 2. Boot the same disks: the runtime starts normally, `list` gives the old set (the
//!    runtime removed any spool of the cut install). Install `big` again and cut the
//!    power once its last byte went into the socket, before the answer: the guest may be
//!    receiving, checking or placing it.
//! 3. Boot: `list` gives the old set or the new one (`big` complete, loaded, which means
//!    signature and every block checked). From the new set `big` is uninstalled; then it
//!    is installed completely and the power cut right after the answer `installed` (the
//!    package was in its final place and synced before the answer).
//! 4. Boot: `list` gives the new set. `shutdown` over the channel: power-off, QEMU exits
//!    0.
//! 5. On the host: `e2fsck -fn` clean, no `.partial` file in the repositories, `big` in
//!    `apps`.
mod install;
mod package;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::images::Images;
use super::spec::{self, Container};
use super::{drive, Error, Options, Outcome, Scenario, Shared};
use crate::boot::{self, report};
use crate::image::data;
use crate::qemu::channel::{self, Nstar, Proxy, PORT};
use crate::qemu::Qemu;
use install::{install, shutdown, uninstall_big, Cut, Machine, INSTALL_TIMEOUT};

/// The package installed during the cuts, and its payload.
const BIG: &str = "big";
const PAYLOAD_MIB: usize = 8;
/// The repository it goes to.
const APPS: &str = "apps";
/// The init's line when the channel is up.
const CHANNEL_UP: &str = "management channel:";
/// The runtime's line when it removed the spool of a cut install.
const REMOVED: &str = "removed an interrupted install";

/// What every boot of the scenario uses.
struct Context<'a> {
    shared: &'a Shared,
    images: &'a Images,
    dir: &'a Path,
    options: &'a Options,
    nstar: Nstar,
    big: PathBuf,
    size: u64,
    /// The package sets before and after `big` is installed, sorted.
    old: Vec<String>,
    new: Vec<String>,
}

/// What the boots showed.
struct Run {
    outcome: Outcome,
    transcripts: Vec<String>,
}

pub(super) fn run(
    shared: &Shared,
    images: &Images,
    dir: &Path,
    options: &Options,
) -> Result<Outcome, Error> {
    let big = package::pack_big(shared, images, dir)?;
    let size = std::fs::metadata(&big)
        .map_err(Error::io("read", &big))?
        .len();
    let mut old: Vec<String> = images.containers.iter().map(Container::id).collect();
    old.sort();
    let mut new = old.clone();
    new.push(big_id());
    new.sort();
    let cx = Context {
        shared,
        images,
        dir,
        options,
        nstar: Nstar {
            binary: shared.nstar.clone(),
            socket: dir.join(channel::API),
            timeout: Duration::from_secs(30),
            direct: false,
        },
        big,
        size,
        old,
        new,
    };
    // For every boot: it waits for each machine's socket and connects by itself.
    let proxy = Proxy::start(
        &cx.nstar.binary,
        &dir.join(channel::CHARDEV),
        &cx.nstar.socket,
        &dir.join("proxy.log"),
    )?;
    let mut run = Run {
        outcome: Outcome {
            scenario: Scenario::InstallPowerCut,
            notes: vec![format!("package {} of {size} bytes", cx.big.display())],
            problems: Vec::new(),
            machine: Duration::ZERO,
            log: dir.join("console-1.log"),
        },
        transcripts: Vec::new(),
    };
    // 1: the old set as built; cut in the middle of the stream.
    let go_on = cycle(&cx, 1, &mut run, |q, _| install(&cx, Cut::Sent(size / 2), q))?
        // 2: still the old set; cut once every byte was sent, before the answer.
        && cycle(&cx, 2, &mut run, |q, _| install(&cx, Cut::Delivered, q))?
        // 3: old or new; from the old set, install and cut right after the answer.
        && cycle(&cx, 3, &mut run, |q, listed| {
            let mut note = String::new();
            if listed == cx.new {
                uninstall_big(q)?;
                note = format!("{} uninstalled; ", big_id());
            }
            Ok(note + &install(&cx, Cut::Answered, q)?)
        })?
        // 4: the new set; an orderly power-off through the channel.
        && cycle(&cx, 4, &mut run, |q, _| shutdown(q, options))?;
    drop(proxy);
    if go_on {
        host_checks(shared, images, &mut run.outcome)?;
    }
    Ok(finish(run))
}

/// `big:<version>`.
fn big_id() -> String {
    format!("{BIG}:{}", spec::VERSION)
}

/// The package sets boot `boot` may begin with.
fn expected<'a>(cx: &'a Context<'_>, boot: usize) -> Vec<&'a [String]> {
    match boot {
        1 | 2 => vec![&cx.old],
        3 => vec![&cx.old, &cx.new],
        _ => vec![&cx.new],
    }
}

/// One boot: up (report, containers ready, channel), the package set as expected (one
/// connection through the proxy), then `act` with the listed set (a second one). Whether
/// to go on.
fn cycle(
    cx: &Context<'_>,
    boot: usize,
    run: &mut Run,
    act: impl FnOnce(&mut Machine<'_>, &[String]) -> Result<String, Error>,
) -> Result<bool, Error> {
    let log = format!("console-{boot}.log");
    let config = drive::machine(
        cx.shared,
        Scenario::InstallPowerCut,
        cx.images,
        cx.dir,
        &log,
        cx.options,
    )?;
    let mut qemu = Qemu::spawn(&config)?;
    let result = up(&mut qemu, cx.images, cx.options).and_then(|()| {
        let options = northstar_client::Options {
            request_timeout: Some(INSTALL_TIMEOUT),
            ..northstar_client::Options::default()
        };
        let client_error = |what| move |source| Error::Client { what, source };
        let mut client = cx
            .nstar
            .client(options.clone())
            .map_err(client_error("connect"))?;
        let mut listed: Vec<String> = client
            .list()
            .map_err(client_error("list"))?
            .into_iter()
            .map(|c| c.container.to_string())
            .collect();
        listed.sort();
        let allowed = expected(cx, boot);
        if !allowed.contains(&listed.as_slice()) {
            run.outcome.problems.push(format!(
                "boot {boot}: the registry holds {listed:?}, expected one of {allowed:?}"
            ));
        }
        run.outcome
            .notes
            .push(format!("boot {boot}: list: {}", listed.join(" ")));
        drop(client);
        let client = cx.nstar.client(options).map_err(client_error("connect"))?;
        act(
            &mut Machine {
                qemu: &mut qemu,
                client,
            },
            &listed,
        )
    });
    let killed = qemu.kill_now();
    run.outcome.machine += qemu.elapsed();
    let transcript = qemu.transcript();
    if transcript.contains(REMOVED) {
        run.outcome
            .notes
            .push(format!("boot {boot}: the runtime {REMOVED}"));
    }
    run.transcripts.push(transcript);
    killed?;
    match result {
        Ok(note) => {
            run.outcome.notes.push(format!("boot {boot}: {note}"));
            Ok(true)
        }
        Err(e) => {
            run.outcome.problems.push(format!("boot {boot}: {e}"));
            Ok(false)
        }
    }
}

/// Wait for the boot report, every container's `ready` and the channel.
fn up(qemu: &mut Qemu, images: &Images, options: &Options) -> Result<(), Error> {
    let deadline = Instant::now() + options.boot_timeout;
    qemu.expect_until(boot::STARTED, deadline)?;
    qemu.expect_until(report::FIRST_LINE, deadline)?;
    for container in &images.containers {
        qemu.seen_until(&format!("{}: {}", container.id(), spec::READY), deadline)?;
    }
    qemu.seen_until(&format!("{CHANNEL_UP} {PORT} at"), deadline)?;
    Ok(())
}
/// The data image after the last, orderly end: clean, no spool left, `big` in place.
fn host_checks(shared: &Shared, images: &Images, outcome: &mut Outcome) -> Result<(), Error> {
    let fsck = data::fsck(&images.data)?;
    if !fsck.clean() {
        outcome.problems.push(format!(
            "e2fsck -fn on the data image: status {}\n{}",
            fsck.status, fsck.output
        ));
    }
    for name in [boot::REPOSITORY, APPS] {
        let repo = shared.files.data_repository(name)?;
        let dir = format!("/{}", repo.on_data().unwrap_or_default());
        let entries: Vec<String> = data::list(&images.data, &dir)?
            .into_iter()
            .map(|e| e.name)
            .collect();
        if entries.iter().any(|e| e.ends_with(".partial")) {
            outcome
                .problems
                .push(format!("{dir} holds a spool file: {entries:?}"));
        }
        outcome.notes.push(format!("{dir}: {}", entries.join(" ")));
        if name == APPS && !entries.contains(&format!("{BIG}-{}.npk", spec::VERSION)) {
            outcome
                .problems
                .push(format!("{dir} does not hold {BIG}: {entries:?}"));
        }
    }
    Ok(())
}

/// The common problems of every boot's transcript.
fn finish(run: Run) -> Outcome {
    let mut outcome = run.outcome;
    for (i, t) in run.transcripts.iter().enumerate() {
        for line in t.lines() {
            if line.contains(boot::BOOT_FAILED) || line.contains(boot::HOLD) {
                outcome
                    .problems
                    .push(format!("boot {}: {}", i + 1, line.trim()));
            }
            if line.contains("rejected") {
                outcome.problems.push(format!(
                    "boot {}: a package was refused: {}",
                    i + 1,
                    line.trim()
                ));
            }
        }
    }
    outcome
}
