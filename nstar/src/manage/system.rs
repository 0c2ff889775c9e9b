//! `nstar system status` and `nstar system mark-good|mark-bad|mark-active [SLOT]`: the A/B
//! system slots of the runtime's owner (protocol 1.4's `system_status` and
//! `system_mark`), as `rauc status` shows and marks them. The text is a few `key  value`
//! lines and a table of the slots; `--json` prints the `system` answer.
//! `nstar system install BUNDLE` uploads a bundle (`system_install`) with the progress bar
//! of `nstar install`, then prints the slot written and the table; `nstar system reboot`
//! is `nstar reboot`.

use super::{
    args::{SystemCommand, SystemInstallArgs},
    done,
    install::progress_bar,
    print,
    show::table,
};
use anyhow::Context;
use northstar_client::{
    api::{Response, SlotMark, SlotStatus, SystemInstalled, SystemStatus},
    package_sha256, Client,
};

/// Carry out a `system` subcommand.
pub fn run(client: &mut Client, command: &SystemCommand, json: bool) -> anyhow::Result<()> {
    let (mark, target) = match command {
        SystemCommand::Status => {
            let status = client.system_status()?;
            return print(json, &Response::System { status }, text(None));
        }
        SystemCommand::MarkGood(a) => (SlotMark::Good, &a.slot),
        SystemCommand::MarkBad(a) => (SlotMark::Bad, &a.slot),
        SystemCommand::MarkActive(a) => (SlotMark::Active, &a.slot),
        SystemCommand::Install(a) => return install(client, a, json),
        SystemCommand::Reboot => {
            client.reboot()?;
            return done(json, "the system is rebooting".into());
        }
    };
    let status = client
        .system_mark(mark, target.clone())
        .with_context(|| format!("mark-{mark} {target}"))?;
    let done = format!("marked slot {target} {mark}\n");
    print(json, &Response::System { status }, text(Some(done)))
}

/// `nstar system install`.
fn install(client: &mut Client, a: &SystemInstallArgs, json: bool) -> anyhow::Result<()> {
    let digest = a
        .check_digest
        .then(|| package_sha256(&a.bundle))
        .transpose()?;
    let bar = progress_bar(json, "installing");
    let result = client.system_install(&a.bundle, digest, &mut |sent, total| {
        bar.set_length(total);
        bar.set_position(sent);
    });
    bar.finish_and_clear();
    let installed = result.with_context(|| format!("install {}", a.bundle.display()))?;
    let response = Response::SystemInstalled {
        installed: Box::new(installed),
    };
    print(json, &response, |r| match r {
        Response::SystemInstalled { installed } => installed_text(installed),
        _ => String::new(),
    })
}

/// What a system install wrote, then the state of the slots.
pub fn installed_text(installed: &SystemInstalled) -> String {
    format!(
        "installed {} version {} into slot {} ({} bytes); slot {} is active from the next boot\n\n{}",
        installed.compatible,
        installed.version,
        installed.slot,
        installed.bytes,
        installed.slot,
        show(&installed.status)
    )
}

/// The text of a `system` answer, after `done`.
fn text(done: Option<String>) -> impl Fn(&Response) -> String {
    move |r| match r {
        Response::System { status } => format!("{}{}", done.as_deref().unwrap_or(""), show(status)),
        _ => String::new(),
    }
}

/// The status as text: the boot loader, the booted and the primary slot, then one row
/// per slot.
pub fn show(status: &SystemStatus) -> String {
    let primary = status.slots.iter().find(|s| s.primary).map(|s| &s.name);
    let dash = |v: Option<&String>| v.map_or_else(|| "-".to_string(), Clone::clone);
    let mut text = format!(
        "bootloader  {}\nbooted      {}\nprimary     {}\n",
        status.bootloader,
        dash(status.booted.as_ref()),
        dash(primary),
    );
    if status.slots.is_empty() {
        text.push_str("\nno A/B slots configured\n");
        return text;
    }
    let rows: Vec<Vec<String>> = status.slots.iter().map(row).collect();
    text.push('\n');
    text.push_str(&table(
        &[
            "SLOT",
            "ROOT",
            "BOOT",
            "BOOTED",
            "PRIMARY",
            "STATE",
            "ATTEMPTS LEFT",
        ],
        &rows,
    ));
    text
}

fn row(s: &SlotStatus) -> Vec<String> {
    let mark = |b: bool| if b { "*" } else { "" }.to_string();
    vec![
        s.name.clone(),
        s.root.clone(),
        s.boot.clone().unwrap_or_else(|| "-".into()),
        mark(s.booted),
        mark(s.primary),
        s.state.to_string(),
        s.attempts_left
            .map_or_else(|| "-".into(), |n| n.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use northstar_client::api::SlotState;

    fn slot(name: &str, booted: bool, primary: bool, state: SlotState) -> SlotStatus {
        SlotStatus {
            name: name.into(),
            root: format!("/dev/vd{name}"),
            boot: booted.then(|| "/dev/vda1".into()),
            booted,
            primary,
            state,
            attempts_left: (name != "C").then_some(if state == SlotState::Bad { 0 } else { 3 }),
        }
    }

    #[test]
    fn a_table_of_the_slots() {
        let status = SystemStatus {
            bootloader: "uboot".into(),
            booted: Some("A".into()),
            slots: vec![
                slot("A", true, false, SlotState::Good),
                slot("B", false, true, SlotState::Bad),
                slot("C", false, false, SlotState::Unknown),
            ],
        };
        assert_eq!(
            show(&status),
            "bootloader  uboot\n\
             booted      A\n\
             primary     B\n\
             \n\
             SLOT  ROOT      BOOT       BOOTED  PRIMARY  STATE    ATTEMPTS LEFT\n\
             A     /dev/vdA  /dev/vda1  *                good     3\n\
             B     /dev/vdB  -                  *        bad      0\n\
             C     /dev/vdC  -                           unknown  -\n"
        );
    }

    #[test]
    fn an_install_names_the_slot_and_version_then_the_table() {
        let installed = SystemInstalled {
            slot: "B".into(),
            version: "2.0.0".into(),
            compatible: "board".into(),
            bytes: 4096,
            status: SystemStatus {
                bootloader: "grub".into(),
                booted: Some("A".into()),
                slots: vec![],
            },
        };
        assert_eq!(
            installed_text(&installed),
            "installed board version 2.0.0 into slot B (4096 bytes); slot B is active from the next boot\n\n\
             bootloader  grub\nbooted      A\nprimary     -\n\nno A/B slots configured\n"
        );
    }

    #[test]
    fn no_slots_and_nothing_booted() {
        let status = SystemStatus {
            bootloader: "none".into(),
            booted: None,
            slots: vec![],
        };
        assert_eq!(
            show(&status),
            "bootloader  none\nbooted      -\nprimary     -\n\nno A/B slots configured\n"
        );
    }
}
