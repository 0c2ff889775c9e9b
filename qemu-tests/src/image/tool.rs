//! Running a host tool (`mke2fs`, `e2fsck`, `debugfs`, …) under `timeout(1)`, with its
//! output captured.

use std::process::{Command, Output};
use std::time::Duration;

/// A host tool could not run or failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("cannot run {program} (scripts/setup.sh installs it)")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` did not finish within {timeout:?}")]
    Timeout { command: String, timeout: Duration },
    #[error("`{command}` failed ({status}):\n{output}")]
    Failed {
        command: String,
        status: std::process::ExitStatus,
        output: String,
    },
}

/// Runs `program args…` under `timeout --kill-after=5 <timeout>` and returns its output,
/// whatever its exit status (a time-out is an error).
pub(crate) fn output(program: &str, args: &[&str], timeout: Duration) -> Result<Output, ToolError> {
    let secs = timeout.as_secs().max(1).to_string();
    let output = Command::new("timeout")
        .args(["--kill-after=5", &secs, program])
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .map_err(|source| ToolError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    // timeout(1): 124 when the command timed out, 137 when it had to be killed; 125-127
    // when timeout itself or the program could not run.
    match output.status.code() {
        Some(124 | 137) => Err(ToolError::Timeout {
            command: command_line(program, args),
            timeout,
        }),
        Some(126 | 127) => Err(ToolError::Spawn {
            program: program.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            ),
        }),
        _ => Ok(output),
    }
}

/// [`output`], requiring exit status 0.
pub(crate) fn run(program: &str, args: &[&str], timeout: Duration) -> Result<Output, ToolError> {
    let output = output(program, args, timeout)?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(ToolError::Failed {
            command: command_line(program, args),
            status: output.status,
            output: text(&output),
        })
    }
}

/// stdout and stderr as text, the last 40 lines.
pub(crate) fn text(output: &Output) -> String {
    let mut all = String::from_utf8_lossy(&output.stdout).into_owned();
    all.push_str(&String::from_utf8_lossy(&output.stderr));
    crate::cargo::tail(&all, 40)
}

pub(crate) fn command_line(program: &str, args: &[&str]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_timeouts() {
        let t = Duration::from_secs(10);
        assert!(run("true", &[], t).is_ok());
        assert!(matches!(
            run("false", &[], t),
            Err(ToolError::Failed { .. })
        ));
        assert!(output("false", &[], t).is_ok());
        assert!(matches!(
            run("sleep", &["5"], Duration::from_secs(1)),
            Err(ToolError::Timeout { .. })
        ));
        assert!(matches!(
            run("no-such-program-here", &[], t),
            Err(ToolError::Spawn { .. })
        ));
    }
}
