//! The A/B system slots (1.4), in RAUC's conventions: which slot booted, which one the
//! boot loader picks next, which are good, and the marks that change that
//! (`system_status`, `system_mark`). The server only carries these values: the owner of
//! the runtime (PID 1) reads and writes the boot loader's environment.

use crate::types::InvalidValue;
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// The A/B state of the system: the answer to `system_status` and `system_mark`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemStatus {
    /// The boot loader whose environment holds the selection: `uboot`, `grub`, or `none`
    /// (no A/B slots configured).
    pub bootloader: String,
    /// The slot this boot runs, as the boot loader named it; absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booted: Option<String>,
    /// Every configured slot, in the configuration's order.
    pub slots: Vec<SlotStatus>,
}

/// One A/B slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotStatus {
    /// The slot's name in the boot loader (its bootname: `A`, `B`).
    pub name: String,
    /// Its root file system device, as configured.
    pub root: String,
    /// Its boot partition or kernel device, as configured, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<String>,
    /// This boot runs from it.
    pub booted: bool,
    /// The boot loader picks it next.
    pub primary: bool,
    /// Whether the boot loader would still boot it.
    pub state: SlotState,
    /// Boot attempts left before the boot loader gives up on it (U-Boot); absent where
    /// the boot loader keeps no counter (GRUB: one try).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
}

/// What `system_install` wrote (1.4): the answer once the bundle is verified, its image
/// is in the slot, and that slot is marked active.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemInstalled {
    /// The slot written (its bootname: `A`, `B`).
    pub slot: String,
    /// The bundle's version (its manifest's `version`).
    pub version: String,
    /// The bundle's `compatible`, which matched the system's.
    pub compatible: String,
    /// Bytes written into the slot.
    pub bytes: u64,
    /// The A/B state after the slot was marked active.
    pub status: SystemStatus,
}

/// The boot state of a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    /// The boot loader would boot it.
    Good,
    /// The boot loader would not boot it (out of attempts, marked bad, not in the order).
    Bad,
    /// The environment says nothing readable about it.
    Unknown,
}

impl SlotState {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            SlotState::Good => "good",
            SlotState::Bad => "bad",
            SlotState::Unknown => "unknown",
        }
    }
}

impl fmt::Display for SlotState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What `system_mark` does to a slot, as `rauc status mark-…` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotMark {
    /// Bootable: its attempts are reset (U-Boot) or it is marked OK (GRUB).
    Good,
    /// Not bootable: no attempts left, not OK.
    Bad,
    /// Boot it next: first in the order, and good.
    Active,
}

impl SlotMark {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            SlotMark::Good => "good",
            SlotMark::Bad => "bad",
            SlotMark::Active => "active",
        }
    }
}

impl fmt::Display for SlotMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Longest slot name.
pub const MAX_SLOT_NAME: usize = 16;

/// The slot a `system_mark` is about; on the wire a string: `booted`, `other` (the one
/// slot that did not boot, with two slots) or a slot's name (1 to [`MAX_SLOT_NAME`]
/// characters of `A-Z a-z 0-9 _`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum SlotTarget {
    /// The slot this boot runs.
    Booted,
    /// The slot that did not boot.
    Other,
    /// A slot by its name.
    Named(String),
}

impl FromStr for SlotTarget {
    type Err = InvalidValue;
    fn from_str(text: &str) -> Result<SlotTarget, InvalidValue> {
        match text {
            "booted" => Ok(SlotTarget::Booted),
            "other" => Ok(SlotTarget::Other),
            _ if text.is_empty() || text.len() > MAX_SLOT_NAME => Err(InvalidValue::new(
                "slot",
                text,
                format!("expected booted, other or a name of 1 to {MAX_SLOT_NAME} characters"),
            )),
            _ if !text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
                Err(InvalidValue::new(
                    "slot",
                    text,
                    "a slot name has only the characters A-Z a-z 0-9 _",
                ))
            }
            _ => Ok(SlotTarget::Named(text.to_string())),
        }
    }
}

impl fmt::Display for SlotTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlotTarget::Booted => f.write_str("booted"),
            SlotTarget::Other => f.write_str("other"),
            SlotTarget::Named(name) => f.write_str(name),
        }
    }
}

impl From<SlotTarget> for String {
    fn from(target: SlotTarget) -> String {
        target.to_string()
    }
}

impl TryFrom<String> for SlotTarget {
    type Error = InvalidValue;
    fn try_from(text: String) -> Result<SlotTarget, InvalidValue> {
        text.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_slots() -> SystemStatus {
        SystemStatus {
            bootloader: "uboot".into(),
            booted: Some("A".into()),
            slots: vec![
                SlotStatus {
                    name: "A".into(),
                    root: "/dev/mmcblk0p2".into(),
                    boot: Some("/dev/mmcblk0p1".into()),
                    booted: true,
                    primary: true,
                    state: SlotState::Good,
                    attempts_left: Some(3),
                },
                SlotStatus {
                    name: "B".into(),
                    root: "/dev/mmcblk0p3".into(),
                    boot: None,
                    booted: false,
                    primary: false,
                    state: SlotState::Bad,
                    attempts_left: Some(0),
                },
            ],
        }
    }

    #[test]
    fn status_on_the_wire() {
        let status = two_slots();
        let json = serde_json::to_string(&status).unwrap();
        assert_eq!(
            json,
            r#"{"bootloader":"uboot","booted":"A","slots":[{"name":"A","root":"/dev/mmcblk0p2","boot":"/dev/mmcblk0p1","booted":true,"primary":true,"state":"good","attempts_left":3},{"name":"B","root":"/dev/mmcblk0p3","booted":false,"primary":false,"state":"bad","attempts_left":0}]}"#
        );
        assert_eq!(serde_json::from_str::<SystemStatus>(&json).unwrap(), status);
        let none = r#"{"bootloader":"none","slots":[]}"#;
        let none: SystemStatus = serde_json::from_str(none).unwrap();
        assert_eq!(none.booted, None);
        let extra = r#"{"bootloader":"grub","slots":[],"mounted":true}"#;
        assert!(serde_json::from_str::<SystemStatus>(extra).is_err());
        let state = r#"{"name":"A","root":"r","booted":true,"primary":true,"state":"fine"}"#;
        assert!(serde_json::from_str::<SlotStatus>(state).is_err());
    }

    #[test]
    fn targets_are_booted_other_or_a_name() {
        for (text, target) in [
            ("booted", SlotTarget::Booted),
            ("other", SlotTarget::Other),
            ("A", SlotTarget::Named("A".into())),
            ("rootfs_1", SlotTarget::Named("rootfs_1".into())),
            (
                "abcdefghijklmnop",
                SlotTarget::Named("abcdefghijklmnop".into()),
            ),
        ] {
            assert_eq!(text.parse::<SlotTarget>().unwrap(), target);
            let json = serde_json::to_string(&target).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<SlotTarget>(&json).unwrap(), target);
        }
        for bad in ["", "abcdefghijklmnopq", "rootfs.0", "a b", "A/", "Ä"] {
            let e = bad.parse::<SlotTarget>().unwrap_err();
            assert!(e.to_string().contains("slot"), "{bad:?}: {e}");
            assert!(serde_json::from_str::<SlotTarget>(&format!("{bad:?}")).is_err());
        }
    }

    #[test]
    fn installed_on_the_wire() {
        let installed = SystemInstalled {
            slot: "B".into(),
            version: "2.1.0".into(),
            compatible: "northstar-qemu".into(),
            bytes: 8192,
            status: SystemStatus {
                bootloader: "none".into(),
                booted: None,
                slots: vec![],
            },
        };
        let json = serde_json::to_string(&installed).unwrap();
        assert_eq!(
            json,
            r#"{"slot":"B","version":"2.1.0","compatible":"northstar-qemu","bytes":8192,"status":{"bootloader":"none","slots":[]}}"#
        );
        assert_eq!(
            serde_json::from_str::<SystemInstalled>(&json).unwrap(),
            installed
        );
        let no_status = r#"{"slot":"B","version":"1","compatible":"c","bytes":1}"#;
        assert!(serde_json::from_str::<SystemInstalled>(no_status).is_err());
        let extra = json.replacen("{", r#"{"rebooted":false,"#, 1);
        assert!(serde_json::from_str::<SystemInstalled>(&extra).is_err());
    }

    #[test]
    fn marks_and_states_are_snake_case() {
        for mark in [SlotMark::Good, SlotMark::Bad, SlotMark::Active] {
            let json = serde_json::to_string(&mark).unwrap();
            assert_eq!(json, format!("\"{mark}\""));
        }
        for state in [SlotState::Good, SlotState::Bad, SlotState::Unknown] {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{state}\""));
        }
        assert!(serde_json::from_str::<SlotMark>("\"Good\"").is_err());
    }
}
