//! What `ab-uboot` asks the init over the management channel (the client library on
//! QEMU's socket of the virtio-serial port, `channel://`): bundles the init must refuse,
//! each refusal checked by its reason (`system_failed`) and by the slots' state, the same
//! before and after it; and the install of the good bundle, checked by its answer and the
//! state after it.

use std::path::Path;

use northstar_client::api::{ApiError, SlotState, SystemStatus};
use northstar_client::Client;

use super::bundles::{self, Bundles};
use crate::scenario::Error;

/// Boot 2 (slot A): the bundle for another board and the tampered one, both refused
/// without a change to the slots' state.
pub(super) fn refusals(
    client: &mut Client,
    bundles: &Bundles,
    notes: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> Result<(), Error> {
    let before = status(client)?;
    notes.push(format!("status before: {}", summary(&before)));
    refused(
        client,
        &bundles.other_board,
        bundles::OTHER_BOARD,
        &before,
        notes,
        problems,
    )?;
    refused(
        client,
        &bundles.tampered,
        "the bundle is not trusted",
        &before,
        notes,
        problems,
    )
}

/// Boot 3 (slot A): the good bundle goes into slot B, which becomes primary.
pub(super) fn install(
    client: &mut Client,
    bundles: &Bundles,
    notes: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> Result<(), Error> {
    let installed = client
        .system_install(&bundles.good, None, &mut |_, _| {})
        .map_err(|source| Error::Client {
            what: "system_install of the good bundle",
            source,
        })?;
    notes.push(format!(
        "{}: installed into slot {} ({} bytes), version {}, compatible {}; status: {}",
        name(&bundles.good),
        installed.slot,
        installed.bytes,
        installed.version,
        installed.compatible,
        summary(&installed.status)
    ));
    if (
        installed.slot.as_str(),
        installed.version.as_str(),
        installed.compatible.as_str(),
    ) != ("B", bundles::VERSION, bundles::COMPATIBLE)
    {
        problems.push(format!(
            "the install answered slot {}, version {}, compatible {}; expected B, {}, {}",
            installed.slot,
            installed.version,
            installed.compatible,
            bundles::VERSION,
            bundles::COMPATIBLE
        ));
    }
    let after = status(client)?;
    for (what, status) in [
        ("the install's answer", &installed.status),
        ("system_status", &after),
    ] {
        if !switched_to_b(status) {
            problems.push(format!(
                "{what}: {}, expected A booted and B primary, good, 3 attempts",
                summary(status)
            ));
        }
    }
    Ok(())
}

/// Boot 4 (slot B, version [`bundles::VERSION`] recorded): the older bundle is refused
/// as a downgrade without a change to the slots' state.
pub(super) fn downgrade(
    client: &mut Client,
    bundles: &Bundles,
    notes: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> Result<(), Error> {
    let before = status(client)?;
    notes.push(format!("status before: {}", summary(&before)));
    if before.booted.as_deref() != Some("B") {
        problems.push(format!("status: {}, expected B booted", summary(&before)));
    }
    refused(
        client,
        &bundles.older,
        "a downgrade is refused",
        &before,
        notes,
        problems,
    )
}

/// Boot 8 (slot A, after B ran out of attempts): A booted and primary, B bad with no
/// attempt left.
pub(super) fn fell_back(
    client: &mut Client,
    notes: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> Result<(), Error> {
    let status = status(client)?;
    notes.push(format!("status: {}", summary(&status)));
    if !fallen_back_to_a(&status) {
        problems.push(format!(
            "status: {}, expected A booted, primary and good, B bad with 0 attempts",
            summary(&status)
        ));
    }
    Ok(())
}

/// `bundle` is refused with a reason containing `reason`, and the slots' state after is
/// `before`.
fn refused(
    client: &mut Client,
    bundle: &Path,
    reason: &str,
    before: &SystemStatus,
    notes: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> Result<(), Error> {
    let bundle_name = name(bundle);
    match client.system_install(bundle, None, &mut |_, _| {}) {
        Ok(installed) => problems.push(format!(
            "{bundle_name}: installed into slot {} (version {}), expected a refusal",
            installed.slot, installed.version
        )),
        Err(e) => match e.api_error() {
            Some(ApiError::SystemFailed { reason: given }) => {
                notes.push(format!("{bundle_name}: refused: {given}"));
                if !given.contains(reason) {
                    problems.push(format!(
                        "{bundle_name}: refused for {given:?}, expected a reason naming {reason:?}"
                    ));
                }
            }
            _ => {
                return Err(Error::Client {
                    what: "system_install of a bundle to refuse",
                    source: e,
                })
            }
        },
    }
    let after = status(client)?;
    if &after != before {
        problems.push(format!(
            "{bundle_name}: the slots changed: {} before, {} after",
            summary(before),
            summary(&after)
        ));
    }
    Ok(())
}

fn status(client: &mut Client) -> Result<SystemStatus, Error> {
    client.system_status().map_err(|source| Error::Client {
        what: "system_status",
        source,
    })
}

/// A booted, B primary and good with fresh attempts.
fn switched_to_b(status: &SystemStatus) -> bool {
    let slot = |name: &str| status.slots.iter().find(|s| s.name == name);
    let (Some(a), Some(b)) = (slot("A"), slot("B")) else {
        return false;
    };
    status.booted.as_deref() == Some("A")
        && a.booted
        && !a.primary
        && b.primary
        && b.state == SlotState::Good
        && b.attempts_left == Some(3)
}

/// A booted, primary and good; B bad without attempts.
fn fallen_back_to_a(status: &SystemStatus) -> bool {
    let slot = |name: &str| status.slots.iter().find(|s| s.name == name);
    let (Some(a), Some(b)) = (slot("A"), slot("B")) else {
        return false;
    };
    status.booted.as_deref() == Some("A")
        && a.booted
        && a.primary
        && a.state == SlotState::Good
        && !b.primary
        && b.state == SlotState::Bad
        && b.attempts_left == Some(0)
}

/// `booted A; A primary good 3 left; B good 3 left`.
fn summary(status: &SystemStatus) -> String {
    let slots: Vec<String> = status
        .slots
        .iter()
        .map(|s| {
            format!(
                "{}{} {}{}",
                s.name,
                if s.primary { " primary" } else { "" },
                s.state.name(),
                s.attempts_left
                    .map_or(String::new(), |n| format!(" {n} left"))
            )
        })
        .collect();
    format!(
        "booted {}; {}",
        status.booted.as_deref().unwrap_or("-"),
        slots.join("; ")
    )
}

fn name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use northstar_client::api::SlotStatus;

    fn slot(name: &str, booted: bool, primary: bool, left: u32) -> SlotStatus {
        SlotStatus {
            name: name.into(),
            root: format!("PARTLABEL=rootfs_{}", name.to_lowercase()),
            boot: None,
            booted,
            primary,
            state: SlotState::Good,
            attempts_left: Some(left),
        }
    }

    #[test]
    fn the_switch_to_b_is_recognised() {
        let mut status = SystemStatus {
            bootloader: "uboot".into(),
            booted: Some("A".into()),
            slots: vec![slot("A", true, false, 3), slot("B", false, true, 3)],
        };
        assert!(switched_to_b(&status));
        assert_eq!(
            summary(&status),
            "booted A; A good 3 left; B primary good 3 left"
        );
        status.slots[1].attempts_left = Some(2);
        assert!(!switched_to_b(&status));
        status.slots[1].attempts_left = Some(3);
        status.slots[1].state = SlotState::Bad;
        assert!(!switched_to_b(&status));
        status.slots.swap(0, 1);
        status.slots[0].state = SlotState::Good;
        assert!(switched_to_b(&status));
        status.booted = Some("B".into());
        assert!(!switched_to_b(&status));
    }

    #[test]
    fn the_fall_back_to_a_is_recognised() {
        let mut status = SystemStatus {
            bootloader: "uboot".into(),
            booted: Some("A".into()),
            slots: vec![slot("A", true, true, 3), slot("B", false, false, 0)],
        };
        assert!(!fallen_back_to_a(&status), "B is still good");
        status.slots[1].state = SlotState::Bad;
        assert!(fallen_back_to_a(&status));
        status.slots[0].primary = false;
        assert!(!fallen_back_to_a(&status));
    }
}
