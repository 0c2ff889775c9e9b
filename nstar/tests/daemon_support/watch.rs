//! An `nstar` that keeps printing (`logs -f`, `notifications`), read line by line as the
//! lines come: a thread per output stream feeds a channel.

use super::PATIENCE;
use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc::{self, Receiver, RecvTimeoutError},
    thread::JoinHandle,
    time::{Duration, Instant},
};

pub struct Watch {
    child: Child,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    /// Every line read so far, for failure messages.
    pub seen: Vec<String>,
}

impl Watch {
    pub fn spawn(mut cmd: Command) -> Watch {
        let mut child = cmd
            .env_remove("NSTAR_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run nstar");
        let stdout = child.stdout.take().expect("nstar's stdout");
        let mut stderr = child.stderr.take().expect("nstar's stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Watch {
            child,
            lines,
            stderr: Some(stderr),
            seen: Vec::new(),
        }
    }

    /// The next line if one comes within `within`; `None` also at the end of the output.
    pub fn line_within(&mut self, within: Duration) -> Option<String> {
        match self.lines.recv_timeout(within) {
            Ok(line) => {
                self.seen.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Read lines until one matches `f`; its value. Fails the test when the output ends
    /// or nothing matches within [`PATIENCE`].
    pub fn wait_for<T>(&mut self, mut f: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Some(value) = f(&line) {
                        return value;
                    }
                }
                Err(e) => panic!(
                    "no matching line ({e:?}); seen:\n{}\nstderr so far is shown at exit",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Wait until a line equals `text`.
    pub fn wait_line(&mut self, text: &str) {
        self.wait_for(|l| (l == text).then_some(()));
    }

    /// Wait for the command to end by itself: its status, the lines it printed that were
    /// not read yet, and its stderr.
    pub fn finish(mut self) -> (ExitStatus, Vec<String>, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for nstar") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "nstar did not end; seen:\n{}",
                self.seen.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let rest: Vec<String> = self.lines.iter().collect();
        let stderr = self
            .stderr
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        (status, rest, stderr)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // Only when the test ended it early (or failed): `finish` waits for it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
