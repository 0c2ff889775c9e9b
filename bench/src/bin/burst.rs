//! 100 containers started at once, against the single-start latency measured in the same
//! run.
//!
//! `cargo run --release -p bench --bin burst -- [--containers 100] [--singles 30] [--cgroup-v1]`
//! (as root). Runs in the cgroup view of a device unless `--cgroup-v1` (see
//! [`bench::containers::cgroup2_view`]).
//! Goals: all running; the time until all started ≤ 1.3× the least possible time on this
//! machine's cores (100 × the CPU time of one start ÷ cores); the p99 of the start
//! latencies in the burst ≤ 5× the single-start median. A start's latency runs from its
//! request to its `Started` notification (the program executed).

use anyhow::{bail, Context, Result};
use bench::{
    arg,
    containers::{cgroup2_view, median, ms, pack, percentile, start_runtime, static_binary},
};
use runtime_core::{
    id::ContainerId,
    runtime::{Handle, Notification, Request, Response},
};
use std::{
    collections::BTreeMap,
    fs,
    sync::{mpsc::Receiver, Barrier, Mutex},
    time::{Duration, Instant},
};

fn main() -> Result<()> {
    cgroup2_view()?;
    let count: usize = arg("--containers", 100);
    let singles: usize = arg("--singles", 30);
    let program = static_binary("test-container", "test-container")?;
    let dir = tempfile::tempdir()?;
    let repo = dir.path().join("repo");
    fs::create_dir_all(&repo)?;
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let manifest = format!(
            "name: burst-{i:03}\nversion: 0.0.1\ninit: /bin/test-container\nargs: [\"sleep-forever\"]\n\
             uid: 1000\ngid: 1000\nmounts:\n  /proc:\n    type: proc\n"
        );
        ids.push(pack(&repo, &manifest, &program)?.parse::<ContainerId>()?);
    }
    let (handle, events) = start_runtime(dir.path(), "burst")?;

    // Single starts: start, wait until it runs, stop; the same container each time. The
    // CPU time they take (runtime, container inits and programs, all reaped by the end)
    // bounds how fast a burst can be on this machine's cores.
    let mut single = Vec::with_capacity(singles);
    let mut cpu_before = Duration::ZERO;
    for i in 0..singles + 3 {
        let start = Instant::now();
        start_one(&handle, &ids[0])?;
        let at = wait_started(&events, 1)?;
        let latency = at[&ids[0]].duration_since(start);
        handle.request(Request::Stop {
            id: ids[0].clone(),
            timeout: None,
        })?;
        wait_exited(&events, &ids[0])?;
        if i == 2 {
            cpu_before = cpu_time()?;
        }
        if i >= 3 {
            single.push(latency);
        }
    }
    let cpu_per_start = (cpu_time()? - cpu_before) / singles.max(1) as u32;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bound = cpu_per_start * count as u32 / cores as u32;
    drain(&events);

    // The burst: every request sent at once from its own thread.
    let barrier = Barrier::new(count + 1);
    let sent = Mutex::new(BTreeMap::new());
    let (released, started) = std::thread::scope(|scope| -> Result<_> {
        let mut threads = Vec::new();
        for id in &ids {
            let (handle, barrier, sent) = (&handle, &barrier, &sent);
            threads.push(scope.spawn(move || -> Result<()> {
                barrier.wait();
                let at = Instant::now();
                sent.lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .insert(id.clone(), at);
                start_one(handle, id)
            }));
        }
        barrier.wait();
        let released = Instant::now();
        let started = wait_started(&events, count)?;
        for t in threads {
            t.join()
                .map_err(|_| anyhow::anyhow!("a start thread panicked"))??;
        }
        Ok((released, started))
    })?;
    let sent = sent.into_inner().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let mut latencies: Vec<Duration> = ids
        .iter()
        .map(|id| started[id].duration_since(sent[id]))
        .collect();
    let all = started
        .values()
        .max()
        .context("nothing started")?
        .duration_since(released);
    let running = match handle.request(Request::List)? {
        Response::Containers(list) => list
            .iter()
            .filter(|c| c.state == runtime_core::runtime::ContainerState::Running)
            .count(),
        other => bail!("list answered {other:?}"),
    };
    let shutdown = Instant::now();
    handle.shutdown()?;
    let shutdown = shutdown.elapsed();

    latencies.sort();
    let single_median = median(&mut single);
    let p99 = percentile(&latencies, 99.0);
    println!("{count} containers started at once; single starts: {singles} (after 3 warm-up)");
    println!("| | value |");
    println!("|---|---|");
    println!("| single start, median | {} |", ms(single_median));
    println!(
        "| single start, CPU time (runtime + container init + program) | {} |",
        ms(cpu_per_start)
    );
    println!(
        "| burst: least possible time on {cores} cores ({count} × CPU time / cores) | {} |",
        ms(bound)
    );
    println!("| burst: running afterwards | {running} of {count} |");
    println!("| burst: time until all started | {} |", ms(all));
    println!(
        "| burst: start latency median / p99 | {} / {} |",
        ms(percentile(&latencies, 50.0)),
        ms(p99)
    );
    println!("| shutdown (stop all, unmount all) | {} |", ms(shutdown));
    let met = |ok: bool| {
        if ok && running == count {
            "met"
        } else {
            "missed"
        }
    };
    let bound_ratio = all.as_secs_f64() / bound.as_secs_f64();
    println!(
        "all started / least possible: {bound_ratio:.2} (goal ≤ 1.3: {}), p99 {}",
        met(bound_ratio <= 1.3),
        ms(p99)
    );
    let ratio = p99.as_secs_f64() / single_median.as_secs_f64();
    println!(
        "p99 / single median: {ratio:.2} (goal ≤ 5: {})",
        met(ratio <= 5.0)
    );
    if running != count {
        bail!("only {running} of {count} containers run");
    }
    Ok(())
}

/// CPU time of this process and of its reaped descendants.
fn cpu_time() -> Result<Duration> {
    use nix::sys::resource::{getrusage, UsageWho};
    let mut total = Duration::ZERO;
    for who in [UsageWho::RUSAGE_SELF, UsageWho::RUSAGE_CHILDREN] {
        let usage = getrusage(who)?;
        for t in [usage.user_time(), usage.system_time()] {
            total += Duration::from_micros(t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64);
        }
    }
    Ok(total)
}

fn start_one(handle: &Handle, id: &ContainerId) -> Result<()> {
    handle.request(Request::Start {
        id: id.clone(),
        args: None,
        env: None,
    })?;
    Ok(())
}

/// Wait for `count` `Started` notifications; when each arrived.
fn wait_started(
    events: &Receiver<Notification>,
    count: usize,
) -> Result<BTreeMap<ContainerId, Instant>> {
    let mut at = BTreeMap::new();
    while at.len() < count {
        match events.recv_timeout(Duration::from_secs(60))? {
            Notification::Started { id, .. } => {
                at.insert(id, Instant::now());
            }
            Notification::Failed { id, error } => bail!("{id}: {error}"),
            Notification::Exited { id, status, .. } => bail!("{id} ended: {status:?}"),
            _ => (),
        }
    }
    Ok(at)
}

/// Wait for the exit notification of a stopped container.
fn wait_exited(events: &Receiver<Notification>, id: &ContainerId) -> Result<()> {
    loop {
        if let Notification::Exited { id: e, .. } = events.recv_timeout(Duration::from_secs(60))? {
            if &e == id {
                return Ok(());
            }
        }
    }
}

fn drain(events: &Receiver<Notification>) {
    while events.try_recv().is_ok() {}
}
