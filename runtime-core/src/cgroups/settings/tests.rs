use super::*;
use npk::manifest::{BlkIoDevice, BlkIoThrottle, Pids};

fn files(plan: &Plan) -> Vec<(Controller, &str, &str)> {
    plan.settings
        .iter()
        .map(|s| (s.controller, s.file.as_str(), s.value.as_str()))
        .collect()
}

fn memory(m: Memory) -> CGroups {
    CGroups {
        memory: Some(m),
        ..CGroups::default()
    }
}

fn cpu(c: Cpu) -> CGroups {
    CGroups {
        cpu: Some(c),
        ..CGroups::default()
    }
}

fn field_of(error: Error) -> String {
    match error {
        Error::Setting { field, .. } => field,
        other => panic!("not a setting error: {other}"),
    }
}

#[test]
fn nothing_set_writes_nothing() {
    for version in [Version::V1, Version::V2] {
        assert_eq!(plan(version, &CGroups::default()).unwrap(), Plan::default());
    }
}

#[test]
fn v1_memory_files_in_kernel_order() {
    let limits = memory(Memory {
        memory_swap_limit: Some(200),
        memory_hard_limit: Some(100),
        memory_soft_limit: Some(50),
        swappiness: Some(10),
        kernel_memory_limit: Some(-1),
        ..Memory::default()
    });
    let plan = plan(Version::V1, &limits).unwrap();
    use Controller::Memory as M;
    assert_eq!(
        files(&plan),
        [
            (M, "memory.limit_in_bytes", "100"),
            (M, "memory.memsw.limit_in_bytes", "200"),
            (M, "memory.soft_limit_in_bytes", "50"),
            (M, "memory.kmem.limit_in_bytes", "-1"),
            (M, "memory.swappiness", "10"),
        ]
    );
    assert_eq!(plan.settings[0].field, "cgroups.memory.memory_hard_limit");
    assert!(plan.skipped.is_empty());
}

#[test]
fn v2_memory_maps_swap_and_skips_what_v2_lacks() {
    let limits = memory(Memory {
        memory_hard_limit: Some(100),
        memory_swap_limit: Some(250),
        memory_soft_limit: Some(-1),
        swappiness: Some(0),
        kernel_tcp_memory_limit: Some(1),
        ..Memory::default()
    });
    let plan = plan(Version::V2, &limits).unwrap();
    use Controller::Memory as M;
    assert_eq!(
        files(&plan),
        [
            (M, "memory.max", "100"),
            (M, "memory.swap.max", "150"),
            (M, "memory.high", "max"),
        ]
    );
    let skipped: Vec<&str> = plan.skipped.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        skipped,
        [
            "cgroups.memory.swappiness",
            "cgroups.memory.kernel_tcp_memory_limit"
        ]
    );
}

#[test]
fn v2_swap_needs_a_hard_limit_at_or_below_it() {
    let unlimited = memory(Memory {
        memory_swap_limit: Some(-1),
        ..Memory::default()
    });
    assert_eq!(
        files(&plan(Version::V2, &unlimited).unwrap()),
        [(Controller::Memory, "memory.swap.max", "max")]
    );
    for hard in [None, Some(-1), Some(300)] {
        let limits = memory(Memory {
            memory_hard_limit: hard,
            memory_swap_limit: Some(200),
            ..Memory::default()
        });
        let error = plan(Version::V2, &limits).unwrap_err();
        assert_eq!(field_of(error), "cgroups.memory.memory_swap_limit");
    }
}

#[test]
fn shares_map_onto_weights() {
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(0), 1);
    assert_eq!(shares_to_weight(1024), 39);
    assert_eq!(shares_to_weight(262_144), 10_000);
    assert_eq!(shares_to_weight(u64::MAX), 10_000);
    assert_eq!(blkio_to_io_weight(10), 1);
    assert_eq!(blkio_to_io_weight(500), 4950);
    assert_eq!(blkio_to_io_weight(1000), 10_000);
}

#[test]
fn v1_cpu_periods_before_quotas() {
    let limits = cpu(Cpu {
        shares: Some(512),
        quota: Some(50_000),
        period: Some(100_000),
        realtime_runtime: Some(1000),
        realtime_period: Some(10_000),
        cpus: Some("0".into()),
        mems: Some("0".into()),
        ..Cpu::default()
    });
    use Controller::{Cpu as C, Cpuset as S};
    assert_eq!(
        files(&plan(Version::V1, &limits).unwrap()),
        [
            (C, "cpu.shares", "512"),
            (C, "cpu.cfs_period_us", "100000"),
            (C, "cpu.cfs_quota_us", "50000"),
            (C, "cpu.rt_period_us", "10000"),
            (C, "cpu.rt_runtime_us", "1000"),
            (S, "cpuset.cpus", "0"),
            (S, "cpuset.mems", "0"),
        ]
    );
}

#[test]
fn v2_cpu_max_combines_quota_and_period() {
    let cases = [
        (Some(50_000), Some(100_000), "50000 100000"),
        (Some(-1), Some(100_000), "max 100000"),
        (None, Some(20_000), "max 20000"),
        (Some(5000), None, "5000"),
    ];
    for (quota, period, expected) in cases {
        let limits = cpu(Cpu {
            quota,
            period,
            shares: Some(1024),
            ..Cpu::default()
        });
        assert_eq!(
            files(&plan(Version::V2, &limits).unwrap()),
            [
                (Controller::Cpu, "cpu.weight", "39"),
                (Controller::Cpu, "cpu.max", expected)
            ]
        );
    }
}

#[test]
fn v2_refuses_realtime_budgets() {
    let limits = cpu(Cpu {
        realtime_runtime: Some(1000),
        ..Cpu::default()
    });
    let error = plan(Version::V2, &limits).unwrap_err();
    assert!(error.to_string().contains("cgroup v2"), "{error}");
    assert_eq!(field_of(error), "cgroups.cpu.realtime_runtime");
}

fn blkio() -> CGroups {
    CGroups {
        blkio: Some(BlkIo {
            weight: Some(500),
            weight_device: vec![BlkIoDevice {
                major: 8,
                minor: 0,
                weight: Some(100),
                leaf_weight: None,
            }],
            throttle_read_bps_device: vec![BlkIoThrottle {
                major: 8,
                minor: 0,
                rate: 1_000_000,
            }],
            throttle_write_iops_device: vec![BlkIoThrottle {
                major: 8,
                minor: 16,
                rate: 100,
            }],
            ..BlkIo::default()
        }),
        ..CGroups::default()
    }
}

#[test]
fn v1_blkio_files() {
    let plan = plan(Version::V1, &blkio()).unwrap();
    use Controller::Blkio as B;
    assert_eq!(
        files(&plan),
        [
            (B, "blkio.weight", "500"),
            (B, "blkio.weight_device", "8:0 100"),
            (B, "blkio.throttle.read_bps_device", "8:0 1000000"),
            (B, "blkio.throttle.write_iops_device", "8:16 100"),
        ]
    );
    assert_eq!(
        plan.settings[0].fallback,
        Some(("blkio.bfq.weight".to_string(), "500".to_string()))
    );
}

#[test]
fn v2_blkio_files() {
    let plan = plan(Version::V2, &blkio()).unwrap();
    use Controller::Blkio as B;
    assert_eq!(
        files(&plan),
        [
            (B, "io.weight", "default 4950"),
            (B, "io.weight", "8:0 910"),
            (B, "io.max", "8:0 rbps=1000000"),
            (B, "io.max", "8:16 wiops=100"),
        ]
    );
    assert_eq!(
        plan.settings[1].fallback,
        Some(("io.bfq.weight".to_string(), "8:0 100".to_string()))
    );
    let mut leaf = blkio();
    if let Some(b) = leaf.blkio.as_mut() {
        b.leaf_weight = Some(100);
    }
    assert_eq!(
        field_of(plan_err(Version::V2, &leaf)),
        "cgroups.blkio.leaf_weight"
    );
}

fn plan_err(version: Version, limits: &CGroups) -> Error {
    match plan(version, limits) {
        Ok(plan) => panic!("accepted: {plan:?}"),
        Err(e) => e,
    }
}

#[test]
fn pids_limit_on_both_versions() {
    let limits = CGroups {
        pids: Some(Pids { max: 5 }),
        ..CGroups::default()
    };
    for version in [Version::V1, Version::V2] {
        assert_eq!(
            files(&plan(version, &limits).unwrap()),
            [(Controller::Pids, "pids.max", "5")]
        );
    }
}

#[test]
fn attrs_are_routed_by_prefix_and_core_files_refused() {
    let mut c = Cpu::default();
    c.attrs.insert("cpuset.mems".into(), "0".into());
    c.attrs.insert("cpu.idle".into(), "1".into());
    let routed = plan(Version::V1, &cpu(c)).unwrap();
    assert_eq!(
        files(&routed),
        [
            (Controller::Cpu, "cpu.idle", "1"),
            (Controller::Cpuset, "cpuset.mems", "0")
        ]
    );
    assert_eq!(routed.settings[1].field, "cgroups.cpu.attrs.cpuset.mems");
    for name in [
        "cgroup.procs",
        "tasks",
        "cpu.shares",
        "notify_on_release",
        "pids.max",
    ] {
        let mut m = Memory::default();
        m.attrs.insert(name.into(), "1".into());
        let field = field_of(plan_err(Version::V1, &memory(m)));
        assert_eq!(field, format!("cgroups.memory.attrs.{name}"));
    }
    let mut c = Cpu::default();
    c.attrs.insert("cpuacct.usage".into(), "0".into());
    assert!(plan(Version::V1, &cpu(c.clone())).is_ok());
    assert_eq!(
        field_of(plan_err(Version::V2, &cpu(c))),
        "cgroups.cpu.attrs.cpuacct.usage"
    );
}
