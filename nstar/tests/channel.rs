//! `nstar channel` and `nstar -u channel://` against a guest's end of the link (the
//! channel crate's, relaying to the client library's fake runtime) behind a stand-in of
//! QEMU's chardev socket.

use northstar_client::testing::{runtime, FakeServer};
use std::{
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

fn nstar(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nstar"))
        .args(["-u", url, "--timeout", "20s"])
        .args(args)
        .env_remove("NSTAR_URL")
        .output()
        .expect("cannot run nstar")
}

fn listed(output: &Output) -> bool {
    output.status.success() && String::from_utf8_lossy(&output.stdout).contains(runtime::HELLO)
}

/// A guest relaying to a fake runtime, behind `<dir>/chardev.sock`.
fn guest(dir: &Path) -> (FakeServer, std::path::PathBuf) {
    let server = FakeServer::runtime().unwrap();
    let chardev = dir.join("chardev.sock");
    let refusal = Box::new(|_: &std::io::Error| Vec::new());
    northstar_channel::testing::guest_behind_chardev(server.path(), &chardev, refusal).unwrap();
    (server, chardev)
}

/// `nstar channel <chardev> --listen <socket>`, once it listens.
fn proxy(chardev: &Path, socket: &Path) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nstar"))
        .arg("channel")
        .arg(chardev)
        .arg("--listen")
        .arg(socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    // Listening: a connection is accepted (a stale socket file refuses it).
    while std::os::unix::net::UnixStream::connect(socket).is_err() {
        assert!(Instant::now() < deadline, "the proxy does not listen");
        assert!(child.try_wait().unwrap().is_none(), "the proxy ended");
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

#[test]
fn one_command_speaks_the_link_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, chardev) = guest(dir.path());
    let url = format!("channel://{}", chardev.display());
    for _ in 0..5 {
        let out = nstar(&url, &["list"]);
        assert!(listed(&out), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn the_proxy_serves_clients_one_after_another_and_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, chardev) = guest(dir.path());
    let socket = dir.path().join("api.sock");
    let mut child = proxy(&chardev, &socket);
    let url = format!("unix://{}", socket.display());
    for _ in 0..20 {
        let out = nstar(&url, &["list"]);
        assert!(listed(&out), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let at_once: Vec<_> = (0..8)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_nstar"))
                .args(["-u", &url, "--timeout", "20s", "list"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in at_once {
        let out = c.wait_with_output().unwrap();
        assert!(listed(&out), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // The socket is private, and a second proxy on it is refused.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let second = Command::new(env!("CARGO_BIN_EXE_nstar"))
        .arg("channel")
        .arg(&chardev)
        .arg("--listen")
        .arg(&socket)
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("listens on"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // A new proxy replaces the stale socket and serves the same guest.
    let mut child = proxy(&chardev, &socket);
    let out = nstar(&url, &["list"]);
    assert!(listed(&out), "{}", String::from_utf8_lossy(&out.stderr));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_bad_speed_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_nstar"))
        .args([
            "channel",
            "/dev/null",
            "--listen",
            "/tmp/unused.sock",
            "--baud",
            "1234",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1234 is not a speed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
