//! A runtime on the host for integration tests: temporary directories, an unverified
//! repository with packages of the test container, the runtime started in-process, and
//! helpers to wait for notifications. Each `World` has its own cgroup name and paths, so
//! tests run in parallel.
#![allow(dead_code)]

use runtime_core::{
    config::Config,
    container::ExitStatus,
    id::ContainerId,
    runtime::{Handle, Notification, Request, RequestError, Response, Runtime},
};
use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::{
        atomic::{AtomicU32, Ordering},
        mpsc::Receiver,
        OnceLock,
    },
    time::{Duration, Instant},
};

/// Longest wait for anything in a test: a guard against hangs, not a timing assertion.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The static test container binary (built for musl once per test run).
pub fn test_container() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let target_dir = root.join("target/test-container");
        let bin = target_dir.join("x86_64-unknown-linux-musl/release/test-container");
        let status = Command::new(env!("CARGO"))
            .current_dir(&root)
            .args(["build", "--quiet", "--release", "-p", "test-container"])
            .args(["--target", "x86_64-unknown-linux-musl", "--target-dir"])
            .arg(&target_dir)
            .status()
            .expect("run cargo to build the test container");
        assert!(status.success(), "building the test container failed");
        bin
    })
}

/// Temporary directories and an unverified repository.
pub struct World {
    pub dir: tempfile::TempDir,
    pub repo: PathBuf,
    pub reports: PathBuf,
    pub cgroup: String,
    extra_config: String,
    cgroups_config: String,
    tables: String,
    mount_on_start: bool,
    /// Whether a second repository, `other`, was configured.
    pub other_repository: bool,
}

impl World {
    pub fn new() -> World {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let reports = dir.path().join("reports");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(&reports).unwrap();
        // Containers run as uid 1000 and write their reports here.
        std::os::unix::fs::chown(&reports, Some(1000), Some(1000)).unwrap();
        let cgroup = format!(
            "northstar-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        World {
            dir,
            repo,
            reports,
            cgroup,
            extra_config: String::new(),
            cgroups_config: String::new(),
            tables: String::new(),
            mount_on_start: false,
            other_repository: false,
        }
    }

    /// More configuration text (top-level keys only).
    pub fn config_text(&mut self, text: &str) {
        self.extra_config.push_str(text);
        self.extra_config.push('\n');
    }

    /// More keys of the `[cgroups]` table (beside the generated `name`).
    pub fn cgroups_config(&mut self, text: &str) {
        self.cgroups_config.push_str(text);
        self.cgroups_config.push('\n');
    }

    /// Mount the test repository's packages when the runtime starts.
    pub fn mount_on_start(&mut self) {
        self.mount_on_start = true;
    }

    /// More configuration tables, after the generated ones.
    pub fn config_append(&mut self, text: &str) {
        self.tables.push_str(text);
        self.tables.push('\n');
    }

    pub fn config(&self) -> Config {
        let d = self.dir.path();
        let text = format!(
            r#"{extra}
run_dir = "{d}/run"
data_dir = "{d}/data"
stop_timeout = "2s"
bind_allow = ["{reports}"]

[cgroups]
name = "{cgroup}"
{cgroups_config}
[repositories.test]
dir = "{repo}"
unverified = true
mount_on_start = {mount_on_start}

# The test containers ask for capabilities, system calls, limits and policies.
[repositories.test.policy]
capabilities = "all"
syscalls = "all"
rlimits = "all"
sched = "all"
above_default_limits = "all"

{tables}"#,
            mount_on_start = self.mount_on_start,
            tables = self.tables,
            extra = self.extra_config,
            d = d.display(),
            reports = self.reports.display(),
            cgroup = self.cgroup,
            cgroups_config = self.cgroups_config,
            repo = self.repo.display()
        );
        Config::from_toml_str(&text, Path::new("test.toml")).unwrap()
    }

    /// Pack a container with the test binary at /bin/test-container. `extra` is appended
    /// to a manifest that already has name, version, init, uid, gid, args, /proc, a
    /// read-write bind of the reports directory at /report and piped output.
    pub fn container(&self, name: &str, args: &[&str], extra: &str) -> ContainerId {
        let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
        let manifest = format!(
            "name: {name}\nversion: 0.0.1\ninit: /bin/test-container\nuid: 1000\ngid: 1000\n\
             args: [{args}]\nmounts:\n  /proc:\n    type: proc\n  /report:\n    type: bind\n    \
             host: {reports}\n    options: rw\n{extra}",
            args = args.join(", "),
            reports = self.reports.display(),
        );
        let manifest = if manifest.contains("\nio:") {
            manifest
        } else {
            format!("{manifest}io:\n  stdout: pipe\n  stderr: pipe\n")
        };
        self.package(&manifest)
    }

    /// Pack any manifest with the test binary at /bin/test-container.
    pub fn package(&self, manifest: &str) -> ContainerId {
        self.package_with(manifest, |_| ())
    }

    /// Pack a manifest with the test binary at /bin/test-container and whatever `tree`
    /// adds to the image's root directory.
    pub fn package_with(&self, manifest: &str, tree: impl FnOnce(&Path)) -> ContainerId {
        let manifest = npk::manifest::Manifest::from_yaml_str(manifest)
            .unwrap_or_else(|e| panic!("{e}\n{manifest}"));
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("bin")).unwrap();
        std::fs::copy(test_container(), root.path().join("bin/test-container")).unwrap();
        tree(root.path());
        npk::pack::pack_manifest(
            &manifest,
            root.path(),
            &self.repo,
            &npk::pack::Options {
                compression: npk::squashfs::Compression::None,
                ..Default::default()
            },
            &mut |_| (),
        )
        .unwrap();
        ContainerId::new(manifest.name, manifest.version)
    }

    pub fn start(&self) -> Running {
        let (handle, events) = Runtime::start_subscribed(self.config()).unwrap();
        Running { handle, events }
    }

    /// A report written by a container (`report:/report/<name>`).
    pub fn report(&self, name: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(self.reports.join(name))
            .unwrap_or_else(|e| panic!("report {name}: {e}"));
        serde_json::from_str(&text).unwrap()
    }
}

/// A started runtime and its notifications.
pub struct Running {
    pub handle: Handle,
    pub events: Receiver<Notification>,
}

impl Running {
    pub fn request(&self, request: Request) -> Result<Response, RequestError> {
        self.handle.request(request)
    }

    pub fn start(&self, id: &ContainerId) -> Result<Response, RequestError> {
        self.request(Request::Start {
            id: id.clone(),
            args: None,
            env: None,
        })
    }

    pub fn stop(&self, id: &ContainerId) -> Result<Response, RequestError> {
        self.request(Request::Stop {
            id: id.clone(),
            timeout: None,
        })
    }

    /// The next notification matching `f`.
    pub fn wait_for<T>(&self, mut f: impl FnMut(&Notification) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let n = self
                .events
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no matching notification: {e}"));
            if let Some(t) = f(&n) {
                return t;
            }
        }
    }

    /// The exit status (and whether the OOM killer acted) of the next exit of `id`.
    pub fn exited(&self, id: &ContainerId) -> (ExitStatus, bool) {
        self.wait_for(|n| match n {
            Notification::Exited {
                id: i, status, oom, ..
            } if i == id => Some((*status, *oom)),
            _ => None,
        })
    }

    /// Start `id` and wait for its exit.
    pub fn run(&self, id: &ContainerId) -> ExitStatus {
        self.start(id).unwrap_or_else(|e| panic!("start {id}: {e}"));
        self.exited(id).0
    }

    pub fn logs(&self, id: &ContainerId) -> String {
        match self.request(Request::Logs { id: id.clone() }).unwrap() {
            Response::Logs { output } => String::from_utf8_lossy(&output).into_owned(),
            other => panic!("{other:?}"),
        }
    }

    pub fn shutdown(self) {
        self.handle.shutdown().unwrap();
    }
}
