//! `northstar.<key>=<value>` on the kernel command line: one board key set by its dotted
//! name. Values are text and converted to the key's type here; an unknown key, a missing
//! or malformed value is an error naming the key as written on the command line. Rules
//! that involve the whole configuration are checked afterwards (`Board::validate`).
//!
//! Lists (`modules`) are comma-separated. The optional tables are removed with `off`
//! (`northstar.watchdog=off`, `northstar.data=off`, `northstar.channel=off`) and created
//! by setting their device or port (`northstar.watchdog.device=/dev/watchdog0`,
//! `northstar.channel.port=org.northstar.api`); their other keys can only be set once the
//! table exists.

use super::{Board, Error};
use crate::pid1::cmdline::{Param, PREFIX};
use runtime_core::config::units;
use std::path::PathBuf;

/// Every key the command line can set.
pub const KEYS: &[&str] = &[
    "name",
    "modules",
    "reaction",
    "log",
    "root.device",
    "root.descriptor",
    "root.signature",
    "root.key",
    "root.wait",
    "root.hash",
    "root.salt",
    "root.data_blocks",
    "data",
    "data.device",
    "data.fs",
    "data.wait",
    "watchdog",
    "watchdog.device",
    "watchdog.timeout",
    "channel",
    "channel.port",
    "channel.wait",
    "runtime.config",
];

/// Set one key of `board` from a command line parameter.
pub fn apply(board: &mut Board, param: &Param) -> Result<(), Error> {
    let key = param.key.as_str();
    let fail = |message: String| Error::Invalid {
        origin: "kernel command line".to_string(),
        key: format!("{PREFIX}{key}"),
        message,
    };
    let Some(value) = param.value.as_deref() else {
        return Err(fail("needs a value (key=value)".to_string()));
    };
    let path = || PathBuf::from(value);
    let duration = || units::parse_duration(value).map_err(|e| fail(e.to_string()));
    let absent = |table: &str| {
        fail(format!(
            "the board has no [{table}]: set {PREFIX}{table}.device first"
        ))
    };
    match key {
        "name" => board.name = value.to_string(),
        "modules" => {
            board.modules = value
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect()
        }
        "reaction" => board.reaction = value.parse().map_err(fail)?,
        "log" => board.log = value.parse().map_err(fail)?,
        "root.device" => board.root.device = path(),
        "root.descriptor" => board.root.descriptor = path(),
        "root.signature" => board.root.signature = Some(path()),
        "root.key" => board.root.key = path(),
        "root.wait" => board.root.wait = duration()?,
        "root.hash" => board.root.hash = Some(value.to_string()),
        "root.salt" => board.root.salt = Some(value.to_string()),
        "root.data_blocks" => {
            let blocks = value
                .parse()
                .map_err(|_| fail(format!("{value:?} is not a whole number")))?;
            board.root.data_blocks = Some(blocks);
        }
        "data" | "watchdog" | "channel" if value == "off" => match key {
            "data" => board.data = None,
            "watchdog" => board.watchdog = None,
            _ => board.channel = None,
        },
        "data" | "watchdog" | "channel" => {
            return Err(fail(format!(
                "{value:?}: only \"off\" can be given for the whole table"
            )))
        }
        "data.device" => match &mut board.data {
            Some(data) => data.device = path(),
            None => {
                board.data = Some(super::Data {
                    device: path(),
                    fs: super::default_fs(),
                    wait: super::default_wait(),
                })
            }
        },
        "data.fs" => match &mut board.data {
            Some(data) => data.fs = value.to_string(),
            None => return Err(absent("data")),
        },
        "data.wait" => match &mut board.data {
            Some(data) => data.wait = duration()?,
            None => return Err(absent("data")),
        },
        "watchdog.device" => match &mut board.watchdog {
            Some(watchdog) => watchdog.device = path(),
            None => {
                board.watchdog = Some(super::Watchdog {
                    device: path(),
                    timeout: super::default_watchdog_timeout(),
                })
            }
        },
        "watchdog.timeout" => match &mut board.watchdog {
            Some(watchdog) => watchdog.timeout = duration()?,
            None => return Err(absent("watchdog")),
        },
        "channel.port" => match &mut board.channel {
            Some(channel) => {
                channel.port = Some(value.to_string());
                channel.device = None;
            }
            None => {
                board.channel = Some(super::Channel {
                    port: Some(value.to_string()),
                    device: None,
                    baud: super::default_baud(),
                    wait: super::default_wait(),
                })
            }
        },
        "channel.wait" => match &mut board.channel {
            Some(channel) => channel.wait = duration()?,
            None => {
                return Err(fail(format!(
                    "the board has no [channel]: set {PREFIX}channel.port first"
                )))
            }
        },
        "runtime.config" => board.runtime.config = path(),
        _ => {
            return Err(fail(format!(
                "no such board key (known: {})",
                KEYS.join(", ")
            )))
        }
    }
    Ok(())
}
