//! `update`: update transactions through the management channel (the client library on
//! QEMU's socket, `channel://`), and power cuts in the middle of them: the runtime aborts
//! at a point of the transaction (`northstar.test.update_cut=<point>` on the kernel
//! command line, test build), PID 1 dies with it, the kernel panics and restarts, and
//! `-no-reboot` makes that QEMU's exit. Four boots of the same disks; every boot checks,
//! through `list`, that exactly one version of `app` runs and is the active one.
//!
//! 1. `app` 0.0.1 runs. The update to 0.0.2 (`running` check) commits; the update to
//!    0.0.3 (it exits with 1) rolls back with a reason naming it, and 0.0.2 runs again.
//!    A reboot through the API ends the machine in order.
//! 2. 0.0.2 runs (the commit survived the reboot). With the cut at `starting`: the update
//!    to 0.0.4 persists its step, has stopped 0.0.2, and the power goes (before the
//!    commit).
//! 3. 0.0.2 runs (the runtime rolled the transaction back at its start). With the cut at
//!    `committed`: the update to 0.0.5 commits, and the power goes right after.
//! 4. 0.0.5 runs. A shutdown through the API powers the machine off.
//! 5. On the host: `e2fsck -fn` of the data image is clean.
//!
//! The boots, the updates and the checks every boot makes are [`super::transaction`]'s,
//! shared with `update-cuts`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use northstar_client::api::{Health, UpdateOptions};
use northstar_client::Client;

use super::images::Images;
use super::transaction::{self as tx, Machine, Refused, Version, APP};
use super::{drive, Error, Options, Outcome, Scenario, Shared};
use crate::boot;
use crate::qemu::Qemu;

/// The `running` check's window, and the deadline of every check.
const WINDOW: Duration = Duration::from_secs(2);
const DEADLINE: Duration = Duration::from_secs(30);

const GOOD: &[&str] = &["print:1,ready", "sleep-forever"];
/// 0.0.2 commits, 0.0.3 exits with 1 and rolls back, 0.0.4 is cut at `starting`, 0.0.5
/// at `committed`.
const VERSIONS: [Version; 4] = [
    Version {
        version: "0.0.2",
        args: GOOD,
    },
    Version {
        version: "0.0.3",
        args: &["print:1,ready", "exit:1"],
    },
    Version {
        version: "0.0.4",
        args: GOOD,
    },
    Version {
        version: "0.0.5",
        args: GOOD,
    },
];

/// The cuts of boots 2 and 3.
pub const CUT_BEFORE_COMMIT: &str = "starting";
pub const CUT_AFTER_COMMIT: &str = "committed";

/// How a boot ends.
enum End {
    Reboot,
    /// The runtime aborts at this point of the update to the package.
    Cut(&'static str, usize),
    Shutdown,
}

pub(super) fn run(
    shared: &Shared,
    images: &Images,
    dir: &Path,
    options: &Options,
) -> Result<Outcome, Error> {
    let packages = tx::pack(shared, images, dir, &VERSIONS, false)?;
    let machine = Machine {
        shared,
        scenario: Scenario::Update,
        images,
        dir,
        options,
    };
    let mut outcome = tx::outcome(Scenario::Update, dir);
    let boots: [(&str, End); 4] = [
        ("0.0.1", End::Reboot),
        ("0.0.2", End::Cut(CUT_BEFORE_COMMIT, 2)),
        ("0.0.2", End::Cut(CUT_AFTER_COMMIT, 3)),
        ("0.0.5", End::Shutdown),
    ];
    for (i, (running, end)) in boots.into_iter().enumerate() {
        let cut = match end {
            End::Cut(point, _) => Some(point),
            _ => None,
        };
        let act = |qemu: &mut Qemu,
                   client: &mut Client,
                   notes: &mut Vec<String>,
                   problems: &mut Vec<String>| {
            act(&packages, options, qemu, client, &end, notes, problems)
        };
        if tx::boot(&machine, i + 1, running, cut, &mut outcome, act)?.is_none() {
            return Ok(outcome);
        }
    }
    tx::fsck(images, &mut outcome)?;
    Ok(outcome)
}

/// Every update of the scenario: checked with `running`.
fn checked() -> UpdateOptions {
    UpdateOptions {
        health: Some(Health::Running),
        window_ms: Some(tx::ms(WINDOW)),
        deadline_ms: Some(tx::ms(DEADLINE)),
        ..UpdateOptions::default()
    }
}

/// What the boot does after its first `list`, and its end.
fn act(
    packages: &[PathBuf],
    options: &Options,
    qemu: &mut Qemu,
    client: &mut Client,
    end: &End,
    notes: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> Result<(), Error> {
    let exit_timeout = options.exit_timeout;
    match *end {
        End::Reboot => {
            let ready = tx::ready_line("0.0.2");
            match tx::update(client, &packages[0], checked()) {
                Ok(ids) => notes.push(format!("update to 0.0.2: committed {ids}")),
                Err(e) => problems.push(format!("update to 0.0.2: {e}")),
            }
            // Its first `ready`: it ran through the check's window.
            qemu.expect(&ready, DEADLINE)?;
            tx::one_running(client, "0.0.2", "after the commit", notes, problems)?;
            match tx::update(client, &packages[1], checked()) {
                Err(Refused::RolledBack(reason)) => {
                    notes.push(format!("update to 0.0.3: rolled back: {reason}"));
                    let id = format!("{APP}:0.0.3");
                    if !reason.contains(&id) || !reason.contains("exit code 1") {
                        problems.push(format!(
                            "update to 0.0.3: the reason does not name {id} and its exit \
                             code 1: {reason:?}"
                        ));
                    }
                }
                other => problems.push(format!("update to 0.0.3: {other:?}, expected a rollback")),
            }
            // The answer comes once the version before is started again; its second
            // `ready` says its program runs.
            qemu.expect(&ready, DEADLINE)?;
            tx::one_running(client, "0.0.2", "after the rollback", notes, problems)?;
            client.reboot().map_err(tx::client_error("reboot"))?;
            qemu.expect(boot::RESTARTING, exit_timeout)?;
            tx::exited_with_0(qemu, exit_timeout, "the reboot", problems)?;
        }
        End::Cut(point, package) => {
            let cut = tx::Cut {
                npk: &packages[package],
                version: VERSIONS[package].version,
                point,
                options: checked(),
            };
            tx::cut(qemu, client, cut, exit_timeout, notes, problems)?;
        }
        End::Shutdown => {
            client.shutdown().map_err(tx::client_error("shutdown"))?;
            qemu.expect(drive::POWER_DOWN, exit_timeout)?;
            tx::exited_with_0(qemu, exit_timeout, "the power-off", problems)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_versions_climb_and_one_fails() {
        assert!(tx::climbing(&VERSIONS));
        let failing: Vec<&str> = VERSIONS
            .iter()
            .filter(|v| {
                v.args
                    .iter()
                    .any(|a| a.starts_with("exit:") && *a != "exit:0")
            })
            .map(|v| v.version)
            .collect();
        assert_eq!(failing, ["0.0.3"]);
    }
}
