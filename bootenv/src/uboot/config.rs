//! `fw_env.config`: `<device> <offset> <size> [<sector size> [<sectors>]]` per copy.

use std::path::PathBuf;

use super::{Config, Error, Location, Result};

/// Parses an `fw_env.config` text: the first entry is the primary copy, an optional second
/// one the redundant copy. `#` starts a comment; numbers are decimal or `0x` hex. The
/// sector columns only matter for MTD devices (unsupported) and are checked but ignored.
pub fn parse_fw_env_config(text: &str) -> Result<Config> {
    let mut locations = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split('#').next().unwrap_or_default().trim();
        if content.is_empty() {
            continue;
        }
        let fields: Vec<&str> = content.split_whitespace().collect();
        if !(3..=5).contains(&fields.len()) {
            return Err(Error::Config {
                line,
                reason: format!(
                    "expected '<device> <offset> <size>', found {} fields",
                    fields.len()
                ),
            });
        }
        let offset = number(fields[1], line, "offset")?;
        let size = number(fields[2], line, "size")?;
        for field in &fields[3..] {
            number(field, line, "sector field")?;
        }
        let size = usize::try_from(size).map_err(|_| Error::Config {
            line,
            reason: format!("size {size} too large"),
        })?;
        if locations.len() == 2 {
            return Err(Error::ConfigShape("more than two environment copies"));
        }
        locations.push(Location {
            path: PathBuf::from(fields[0]),
            offset,
            size,
        });
    }
    let mut locations = locations.into_iter();
    let primary = locations
        .next()
        .ok_or(Error::ConfigShape("no environment copy configured"))?;
    let redundant = locations.next();
    if let Some(redundant) = &redundant {
        if redundant.size != primary.size {
            return Err(Error::ConfigShape(
                "both copies of a redundant environment must have the same size",
            ));
        }
    }
    Ok(Config { primary, redundant })
}

fn number(field: &str, line: usize, what: &str) -> Result<u64> {
    let parsed = match field
        .strip_prefix("0x")
        .or_else(|| field.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => field.parse::<u64>(),
    };
    parsed.map_err(|_| Error::Config {
        line,
        reason: format!("{what} {field:?} is not a decimal or 0x-hex number"),
    })
}
