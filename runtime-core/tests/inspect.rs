//! `inspect` on the host's cgroups, as root: the counters of a running container's group
//! are the ones its cgroup version has; what the version lacks is left out, not zero.

mod support;

use runtime_core::runtime::{Request, Response};
use std::time::Instant;
use support::{World, PATIENCE};

/// Whether the host's cgroup hierarchy is v2 (a cgroup2 mount at /sys/fs/cgroup).
fn host_is_v2() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

#[test]
fn inspect_reports_cpu_time_and_only_the_memory_events_the_version_has() {
    let world = World::new();
    let id = world.container("spinner", &["spin:1", "sleep-forever"], "");
    let rt = world.start();
    rt.start(&id).unwrap();
    // Wait (bounded) until the spinning shows as user time; a guard against hangs.
    let deadline = Instant::now() + PATIENCE;
    let stats = loop {
        let Ok(Response::Inspect(inspection)) = rt.request(Request::Inspect { id: id.clone() })
        else {
            panic!("inspect {id}");
        };
        let stats = inspection.cgroup.expect("a running container has a cgroup");
        if stats.cpu.as_ref().is_some_and(|cpu| cpu.user_usec > 0) {
            break stats;
        }
        assert!(
            Instant::now() < deadline,
            "no user time ever reported: {stats:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let cpu = stats.cpu.unwrap();
    assert!(cpu.usage_usec > 0, "{cpu:?}");
    let memory = stats.memory.expect("memory counters");
    let events = &memory.events;
    let v2_only = [events.low, events.high, events.max];
    if host_is_v2() {
        assert!(v2_only.iter().all(Option::is_some), "{events:?}");
    } else {
        assert!(v2_only.iter().all(Option::is_none), "{events:?}");
        let json = serde_json::to_value(events).unwrap();
        assert_eq!(json, serde_json::json!({ "oom": 0, "oom_kill": 0 }));
    }
    rt.stop(&id).unwrap();
    rt.shutdown();
}
