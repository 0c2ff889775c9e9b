//! `demo --check`: the update transactions of the first boot, and what the second boot
//! must show of them. Every transaction is one `nstar update --json` through the proxy,
//! as a user runs it; its exit status says committed (0) or rolled back (5), its JSON
//! lines carry the transaction's notifications (the reason of a rollback), and `nstar
//! list --json` says which version of hello-world is active.
//!
//! 1. hello-world 0.0.1 → 0.0.2 (a new greeting), checked with `exited` (hello-world
//!    greets and exits): committed, 0.0.2 greets on the console and is the active version.
//! 2. 0.0.2 → 0.0.3 (an empty `NAME`: it exits with 1): rolled back, the reason names
//!    0.0.3 and its exit code, 0.0.2 is still the active version.
//! 3. After the reboot: 0.0.2 greets at boot (only active versions autostart) and is still
//!    the active version.

use std::time::{Duration, Instant};

use super::check::{after, CheckRun};
use super::images::{Update, UPDATED};
use super::Error;
use crate::boot::REPOSITORY;
use crate::qemu::{channel::Nstar, Qemu};

/// The health check of hello-world's updates: it greets and exits.
const HEALTH: &str = "exited";
/// The longest wait for it (the runtime's; `nstar` waits its `--timeout` longer).
const DEADLINE: &str = "20s";
/// `nstar`'s exit status of a transaction that rolled back.
const EXIT_ROLLED_BACK: i32 = 5;
/// How long the new version's greeting may take to show on the console.
const GREETING: Duration = Duration::from_secs(30);

/// One version of hello-world in `nstar list --json`.
#[derive(Debug, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    pub state: String,
    pub active: bool,
}

/// The versions of `name` in the output of `nstar list --json`.
pub fn versions(stdout: &str, name: &str) -> Result<Vec<Listed>, String> {
    let value: serde_json::Value =
        serde_json::from_str(stdout.trim()).map_err(|e| e.to_string())?;
    let containers = value["containers"]
        .as_array()
        .ok_or("no \"containers\" list")?;
    let prefix = format!("{name}:");
    let mut listed = Vec::new();
    for c in containers {
        let Some(id) = c["container"].as_str() else {
            return Err(format!("a container without \"container\": {c}"));
        };
        if !id.starts_with(&prefix) {
            continue;
        }
        listed.push(Listed {
            id: id.to_owned(),
            state: c["state"].as_str().unwrap_or_default().to_owned(),
            // Absent when false.
            active: c["active"].as_bool().unwrap_or(false),
        });
    }
    Ok(listed)
}

/// The update transactions of the first boot, in order; then `nstar list` as a user
/// sees it.
pub(super) fn first_boot(
    qemu: &Qemu,
    nstar: &Nstar,
    updates: &[Update],
    run: &mut CheckRun,
) -> Result<(), Error> {
    let mut active = None;
    for update in updates {
        let npk = update.npk.display().to_string();
        let args = [
            "update",
            &npk,
            REPOSITORY,
            "--health",
            HEALTH,
            "--deadline",
            DEADLINE,
            "--json",
        ];
        let output = nstar.output(&args)?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let what = format!("nstar update {} (--health {HEALTH})", update.id);
        let rolled_back = rollback_reason(&stdout);
        match (update.healthy, output.status.code(), &rolled_back) {
            (true, Some(0), None) => {
                let greeting = format!("{}: Hello, ", update.id);
                let line = qemu.seen_until(&greeting, Instant::now() + GREETING)?;
                run.seen(
                    what,
                    format!("committed; {}", after(&line, &format!("{}: ", update.id))),
                );
                active = Some(update.id.clone());
            }
            (false, Some(EXIT_ROLLED_BACK), Some(reason)) => {
                run.seen(what, format!("rolled back: {reason}"));
                let code = "exit code 1";
                if !reason.contains(&update.id) || !reason.contains(code) {
                    run.problems.push(format!(
                        "{}: the reason of the rollback does not name it and its {code}: \
                         {reason:?}",
                        update.id
                    ));
                }
            }
            (healthy, code, _) => {
                run.seen(what, format!("exit status {code:?}"));
                run.problems.push(format!(
                    "nstar update {}: exit status {code:?}, expected {} ({}):\n{stdout}{}",
                    update.id,
                    if healthy { 0 } else { EXIT_ROLLED_BACK },
                    if healthy {
                        "committed"
                    } else {
                        "rolled back, with its reason"
                    },
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
        }
        if let Some(active) = &active {
            only_active(nstar, active, &format!("after {}", update.id), run)?;
        }
    }
    let table = nstar.run(&["list"])?;
    // The header, then hello-world's rows.
    let rows: Vec<&str> = table
        .lines()
        .enumerate()
        .filter(|(i, l)| *i == 0 || l.contains(&format!("{UPDATED}:")))
        .map(|(_, l)| l.trim())
        .collect();
    run.seen(format!("nstar list: {UPDATED}"), rows.join(" | "));
    Ok(())
}

/// After the reboot: the committed version greets at boot and is the active one.
pub(super) fn second_boot(
    qemu: &Qemu,
    nstar: &Nstar,
    updates: &[Update],
    deadline: Instant,
    run: &mut CheckRun,
) -> Result<(), Error> {
    let Some(committed) = updates.iter().rev().find(|u| u.healthy) else {
        return Ok(());
    };
    let line = qemu.seen_until(&format!("{}: Hello, ", committed.id), deadline)?;
    run.seen(
        format!("{} after the reboot", committed.id),
        after(&line, &format!("{}: ", committed.id)),
    );
    only_active(nstar, &committed.id, "after the reboot", run)
}

/// `nstar list --json` shows `id` as the only active version of hello-world.
fn only_active(nstar: &Nstar, id: &str, when: &str, run: &mut CheckRun) -> Result<(), Error> {
    let args = ["list", "--json"];
    let stdout = nstar.run(&args)?;
    let listed =
        versions(&stdout, UPDATED).map_err(|reason| crate::qemu::channel::Error::Json {
            args: args.join(" "),
            reason,
            stdout: stdout.clone(),
        })?;
    let active: Vec<&str> = listed
        .iter()
        .filter(|l| l.active)
        .map(|l| l.id.as_str())
        .collect();
    run.seen(
        format!("{UPDATED} {when}: active"),
        format!("{} of {} installed", active.join(", "), listed.len()),
    );
    if active != [id] {
        run.problems.push(format!(
            "{UPDATED} {when}: the active versions are {active:?}, expected {id}"
        ));
    }
    Ok(())
}

/// The reason of the `rolled_back` notification among `nstar update --json`'s lines.
fn rollback_reason(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "rolled_back")
        .map(|v| v["reason"].as_str().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_versions_and_the_reason() {
        let list = r#"{"type":"containers","containers":[
            {"container":"hello-world:0.0.1","repository":"system","resource":false,"state":"exited","mounted":true,"restarts":0},
            {"container":"hello-world:0.0.2","repository":"system","resource":false,"state":"exited","mounted":true,"restarts":0,"active":true},
            {"container":"memeater:0.0.1","repository":"system","resource":false,"state":"exited","mounted":true,"restarts":0,"active":true}]}"#;
        let listed = versions(list, "hello-world").unwrap();
        assert_eq!(listed.len(), 2);
        assert!(!listed[0].active && listed[1].active);
        assert_eq!(listed[1].id, "hello-world:0.0.2");
        assert!(versions("{}", "hello-world").is_err());
        let update = "{\"type\":\"update_started\",\"containers\":[\"hello-world:0.0.3\"]}\n\
                      {\"type\":\"rolled_back\",\"containers\":[\"hello-world:0.0.3\"],\
                      \"reason\":\"hello-world:0.0.3: ended with exit code 1\"}\n";
        assert_eq!(
            rollback_reason(update).as_deref(),
            Some("hello-world:0.0.3: ended with exit code 1")
        );
        assert_eq!(rollback_reason("{\"type\":\"committed\"}"), None);
    }
}
