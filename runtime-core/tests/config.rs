//! The configuration file: defaults, the example file, sizes and durations, every
//! validation rule, and the shape of errors (file, line, key path).

use runtime_core::config::{
    Allow, CgroupsConfig, Config, Devices, Error, Reaction, RepositoryConfig, Sched, SelinuxMode,
    MAX_FILE_SIZE,
};
use std::{
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

const ORIGIN: &str = "/etc/northstar.toml";

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config/example.toml")
}

fn parse(text: &str) -> Result<Config, Error> {
    Config::from_toml_str(text, Path::new(ORIGIN))
}

/// Parse `text`, expect an error at `line` about `key`, whose message contains `says`.
#[track_caller]
fn refused(text: &str, line: usize, key: &str, says: &str) -> Error {
    let err = parse(text).unwrap_err();
    assert_eq!(err.line(), Some(line), "{err}");
    assert_eq!(err.key(), Some(key), "{err}");
    let shown = err.to_string();
    let prefix = format!("{ORIGIN}: line {line}: {key}: ");
    assert!(
        shown.starts_with(&prefix),
        "{shown:?} should start with {prefix:?}"
    );
    assert!(shown.contains(says), "{shown:?} should contain {says:?}");
    err
}

#[track_caller]
fn invalid(text: &str, line: usize, key: &str, says: &str) {
    let err = refused(text, line, key, says);
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
}

#[track_caller]
fn malformed(text: &str, line: usize, key: &str, says: &str) {
    let err = refused(text, line, key, says);
    assert!(matches!(err, Error::Parse { .. }), "{err:?}");
}

const DEV: &str = "[repositories.dev]\ndir = \"/dev-repo\"\nunverified = true\n";

#[test]
fn empty_file_gives_every_default() {
    let config = parse("").unwrap();
    assert_eq!(config.run_dir, Path::new("/run/northstar"));
    assert_eq!(config.data_dir, Path::new("/data/northstar"));
    assert_eq!(config.stop_timeout, Duration::from_secs(5));
    assert_eq!(config.log_buffer, 65536);
    assert!(config.bind_allow.is_empty());
    assert_eq!(config.critical, Reaction::Exit);
    assert_eq!(config.cgroups.root, Path::new("/sys/fs/cgroup"));
    assert_eq!(config.cgroups.name, "northstar");
    assert_eq!(config.devices.loop_control, Path::new("/dev/loop-control"));
    assert_eq!(config.devices.loop_dev, Path::new("/dev/loop"));
    assert_eq!(
        config.devices.device_mapper,
        Path::new("/dev/mapper/control")
    );
    assert_eq!(config.devices.dm_dev, Path::new("/dev/dm-"));
    assert!(config.devices.loop_direct_io);
    assert!(config.repositories.is_empty());
    assert_eq!(config, Config::default());
    config.validate().unwrap();
}

#[test]
fn empty_tables_give_their_defaults() {
    let config = parse("[cgroups]\n[devices]\n[repositories]\n").unwrap();
    assert_eq!(config.cgroups, CgroupsConfig::default());
    assert_eq!(config.devices, Devices::default());
    assert_eq!(config, Config::default());
}

#[test]
fn repository_defaults() {
    let config = parse(DEV).unwrap();
    assert_eq!(
        config.repositories["dev"],
        RepositoryConfig {
            dir: PathBuf::from("/dev-repo"),
            key: None,
            unverified: true,
            max_packages: None,
            max_bytes: None,
            mount_on_start: false,
            resources_from: Vec::new(),
            policy: Default::default(),
        }
    );
    let keyed = parse("[repositories.r]\ndir = \"/r\"\nkey = \"/k.pub\"\n").unwrap();
    let r = &keyed.repositories["r"];
    assert_eq!(r.key.as_deref(), Some(Path::new("/k.pub")));
    assert!(!r.unverified);
}

#[test]
fn example_file() {
    let config = Config::load(&example_path()).unwrap();
    assert_eq!(config.stop_timeout, Duration::from_secs(10));
    assert_eq!(config.log_buffer, 128 * 1024);
    assert_eq!(
        config.bind_allow,
        [Path::new("/dev/log"), Path::new("/var/lib/shared")]
    );
    assert_eq!(config.critical, Reaction::Reboot);
    assert!(!config.devices.loop_direct_io);
    let names: Vec<&str> = config.repositories.keys().map(String::as_str).collect();
    assert_eq!(names, ["apps", "dev", "system"]);
    let apps = &config.repositories["apps"];
    assert_eq!(apps.max_packages, Some(32));
    assert_eq!(apps.max_bytes, Some(512 << 20));
    assert_eq!(
        apps.key.as_deref(),
        Some(Path::new("/system/etc/northstar/apps.pub"))
    );
    assert!(config.repositories["system"].mount_on_start);
    assert!(config.repositories["dev"].unverified);
    assert!(config.development);
    assert_eq!(apps.resources_from, ["system"]);
    assert_eq!(apps.policy.bind, Some(vec![PathBuf::from("/dev/log")]));
    assert_eq!(apps.policy.capabilities, Allow::default());
    let system = &config.repositories["system"].policy;
    assert_eq!(system.syscalls, Allow::All);
    assert!(system.sched.allows(&Sched::Fifo));
    assert!(!system.sched.allows(&Sched::RoundRobin));
}

#[test]
fn round_trip() {
    let mut configs = vec![Config::load(&example_path()).unwrap(), Config::default()];
    configs.push(Config {
        stop_timeout: Duration::from_millis(1500),
        critical: Reaction::PowerOff,
        ..Config::default()
    });
    for config in configs {
        let text = toml::to_string(&config).unwrap();
        let back = parse(&text).unwrap();
        assert_eq!(back, config, "{text}");
    }
}

#[test]
fn reactions() {
    for (text, reaction) in [
        ("exit", Reaction::Exit),
        ("reboot", Reaction::Reboot),
        ("poweroff", Reaction::PowerOff),
        ("hold", Reaction::Hold),
    ] {
        let config = parse(&format!("critical = \"{text}\"")).unwrap();
        assert_eq!(config.critical, reaction);
    }
    malformed(
        "\ncritical = \"panic\"",
        2,
        "critical",
        "unknown variant `panic`",
    );
    malformed("critical = \"PowerOff\"", 1, "critical", "unknown variant");
}

#[test]
fn sizes() {
    for (text, bytes) in [
        ("65536", 65536),
        ("\"64K\"", 65536),
        ("\"64KiB\"", 65536),
        ("\"1M\"", 1 << 20),
        ("\"2G\"", 2 << 30),
        ("0", 0),
    ] {
        // `log_buffer` has a maximum of 16 MiB (tested with the validation).
        if bytes <= 16 << 20 {
            let config = parse(&format!("log_buffer = {text}")).unwrap();
            assert_eq!(config.log_buffer, bytes, "{text}");
        }
        let repo = format!("{DEV}max_bytes = {text}\n");
        let config = parse(&repo).unwrap();
        assert_eq!(config.repositories["dev"].max_bytes, Some(bytes), "{text}");
    }
    malformed(
        "log_buffer = \"64k\"",
        1,
        "log_buffer",
        "invalid size \"64k\"",
    );
    malformed("log_buffer = -1", 1, "log_buffer", "negative");
    malformed("log_buffer = 1.5", 1, "log_buffer", "a size");
    malformed(
        &format!("{DEV}max_bytes = \"1T\"\n"),
        4,
        "repositories.dev.max_bytes",
        "invalid size",
    );
    malformed(
        &format!("{DEV}max_packages = -3\n"),
        4,
        "repositories.dev.max_packages",
        "",
    );
}

#[test]
fn durations() {
    for (text, duration) in [
        ("5s", Duration::from_secs(5)),
        ("500ms", Duration::from_millis(500)),
        ("2m", Duration::from_secs(120)),
        ("1h", Duration::from_secs(3600)),
        ("0s", Duration::ZERO),
    ] {
        let config = parse(&format!("stop_timeout = \"{text}\"")).unwrap();
        assert_eq!(config.stop_timeout, duration, "{text}");
    }
    malformed(
        "stop_timeout = \"5x\"",
        1,
        "stop_timeout",
        "invalid duration",
    );
    malformed("stop_timeout = 5", 1, "stop_timeout", "duration string");
    invalid("stop_timeout = \"61m\"", 1, "stop_timeout", "maximum of 1h");
    invalid(
        "stop_timeout = \"3601s\"",
        1,
        "stop_timeout",
        "maximum of 1h",
    );
}

#[test]
fn unknown_keys_at_every_level() {
    malformed(
        "run_dir = \"/r\"\ncolour = 1\n",
        2,
        "colour",
        "unknown field `colour`",
    );
    malformed(
        "[cgroups]\nnmae = \"x\"\n",
        2,
        "cgroups.nmae",
        "unknown field `nmae`",
    );
    malformed(
        "[devices]\nloop_direct = true\n",
        2,
        "devices.loop_direct",
        "unknown field",
    );
    malformed(
        &format!("{DEV}mount = true\n"),
        4,
        "repositories.dev.mount",
        "unknown field `mount`",
    );
    malformed(
        "[repositories]\ndev = { dir = \"/d\", unverified = true, extra = 1 }\n",
        2,
        "repositories.dev.extra",
        "unknown field",
    );
}

#[test]
fn types_and_syntax() {
    malformed("run_dir = 5", 1, "run_dir", "invalid type");
    malformed(
        "bind_allow = [\"/a\", 5]",
        1,
        "bind_allow[1]",
        "invalid type",
    );
    malformed(
        "\n[devices]\nloop_direct_io = \"yes\"\n",
        3,
        "devices.loop_direct_io",
        "invalid type",
    );
    malformed(
        "[repositories.dev]\nunverified = true\n",
        1,
        "repositories.dev.dir",
        "missing field `dir`",
    );
    // Syntax errors have a line but no key.
    let err = parse("run_dir = \"/r\"\n\ndata_dir = \n").unwrap_err();
    assert!(matches!(err, Error::Parse { .. }));
    assert_eq!(err.line(), Some(3), "{err}");
    assert_eq!(err.key(), None);
    assert!(err.to_string().starts_with(&format!("{ORIGIN}: line 3: ")));
}

#[test]
fn the_documented_message() {
    let text = "# config\nrun_dir = \"/run/ns\"\n\n[cgroups]\nname = \"ns\"\n\n\
                [repositories.apps]\ndir = \"/data/apps\"\n";
    let err = parse(text).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/etc/northstar.toml: line 7: repositories.apps.unverified: a repository without a key \
         must set unverified = true (development only)"
    );
}

#[test]
fn repository_trust_rules() {
    invalid(
        "[repositories.apps]\ndir = \"/a\"\n",
        1,
        "repositories.apps.unverified",
        "without a key must set unverified = true",
    );
    invalid(
        "[repositories.apps]\ndir = \"/a\"\nunverified = false\n",
        3,
        "repositories.apps.unverified",
        "without a key",
    );
    invalid(
        "[repositories.apps]\ndir = \"/a\"\nkey = \"/k.pub\"\nunverified = true\n",
        4,
        "repositories.apps.unverified",
        "with a key must not set unverified = true",
    );
    invalid(
        "[repositories.apps]\ndir = \"/a\"\nkey = \"k.pub\"\n",
        3,
        "repositories.apps.key",
        "not an absolute path",
    );
}

#[test]
fn repository_dirs_and_names() {
    invalid(
        "[repositories.apps]\ndir = \"apps\"\nunverified = true\n",
        2,
        "repositories.apps.dir",
        "not an absolute path",
    );
    invalid(
        "[repositories.a]\ndir = \"/r\"\nunverified = true\n\
         [repositories.b]\ndir = \"/r/\"\nunverified = true\n",
        5,
        "repositories.b.dir",
        "same directory as repository \"a\"",
    );
    invalid(
        "[repositories.\"bad name\"]\ndir = \"/r\"\nunverified = true\n",
        1,
        "repositories.bad name",
        "invalid repository name",
    );
    let long = "r".repeat(65);
    invalid(
        &format!("[repositories.{long}]\ndir = \"/r\"\nunverified = true\n"),
        1,
        &format!("repositories.{long}"),
        "1 to 64 characters",
    );
    let ok = "r".repeat(64);
    parse(&format!(
        "[repositories.{ok}]\ndir = \"/r\"\nunverified = true\n[repositories.\"A-z_0.9\"]\n\
         dir = \"/s\"\nunverified = true\n"
    ))
    .unwrap();
}

#[test]
fn path_rules() {
    invalid("run_dir = \"run\"", 1, "run_dir", "not an absolute path");
    invalid("run_dir = \"/\"", 1, "run_dir", "must not be \"/\"");
    invalid("\ndata_dir = \"//\"", 2, "data_dir", "must not be \"/\"");
    invalid(
        "data_dir = \"/data/../x\"",
        1,
        "data_dir",
        "must not contain \"..\"",
    );
    invalid("data_dir = \"\"", 1, "data_dir", "not an absolute path");
    invalid(
        "bind_allow = [\"/ok\", \"relative\"]",
        1,
        "bind_allow[1]",
        "not an absolute path",
    );
    invalid(
        "bind_allow = [\n  \"/ok\",\n  \"/a/../etc\",\n]",
        3,
        "bind_allow[1]",
        "must not contain \"..\"",
    );
    invalid(
        "[cgroups]\nroot = \"sys\"\n",
        2,
        "cgroups.root",
        "not an absolute path",
    );
    invalid(
        "[devices]\ndm_dev = \"dm-\"\n",
        2,
        "devices.dm_dev",
        "absolute",
    );
    invalid(
        "[devices]\nloop_control = \"/dev/../loop-control\"\n",
        2,
        "devices.loop_control",
        "\"..\"",
    );
}

#[test]
fn cgroup_name_rules() {
    for (name, says) in [
        ("", "must not be empty"),
        ("/northstar", "relative path"),
        ("a/../b", "relative path"),
        ("..", "relative path"),
        (".", "relative path"),
    ] {
        invalid(
            &format!("[cgroups]\nname = \"{name}\"\n"),
            2,
            "cgroups.name",
            says,
        );
    }
    let config = parse("[cgroups]\nname = \"system/northstar\"\n").unwrap();
    assert_eq!(config.cgroups.name, "system/northstar");
}

#[test]
fn validate_in_code_names_the_key_only() {
    let config = Config {
        cgroups: CgroupsConfig {
            name: "../escape".into(),
            ..CgroupsConfig::default()
        },
        ..Config::default()
    };
    let err = config.validate().unwrap_err();
    assert!(matches!(
        err,
        Error::Invalid {
            file: None,
            line: None,
            ..
        }
    ));
    assert_eq!(err.key(), Some("cgroups.name"));
    assert!(err.to_string().starts_with("cgroups.name: "), "{err}");

    let mut config = Config::default();
    config.repositories.insert(
        "r".into(),
        RepositoryConfig {
            dir: "/r".into(),
            key: None,
            unverified: false,
            max_packages: None,
            max_bytes: None,
            mount_on_start: false,
            resources_from: Vec::new(),
            policy: Default::default(),
        },
    );
    let err = config.validate().unwrap_err();
    assert_eq!(err.key(), Some("repositories.r.unverified"));
}

#[test]
fn bind_allowed() {
    let config = Config::load(&example_path()).unwrap();
    for (host, allowed) in [
        ("/dev/log", true),
        ("/var/lib/shared", true),
        ("/var/lib/shared/", true),
        ("/var/lib/shared/a/b", true),
        ("/var/lib/shared/./a", true),
        ("/var/lib/sharedx", false),
        ("/var/lib", false),
        ("/", false),
        ("/var/lib/shared/../../etc", false),
        ("/var/lib/shared/..", false),
        ("var/lib/shared", false),
        ("", false),
    ] {
        assert_eq!(config.bind_allowed(Path::new(host)), allowed, "{host}");
    }
    let none = Config::default();
    assert!(!none.bind_allowed(Path::new("/dev/log")));
}

#[test]
fn load_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let err = Config::load(&missing).unwrap_err();
    assert!(
        matches!(err, Error::Read { ref path, .. } if path == &missing),
        "{err}"
    );
    assert!(err.to_string().contains("missing.toml"));

    let big = dir.path().join("big.toml");
    let mut text = String::from("run_dir = \"/r\"\n");
    while text.len() as u64 <= MAX_FILE_SIZE {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    fs::write(&big, &text).unwrap();
    let err = Config::load(&big).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");

    // Just under the limit is read.
    let fits = dir.path().join("fits.toml");
    let mut text = String::from("run_dir = \"/r\"\n");
    while text.len() as u64 + 100 < MAX_FILE_SIZE {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    fs::write(&fits, &text).unwrap();
    assert_eq!(Config::load(&fits).unwrap().run_dir, Path::new("/r"));

    let binary = dir.path().join("binary.toml");
    fs::write(&binary, b"run_dir = \"/r\"\n# \xff\n").unwrap();
    let err = Config::load(&binary).unwrap_err();
    assert_eq!(err.line(), Some(2), "{err}");
    assert!(err.to_string().starts_with(&binary.display().to_string()));

    let bad = dir.path().join("bad.toml");
    fs::write(&bad, "[cgroups]\nname = \"\"\n").unwrap();
    let err = Config::load(&bad).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: line 2: cgroups.name: must not be empty", bad.display())
    );
}

/// The attack: an unverified repository slipped in next to keyed ones turns a production
/// image into one that runs unsigned code. Only a configuration that says it is a
/// development image may mix them.
#[test]
fn unverified_next_to_keyed_needs_the_development_flag() {
    let mixed = "[repositories.system]\ndir = \"/s\"\nkey = \"/k.pub\"\n\n\
                 [repositories.dev]\ndir = \"/d\"\nunverified = true\n";
    invalid(
        mixed,
        7,
        "repositories.dev.unverified",
        "development = true",
    );
    let development = parse(&format!("development = true\n{mixed}")).unwrap();
    assert!(development.development);
    // Only unverified, or only keyed, repositories need no flag.
    parse(DEV).unwrap();
    parse("[repositories.s]\ndir = \"/s\"\nkey = \"/k.pub\"\n").unwrap();
    // In code, too.
    let mut config = development;
    config.development = false;
    let err = config.validate().unwrap_err();
    assert_eq!(err.key(), Some("repositories.dev.unverified"), "{err}");
}

#[test]
fn resources_from_and_policy_rules() {
    let keyed = "[repositories.a]\ndir = \"/a\"\nkey = \"/a.pub\"\n\
                 [repositories.b]\ndir = \"/b\"\nkey = \"/b.pub\"\n";
    parse(&format!("{keyed}[repositories.c]\ndir = \"/c\"\nkey = \"/a.pub\"\nresources_from = [\"a\", \"b\"]\n"))
        .unwrap();
    invalid(
        &format!(
            "{keyed}[repositories.c]\ndir = \"/c\"\nkey = \"/a.pub\"\nresources_from = [\"x\"]\n"
        ),
        10,
        "repositories.c.resources_from[0]",
        "no repository \"x\"",
    );
    invalid(
        &format!(
            "{keyed}[repositories.c]\ndir = \"/c\"\nkey = \"/a.pub\"\nresources_from = [\"c\"]\n"
        ),
        10,
        "repositories.c.resources_from[0]",
        "always trusts itself",
    );
    invalid(
        &format!("development = true\n{keyed}{DEV}[repositories.c]\ndir = \"/c\"\nkey = \"/a.pub\"\nresources_from = [\"a\", \"dev\"]\n"),
        14,
        "repositories.c.resources_from[1]",
        "is unverified",
    );
    invalid(
        "[repositories.dev]\ndir = \"/d\"\nunverified = true\nresources_from = []\n\
         [repositories.dev2]\ndir = \"/e\"\nunverified = true\nresources_from = [\"dev\"]\n",
        8,
        "repositories.dev2.resources_from[0]",
        "resources of every repository already",
    );
    malformed(
        &format!("{DEV}[repositories.dev.policy]\ncapabilities = [\"CAP_NOPE\"]\n"),
        5,
        "repositories.dev.policy.capabilities[0]",
        "CAP_NOPE",
    );
    malformed(
        &format!("{DEV}[repositories.dev.policy]\nsched = \"some\"\n"),
        5,
        "repositories.dev.policy.sched",
        "\"all\" or a list",
    );
    malformed(
        &format!("{DEV}[repositories.dev.policy]\ncolor = 1\n"),
        5,
        "repositories.dev.policy.color",
        "unknown field",
    );
    invalid(
        &format!("{DEV}[repositories.dev.policy]\nbind = [\"/a\", \"rel\"]\n"),
        5,
        "repositories.dev.policy.bind[1]",
        "not an absolute path",
    );
}

#[test]
fn container_limits_and_selinux_defaults_and_example() {
    let config = Config::default();
    assert_eq!(config.cgroups.default_pids_max, 256);
    assert_eq!(config.cgroups.default_memory_max, 256 << 20);
    assert_eq!(config.cgroups.runtime_pids_max, 4096);
    assert_eq!(config.cgroups.runtime_memory_reserve, 64 << 20);
    assert_eq!(config.selinux, SelinuxMode::Optional);
    let example = Config::load(&example_path()).unwrap();
    assert_eq!(example.cgroups.default_pids_max, 128);
    assert_eq!(example.cgroups.default_memory_max, 128 << 20);
    assert_eq!(example.cgroups.runtime_pids_max, 2048);
    assert_eq!(example.cgroups.runtime_memory_reserve, 32 << 20);
    assert_eq!(example.selinux, SelinuxMode::Required);
}

#[test]
fn container_limit_rules() {
    invalid(
        "[cgroups]\ndefault_pids_max = 0\n",
        2,
        "cgroups.default_pids_max",
        "expected 1 to runtime_pids_max (4096)",
    );
    invalid(
        "[cgroups]\nruntime_pids_max = 100\ndefault_pids_max = 200\n",
        3,
        "cgroups.default_pids_max",
        "expected 1 to runtime_pids_max (100)",
    );
    invalid(
        "[cgroups]\nruntime_pids_max = 0\n",
        2,
        "cgroups.runtime_pids_max",
        "expected 1 or more",
    );
    invalid(
        "[cgroups]\ndefault_memory_max = \"1M\"\n",
        2,
        "cgroups.default_memory_max",
        "at least 4194304 bytes",
    );
    malformed("selinux = \"sometimes\"\n", 1, "selinux", "unknown variant");
}
