//! What each scenario installs and how it boots: the test containers (the workspace's
//! `test-container` with the steps each one runs), their manifests, the runtime
//! configuration of the root and the extra kernel arguments.

use super::Scenario;

/// The version of every test package.
pub const VERSION: &str = "0.0.1";
/// Where the test program lives in each package.
pub const PROGRAM: &str = "/bin/test-container";
/// What a test container prints once it runs.
pub const READY: &str = "ready";
/// The line the OOM container prints if it survives its allocation.
pub const SURVIVED: &str = "survived";
/// The memory limit of the OOM container (bytes) and what it allocates (MiB).
pub const OOM_LIMIT: u64 = 32 << 20;
pub const OOM_ALLOC_MIB: u64 = 96;
/// Where the zombie probe sees the host's `/proc`.
pub const HOST_PROC: &str = "/host/proc";
/// How many orphans and zombies the orphan container makes.
pub const ORPHANS: u32 = 3;
/// The watchdog timeout of the watchdog scenarios (seconds).
pub const WATCHDOG_TIMEOUT: u64 = 10;
/// When the hung init stops its main loop (seconds after the init started).
pub const HANG_AFTER: u64 = 6;
/// When a thread of the init panics in `init-panic` (seconds after the init started).
pub const PANIC_AFTER: u64 = 15;
/// The package of `init-panic` whose signed manifest holds a console timeout no
/// deadline can hold (packed unvalidated): the runtime refuses it, naming the field.
pub const OVERFLOW: &str = "overflow";
/// The field the refusal of [`OVERFLOW`] names.
pub const OVERFLOW_FIELD: &str = "console.npk_stream_timeout";

/// The manifest of [`OVERFLOW`] with `npk_stream_timeout` seconds.
pub fn overflow_manifest(npk_stream_timeout: u64) -> String {
    format!(
        "name: {OVERFLOW}\nversion: {VERSION}\ninit: {PROGRAM}\n\
         args: [\"print:1,{READY}\", \"sleep-forever\"]\nuid: 1000\ngid: 1000\n\
         autostart: relaxed\nconsole:\n  permissions: [list]\n  \
         npk_stream_timeout: {npk_stream_timeout}\n"
    )
}

/// The container of `update` and `update-cuts`, whose later versions replace it.
pub const APP: &str = "app";
/// Where a container with a `persist` mount sees its persistent data.
pub const DATA: &str = "/data";
/// What `app` 0.0.1 of `update-cuts` writes to its persistent data at every start.
pub const OLD_DATA: &str = "old";

/// The package of `tampered-package` with a data block changed after it was installed:
/// it is accepted at start-up and fails when it reads [`BIG_FILE`].
pub const TAMPERED: &str = "pkg-b";
/// The package of `tampered-package` whose verity superblock (its `data_blocks` field) was
/// changed after signing: refused at start-up, naming the file.
pub const TAMPERED_SUPERBLOCK: &str = "pkg-d";
/// An incompressible file of [`BIG_FILE_MIB`] MiB in the image of [`TAMPERED`]; the
/// changed byte lies in its data, at about 3/4 of the squashfs data area.
pub const BIG_FILE: &str = "/big";
pub const BIG_FILE_MIB: usize = 8;
/// The container's line once it has read [`BIG_FILE`] (it must never come).
pub const READ_ALL: &str = "read-all";

/// One test container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    /// The test program's steps.
    pub args: Vec<String>,
    /// `cgroups.memory.memory_hard_limit` in bytes.
    pub memory_limit: Option<u64>,
    /// Bind-mount the host's `/proc` at [`HOST_PROC`].
    pub host_proc: bool,
    /// Persistent data at [`DATA`].
    pub persist: bool,
}

impl Container {
    fn new(name: &str, args: &[&str]) -> Container {
        Container {
            name: name.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            memory_limit: None,
            host_proc: false,
            persist: false,
        }
    }

    /// `name:version`, the container's id.
    pub fn id(&self) -> String {
        format!("{}:{VERSION}", self.name)
    }

    /// The manifest: autostart, output piped into the runtime's log, `/proc` mounted.
    pub fn manifest(&self) -> String {
        let args: Vec<String> = self.args.iter().map(|a| format!("{a:?}")).collect();
        let mut yaml = format!(
            "name: {}\nversion: {VERSION}\ninit: {PROGRAM}\nargs: [{}]\nuid: 1000\ngid: 1000\n\
             autostart: relaxed\nio:\n  stdout: pipe\n  stderr: pipe\nmounts:\n  /proc:\n    \
             type: proc\n",
            self.name,
            args.join(", ")
        );
        if self.host_proc {
            yaml.push_str(&format!(
                "  {HOST_PROC}:\n    type: bind\n    host: /proc\n"
            ));
        }
        if self.persist {
            yaml.push_str(&format!("  {DATA}:\n    type: persist\n"));
        }
        if let Some(limit) = self.memory_limit {
            yaml.push_str(&format!(
                "cgroups:\n  memory:\n    memory_hard_limit: {limit}\n"
            ));
        }
        yaml
    }
}

/// The containers of `scenario`.
pub fn containers(scenario: Scenario) -> Vec<Container> {
    let idle = |name: &str| Container::new(name, &["print:1,ready", "sleep-forever"]);
    match scenario {
        // Each shows its root mount (the package's squashfs through dm-verity), then runs.
        Scenario::Ten => (0..10)
            .map(|i| {
                Container::new(
                    &format!("ten-{i}"),
                    &[
                        "read:/proc/self/mountinfo",
                        "print:1,ready",
                        "sleep-forever",
                    ],
                )
            })
            .collect(),
        Scenario::TamperedRoot => vec![idle("idle")],
        // pkg-b reads its big file before it says ready; its output is discarded.
        Scenario::TamperedPackage => {
            let read = format!("read:{BIG_FILE}");
            let read_all = format!("print:1,{READ_ALL}");
            vec![
                idle("pkg-a"),
                Container::new(TAMPERED, &[&read, &read_all, "sleep-forever"]),
                idle("pkg-c"),
                idle(TAMPERED_SUPERBLOCK),
            ]
        }
        Scenario::Oom => {
            let alloc = format!("alloc:{OOM_ALLOC_MIB}");
            let survived = format!("print:1,{SURVIVED}");
            let mut oom = Container::new(
                "oom",
                &["print:1,ready", &alloc, &survived, "sleep-forever"],
            );
            oom.memory_limit = Some(OOM_LIMIT);
            vec![oom, idle("bystander")]
        }
        Scenario::Orphans => {
            let orphans = format!("orphans:{ORPHANS}");
            let zombies = format!("zombies:{ORPHANS}");
            let maker = Container::new(
                "orphans",
                &[&orphans, &zombies, "print:1,ready", "sleep:8", "exit:0"],
            );
            let scan = format!("scan-zombies:{HOST_PROC}");
            let mut args = vec!["print:1,ready".to_owned()];
            for _ in 0..24 {
                args.extend([scan.clone(), "sleep:1".to_owned()]);
            }
            args.push("sleep-forever".to_owned());
            let probe = Container {
                name: "zombie-probe".into(),
                args,
                memory_limit: None,
                host_proc: true,
                persist: false,
            };
            vec![maker, probe]
        }
        Scenario::Update => vec![idle(APP)],
        // Its data is rewritten at every start; the later versions write another file.
        Scenario::UpdateCuts => {
            let write = format!("write:{DATA}/{OLD_DATA},{VERSION}");
            let mut app = Container::new(APP, &[&write, "print:1,ready", "sleep-forever"]);
            app.persist = true;
            vec![app]
        }
        Scenario::WatchdogFed
        | Scenario::WatchdogHang
        | Scenario::InstallPowerCut
        | Scenario::InitPanic
        | Scenario::AbUboot => {
            vec![idle("idle")]
        }
    }
}

/// The runtime configuration of the root: the board's, and for `orphans` the host's
/// `/proc` allowed as a bind mount (for the probe only; top-level keys come first).
pub fn runtime_config(scenario: Scenario, board_config: &str) -> String {
    match scenario {
        Scenario::Orphans => format!(
            "# Test build: the zombie probe reads the host's /proc.\nbind_allow = [\"/proc\"]\n\n\
             {board_config}"
        ),
        _ => board_config.to_owned(),
    }
}

/// Extra kernel arguments of `scenario`.
pub fn cmdline(scenario: Scenario) -> Vec<String> {
    let timeout = format!("northstar.watchdog.timeout={WATCHDOG_TIMEOUT}s");
    match scenario {
        Scenario::WatchdogFed => vec![timeout],
        Scenario::WatchdogHang => vec![timeout, format!("northstar.test.hang={HANG_AFTER}")],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_parse_as_the_packer_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        for scenario in Scenario::ALL {
            for c in containers(scenario) {
                let path = dir.path().join(format!("{}.yaml", c.name));
                std::fs::write(&path, c.manifest()).unwrap();
                let m = npk::pack::read_manifest(&path).unwrap_or_else(|e| panic!("{e:?}"));
                assert_eq!(format!("{}:{}", m.name, m.version), c.id());
                assert!(m.autostart.is_some(), "{}", c.name);
                let args: Vec<String> = m.args.iter().map(ToString::to_string).collect();
                assert_eq!(args, c.args, "{}", c.name);
                let mounts = 1 + usize::from(c.host_proc) + usize::from(c.persist);
                assert_eq!(m.mount_points().count(), mounts, "{}", c.name);
            }
        }
    }

    #[test]
    fn the_overflow_manifest_is_refused_only_for_its_timeout() {
        let max = npk::manifest::limits::MAX_NPK_STREAM_TIMEOUT;
        let m = npk::manifest::Manifest::from_yaml_str(&overflow_manifest(max)).unwrap();
        assert_eq!(m.name.to_string(), OVERFLOW);
        let e = npk::manifest::Manifest::from_yaml_str(&overflow_manifest(u64::MAX)).unwrap_err();
        assert_eq!(e.field(), Some(OVERFLOW_FIELD), "{e}");
    }

    #[test]
    fn the_scenarios_differ_where_they_must() {
        assert_eq!(containers(Scenario::Ten).len(), 10);
        let oom = containers(Scenario::Oom);
        assert_eq!(oom[0].memory_limit, Some(OOM_LIMIT));
        assert!(oom[0].manifest().contains("memory_hard_limit: 33554432"));
        assert!(containers(Scenario::Orphans)[1].host_proc);
        let config = runtime_config(Scenario::Orphans, "run_dir = \"/run\"\n[a]\n");
        let parsed: toml::Table = config.parse().unwrap();
        assert_eq!(parsed["bind_allow"][0].as_str(), Some("/proc"));
        assert_eq!(runtime_config(Scenario::Ten, "x"), "x");
        assert_eq!(cmdline(Scenario::WatchdogHang).len(), 2);
        assert!(cmdline(Scenario::Oom).is_empty());
    }
}
