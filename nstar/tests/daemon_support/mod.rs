//! The real host daemon for `nstar`'s end-to-end tests: a temporary directory with keys
//! (made by `nstar keygen`), an unverified repository `dev` and a keyed one `signed`,
//! packages of the test container (packed by `nstar pack`), a configuration with an
//! `[api]` socket, and the `northstar` binary running on it as a child process.
//!
//! Each [`World`] has its own directory, socket and cgroup name, so tests run in
//! parallel. Waits are bounded by [`PATIENCE`], a guard against hangs, never a timing
//! assertion.
#![allow(dead_code)]

pub mod build;
mod watch;

pub use watch::Watch;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

/// Longest wait for anything: the daemon's socket, a line, an exit.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Temporary directories, keys and repositories, before the daemon runs.
pub struct World {
    pub dir: tempfile::TempDir,
    /// The unverified repository `dev`.
    pub dev: PathBuf,
    /// The repository `signed`, keyed with `keys/test.pub`.
    pub signed: PathBuf,
    /// Where packages are packed before they are installed.
    pub outbox: PathBuf,
    /// The runtime's `data_dir`.
    pub data: PathBuf,
    /// `keys/test.key` (the `signed` repository's) and `keys/other.key` (a stranger's).
    pub key: PathBuf,
    pub other_key: PathBuf,
    cgroup: String,
}

/// A container of the test program: name, arguments, more mounts (YAML, indented
/// below `mounts:`).
pub struct Container<'a> {
    pub name: &'a str,
    pub args: &'a [&'a str],
    pub mounts: &'a str,
}

impl World {
    pub fn new() -> World {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path();
        let (dev, signed, outbox, data, keys) = (
            path.join("dev"),
            path.join("signed"),
            path.join("outbox"),
            path.join("data"),
            path.join("keys"),
        );
        for d in [&dev, &signed, &outbox, &data, &keys] {
            fs::create_dir_all(d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        }
        for name in ["test", "other"] {
            let out = nstar_in(None, ["keygen", name, "--out"], [&keys]);
            assert!(out.status.success(), "keygen: {}", text(&out.stderr));
        }
        let cgroup = format!(
            "northstar-nstar-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        World {
            key: keys.join("test.key"),
            other_key: keys.join("other.key"),
            dir,
            dev,
            signed,
            outbox,
            data,
            cgroup,
        }
    }

    /// Pack `container` with `nstar pack` (uncompressed; signed with `key` if given) into
    /// `out`. Returns the package file.
    pub fn pack(&self, container: &Container<'_>, key: Option<&Path>, out: &Path) -> PathBuf {
        let src = self.dir.path().join("src").join(container.name);
        let root = src.join("root");
        fs::create_dir_all(root.join("bin")).expect("create the package root");
        fs::copy(build::test_container(), root.join("bin/test-container"))
            .expect("copy the test container");
        let args: Vec<String> = container.args.iter().map(|a| format!("{a:?}")).collect();
        let manifest = format!(
            "name: {name}\nversion: 0.0.1\ninit: /bin/test-container\nuid: 1000\ngid: 1000\n\
             args: [{args}]\nmounts:\n  /proc:\n    type: proc\n{mounts}io:\n  stdout: pipe\n  \
             stderr: pipe\n",
            name = container.name,
            args = args.join(", "),
            mounts = container.mounts,
        );
        let manifest_file = src.join("manifest.yaml");
        fs::write(&manifest_file, manifest).expect("write the manifest");
        let mut args: Vec<&Path> = vec![
            Path::new("pack"),
            &manifest_file,
            &root,
            Path::new("--compression"),
            Path::new("none"),
            Path::new("--out"),
            out,
        ];
        if let Some(key) = key {
            args.extend([Path::new("--key"), key]);
        }
        let out = nstar_in(None, args, [] as [&Path; 0]);
        assert!(out.status.success(), "pack: {}", text(&out.stderr));
        PathBuf::from(text(&out.stdout).trim())
    }

    /// Start the daemon on this world. `stop_timeout` is the runtime's default grace.
    pub fn start(self, stop_timeout: &str) -> Daemon {
        self.start_with(stop_timeout, "")
    }

    /// [`World::start`] with more of the `[api]` table's subtables (`[api.tcp]`).
    pub fn start_with(self, stop_timeout: &str, api_tables: &str) -> Daemon {
        let path = self.dir.path();
        let socket = path.join("api.sock");
        let config = format!(
            r#"run_dir = "{d}/run"
data_dir = "{data}"
stop_timeout = "{stop_timeout}"
# The unverified repository "dev" beside the keyed "signed".
development = true

[cgroups]
name = "{cgroup}"

[repositories.dev]
dir = "{dev}"
unverified = true

[repositories.signed]
dir = "{signed}"
key = "{d}/keys/test.pub"

[api]
socket = "{socket}"
{api_tables}
"#,
            d = path.display(),
            data = self.data.display(),
            cgroup = self.cgroup,
            dev = self.dev.display(),
            signed = self.signed.display(),
            socket = socket.display(),
        );
        let config_file = path.join("northstar.toml");
        fs::write(&config_file, config).expect("write the configuration");
        let log = path.join("daemon.log");
        let stderr = fs::File::create(&log).expect("create the daemon's log");
        let child = Command::new(build::daemon())
            .arg("--config")
            .arg(&config_file)
            .env("NORTHSTAR_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", build::daemon().display()));
        let mut daemon = Daemon {
            world: self,
            child: Some(child),
            socket,
            log,
        };
        daemon.wait_listening();
        daemon
    }
}

/// The running daemon. Dropping it ends it (SIGTERM, SIGKILL if it does not end) and
/// shows its log if the test failed.
pub struct Daemon {
    pub world: World,
    child: Option<Child>,
    pub socket: PathBuf,
    log: PathBuf,
}

impl Daemon {
    pub fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// `nstar -u <url> args...`.
    pub fn nstar(&self, args: &[&str]) -> Output {
        nstar_in(Some(&self.url()), args, [] as [&str; 0])
    }

    /// `nstar -u <url> args...` with any URL.
    pub fn nstar_at(&self, url: &str, args: &[&str]) -> Output {
        nstar_in(Some(url), args, [] as [&str; 0])
    }

    /// The `tcp://` URL of the TCP listener, from the daemon's log.
    pub fn tcp_url(&self) -> String {
        let begin = Instant::now();
        loop {
            let log = self.log();
            let address = log
                .lines()
                .find_map(|l| l.split("api: serving tcp ").nth(1))
                .and_then(|rest| rest.split_whitespace().next());
            if let Some(address) = address {
                return format!("tcp://{address}");
            }
            assert!(
                begin.elapsed() < PATIENCE,
                "no tcp listener in the log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `nstar` with `args`, requiring exit status 0; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.nstar(args);
        assert!(
            out.status.success(),
            "nstar {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `nstar --json` with `args`, requiring exit status 0; its one line parsed.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        let out = self.ok(&args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// `nstar` with `args`, requiring exit status `code`; its output.
    pub fn fails(&self, code: i32, args: &[&str]) -> Output {
        let out = self.nstar(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "nstar {args:?}:\nstdout: {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        out
    }

    /// The entry of `container` in `nstar list --json`.
    pub fn listed(&self, container: &str) -> serde_json::Value {
        let list = self.json(&["list"]);
        assert_eq!(list["type"], "containers");
        list["containers"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["container"] == container))
            .cloned()
            .unwrap_or_else(|| panic!("{container} not listed: {list}"))
    }

    /// Spawn `nstar -u <url> args...` that keeps printing (`logs -f`, `notifications`).
    pub fn watch(&self, args: &[&str]) -> Watch {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nstar"));
        cmd.arg("-u").arg(self.url()).args(args);
        Watch::spawn(cmd)
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Wait for the daemon to end by itself; its exit status.
    pub fn wait(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the daemon runs");
        let begin = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait for the daemon") {
                return status;
            }
            assert!(begin.elapsed() < PATIENCE, "the daemon did not end");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until the socket accepts connections (the daemon binds it once its runtime
    /// runs).
    fn wait_listening(&mut self) {
        let begin = Instant::now();
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("the daemon ended with {status}:\n{}", self.log());
                }
            }
            assert!(
                begin.elapsed() < PATIENCE,
                "the daemon does not listen on {}:\n{}",
                self.socket.display(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let begin = Instant::now();
            while matches!(child.try_wait(), Ok(None)) && begin.elapsed() < PATIENCE {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- daemon log ---\n{}", self.log());
        }
    }
}

/// Run `nstar` (with `-u url` when given) with `args` and then `paths`.
fn nstar_in<A, P>(
    url: Option<&str>,
    args: impl IntoIterator<Item = A>,
    paths: impl IntoIterator<Item = P>,
) -> Output
where
    A: AsRef<std::ffi::OsStr>,
    P: AsRef<std::ffi::OsStr>,
{
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nstar"));
    if let Some(url) = url {
        cmd.arg("-u").arg(url);
    }
    cmd.args(args)
        .args(paths)
        .env_remove("NSTAR_URL")
        .output()
        .expect("run nstar")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The entries of a directory, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}
