//! Property: every valid manifest survives `to_yaml` → `from_yaml_str` unchanged.

use npk::manifest::{
    known_capabilities, known_syscalls, AbsPath, ArgRule, Autostart, Bind, Capability, Io,
    Manifest, Mount, MountOption, MountOptions, MountPoint, Name, Network, Output, Persist, Policy,
    Profile, Resource, RlimitResource, RlimitValue, Sched, Seccomp, SyscallName, SyscallRule,
    Tmpfs, Version,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

fn name() -> impl Strategy<Value = Name> {
    "[A-Za-z0-9_][A-Za-z0-9._-]{0,30}".prop_map(|s| Name::new(&s).unwrap())
}

fn version() -> impl Strategy<Value = Version> {
    (0u64..1000, 0u64..1000, 0u64..u64::MAX).prop_map(|(a, b, c)| Version::new(a, b, c))
}

fn abs_path() -> impl Strategy<Value = AbsPath> {
    prop::collection::vec("[a-zA-Z0-9_ .-]{1,8}", 0..4).prop_filter_map("no . or ..", |parts| {
        AbsPath::new(&format!("/{}", parts.join("/"))).ok()
    })
}

fn options() -> impl Strategy<Value = MountOptions> {
    prop::collection::btree_set(
        prop::sample::select(vec![
            MountOption::Rw,
            MountOption::NoExec,
            MountOption::NoDev,
            MountOption::NoSuid,
        ]),
        0..4,
    )
    .prop_map(MountOptions)
}

/// The options of tmpfs and persist mounts: none, or `exec`.
fn exec_option() -> impl Strategy<Value = MountOptions> {
    any::<bool>()
        .prop_map(|exec| MountOptions(exec.then_some(MountOption::Exec).into_iter().collect()))
}

fn mount() -> impl Strategy<Value = Mount> {
    prop_oneof![
        (abs_path(), options(), any::<bool>()).prop_map(|(host, mut options, rec)| {
            if rec {
                options.0.insert(MountOption::Rec);
            }
            Mount::Bind(Bind { host, options })
        }),
        (exec_option(), any::<bool>())
            .prop_map(|(options, snapshot)| Mount::Persist(Persist { options, snapshot })),
        (name(), 0u64..100, 0u64..100, abs_path(), options()).prop_map(
            |(name, major, minor, dir, options)| Mount::Resource(Resource {
                name,
                version: semver::VersionReq::parse(&format!(">={major}.{minor}.0")).unwrap(),
                dir,
                options,
            })
        ),
        (any::<u64>(), exec_option())
            .prop_map(|(size, options)| Mount::Tmpfs(Tmpfs { size, options })),
        Just(Mount::Proc),
        Just(Mount::Sysfs),
        Just(Mount::Sockets),
        Just(Mount::Dev),
    ]
}

fn mounts() -> impl Strategy<Value = BTreeMap<MountPoint, Mount>> {
    // Single component targets never overlap.
    prop::collection::btree_map("[a-z0-9_-]{1,10}", mount(), 0..6).prop_map(|m| {
        m.into_iter()
            .map(|(k, v)| (MountPoint::new(&format!("/{k}/")).unwrap(), v))
            .collect()
    })
}

fn policy() -> impl Strategy<Value = Policy> {
    prop_oneof![
        (-20i8..=19).prop_map(|nice| Policy::Other { nice }),
        (1u32..=99).prop_map(|priority| Policy::Fifo { priority }),
        (1u32..=99).prop_map(|priority| Policy::RoundRobin { priority }),
        (-20i8..=19).prop_map(|nice| Policy::Batch { nice }),
        Just(Policy::Idle),
        Just(Policy::Deadline),
    ]
}

fn seccomp() -> impl Strategy<Value = Seccomp> {
    let syscalls: Vec<&'static str> = known_syscalls().iter().copied().collect();
    let rule = prop_oneof![
        Just(SyscallRule::Any),
        (
            0u8..=5,
            prop::option::of(prop::collection::vec(any::<u64>(), 0..5)),
            prop::option::of(any::<u64>())
        )
            .prop_filter("values or mask", |(_, v, m)| v.is_some() || m.is_some())
            .prop_map(|(index, values, mask)| SyscallRule::Args(ArgRule {
                index,
                values,
                mask
            })),
    ];
    (
        any::<bool>(),
        prop::option::of(prop::collection::btree_map(
            prop::sample::select(syscalls).prop_map(|s| SyscallName::new(s).unwrap()),
            rule,
            0..5,
        )),
    )
        .prop_map(|(default, allow)| Seccomp {
            profile: default.then_some(Profile::Default),
            allow,
        })
}

fn rlimits() -> impl Strategy<Value = BTreeMap<RlimitResource, RlimitValue>> {
    let resource = prop::sample::select(vec![
        RlimitResource::As,
        RlimitResource::Core,
        RlimitResource::Nofile,
        RlimitResource::Nproc,
        RlimitResource::Rtprio,
        RlimitResource::Stack,
    ]);
    let value =
        (prop::option::of(any::<u64>()), any::<bool>()).prop_map(|(soft, unlimited)| RlimitValue {
            soft,
            hard: if unlimited { None } else { soft },
        });
    prop::collection::btree_map(resource, value, 0..4)
}

fn custom() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        "[ -~]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn output() -> impl Strategy<Value = Output> {
    prop::sample::select(vec![Output::Discard, Output::Pipe, Output::Inherit])
}

prop_compose! {
    fn process()(
        init in "(/[a-z0-9_][a-z0-9_.-]{0,7}){1,3}",
        args in prop::collection::vec("[ -~]{0,16}", 0..4),
        env in prop::collection::btree_map("[A-M][A-Z0-9_]{0,10}", "[ -~]{0,32}", 0..5),
        sched in prop::option::of(prop::option::of(policy())),
        mounts in mounts(),
        autostart in prop::option::of(prop::sample::select(vec![Autostart::Relaxed, Autostart::Critical])),
        network in prop::option::of(prop_oneof![Just(Network::Host), "[a-z0-9_-]{1,12}".prop_map(Network::Namespace)]),
        seccomp in prop::option::of(seccomp()),
        capabilities in prop::sample::subsequence(known_capabilities().iter().copied().collect::<Vec<_>>(), 0..5),
        suppl_groups in prop::collection::btree_set("[a-z][a-z0-9_]{0,10}", 0..3),
        rlimits in rlimits(),
        io in prop::option::of((output(), output()).prop_map(|(stdout, stderr)| Io { stdout, stderr })),
    ) -> (String, Vec<String>, BTreeMap<String, String>, Option<Sched>, BTreeMap<MountPoint, Mount>,
          Option<Autostart>, Option<Network>, Option<Seccomp>, BTreeSet<Capability>, BTreeSet<String>,
          BTreeMap<RlimitResource, RlimitValue>, Option<Io>) {
        let sched = sched.map(|policy| Sched { policy });
        let capabilities = capabilities.into_iter().map(|c| Capability::new(c).unwrap()).collect();
        (init, args, env, sched, mounts, autostart, network, seccomp, capabilities, suppl_groups, rlimits, io)
    }
}

prop_compose! {
    fn manifest()(
        name in name(), version in version(), uid in 1u32..=65535, gid in 1u32..=65535,
        process in prop::option::of(process()), custom in custom(),
    ) -> Manifest {
        let mut m = Manifest::from_yaml_str(&format!("name: {name}\nversion: {version}\nuid: {uid}\ngid: {gid}\n")).unwrap();
        m.custom = custom;
        if let Some((init, args, env, sched, mounts, autostart, network, seccomp, capabilities, suppl_groups, rlimits, io)) = process {
            m.init = Some(init.into());
            (m.args, m.env, m.sched, m.mounts, m.autostart) = (args, env, sched, mounts, autostart);
            (m.network, m.seccomp, m.capabilities, m.suppl_groups) = (network, seccomp, capabilities, suppl_groups);
            (m.rlimits, m.io) = (rlimits, io);
        }
        m
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn yaml_round_trip(m in manifest()) {
        m.validate().unwrap();
        let yaml = m.to_yaml().unwrap();
        let parsed = Manifest::from_yaml_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        prop_assert_eq!(&parsed, &m);
        prop_assert_eq!(parsed.to_yaml().unwrap(), yaml);
    }

    /// Random bytes never panic the parser.
    #[test]
    fn arbitrary_text_is_handled(text in "[ -~\n]{0,200}") {
        if let Ok(m) = Manifest::from_yaml_str(&text) {
            prop_assert_eq!(Manifest::from_yaml_str(&m.to_yaml().unwrap()).unwrap(), m);
        }
    }
}
