//! `init-panic`: a panic in a thread of the init (test build: `northstar.test.panic`)
//! ends in the board's reaction, not in the kernel's panic, and the next boot reports it.
//!
//! 1. The first boot runs with `northstar.reaction=reboot northstar.test.panic=<s>`: the
//!    system comes up (report, containers ready; the package `overflow`, signed with a
//!    manifest whose `console.npk_stream_timeout` no deadline can hold, is refused naming
//!    that field), then a thread of the init panics. The
//!    init's panic hook logs `panicked at …`, writes the record on the data partition and
//!    reboots: QEMU (`-no-reboot`) exits after the kernel's `reboot: Restarting system`,
//!    and the kernel never says `Attempted to kill init`.
//! 2. The second boot, on the same data image and without the fault, comes up; the boot
//!    report read through the management channel (the management API, structured) holds
//!    the panic of the first boot; a second request proves the server keeps serving; a
//!    reboot request through the API ends the machine in order.
//! 3. On the host, the data image is clean and the record is gone (the second boot read
//!    and removed it).

use std::path::Path;
use std::time::{Duration, Instant};

use super::images::Images;
use super::{drive, spec, Error, Options, Outcome, Scenario, Shared};
use crate::boot::{self, report};
use crate::image::data;
use crate::qemu::{channel, Qemu};

/// The init's message of the injected panic.
pub const PANIC_MESSAGE: &str = "test fault: northstar.test.panic=";
/// What the init's panic hook logs.
const PANICKED: &str = "northstar: panicked at ";
/// The kernel's line when PID 1 ends.
const KILLED_INIT: &str = "Attempted to kill init";
/// The management channel's line once the port is served.
const CHANNEL_UP: &str = "management channel: org.northstar.api at";

pub(super) fn run(
    shared: &Shared,
    images: &Images,
    dir: &Path,
    options: &Options,
) -> Result<Outcome, Error> {
    let mut outcome = Outcome {
        scenario: Scenario::InitPanic,
        notes: Vec::new(),
        problems: Vec::new(),
        machine: Duration::ZERO,
        log: dir.join("console-1.log"),
    };
    let first = first_boot(shared, images, dir, options, &mut outcome)?;
    if !first {
        return Ok(outcome);
    }
    second_boot(shared, images, dir, options, &mut outcome)?;
    let fsck = data::fsck(&images.data)?;
    if !fsck.clean() {
        outcome.problems.push(format!(
            "e2fsck -fn on the data image: status {}\n{}",
            fsck.status, fsck.output
        ));
    }
    let left: Vec<String> = data::list(&images.data, "/northstar")?
        .into_iter()
        .map(|e| e.name)
        .collect();
    if left.iter().any(|name| name == "last-panic") {
        outcome.problems.push(format!(
            "the record of the panic is still on the data partition: /northstar holds {left:?}"
        ));
    }
    Ok(outcome)
}

/// Up, the panic, the reboot. Whether the second boot makes sense.
fn first_boot(
    shared: &Shared,
    images: &Images,
    dir: &Path,
    options: &Options,
    outcome: &mut Outcome,
) -> Result<bool, Error> {
    let mut config = drive::machine(
        shared,
        Scenario::InitPanic,
        images,
        dir,
        "console-1.log",
        options,
    )?;
    config.cmdline.extend([
        "northstar.reaction=reboot".to_owned(),
        format!("northstar.test.panic={}", spec::PANIC_AFTER),
    ]);
    let mut qemu = Qemu::spawn(&config)?;
    let result = (|| {
        up(&mut qemu, images, options)?;
        let line = qemu.expect(PANICKED, options.exit_timeout)?;
        let exit = qemu.wait_exit(options.exit_timeout)?;
        Ok::<_, Error>((line, exit))
    })();
    let killed = qemu.kill_now();
    outcome.machine += qemu.elapsed();
    let transcript = qemu.transcript();
    killed?;
    let (line, exit) = match result {
        Ok(seen) => seen,
        Err(e) => {
            outcome.problems.push(format!("boot 1: {e}"));
            return Ok(false);
        }
    };
    overflow_refused(1, &transcript, outcome);
    outcome.notes.push(format!("boot 1: {}", line.trim()));
    if !line.contains(PANIC_MESSAGE) {
        outcome
            .problems
            .push(format!("boot 1: not the injected panic: {}", line.trim()));
    }
    if let Some(l) = transcript.lines().find(|l| l.contains(KILLED_INIT)) {
        outcome
            .problems
            .push(format!("boot 1: the kernel panicked: {}", l.trim()));
    }
    if !transcript.contains(boot::RESTARTING) {
        outcome
            .problems
            .push("boot 1: the board's reaction (reboot) did not happen".into());
    }
    if exit.code() != Some(0) {
        outcome
            .problems
            .push(format!("boot 1: qemu exited with {exit}, expected 0"));
    }
    Ok(outcome.problems.is_empty())
}

/// Up; the boot report through the channel names the panic; the server keeps serving;
/// a reboot through the API.
fn second_boot(
    shared: &Shared,
    images: &Images,
    dir: &Path,
    options: &Options,
    outcome: &mut Outcome,
) -> Result<(), Error> {
    let config = drive::machine(
        shared,
        Scenario::InitPanic,
        images,
        dir,
        "console-2.log",
        options,
    )?;
    let mut qemu = Qemu::spawn(&config)?;
    let nstar = channel::Nstar {
        binary: shared.nstar.clone(),
        socket: dir.join(channel::CHARDEV),
        timeout: Duration::from_secs(30),
        direct: true,
    };
    let result = (|| {
        up(&mut qemu, images, options)?;
        qemu.seen_until(CHANNEL_UP, Instant::now() + options.boot_timeout)?;
        let client_error = |what| move |source| Error::Client { what, source };
        let mut client = nstar
            .client(northstar_client::Options::default())
            .map_err(client_error("connect"))?;
        let report = client.boot_report().map_err(client_error("boot report"))?;
        let listed = client.list().map_err(client_error("list"))?.len();
        client.reboot().map_err(client_error("reboot"))?;
        qemu.expect(boot::RESTARTING, options.exit_timeout)?;
        let exit = qemu.wait_exit(options.exit_timeout)?;
        Ok::<_, Error>((report, listed, exit))
    })();
    let killed = qemu.kill_now();
    outcome.machine += qemu.elapsed();
    let transcript = qemu.transcript();
    killed?;
    let (report, listed, exit) = match result {
        Ok(seen) => seen,
        Err(e) => {
            outcome.problems.push(format!("boot 2: {e}"));
            return Ok(());
        }
    };
    overflow_refused(2, &transcript, outcome);
    match &report.previous_panic {
        Some(panic) if panic.contains(PANIC_MESSAGE) => outcome
            .notes
            .push(format!("boot 2: boot report: previous panic: {panic}")),
        other => outcome.problems.push(format!(
            "boot 2: the boot report's previous_panic is {other:?}, expected the injected panic"
        )),
    }
    outcome.notes.push(format!(
        "boot 2: list after the report: {listed} containers"
    ));
    if listed != images.containers.len() {
        outcome.problems.push(format!(
            "boot 2: list: {listed} containers, expected {}",
            images.containers.len()
        ));
    }
    for line in transcript.lines() {
        if line.contains(PANICKED) || line.contains(KILLED_INIT) {
            outcome
                .problems
                .push(format!("boot 2: panicked: {}", line.trim()));
        }
    }
    if exit.code() != Some(0) {
        outcome
            .problems
            .push(format!("boot 2: qemu exited with {exit}, expected 0"));
    }
    Ok(())
}

/// The runtime refused the package `overflow`, naming the field, and it never ran.
fn overflow_refused(boot: usize, transcript: &str, outcome: &mut Outcome) {
    let rejected = format!("{}-{}.npk: rejected:", spec::OVERFLOW, spec::VERSION);
    match transcript.lines().find(|l| l.contains(&rejected)) {
        Some(line) if line.contains(spec::OVERFLOW_FIELD) => {
            outcome.notes.push(format!("boot {boot}: {}", line.trim()))
        }
        Some(line) => outcome.problems.push(format!(
            "boot {boot}: {} refused without naming {}: {}",
            spec::OVERFLOW,
            spec::OVERFLOW_FIELD,
            line.trim()
        )),
        None => outcome.problems.push(format!(
            "boot {boot}: the runtime did not refuse {}",
            spec::OVERFLOW
        )),
    }
    let ran = format!("{}:{}: {}", spec::OVERFLOW, spec::VERSION, spec::READY);
    if let Some(line) = transcript.lines().find(|l| l.contains(&ran)) {
        outcome.problems.push(format!(
            "boot {boot}: {} ran: {}",
            spec::OVERFLOW,
            line.trim()
        ));
    }
}

/// The boot report and every container's `ready`.
fn up(qemu: &mut Qemu, images: &Images, options: &Options) -> Result<(), Error> {
    let deadline = Instant::now() + options.boot_timeout;
    qemu.expect_until(boot::STARTED, deadline)?;
    qemu.expect_until(report::FIRST_LINE, deadline)?;
    for container in &images.containers {
        qemu.seen_until(&format!("{}: {}", container.id(), spec::READY), deadline)?;
    }
    Ok(())
}
