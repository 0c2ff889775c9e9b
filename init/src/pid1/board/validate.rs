//! The rules of the board configuration (`doc/boot.md`), checked after the command
//! line's overrides: the first broken one, as the key and a message.

use super::{Board, MAX_WAIT, MAX_WATCHDOG_TIMEOUT};
use runtime_core::config::units;
use std::{
    path::{Component, Path},
    time::Duration,
};

impl Board {
    /// The rules of `doc/boot.md`: the first broken one as (key, message).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let fail = |key: &str, message: String| Err((key.to_string(), message));
        if !valid_name(&self.name, 64, |c| {
            c.is_ascii_alphanumeric() || "._-".contains(c)
        }) {
            return fail(
                "name",
                format!(
                    "{:?} must be 1 to 64 characters of A-Z a-z 0-9 . _ -",
                    self.name
                ),
            );
        }
        let mut seen = Vec::new();
        for (i, module) in self.modules.iter().enumerate() {
            let key = format!("modules[{i}]");
            if !valid_name(module, 64, |c| {
                c.is_ascii_alphanumeric() || "_-".contains(c)
            }) {
                return fail(
                    &key,
                    format!("{module:?} must be 1 to 64 characters of A-Z a-z 0-9 _ -"),
                );
            }
            let canonical = module.replace('-', "_");
            if seen.contains(&canonical) {
                return fail(&key, format!("{module:?} is listed twice"));
            }
            seen.push(canonical);
        }
        super::slots::device("root.device", &self.root.device)?;
        absolute("root.descriptor", &self.root.descriptor)?;
        if let Some(signature) = &self.root.signature {
            absolute("root.signature", signature)?;
        }
        absolute("root.key", &self.root.key)?;
        wait("root.wait", self.root.wait)?;
        let given = [
            self.root.hash.is_some(),
            self.root.salt.is_some(),
            self.root.data_blocks.is_some(),
        ];
        if given.contains(&true) && given.contains(&false) {
            let keys = ["root.hash", "root.salt", "root.data_blocks"];
            let first = |want: bool| {
                keys.iter()
                    .zip(given)
                    .find(|(_, g)| *g == want)
                    .map_or("root.hash", |(k, _)| *k)
            };
            let (present, missing) = (first(true), first(false));
            return fail(
                present,
                format!(
                    "root.hash, root.salt and root.data_blocks go together: {missing} is missing"
                ),
            );
        }
        if let Some(hash) = &self.root.hash {
            hex64("root.hash", hash)?;
        }
        if let Some(salt) = &self.root.salt {
            hex64("root.salt", salt)?;
        }
        if self.root.data_blocks == Some(0) {
            return fail("root.data_blocks", "must be at least 1".to_string());
        }
        if let Some(data) = &self.data {
            super::slots::device("data.device", &data.device)?;
            if !valid_name(&data.fs, 32, |c| {
                c.is_ascii_lowercase() || c.is_ascii_digit()
            }) {
                return fail(
                    "data.fs",
                    format!(
                        "{:?} must be a file system type (a-z 0-9, e.g. \"ext4\")",
                        data.fs
                    ),
                );
            }
            wait("data.wait", data.wait)?;
        }
        if let Some(watchdog) = &self.watchdog {
            absolute("watchdog.device", &watchdog.device)?;
            let t = watchdog.timeout;
            if t.subsec_nanos() != 0 || t < Duration::from_secs(1) || t > MAX_WATCHDOG_TIMEOUT {
                return fail(
                    "watchdog.timeout",
                    format!(
                        "{} must be whole seconds from 1s to 1h",
                        units::format_duration(&t)
                    ),
                );
            }
        }
        if let Some(channel) = &self.channel {
            match (&channel.port, &channel.device) {
                (Some(port), None) => {
                    if !valid_name(port, 64, |c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
                        return fail(
                            "channel.port",
                            format!("{port:?} must be 1 to 64 characters of A-Z a-z 0-9 . _ -"),
                        );
                    }
                }
                (None, Some(device)) => {
                    absolute("channel.device", device)?;
                    if let Err(e) = northstar_channel::serial::baud_rate(channel.baud) {
                        return fail("channel.baud", e.to_string());
                    }
                }
                _ => {
                    return fail(
                        "channel",
                        "needs exactly one of port (a virtio port) and device (a serial line)"
                            .to_string(),
                    )
                }
            }
            wait("channel.wait", channel.wait)?;
        }
        absolute("runtime.config", &self.runtime.config)?;
        if let Some(slots) = &self.slots {
            super::slots::validate(slots)?;
        }
        Ok(())
    }
}

fn valid_name(s: &str, max: usize, ok: impl Fn(char) -> bool) -> bool {
    !s.is_empty() && s.len() <= max && s.chars().all(ok)
}

pub(super) fn absolute(key: &str, path: &Path) -> Result<(), (String, String)> {
    if path.is_absolute() && !path.components().any(|c| c == Component::ParentDir) {
        Ok(())
    } else {
        Err((
            key.to_string(),
            format!("{:?} must be an absolute path without \"..\"", path),
        ))
    }
}

fn wait(key: &str, d: Duration) -> Result<(), (String, String)> {
    if d > MAX_WAIT {
        return Err((
            key.to_string(),
            format!("{} is longer than 10m", units::format_duration(&d)),
        ));
    }
    Ok(())
}

fn hex64(key: &str, s: &str) -> Result<(), (String, String)> {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err((key.to_string(), format!("{s:?} is not 64 hex digits")))
    }
}
