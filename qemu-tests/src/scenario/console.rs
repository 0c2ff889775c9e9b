//! Reading a scenario's console: kernel-log records `[ time] text`, the lines the runtime
//! logs for a container (`northstar: runtime_core::…: <id>: <text>`), and the
//! structured lines of the test containers.

use serde_json::Value;

/// The runtime's log tag before a container's output and events.
const RUNTIME: &str = "northstar: runtime_core::";

/// One console line that the runtime logged for a container.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerLine {
    /// Kernel time of the record (seconds since boot).
    pub time: f64,
    /// The container's output or event, after `<id>: `.
    pub text: String,
}

/// The kernel timestamp of a record line (`[    9.100005] …`).
pub fn timestamp(line: &str) -> Option<f64> {
    let rest = line.trim_start_matches(['\r', '\n']).strip_prefix('[')?;
    let (time, _) = rest.split_once(']')?;
    time.trim().parse().ok()
}

/// Every line the runtime logged for container `id`, in order.
pub fn container_lines(transcript: &str, id: &str) -> Vec<ContainerLine> {
    let prefix = format!("{id}: ");
    transcript
        .lines()
        .filter_map(|line| {
            let line = line.trim_end_matches(['\r', '\n']);
            let (_, after) = line.split_once(RUNTIME)?;
            // `events: <id>: text` (the module path ends at the first `: `).
            let (_, message) = after.split_once(": ")?;
            let text = message.strip_prefix(&prefix)?;
            Some(ContainerLine {
                time: timestamp(line).unwrap_or_default(),
                text: text.to_owned(),
            })
        })
        .collect()
}

/// The first line logged for `id` whose text starts with `start`.
pub fn first<'a>(lines: &'a [ContainerLine], start: &str) -> Option<&'a ContainerLine> {
    lines.iter().find(|l| l.text.starts_with(start))
}

/// The kernel time of the first line containing `pattern`.
pub fn time_of(transcript: &str, pattern: &str) -> Option<f64> {
    transcript
        .lines()
        .find(|l| l.contains(pattern))
        .and_then(timestamp)
}

/// The lines containing `pattern`, trimmed.
pub fn lines_with<'a>(transcript: &'a str, pattern: &str) -> Vec<&'a str> {
    transcript
        .lines()
        .filter(|l| l.contains(pattern))
        .map(str::trim_end)
        .collect()
}

/// One `scan-zombies` result of the probe.
#[derive(Clone, Debug, PartialEq)]
pub struct ZombieScan {
    pub time: f64,
    pub processes: u64,
    /// `pid ppid comm` of each zombie.
    pub zombies: Vec<String>,
}

/// The probe's `{"scan_zombies":…}` lines.
pub fn zombie_scans(lines: &[ContainerLine]) -> Vec<ZombieScan> {
    lines
        .iter()
        .filter_map(|line| {
            let value: Value = serde_json::from_str(&line.text).ok()?;
            value.get("scan_zombies")?;
            let zombies = value
                .get("zombies")?
                .as_array()?
                .iter()
                .map(|z| format!("{} {} {}", z["pid"], z["ppid"], z["comm"]))
                .collect();
            Some(ZombieScan {
                time: line.time,
                processes: value.get("processes")?.as_u64()?,
                zombies,
            })
        })
        .collect()
}

/// The fields of the root mount in `/proc/self/mountinfo` lines a container printed:
/// file system type and source.
pub fn root_mount(lines: &[ContainerLine]) -> Option<(String, String)> {
    lines.iter().find_map(|line| {
        let (left, right) = line.text.split_once(" - ")?;
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        (left.get(4) == Some(&"/")).then_some(())?;
        Some(((*right.first()?).to_owned(), (*right.get(1)?).to_owned()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "\
[    4.254508] northstar: runtime_core::runtime::events: a:0.0.1: started (pid 95)\r
[    4.300000] northstar: runtime_core::runtime::events: a:0.0.1: 1 0 254:1 / / ro,nodev,relatime - squashfs /dev/dm-1 ro\r
[    4.300001] northstar: runtime_core::runtime::events: ab:0.0.1: ready\r
[    4.400000] northstar: runtime_core::runtime::events: a:0.0.1: {\"scan_zombies\":\"/host/proc\",\"processes\":40,\"zombies\":[{\"pid\":7,\"ppid\":5,\"comm\":\"x\"}]}\r
[    5.000000] Memory cgroup out of memory: Killed process 120\r
[    5.500000] northstar: runtime_core::runtime::events: a:0.0.1: ended with signal SIGKILL (out of memory)\r
[    6.000000] northstar: runtime_core::runtime::events: a:0.0.1: {\"scan_zombies\":\"/host/proc\",\"processes\":38,\"zombies\":[]}\r
";

    #[test]
    fn lines_of_one_container() {
        let lines = container_lines(CONSOLE, "a:0.0.1");
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0].text, "started (pid 95)");
        assert!((lines[0].time - 4.254508).abs() < 1e-9);
        assert_eq!(
            first(&lines, "ended with").unwrap().text,
            "ended with signal SIGKILL (out of memory)"
        );
        assert_eq!(container_lines(CONSOLE, "ab:0.0.1")[0].text, "ready");
        assert!(container_lines(CONSOLE, "b:0.0.1").is_empty());
    }

    #[test]
    fn scans_mounts_and_times() {
        let lines = container_lines(CONSOLE, "a:0.0.1");
        let scans = zombie_scans(&lines);
        assert_eq!(scans.len(), 2);
        assert_eq!(scans[0].zombies, ["7 5 \"x\""]);
        assert_eq!((scans[1].processes, scans[1].zombies.len()), (38, 0));
        assert_eq!(
            root_mount(&lines),
            Some(("squashfs".into(), "/dev/dm-1".into()))
        );
        assert_eq!(time_of(CONSOLE, "Memory cgroup out of memory"), Some(5.0));
        assert_eq!(lines_with(CONSOLE, "ready").len(), 1);
        assert_eq!(timestamp("no stamp"), None);
    }
}
