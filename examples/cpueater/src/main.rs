//! Example container: burns CPU in a loop and prints, every few seconds, how much CPU time
//! it got per second of wall time. Under the manifest's cgroup CPU limit the share stays
//! at the limit however idle the machine is.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

/// How often the share is reported.
const PERIOD: Duration = Duration::from_secs(5);

fn main() {
    let mut start = Instant::now();
    let mut cpu_start = cpu_time();
    let mut x: u64 = 1;
    loop {
        for _ in 0..1_000_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
        }
        let elapsed = start.elapsed();
        if elapsed >= PERIOD {
            let cpu = cpu_time();
            let share = cpu.saturating_sub(cpu_start).as_secs_f64() / elapsed.as_secs_f64();
            println!("cpueater: {:.0}% of a CPU ({x:x})", share * 100.0);
            start = Instant::now();
            cpu_start = cpu;
        }
    }
}

/// CPU time of this process (user + system) from /proc/self/stat, in clock ticks of 10 ms.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat; the 12th and 13th after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}
