//! Nothing leaks over many start/stop/umount cycles: file descriptors, mounts, loop
//! devices, cgroups. Alone in its test binary, because it counts process-wide resources.

mod support;

use runtime_core::runtime::{Request, Response};
use support::World;

/// What a leak would show: open fds of this process, mounts below the test's directory,
/// loop devices backed by the test's repository, cgroup directories of the test's runtime group.
fn resources(world: &World) -> (usize, usize, usize, usize) {
    let fds = std::fs::read_dir("/proc/self/fd").unwrap().count();
    let dir = world.dir.path().to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&dir))
        .count();
    let repo = world.repo.to_string_lossy().into_owned();
    let loops = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path().join("loop/backing_file"))
                .is_ok_and(|f| f.starts_with(&repo))
        })
        .count();
    let mut groups = 0;
    for controller in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let dir = controller.path().join(&world.cgroup);
        if let Ok(entries) = std::fs::read_dir(dir) {
            groups += entries.flatten().filter(|e| e.path().is_dir()).count();
        }
    }
    (fds, mounts, loops, groups)
}

#[test]
fn no_fd_mount_loop_or_cgroup_leaks_after_200_cycles() {
    let world = World::new();
    let id = world.container(
        "cycler",
        &["sleep-forever"],
        "  /tmp:\n    type: tmpfs\n    size: 1M\n  /data:\n    type: persist\n\
         cgroups:\n  memory:\n    memory_hard_limit: 67108864\n",
    );
    let rt = world.start();
    // Warm up: first mount, first cgroup of the runtime, lazily opened files.
    rt.start(&id).unwrap();
    rt.stop(&id).unwrap();
    rt.request(Request::Umount { id: id.clone() }).unwrap();
    let before = resources(&world);
    for _ in 0..200 {
        assert!(matches!(rt.start(&id), Ok(Response::Started { .. })));
        assert!(matches!(rt.stop(&id), Ok(Response::Stopped { .. })));
        assert_eq!(
            rt.request(Request::Umount { id: id.clone() }),
            Ok(Response::Ok)
        );
    }
    let after = resources(&world);
    assert_eq!(before, after, "(fds, mounts, loop devices, cgroups)");
    rt.shutdown();
}
