//! The manifests of Northstar 0.9's test vectors, the guide's example, and the JSON schema.

use npk::manifest::{
    Autostart, Capability, Manifest, Mount, MountOption, Network, Output, Permission, Policy,
    RlimitResource, SyscallRule,
};
use std::path::Path;

fn data(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/manifests")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse(name: &str) -> Manifest {
    Manifest::from_yaml_str(&data(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const ALL: [&str; 6] = [
    "full.yaml",
    "full.stored.yaml",
    "hello.yaml",
    "hello.stored.yaml",
    "message.yaml",
    "message.stored.yaml",
];

#[test]
fn every_vector_manifest_parses() {
    for name in ALL {
        parse(name);
    }
}

#[test]
fn source_and_stored_manifests_are_equal() {
    for base in ["full", "hello", "message"] {
        assert_eq!(
            parse(&format!("{base}.yaml")),
            parse(&format!("{base}.stored.yaml")),
            "{base}"
        );
    }
}

#[test]
fn every_vector_manifest_round_trips() {
    for name in ALL {
        let manifest = parse(name);
        let yaml = manifest.to_yaml().unwrap();
        let again =
            Manifest::from_yaml_str(&yaml).unwrap_or_else(|e| panic!("{name}: {e}\n{yaml}"));
        assert_eq!(manifest, again, "{name}");
        // Canonical: writing again gives the same bytes.
        assert_eq!(again.to_yaml().unwrap(), yaml, "{name}");
    }
}

#[test]
fn full_example_has_every_section() {
    let m = parse("full.yaml");
    assert_eq!(m.name.as_str(), "full-example");
    assert_eq!(m.version.to_string(), "1.2.3");
    assert_eq!(m.init.as_deref(), Some(Path::new("/bin/app")));
    assert_eq!((m.uid, m.gid), (1000, 1001));
    assert!(m.suppl_groups.contains("audio"));
    assert_eq!(m.args, ["one"]);
    assert_eq!(m.env.get("MODE").map(String::as_str), Some("test"));
    let policy = m.sched.as_ref().and_then(|s| s.policy.clone());
    assert_eq!(policy, Some(Policy::Other { nice: 5 }));
    assert_eq!(m.autostart, Some(Autostart::Relaxed));
    assert_eq!(m.network, Some(Network::Host));
    let caps: Vec<&str> = m.capabilities.iter().map(Capability::as_str).collect();
    assert_eq!(caps, ["CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let nofile = &m.rlimits[&RlimitResource::Nofile];
    assert_eq!((nofile.soft, nofile.hard), (Some(1024), Some(2048)));
    let seccomp = m.seccomp.as_ref().unwrap();
    assert!(seccomp.profile.is_some());
    let allow = seccomp.allow.as_ref().unwrap();
    let rules: Vec<(&str, &SyscallRule)> = allow.iter().map(|(k, v)| (k.as_str(), v)).collect();
    assert_eq!(rules[1].0, "fanotify_init");
    assert_eq!(rules[1].1, &SyscallRule::Any);
    let SyscallRule::Args(args) = rules[0].1 else {
        panic!("delete_module has an arg filter")
    };
    assert_eq!(
        (args.index, args.values.clone(), args.mask),
        (1, Some(vec![1]), Some(6))
    );

    let mount = |p: &str| {
        m.mounts
            .iter()
            .find(|(k, _)| k.as_path() == Path::new(p))
            .unwrap()
            .1
    };
    assert_eq!(mount("/proc"), &Mount::Proc);
    assert_eq!(mount("/data"), &Mount::Persist(Default::default()));
    let Mount::Tmpfs(tmpfs) = mount("/tmp") else {
        panic!("tmpfs")
    };
    assert_eq!(
        tmpfs.size, 10_000_000,
        "10M is 10 * 1000 * 1000 as in Northstar 0.9"
    );
    let Mount::Bind(bind) = mount("/lib") else {
        panic!("bind")
    };
    assert_eq!(bind.host.to_string(), "/lib");
    assert!(
        bind.options.contains(MountOption::NoSuid) && bind.options.contains(MountOption::NoDev)
    );
    let Mount::Resource(resource) = mount("/message") else {
        panic!("resource")
    };
    assert_eq!(resource.name.as_str(), "message");
    assert_eq!(resource.version.to_string(), ">=0.1.0");
    assert_eq!(resource.dir.to_string(), "/");
    assert_eq!(resource.options.to_string(), "noexec,nodev,nosuid");

    let io = m.io.as_ref().unwrap();
    assert_eq!((io.stdout, io.stderr), (Output::Pipe, Output::Discard));
    let permissions = &m.console.as_ref().unwrap().permissions;
    assert_eq!(permissions.0.len(), 3);
    assert!(permissions.contains(Permission::Notifications));
    assert_eq!(m.custom, serde_json::json!({ "anything": [1, 2, 3] }));
    assert!(!m.is_resource());
    assert!(!m.needs_dev());
    let points: Vec<&Path> = m.mount_points().collect();
    assert_eq!(points.len(), 5);
}

#[test]
fn message_is_a_resource_container() {
    let m = parse("message.yaml");
    assert!(m.is_resource());
    assert_eq!(m.mount_points().count(), 0);
}

/// The written form uses the tags and shapes of the manifests Northstar 0.9 stores.
#[test]
fn written_form_matches_northstar_0_9_shapes() {
    let yaml = parse("full.yaml").to_yaml().unwrap();
    for expected in [
        "  policy: !other\n    nice: 5\n",
        "    delete_module: !args\n      index: 1\n      values:\n      - 1\n      mask: 6\n",
        "    fanotify_init: any\n",
        "    type: tmpfs\n    size: 10000000\n",
        "    options: noexec,nodev,nosuid\n",
        "    version: '>=0.1.0'\n",
        "network: host\n",
        "io:\n  stdout: pipe\n  stderr: discard\n",
    ] {
        assert!(yaml.contains(expected), "{expected:?} not in\n{yaml}");
    }
    // Top-level fields in Northstar 0.9's order.
    let keys: Vec<&str> = yaml
        .lines()
        .filter(|l| !l.starts_with([' ', '-']))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(
        keys,
        [
            "name",
            "version",
            "console",
            "init",
            "args",
            "env",
            "uid",
            "gid",
            "sched",
            "mounts",
            "autostart",
            "network",
            "seccomp",
            "capabilities",
            "suppl_groups",
            "rlimits",
            "io",
            "custom"
        ]
    );
    // The stored hello and message manifests are written byte for byte as 0.9 wrote them.
    for name in ["hello.stored.yaml", "message.stored.yaml"] {
        assert_eq!(parse(name).to_yaml().unwrap(), data(name), "{name}");
    }
}

const FERRIS: &str = "name: ferris_says_hello
version: 0.0.1
init: /bin/ferris
args: [ /message/hello ]
mounts:
  /bin:     { type: resource, name: ferris, version: 0.0.1, dir: / }
  /message: { type: resource, name: hello_message, version: 0.0.1, dir: / }
";

#[test]
fn guide_example_parses_with_uid_and_gid() {
    let text = format!("{FERRIS}uid: 1000\ngid: 1000\n");
    let m = Manifest::from_yaml_str(&text).unwrap();
    assert_eq!(m.name.as_str(), "ferris_says_hello");
    assert_eq!(m.mounts.len(), 2);
    let Mount::Resource(r) = &m.mounts.values().next().unwrap() else {
        panic!("resource")
    };
    assert_eq!(r.name.as_str(), "ferris");
    assert!(r.version.matches(&semver::Version::new(0, 0, 1)));
}

#[test]
fn guide_example_without_uid_or_gid_is_rejected() {
    let e = Manifest::from_yaml_str(FERRIS).unwrap_err();
    assert!(e.to_string().contains("missing field `uid`"), "{e}");
    let e = Manifest::from_yaml_str(&format!("{FERRIS}uid: 1000\n")).unwrap_err();
    assert!(e.to_string().contains("missing field `gid`"), "{e}");
}

#[test]
fn json_schema_describes_the_manifest() {
    let schema = Manifest::json_schema();
    let text = serde_json::to_string(&schema).unwrap();
    let reparsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reparsed, schema);
    let properties = schema["properties"].as_object().unwrap();
    for field in [
        "name",
        "version",
        "init",
        "args",
        "env",
        "uid",
        "gid",
        "suppl_groups",
        "sched",
        "mounts",
        "autostart",
        "cgroups",
        "network",
        "seccomp",
        "selinux",
        "capabilities",
        "rlimits",
        "sockets",
        "io",
        "console",
        "custom",
    ] {
        assert!(
            properties.contains_key(field),
            "{field} missing from the schema"
        );
    }
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for field in ["name", "version", "uid", "gid"] {
        assert!(
            required.contains(&field),
            "{field} not required: {required:?}"
        );
    }
    assert!(!required.contains(&"init"));
    assert_eq!(schema["additionalProperties"], serde_json::json!(false));
}
