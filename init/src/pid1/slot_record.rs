//! What the previous boot of an A/B system came to, kept on the data partition
//! (`northstar/slot-boot`): the slot it ran, whether it was marked good, and why it
//! failed when the init knew (a fatal error, a critical container). The next boot reads
//! it before writing its own: a boot that follows one that was not marked good says so
//! in its boot report, and names the slot the boot loader fell back from.
//!
//! The record is a few `key=value` lines, replaced atomically (a synced temporary file
//! renamed over it, then the directory synced): a power cut leaves the old record or the
//! new one. A boot cut by a reset, a watchdog or a power cut leaves `state=trying`.

use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

/// The record, under the data partition's mount point.
pub const RECORD: &str = "northstar/slot-boot";
/// Longest record read.
const MAX_SIZE: u64 = 4096;
/// Longest reason kept.
const MAX_REASON: usize = 600;

/// How a boot ended, as far as the init could tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Not marked good (yet): a boot that ends in this state never became healthy.
    Trying,
    /// Marked good.
    Good,
    /// The init gave up, for this reason.
    Failed(String),
    /// Another slot was made the boot loader's next choice (an update wrote it, or
    /// `mark-active`): the next boot should run it.
    Switched { to: String },
}

/// One boot's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub slot: String,
    pub state: State,
}

impl Record {
    fn render(&self) -> String {
        let (state, reason) = match &self.state {
            State::Trying => ("trying", None),
            State::Good => ("good", None),
            State::Failed(reason) => ("failed", Some(reason)),
            State::Switched { .. } => ("switched", None),
        };
        let mut text = format!("slot={}\nstate={state}\n", self.slot);
        if let State::Switched { to } = &self.state {
            text.push_str(&format!("to={to}\n"));
        }
        if let Some(reason) = reason {
            let one_line: String = reason
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(MAX_REASON)
                .collect();
            text.push_str(&format!("reason={one_line}\n"));
        }
        text
    }

    fn parse(text: &str) -> Option<Record> {
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        };
        let state = match value("state")? {
            "trying" => State::Trying,
            "good" => State::Good,
            "failed" => State::Failed(value("reason").unwrap_or_default().to_string()),
            "switched" => State::Switched {
                to: value("to")?.to_string(),
            },
            _ => return None,
        };
        Some(Record {
            slot: value("slot")?.to_string(),
            state,
        })
    }

    /// What the boot report says of this, the previous boot's record, when something
    /// went wrong; `booted` is the slot this boot runs.
    pub fn summary(&self, booted: &str) -> Option<String> {
        let slot = &self.slot;
        let fell_back = || format!("; the boot loader fell back from slot {slot} to {booted}");
        match &self.state {
            State::Good if slot == booted => None,
            State::Good => Some(format!(
                "the boot loader booted slot {booted} instead of {slot}, the last good one: \
                 the boots of slot {slot} failed before the data partition was mounted \
                 (its root refused, a kernel or boot-loader error)"
            )),
            State::Switched { to } if to == booted => None,
            State::Switched { to } => Some(format!(
                "slot {to}, made active by an update, did not boot as far as the data \
                 partition; the boot loader booted slot {booted}"
            )),
            State::Trying => Some(format!(
                "slot {slot} ended before it was marked good (a reboot, reset, watchdog or \
                 power cut){}",
                if slot == booted {
                    String::new()
                } else {
                    fell_back()
                }
            )),
            State::Failed(reason) => Some(format!(
                "slot {slot} failed: {reason}{}",
                if slot == booted {
                    String::new()
                } else {
                    fell_back()
                }
            )),
        }
    }
}

/// The record under `data`, if there is a readable one (a damaged record is treated as
/// none: it only informs).
pub fn read(data: &Path) -> io::Result<Option<Record>> {
    let path = data.join(RECORD);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let bytes = bytes.get(..MAX_SIZE as usize).unwrap_or(&bytes);
    Ok(Record::parse(&String::from_utf8_lossy(bytes)))
}

/// Replace the record under `data` with `record`, atomically.
pub fn write(data: &Path, record: &Record) -> io::Result<()> {
    replace(&data.join(RECORD), record.render().as_bytes())
}

/// Replace the file at `path` with `bytes`: a synced temporary file beside it renamed
/// over it, then the directory synced. A power cut leaves the old file or the new one.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".tmp");
    let tmp: PathBuf = dir.join(name);
    {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(slot: &str, state: State) -> Record {
        Record {
            slot: slot.to_string(),
            state,
        }
    }

    #[test]
    fn records_round_trip_and_replace_each_other() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("northstar")).unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        for r in [
            record("A", State::Trying),
            record("B", State::Good),
            record(
                "A",
                State::Failed("critical container app:1.0.0 failed: exit 1".into()),
            ),
        ] {
            write(dir.path(), &r).unwrap();
            assert_eq!(read(dir.path()).unwrap(), Some(r));
        }
        let names: Vec<_> = fs::read_dir(dir.path().join("northstar"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["slot-boot"]);
        // Line breaks in a reason do not forge keys.
        let forged = record("A", State::Failed("x\nstate=good\nslot=B".into()));
        write(dir.path(), &forged).unwrap();
        let back = read(dir.path()).unwrap().unwrap();
        assert_eq!(back.slot, "A");
        assert!(matches!(back.state, State::Failed(ref r) if r == "x state=good slot=B"));
        fs::write(dir.path().join(RECORD), "garbage").unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
    }

    #[test]
    fn the_report_names_the_failed_slot_and_the_fallback() {
        assert_eq!(record("A", State::Good).summary("A"), None);
        assert!(record("A", State::Good)
            .summary("B")
            .unwrap()
            .starts_with("the boot loader booted slot B instead of A, the last good one"));
        let switched = record("A", State::Switched { to: "B".into() });
        assert_eq!(switched.summary("B"), None);
        assert!(switched
            .summary("A")
            .unwrap()
            .starts_with("slot B, made active by an update, did not boot"));
        assert_eq!(
            record("A", State::Trying).summary("B").unwrap(),
            "slot A ended before it was marked good (a reboot, reset, watchdog or power \
             cut); the boot loader fell back from slot A to B"
        );
        assert_eq!(
            record("B", State::Failed("root: bad".into()))
                .summary("B")
                .unwrap(),
            "slot B failed: root: bad"
        );
    }
}
