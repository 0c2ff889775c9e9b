//! RAUC's U-Boot variables: `BOOT_ORDER="A B"` and `BOOT_<x>_LEFT` (hex attempts).
//!
//! The boot script tries the slots in `BOOT_ORDER`, skips those with no attempts left and
//! decrements the counter of the one it boots. A slot is good if it is in `BOOT_ORDER` with
//! attempts left; the primary is the first such slot.

use super::{order, Bootname, Error, Result, SlotStatus};
use crate::Env;

/// The boot order variable.
pub const ORDER: &str = "BOOT_ORDER";

/// The attempts variable of `slot`.
pub fn left_variable(slot: &Bootname) -> String {
    format!("BOOT_{slot}_LEFT")
}

/// Attempts left of `slot`, `None` if the variable is unset.
pub fn attempts_left(env: &Env, slot: &Bootname) -> Result<Option<u32>> {
    let name = left_variable(slot);
    let Some(value) = env.get(&name) else {
        return Ok(None);
    };
    let digits = value
        .trim_start()
        .strip_prefix("0x")
        .or_else(|| value.trim_start().strip_prefix("0X"))
        .unwrap_or(value.trim_start());
    u32::from_str_radix(digits, 16)
        .map(Some)
        .map_err(|_| Error::Invalid {
            name,
            value: value.to_string(),
            expected: "a hex number of attempts",
        })
}

fn required_left(env: &Env, slot: &Bootname) -> Result<u32> {
    attempts_left(env, slot)?.ok_or_else(|| Error::Missing(left_variable(slot)))
}

fn boot_order(env: &Env) -> Result<&str> {
    env.get(ORDER)
        .ok_or_else(|| Error::Missing(ORDER.to_string()))
}

/// The first slot in `BOOT_ORDER` that is configured and has attempts left.
pub fn primary(env: &Env, slots: &[Bootname]) -> Result<Bootname> {
    let value = boot_order(env)?;
    for name in order(value) {
        let Some(slot) = slots.iter().find(|s| s.as_str() == name) else {
            continue;
        };
        if required_left(env, slot)? > 0 {
            return Ok(slot.clone());
        }
    }
    Err(Error::NoPrimary {
        variable: ORDER,
        order: value.to_string(),
    })
}

/// The state of each configured slot.
pub fn status(env: &Env, slots: &[Bootname]) -> Result<Vec<SlotStatus>> {
    let value = boot_order(env)?;
    let primary = primary(env, slots).ok();
    slots
        .iter()
        .map(|slot| {
            let listed = order(value).any(|name| name == slot.as_str());
            let left = if listed {
                Some(required_left(env, slot)?)
            } else {
                attempts_left(env, slot)?
            };
            Ok(SlotStatus {
                bootname: slot.clone(),
                good: listed && left.is_some_and(|n| n > 0),
                attempts_left: left,
                primary: primary.as_ref() == Some(slot),
            })
        })
        .collect()
}

/// Mark good: the attempts counter back to `attempts`; `BOOT_ORDER` unchanged.
pub fn mark_good(env: &mut Env, slot: &Bootname, attempts: u32) {
    env.set(left_variable(slot), format!("{attempts:x}"));
}

/// Mark bad: removed from `BOOT_ORDER` (if set) and no attempts left.
pub fn mark_bad(env: &mut Env, slot: &Bootname) {
    if let Some(value) = env.get(ORDER) {
        let rest: Vec<&str> = order(value).filter(|name| *name != slot.as_str()).collect();
        let rest = rest.join(" ");
        env.set(ORDER, rest);
    }
    env.set(left_variable(slot), "0");
}

/// Mark active: first in `BOOT_ORDER` (the other configured slots follow when it was
/// unset) with `attempts` attempts.
pub fn mark_active(env: &mut Env, slot: &Bootname, slots: &[Bootname], attempts: u32) {
    let mut new = vec![slot.as_str()];
    match env.get(ORDER) {
        Some(value) => new.extend(order(value).filter(|name| *name != slot.as_str())),
        None => new.extend(
            slots
                .iter()
                .map(Bootname::as_str)
                .filter(|name| *name != slot.as_str()),
        ),
    }
    let new = new.join(" ");
    env.set(left_variable(slot), format!("{attempts:x}"));
    env.set(ORDER, new);
}
