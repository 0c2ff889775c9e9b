//! RAUC's GRUB variables: `ORDER="A B"`, `<x>_OK` and `<x>_TRY`.
//!
//! The GRUB script boots the first slot in `ORDER` with `OK=1` and `TRY=0`, setting its
//! `TRY=1` before booting: one try. A slot is good if it is in `ORDER` with `OK=1`, `TRY=0`.

use super::{order, Bootname, Error, Result, SlotStatus};
use crate::Env;

/// The boot order variable.
pub const ORDER: &str = "ORDER";

/// The `<x>_OK` variable of `slot`.
pub fn ok_variable(slot: &Bootname) -> String {
    format!("{slot}_OK")
}

/// The `<x>_TRY` variable of `slot`.
pub fn try_variable(slot: &Bootname) -> String {
    format!("{slot}_TRY")
}

/// A number as GRUB's script and RAUC read it: decimal or `0x` hex.
fn number(env: &Env, name: &str) -> Result<u64> {
    let value = env
        .get(name)
        .ok_or_else(|| Error::Missing(name.to_string()))?;
    let parsed = match value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => value.parse::<u64>(),
    };
    parsed.map_err(|_| Error::Invalid {
        name: name.to_string(),
        value: value.to_string(),
        expected: "a number",
    })
}

fn bootable(env: &Env, slot: &Bootname) -> Result<bool> {
    Ok(number(env, &ok_variable(slot))? == 1 && number(env, &try_variable(slot))? == 0)
}

fn grub_order(env: &Env) -> Result<&str> {
    env.get(ORDER)
        .ok_or_else(|| Error::Missing(ORDER.to_string()))
}

/// The first configured slot in `ORDER` with `OK=1` and `TRY=0`.
pub fn primary(env: &Env, slots: &[Bootname]) -> Result<Bootname> {
    let value = grub_order(env)?;
    for name in order(value) {
        let Some(slot) = slots.iter().find(|s| s.as_str() == name) else {
            continue;
        };
        if bootable(env, slot)? {
            return Ok(slot.clone());
        }
    }
    Err(Error::NoPrimary {
        variable: ORDER,
        order: value.to_string(),
    })
}

/// The state of each configured slot; GRUB keeps no attempts counter.
pub fn status(env: &Env, slots: &[Bootname]) -> Result<Vec<SlotStatus>> {
    let value = grub_order(env)?;
    let primary = primary(env, slots).ok();
    slots
        .iter()
        .map(|slot| {
            let listed = order(value).any(|name| name == slot.as_str());
            Ok(SlotStatus {
                bootname: slot.clone(),
                good: listed && bootable(env, slot)?,
                attempts_left: None,
                primary: primary.as_ref() == Some(slot),
            })
        })
        .collect()
}

/// Mark good: `OK=1`, `TRY=0`.
pub fn mark_good(env: &mut Env, slot: &Bootname) {
    env.set(ok_variable(slot), "1");
    env.set(try_variable(slot), "0");
}

/// Mark bad: `OK=0`, `TRY=0`; `ORDER` unchanged.
pub fn mark_bad(env: &mut Env, slot: &Bootname) {
    env.set(ok_variable(slot), "0");
    env.set(try_variable(slot), "0");
}

/// Mark active: `OK=1`, `TRY=0`, `ORDER` = the slot, then the other configured slots.
pub fn mark_active(env: &mut Env, slot: &Bootname, slots: &[Bootname]) {
    mark_good(env, slot);
    let mut new = vec![slot.as_str()];
    new.extend(
        slots
            .iter()
            .map(Bootname::as_str)
            .filter(|name| *name != slot.as_str()),
    );
    env.set(ORDER, new.join(" "));
}
