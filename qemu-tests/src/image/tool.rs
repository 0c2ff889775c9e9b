//! Running a host tool (`mke2fs`, `e2fsck`, `debugfs`, …) under `timeout(1)`, with its
//! output captured.

use std::io::Write;
use std::process::{Command, Output, Stdio};
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
    output_with_input(program, args, None, timeout)
}

/// [`output`] with `input` written to the tool's stdin (else stdin is empty).
fn output_with_input(
    program: &str,
    args: &[&str],
    input: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output, ToolError> {
    let secs = timeout.as_secs().max(1).to_string();
    let spawn_error = |source| ToolError::Spawn {
        program: program.to_owned(),
        source,
    };
    let mut child = Command::new("timeout")
        .args(["--kill-after=5", &secs, program])
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A tool that exits without reading all of it shows that in its status.
        let _ = stdin.write_all(input.unwrap_or_default());
    }
    let output = child.wait_with_output().map_err(spawn_error)?;
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

/// [`run`] with `input` written to the tool's stdin.
pub(crate) fn run_with_input(
    program: &str,
    args: &[&str],
    input: &[u8],
    timeout: Duration,
) -> Result<Output, ToolError> {
    let output = output_with_input(program, args, Some(input), timeout)?;
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
        let echoed = run_with_input("cat", &[], b"to stdin", t).unwrap();
        assert_eq!(echoed.stdout, b"to stdin");
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
