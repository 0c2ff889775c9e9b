//! `update-cuts`: a power cut at each persisted step of an update that `update` does not
//! cut (`stopping`, `snapshot`, `rolling_back`) leaves a device that boots with exactly
//! the version before running and active, and its persistent data as before the update.
//! Four boots of the same disks, chained: each boot checks the state the cut of the one
//! before left, through `list`, then is cut itself (the runtime aborts at the point,
//! `northstar.test.update_cut=<point>` on the kernel command line, test build; PID 1 dies
//! with it, the kernel panics, `-no-reboot` makes that QEMU's exit). Every update asks
//! for a data snapshot and is checked with `exited` and a short deadline.
//!
//! `app` has a `persist` mount: 0.0.1 writes [`spec::OLD_DATA`] there at every start;
//! the later versions write [`NEW_DATA`] (a synced file, then a rename) before their
//! `ready`, and never exit.
//!
//! 1. 0.0.1 runs. With the cut at `stopping`: the update to 0.0.2 persists its first step
//!    and the power goes before 0.0.1 is stopped.
//! 2. 0.0.1 runs (the runtime rolled the transaction back at its start). With the cut at
//!    `snapshot`: the update to 0.0.3 has stopped 0.0.1 and the power goes before the
//!    data is copied.
//! 3. 0.0.1 runs. With the cut at `rolling_back`: 0.0.4 starts, writes [`NEW_DATA`] and
//!    says `ready`, but does not exit before the check's deadline; the runtime persists
//!    `rolling_back` to stop it, and the power goes.
//! 4. 0.0.1 runs (the snapshot was put back). A shutdown through the API powers the
//!    machine off.
//! 5. On the host: `e2fsck -fn` of the data image is clean, and `app`'s data holds
//!    exactly [`spec::OLD_DATA`] (not [`NEW_DATA`]), with no snapshot left beside it.
//!
//! The boots, the updates and the checks every boot makes are [`super::transaction`]'s,
//! shared with `update`.

use std::path::Path;
use std::time::Duration;

use northstar_client::api::{Health, UpdateOptions};
use northstar_client::Client;

use super::images::Images;
use super::spec;
use super::transaction::{self as tx, Machine, Version, APP};
use super::{drive, Error, Options, Outcome, Scenario, Shared};
use crate::boot::REPOSITORY;
use crate::image::{config, data};
use crate::qemu::Qemu;

/// The check's deadline: 0.0.4 runs past it and is rolled back while it runs.
const DEADLINE: Duration = Duration::from_secs(5);
/// What the later versions write to the persistent data once they run.
const NEW_DATA: &str = "new";

const GOOD: &[&str] = &["report:/data/new", "print:1,ready", "sleep-forever"];
/// Cut at `stopping`, at `snapshot` and at `rolling_back`, in order.
const VERSIONS: [Version; 3] = [
    Version {
        version: "0.0.2",
        args: GOOD,
    },
    Version {
        version: "0.0.3",
        args: GOOD,
    },
    Version {
        version: "0.0.4",
        args: GOOD,
    },
];

/// The cut of each update, in the order of [`VERSIONS`].
const CUTS: [&str; 3] = ["stopping", "snapshot", "rolling_back"];

pub(super) fn run(
    shared: &Shared,
    images: &Images,
    dir: &Path,
    options: &Options,
) -> Result<Outcome, Error> {
    let packages = tx::pack(shared, images, dir, &VERSIONS, true)?;
    let machine = Machine {
        shared,
        scenario: Scenario::UpdateCuts,
        images,
        dir,
        options,
    };
    let mut outcome = tx::outcome(Scenario::UpdateCuts, dir);
    for (i, point) in CUTS.into_iter().enumerate() {
        let version = VERSIONS[i].version;
        let act = |qemu: &mut Qemu,
                   client: &mut Client,
                   notes: &mut Vec<String>,
                   problems: &mut Vec<String>| {
            let cut = tx::Cut {
                npk: &packages[i],
                version,
                point,
                options: checked(),
            };
            tx::cut(qemu, client, cut, options.exit_timeout, notes, problems)
        };
        let Some(transcript) = tx::boot(
            &machine,
            i + 1,
            spec::VERSION,
            Some(point),
            &mut outcome,
            act,
        )?
        else {
            return Ok(outcome);
        };
        if point == "rolling_back" && !ready_before_cut(&transcript, version) {
            // Without it the data check below could not fail.
            outcome.problems.push(format!(
                "boot {}: {APP}:{version} did not say ready before the cut",
                i + 1
            ));
            return Ok(outcome);
        }
    }
    let shutdown =
        |qemu: &mut Qemu, client: &mut Client, _: &mut Vec<String>, problems: &mut Vec<String>| {
            client.shutdown().map_err(tx::client_error("shutdown"))?;
            qemu.expect(drive::POWER_DOWN, options.exit_timeout)?;
            tx::exited_with_0(qemu, options.exit_timeout, "the power-off", problems)
        };
    let n = CUTS.len() + 1;
    if tx::boot(&machine, n, spec::VERSION, None, &mut outcome, shutdown)?.is_none() {
        return Ok(outcome);
    }
    tx::fsck(images, &mut outcome)?;
    check_data(shared, images, &mut outcome)?;
    Ok(outcome)
}

/// Every update of the scenario: a snapshot, checked with `exited` (the versions never
/// exit, so a check that runs to its end fails at the deadline with the version running).
fn checked() -> UpdateOptions {
    UpdateOptions {
        health: Some(Health::Exited),
        deadline_ms: Some(tx::ms(DEADLINE)),
        snapshot: Some(true),
        ..UpdateOptions::default()
    }
}

/// Whether `app` at `version` said `ready` (its data written and synced) before the cut.
fn ready_before_cut(transcript: &str, version: &str) -> bool {
    let ready = tx::ready_line(version);
    let lines: Vec<&str> = transcript.lines().collect();
    let at = |pattern: &str| lines.iter().position(|l| l.contains(pattern));
    match (at(&ready), at(tx::CUT_LINE)) {
        (Some(ready), Some(cut)) => ready < cut,
        _ => false,
    }
}

/// After the last, orderly boot: `app`'s data directory on the data image holds exactly
/// what 0.0.1 writes, and nothing of a snapshot is left beside it.
fn check_data(shared: &Shared, images: &Images, outcome: &mut Outcome) -> Result<(), Error> {
    let Some(data_dir) = shared
        .files
        .data_dir
        .as_deref()
        .and_then(|d| d.strip_prefix(config::DATA_MOUNT))
    else {
        outcome
            .problems
            .push("the runtime's data_dir is not on the data partition".to_owned());
        return Ok(());
    };
    let repository = format!("{data_dir}/@{REPOSITORY}");
    let beside: Vec<String> = data::list(&images.data, &repository)?
        .into_iter()
        .map(|e| e.name)
        .collect();
    let app: Vec<String> = data::list(&images.data, &format!("{repository}/{APP}"))?
        .into_iter()
        .map(|e| e.name)
        .collect();
    outcome.notes.push(format!(
        "data image: {repository} holds {beside:?}, {APP}/ holds {app:?}"
    ));
    if beside != [APP] {
        outcome.problems.push(format!(
            "{repository} holds {beside:?}, expected only {APP} (no snapshot left)"
        ));
    }
    if app.iter().any(|name| name == NEW_DATA) {
        outcome.problems.push(format!(
            "{APP}'s data holds {NEW_DATA:?} of 0.0.4: the snapshot was not put back"
        ));
    } else if app != [spec::OLD_DATA] {
        outcome.problems.push(format!(
            "{APP}'s data holds {app:?}, expected only {:?} as before the updates",
            spec::OLD_DATA
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_versions_climb_write_their_data_and_never_exit() {
        assert!(tx::climbing(&VERSIONS));
        let report = format!("report:{}/{NEW_DATA}", spec::DATA);
        for v in &VERSIONS {
            assert_eq!(v.args.first(), Some(&report.as_str()), "{}", v.version);
            assert_eq!(v.args.last(), Some(&"sleep-forever"), "{}", v.version);
        }
    }

    #[test]
    fn the_cut_must_follow_the_ready_line() {
        let ready = "[ 1.0] northstar: app:0.0.4: ready";
        let cut = "[ 6.0] northstar: update: cut at rolling_back";
        assert!(ready_before_cut(&format!("{ready}\n{cut}\n"), "0.0.4"));
        assert!(!ready_before_cut(&format!("{cut}\n{ready}\n"), "0.0.4"));
        assert!(!ready_before_cut(&format!("{cut}\n"), "0.0.4"));
    }
}
