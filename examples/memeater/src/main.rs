//! Example container: allocates memory in steps and touches every page, printing the total,
//! until the manifest's cgroup memory limit has the kernel's OOM killer end it. The
//! runtime reports the kill; everything else keeps running.
#![forbid(unsafe_code)]

use std::time::Duration;

/// One allocation.
const STEP: usize = 4 << 20;
/// Page size to touch every page (4 KiB is the smallest of our targets).
const PAGE: usize = 4096;

fn main() {
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; STEP];
        for i in (0..STEP).step_by(PAGE) {
            chunk[i] = 1;
        }
        held.push(chunk);
        println!("memeater: {} MiB", (held.len() * STEP) >> 20);
        std::thread::sleep(Duration::from_millis(200));
    }
}
