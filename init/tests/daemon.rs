//! The host daemon (`northstar --config <file>`), as root: it starts the autostart
//! containers, shuts down in order on SIGTERM (containers ended, images unmounted, cgroups
//! removed), refuses a bad configuration with exit code 2, and ends with an error when a
//! critical container fails.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

const PATIENCE: Duration = Duration::from_secs(60);

/// The static test container (built for musl once per test run).
fn test_container() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let target_dir = root.join("target/test-container");
        let status = Command::new(env!("CARGO"))
            .current_dir(&root)
            .args(["build", "--quiet", "--release", "-p", "test-container"])
            .args(["--target", "x86_64-unknown-linux-musl", "--target-dir"])
            .arg(&target_dir)
            .status()
            .unwrap();
        assert!(status.success());
        target_dir.join("x86_64-unknown-linux-musl/release/test-container")
    })
}

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    marks: PathBuf,
    cgroup: String,
}

/// A configuration with one repository holding the given containers (name, args, extra
/// manifest text).
fn setup(tag: &str, containers: &[(&str, &[&str], &str)]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let marks = dir.path().join("marks");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::create_dir_all(&marks).unwrap();
    std::os::unix::fs::chown(&marks, Some(1000), Some(1000)).unwrap();
    for (name, args, extra) in containers {
        let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
        let text = format!(
            "name: {name}\nversion: 1.0.0\ninit: /bin/test-container\nuid: 1000\ngid: 1000\n\
             args: [{}]\nmounts:\n  /marks:\n    type: bind\n    host: {}\n    options: rw\n{extra}",
            args.join(", "),
            marks.display()
        );
        let manifest = npk::manifest::Manifest::from_yaml_str(&text).unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("bin")).unwrap();
        std::fs::copy(test_container(), root.path().join("bin/test-container")).unwrap();
        npk::pack::pack_manifest(
            &manifest,
            root.path(),
            &repo,
            &Default::default(),
            &mut |_| (),
        )
        .unwrap();
    }
    let cgroup = format!("northstar-daemon-test-{tag}-{}", std::process::id());
    let config = dir.path().join("northstar.toml");
    let d = dir.path().display();
    std::fs::write(
        &config,
        format!(
            "run_dir = \"{d}/run\"\ndata_dir = \"{d}/data\"\nstop_timeout = \"2s\"\n\
             bind_allow = [\"{}\"]\n[cgroups]\nname = \"{cgroup}\"\n\
             [repositories.local]\ndir = \"{}\"\nunverified = true\n",
            marks.display(),
            repo.display()
        ),
    )
    .unwrap();
    Setup {
        dir,
        config,
        marks,
        cgroup,
    }
}

fn daemon(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_northstar"))
        .arg("--config")
        .arg(config)
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the daemon did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn autostart_and_orderly_shutdown_on_sigterm() {
    let s = setup(
        "term",
        &[
            (
                "one",
                &["write:/marks/one,up", "sleep-forever"],
                "autostart: relaxed\n",
            ),
            (
                "two",
                &["write:/marks/two,up", "sleep-forever"],
                "autostart: critical\n",
            ),
        ],
    );
    let mut child = daemon(&s.config);
    eventually("both containers started", || {
        s.marks.join("one").exists() && s.marks.join("two").exists()
    });
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::SIGTERM).unwrap();
    assert_eq!(wait(&mut child).code(), Some(0));
    // Nothing is left: no mounts below the test directory, no cgroup.
    let dir = s.dir.path().to_string_lossy().into_owned();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains(&dir), "{mountinfo}");
    for controller in ["memory", "pids", "cpuacct"] {
        let group = Path::new("/sys/fs/cgroup").join(controller).join(&s.cgroup);
        assert!(!group.exists(), "{} left behind", group.display());
    }
}

#[test]
fn critical_failure_ends_the_daemon_with_an_error() {
    let s = setup(
        "critical",
        &[("vital", &["exit:3"], "autostart: critical\n")],
    );
    let mut child = daemon(&s.config);
    assert_eq!(wait(&mut child).code(), Some(1));
}

#[test]
fn bad_configuration_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "run_dir = \"/run/x\"\nstop_timeout = \"soon\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_northstar"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(stderr.contains("stop_timeout"), "{stderr}");
}
