//! Example container: counts how often it was started in a file of its persistent
//! directory (`/data`, the manifest's `persist` mount), which outlives the container and
//! reboots, and prints the count.
#![forbid(unsafe_code)]

use std::{fs, io::Write, path::Path, process::ExitCode};

const COUNTER: &str = "/data/starts";

fn main() -> ExitCode {
    match count(Path::new(COUNTER)) {
        Ok(n) => {
            println!("persistence: started {n} time(s); the count lives in {COUNTER}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("persistence: {COUNTER}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Read the count, add one and replace the file atomically (write, fsync, rename, fsync
/// the directory), so a power cut leaves the old or the new count.
fn count(path: &Path) -> std::io::Result<u64> {
    let previous = match fs::read_to_string(path) {
        Ok(text) => text.trim().parse::<u64>().unwrap_or(0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e),
    };
    let next = previous.saturating_add(1);
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp)?;
    writeln!(file, "{next}")?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_up_and_survives_garbage() {
        let dir = std::env::temp_dir().join(format!("persistence-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("starts");
        assert_eq!(count(&file).unwrap(), 1);
        assert_eq!(count(&file).unwrap(), 2);
        fs::write(&file, "garbage").unwrap();
        assert_eq!(count(&file).unwrap(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
