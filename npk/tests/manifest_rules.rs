//! One test per manifest rule: each bad manifest is rejected with an error that names the
//! field (and the line, where the text shows it).

use npk::manifest::{Error, Manifest, MAX_MANIFEST_SIZE};

/// Five lines; the text under test starts at line 6.
const BASE: &str = "name: app\nversion: 1.0.0\ninit: /bin/app\nuid: 1000\ngid: 1000\n";

fn parse(text: &str) -> Result<Manifest, Error> {
    Manifest::from_yaml_str(text)
}

/// `BASE` + `extra` is rejected; the error names `field` and `line` and contains `needle`.
fn rejected(extra: &str, field: &str, line: Option<usize>, needle: &str) {
    rejected_text(&format!("{BASE}{extra}"), field, line, needle);
}

fn rejected_text(text: &str, field: &str, line: Option<usize>, needle: &str) {
    let error = match parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(error) => error,
    };
    let shown = error.to_string();
    assert_eq!(error.field(), Some(field), "{shown}");
    if line.is_some() {
        assert_eq!(error.line(), line, "{shown}");
    }
    assert!(shown.contains(needle), "{needle:?} not in {shown:?}");
}

fn accepted(extra: &str) -> Manifest {
    parse(&format!("{BASE}{extra}")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_base_manifest_is_valid() {
    accepted("");
}

#[test]
fn display_is_line_field_problem() {
    let e = parse(&format!("{BASE}mounts:\n  /x:\n    type: resource\n    name: r\n    version: '1'\n    dir: /../..\n")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 11: mounts./x.dir: \"/../..\" must not contain \"..\""
    );
}

#[test]
fn unknown_fields_are_rejected_by_name() {
    rejected("bogus: 1\n", "bogus", Some(6), "unknown field `bogus`");
    rejected(
        "mounts:\n  /p:\n    type: proc\n    flags: x\n",
        "mounts./p.flags",
        Some(9),
        "unknown field `flags`",
    );
    rejected(
        "io:\n  stdout: pipe\n  stdin: pipe\n",
        "io.stdin",
        Some(8),
        "unknown field `stdin`",
    );
    rejected(
        "sched:\n  policy: !fifo\n    priority: 3\n    nice: 1\n",
        "sched.policy.nice",
        Some(9),
        "unknown field `nice`",
    );
}

#[test]
fn uid_and_gid_are_required_and_not_root() {
    rejected_text(
        "name: a\nversion: 1.0.0\ngid: 1\n",
        "uid",
        None,
        "missing field `uid`",
    );
    rejected(
        "mounts:\n  /b:\n    type: bind\n",
        "mounts./b.host",
        None,
        "missing field `host`",
    );
    rejected_text(
        "name: a\nversion: 1.0.0\ninit: /a\nuid: 0\ngid: 1\n",
        "uid",
        Some(4),
        "must not be 0",
    );
    rejected_text(
        "name: a\nversion: 1.0.0\ninit: /a\nuid: 1\ngid: 0\n",
        "gid",
        Some(5),
        "must not be 0",
    );
    rejected_text(
        "name: a\nversion: 1.0.0\nuid: 70000\ngid: 1\n",
        "uid",
        Some(3),
        "at most 65535",
    );
    rejected_text(
        "name: a\nversion: 1.0.0\nuid: -1\ngid: 1\n",
        "uid",
        Some(3),
        "expected u32",
    );
}

#[test]
fn name_charset_and_length() {
    rejected_text(
        "name: a/b\nversion: 1.0.0\nuid: 1\ngid: 1\n",
        "name",
        Some(1),
        "invalid character '/'",
    );
    rejected_text(
        "name: ''\nversion: 1.0.0\nuid: 1\ngid: 1\n",
        "name",
        Some(1),
        "must not be empty",
    );
    rejected_text(
        "name: ..\nversion: 1.0.0\nuid: 1\ngid: 1\n",
        "name",
        Some(1),
        "not a valid name",
    );
    let long = "n".repeat(129);
    rejected_text(
        &format!("name: {long}\nversion: 1.0.0\nuid: 1\ngid: 1\n"),
        "name",
        Some(1),
        "longer than 128",
    );
    parse(&format!(
        "name: {}\nversion: 1.0.0\nuid: 1\ngid: 1\n",
        "n".repeat(128)
    ))
    .unwrap();
}

#[test]
fn versions_are_semver_without_pre_release() {
    rejected_text(
        "name: a\nversion: 1.0\nuid: 1\ngid: 1\n",
        "version",
        Some(2),
        "invalid version",
    );
    rejected_text(
        "name: a\nversion: 1.0.0-rc1\nuid: 1\ngid: 1\n",
        "version",
        Some(2),
        "pre-release",
    );
    rejected(
        "mounts:\n  /r:\n    type: resource\n    name: r\n    version: '=>1'\n    dir: /\n",
        "mounts./r.version",
        Some(10),
        "unexpected character",
    );
}

#[test]
fn mount_points_are_absolute_without_dot_dot() {
    rejected(
        "mounts:\n  data:\n    type: persist\n",
        "mounts",
        Some(7),
        "is not absolute",
    );
    rejected(
        "mounts:\n  /a/../b:\n    type: persist\n",
        "mounts",
        Some(7),
        "must not contain \"..\"",
    );
    rejected(
        "mounts:\n  /a/./b:\n    type: persist\n",
        "mounts",
        Some(7),
        "must not contain \".\"",
    );
    rejected(
        "mounts:\n  /:\n    type: persist\n",
        "mounts",
        Some(7),
        "must not be \"/\"",
    );
}

#[test]
fn mount_targets_are_unique_after_normalizing() {
    rejected(
        "mounts:\n  /data:\n    type: persist\n  /data/:\n    type: proc\n",
        "mounts",
        None,
        "duplicate entry `/data`",
    );
    let m = accepted("mounts:\n  /data/:\n    type: persist\n");
    assert_eq!(m.mount_points().next(), Some(std::path::Path::new("/data")));
}

#[test]
fn mounts_do_not_overlap() {
    rejected(
        "mounts:\n  /data:\n    type: persist\n  /data/tmp:\n    type: tmpfs\n    size: 1M\n",
        "mounts./data/tmp",
        Some(9),
        "overlaps the mount at /data",
    );
    accepted("mounts:\n  /data:\n    type: persist\n  /data2:\n    type: proc\n");
}

#[test]
fn resource_dir_is_absolute_without_dot_dot() {
    let mount = |dir: &str| {
        format!(
            "mounts:\n  /r:\n    type: resource\n    name: r\n    version: '1'\n    dir: {dir}\n"
        )
    };
    rejected(
        &mount("/../.."),
        "mounts./r.dir",
        Some(11),
        "must not contain \"..\"",
    );
    rejected(&mount("lib"), "mounts./r.dir", Some(11), "is not absolute");
    accepted(&mount("/lib"));
}

#[test]
fn bind_host_is_absolute_without_dot_dot() {
    rejected(
        "mounts:\n  /b:\n    type: bind\n    host: /etc/../root\n",
        "mounts./b.host",
        Some(9),
        "must not contain \"..\"",
    );
    rejected(
        "mounts:\n  /b:\n    type: bind\n    host: etc\n",
        "mounts./b.host",
        Some(9),
        "is not absolute",
    );
}

#[test]
fn mount_fields_match_the_type() {
    rejected(
        "mounts:\n  /p:\n    type: proc\n    host: /x\n",
        "mounts./p",
        Some(8),
        "`host` is not allowed in a mount of type proc",
    );
    rejected(
        "mounts:\n  /b:\n    type: overlay\n",
        "mounts./b",
        Some(8),
        "unknown variant `overlay`",
    );
}

#[test]
fn mount_options_come_from_a_known_set() {
    rejected(
        "mounts:\n  /b:\n    type: bind\n    host: /x\n    options: ro\n",
        "mounts./b.options",
        Some(10),
        "unknown mount option \"ro\"",
    );
    rejected("mounts:\n  /r:\n    type: resource\n    name: r\n    version: '1'\n    dir: /\n    options: rec\n", "mounts./r.options", Some(12), "only allowed on bind mounts");
    accepted(
        "mounts:\n  /b:\n    type: bind\n    host: /x\n    options: rw,rec,noexec,nodev,nosuid\n",
    );
}

#[test]
fn tmpfs_sizes() {
    let m = accepted(
        "mounts:\n  /a:\n    type: tmpfs\n    size: 1Gi\n  /b:\n    type: tmpfs\n    size: 4096\n",
    );
    let sizes: Vec<u64> = m
        .mounts
        .values()
        .map(|m| match m {
            npk::manifest::Mount::Tmpfs(t) => t.size,
            _ => 0,
        })
        .collect();
    assert_eq!(sizes, [1 << 30, 4096]);
    rejected(
        "mounts:\n  /t:\n    type: tmpfs\n    size: 10X\n",
        "mounts./t.size",
        Some(9),
        "unknown unit",
    );
    rejected(
        "mounts:\n  /t:\n    type: tmpfs\n    size: -1\n",
        "mounts./t.size",
        Some(9),
        "negative",
    );
}

#[test]
fn init_is_an_absolute_path() {
    rejected_text(
        "name: a\nversion: 1.0.0\ninit: bin/app\nuid: 1\ngid: 1\n",
        "init",
        Some(3),
        "is not absolute",
    );
    rejected_text(
        "name: a\nversion: 1.0.0\ninit: /bin/../app\nuid: 1\ngid: 1\n",
        "init",
        Some(3),
        "\"..\"",
    );
    rejected_text(
        "name: a\nversion: 1.0.0\ninit: /\nuid: 1\ngid: 1\n",
        "init",
        Some(3),
        "must name a file",
    );
}

#[test]
fn resource_containers_carry_no_process_fields() {
    let base = "name: r\nversion: 1.0.0\nuid: 1\ngid: 1\n";
    for (extra, field) in [
        ("args: [a]\n", "args"),
        ("env:\n  A: b\n", "env"),
        ("capabilities: [CAP_KILL]\n", "capabilities"),
        ("mounts:\n  /p:\n    type: proc\n", "mounts"),
        ("io:\n  stdout: pipe\n", "io"),
        ("autostart: critical\n", "autostart"),
        ("network: host\n", "network"),
        ("seccomp:\n  profile: default\n", "seccomp"),
        ("rlimits:\n  nofile: {soft: 1, hard: 1}\n", "rlimits"),
        ("console:\n  permissions: [list]\n", "console"),
    ] {
        rejected_text(
            &format!("{base}{extra}"),
            field,
            Some(5),
            "not allowed in a resource container",
        );
    }
    parse(&format!("{base}custom: {{ any: thing }}\n")).unwrap();
}

#[test]
fn env_names_and_limits() {
    rejected(
        "env:\n  NORTHSTAR_NAME: x\n",
        "env.NORTHSTAR_NAME",
        Some(7),
        "reserved for the runtime",
    );
    rejected(
        "env:\n  'A=B': x\n",
        "env.A=B",
        Some(7),
        "must not contain '='",
    );
    rejected("env:\n  A: \"x\\0y\"\n", "env.A", Some(7), "NUL");
    rejected("env:\n  A: x\n  A: y\n", "env", None, "duplicate entry `A`");
    let key = "K".repeat(65);
    rejected(
        &format!("env:\n  {key}: x\n"),
        &format!("env.{key}"),
        Some(7),
        "longer than 64",
    );
    let value = "v".repeat(1025);
    rejected(
        &format!("env:\n  A: {value}\n"),
        "env.A",
        Some(7),
        "longer than 1024",
    );
    let many: String = (0..65).map(|i| format!("  V{i}: x\n")).collect();
    rejected(
        &format!("env:\n{many}"),
        "env",
        Some(6),
        "more than 64 variables",
    );
    let big: String = (0..40)
        .map(|i| format!("  V{i}: {}\n", "v".repeat(1000)))
        .collect();
    rejected(&format!("env:\n{big}"), "env", Some(6), "in total");
}

#[test]
fn args_have_no_nul() {
    rejected("args: [\"a\\0b\"]\n", "args[0]", Some(6), "NUL");
}

#[test]
fn capabilities_are_known_and_unique() {
    rejected(
        "capabilities: [CAP_KILL, CAP_FLY]\n",
        "capabilities[1]",
        Some(6),
        "unknown capability \"CAP_FLY\"",
    );
    rejected(
        "capabilities: [CAP_KILL, CAP_KILL]\n",
        "capabilities",
        Some(6),
        "duplicate entry `CAP_KILL`",
    );
    let all: Vec<&str> = npk::manifest::known_capabilities()
        .iter()
        .copied()
        .collect();
    assert_eq!(all.len(), 41);
    accepted(&format!("capabilities: [{}]\n", all.join(", ")));
}

#[test]
fn seccomp_syscalls_are_known() {
    rejected(
        "seccomp:\n  allow:\n    teleport: any\n",
        "seccomp.allow",
        Some(8),
        "unknown syscall \"teleport\"",
    );
    // Names of one architecture only are accepted: arm's, aarch64-less x86_64's.
    accepted("seccomp:\n  allow:\n    _llseek: any\n    open: any\n    clone3: any\n");
}

#[test]
fn seccomp_argument_filters() {
    let rule = |body: &str| format!("seccomp:\n  allow:\n    ioctl: !args\n{body}");
    rejected(
        &rule("      index: 6\n      values: [1]\n"),
        "seccomp.allow.ioctl",
        Some(8),
        "not in 0..=5",
    );
    rejected(
        &rule("      index: 1\n"),
        "seccomp.allow.ioctl",
        Some(8),
        "needs `values` or `mask`",
    );
    let values: Vec<String> = (0..51).map(|v| v.to_string()).collect();
    rejected(
        &rule(&format!(
            "      index: 1\n      values: [{}]\n",
            values.join(",")
        )),
        "seccomp.allow.ioctl",
        Some(8),
        "more than 50 values",
    );
    accepted(&rule("      index: 5\n      mask: 0xff\n"));
}

#[test]
fn rlimits_known_names_and_soft_not_above_hard() {
    rejected(
        "rlimits:\n  nofile:\n    soft: 10\n    hard: 5\n",
        "rlimits.nofile.soft",
        Some(8),
        "higher than the hard limit",
    );
    rejected(
        "rlimits:\n  files:\n    soft: 1\n",
        "rlimits",
        Some(7),
        "unknown variant `files`",
    );
    accepted("rlimits:\n  nofile:\n    soft: 5\n  core:\n    soft: 0\n    hard: 0\n");
}

#[test]
fn sched_ranges() {
    rejected(
        "sched:\n  policy: !other\n    nice: 20\n",
        "sched.policy",
        Some(7),
        "not in -20..=19",
    );
    rejected(
        "sched:\n  policy: !fifo\n    priority: 0\n",
        "sched.policy",
        Some(7),
        "not in 1..=99",
    );
    rejected(
        "sched:\n  policy: !round_robin\n    priority: 100\n",
        "sched.policy",
        Some(7),
        "not in 1..=99",
    );
    accepted("sched:\n  policy: !idle\n");
    accepted("sched:\n  policy: !batch\n    nice: -20\n");
}

#[test]
fn network_namespace_names() {
    rejected(
        "network: !namespace ../../proc/1/ns/net\n",
        "network",
        Some(6),
        "invalid character '/'",
    );
    let m = accepted("network: !namespace vpn\n");
    assert_eq!(
        m.network,
        Some(npk::manifest::Network::Namespace("vpn".into()))
    );
}

#[test]
fn sockets() {
    rejected(
        "sockets:\n  ../x:\n    type: stream\n    mode: 0o600\n",
        "sockets.../x",
        Some(7),
        "socket name",
    );
    rejected(
        "sockets:\n  s:\n    type: stream\n    mode: 0o1777\n",
        "sockets.s.mode",
        Some(9),
        "at most 0o777",
    );
    rejected(
        "sockets:\n  s:\n    type: stream\n    mode: 0o600\n    uid: 0\n",
        "sockets.s.uid",
        Some(10),
        "must not be 0",
    );
    accepted("sockets:\n  s:\n    type: seq_packet\n    mode: 0o660\n    gid: 20\n");
}

#[test]
fn supplementary_groups() {
    rejected(
        "suppl_groups: [audio, audio]\n",
        "suppl_groups",
        Some(6),
        "duplicate entry `audio`",
    );
    rejected(
        "suppl_groups: ['a:b']\n",
        "suppl_groups",
        Some(6),
        "invalid character ':'",
    );
}

#[test]
fn selinux_context_charset() {
    rejected(
        "selinux:\n  context: fo@o\n",
        "selinux.context",
        Some(7),
        "invalid character '@'",
    );
    accepted("selinux:\n  context: system_u:system_r:app_t\n");
}

#[test]
fn cgroups_rules() {
    rejected(
        "cgroups:\n  parent: /sys/fs/cgroup\n",
        "cgroups.parent",
        Some(7),
        "relative path",
    );
    rejected(
        "cgroups:\n  parent: a/../../b\n",
        "cgroups.parent",
        Some(7),
        "relative path",
    );
    rejected(
        "cgroups:\n  memory:\n    swappiness: 101\n",
        "cgroups.memory.swappiness",
        Some(8),
        "0..=100",
    );
    rejected(
        "cgroups:\n  memory:\n    attrs:\n      ../../release_agent: x\n",
        "cgroups.memory.attrs.../../release_agent",
        Some(9),
        "controller file name",
    );
    rejected(
        "cgroups:\n  cpu:\n    cpus: all\n",
        "cgroups.cpu.cpus",
        Some(8),
        "a list like",
    );
    rejected(
        "cgroups:\n  memory:\n    limit: 1\n",
        "cgroups.memory.limit",
        Some(8),
        "unknown field `limit`",
    );
    accepted("cgroups:\n  memory:\n    memory_hard_limit: 1000000\n  cpu:\n    cpus: 0-1,3\n    shares: 1024\n");
}

#[test]
fn cgroups_pids_limit() {
    rejected(
        "cgroups:\n  pids:\n    max: 0\n",
        "cgroups.pids.max",
        Some(8),
        "1 or more",
    );
    rejected(
        "cgroups:\n  pids:\n    limit: 5\n",
        "cgroups.pids.limit",
        Some(8),
        "unknown field `limit`",
    );
    rejected(
        "cgroups:\n  pids:\n    max: -1\n",
        "cgroups.pids.max",
        Some(8),
        "expected u64",
    );
    let m = accepted("cgroups:\n  pids:\n    max: 5\n");
    assert_eq!(
        m.cgroups.unwrap().pids,
        Some(npk::manifest::Pids { max: 5 })
    );
    // Without `pids` (a Northstar 0.9 manifest) the limit is absent, and stays absent when
    // written back.
    let m = accepted("cgroups:\n  memory:\n    memory_hard_limit: 1000000\n");
    let cgroups = m.cgroups.clone().unwrap();
    assert_eq!(cgroups.pids, None);
    assert!(!m.to_yaml().unwrap().contains("pids"));
}

#[test]
fn console_permissions() {
    rejected(
        "console:\n  permissions: [list, fly]\n",
        "console.permissions[1]",
        Some(7),
        "unknown variant `fly`",
    );
    let m = accepted("console:\n  permissions: full\n");
    assert_eq!(m.console.unwrap().permissions.0.len(), 13);
}

#[test]
fn console_permissions_name_containers_and_repositories() {
    use npk::manifest::{Permission, Target};
    let m = accepted(
        "console:\n  permissions: [kill, \"kill:other\", \"inspect:*\", \"install:apps\", list]\n",
    );
    let permissions = m.console.as_ref().unwrap().permissions.clone();
    let kill: Vec<&Target> = permissions.targets(Permission::Kill).collect();
    assert_eq!(kill, [&Target::Default, &Target::Named("other".into())]);
    let inspect: Vec<&Target> = permissions.targets(Permission::Inspect).collect();
    assert_eq!(inspect, [&Target::Any]);
    // Written back as read (not as `full`).
    let yaml = m.to_yaml().unwrap();
    assert!(yaml.contains("- kill:other"), "{yaml}");
    assert_eq!(parse(&yaml).unwrap().console, m.console);
    for (entry, message) in [
        ("list:x", "names no container or repository"),
        ("kill:a/b", "invalid permission"),
        ("install:a b", "invalid permission"),
        ("fly:x", "unknown variant `fly`"),
    ] {
        rejected(
            &format!("console:\n  permissions: [list, \"{entry}\"]\n"),
            "console.permissions[1]",
            Some(7),
            message,
        );
    }
}

#[test]
fn oversized_manifests_are_rejected_before_parsing() {
    let text = format!("{BASE}custom: '{}'\n", "x".repeat(MAX_MANIFEST_SIZE));
    let error = parse(&text).unwrap_err();
    assert!(matches!(error, Error::TooLarge { .. }), "{error}");
    assert!(error.to_string().contains("larger than the limit"));
}

#[test]
fn yaml_syntax_errors_keep_their_line() {
    let error = parse(&format!("{BASE}mounts:\n  /a: [\n")).unwrap_err();
    assert!(matches!(error, Error::Parse { .. }), "{error}");
    assert!(error.line().is_some_and(|l| l >= 7), "{error}");
}

#[test]
fn validate_without_text_has_no_line() {
    let mut m = accepted("");
    m.uid = 0;
    let error = m.validate().unwrap_err();
    assert_eq!((error.field(), error.line()), (Some("uid"), None));
    assert_eq!(error.to_string(), "uid: must not be 0 (root)");
    assert!(m.to_yaml().is_err(), "an invalid manifest is never written");
}
