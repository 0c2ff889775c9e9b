//! The management API of the release `northstar` daemon, over its unix socket, against
//! baselines measured in the same run.
//!
//! `cargo run --release -p bench --bin api -- [--containers 50] [--requests 2000]
//! [--pipelined 10000] [--install-mib 64] [--runs 5] [--daemon PATH]` (as root; `--daemon`:
//! a `northstar` binary to measure instead of the release build of this tree)
//!
//! - `list` with 50 containers installed, one request at a time through
//!   `northstar-client` (median and p99 round trip, requests per second), and pipelined on
//!   one connection (requests per second). Baseline: a server that answers every frame at
//!   once with the bytes of the daemon's answer ([`bench::api::Echo`]), with the same
//!   client, alternating request by request.
//! - install of a package of 64 MiB of incompressible data, signed into a keyed
//!   repository and unsigned into an unverified one, as `nstar install` does it (the
//!   file's digest only with `--check-digest`, then the upload through `northstar-client`, answered once the
//!   package is checked and in the repository). Baseline: a copy of the same file in the
//!   same file system (`std::fs::copy`, as `cp`), and the same copy synced.
//!   Goal: ≥ 0.8× the copy's throughput.
//!
//! The daemon's rate limit (`max_requests_per_sec`, 100 by default) is raised for the
//! measurement. No timing is asserted; figures and ratios are printed.

use anyhow::{bail, Context, Result};
use bench::{
    api::{Daemon, Echo, Raw},
    arg,
    containers::{config_text, median, ms, northstar_daemon, pack, percentile, static_binary},
    mib_per_s, timed,
};
use northstar_client::{
    api::{RepositoryName, Request, RequestId, Response, ServerMessage, Welcome},
    package_sha256, Client, Options,
};
use std::{
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

fn main() -> Result<()> {
    let counts = Counts {
        containers: arg("--containers", 50),
        requests: arg("--requests", 2000),
        pipelined: arg("--pipelined", 10000),
        runs: arg("--runs", 5),
    };
    let install_mib: usize = arg("--install-mib", 64);
    let daemon = match arg("--daemon", String::new()) {
        path if path.is_empty() => northstar_daemon()?,
        path => PathBuf::from(path),
    };
    let program = static_binary("test-container", "test-container")?;
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    for sub in ["repo", "dev", "signed", "out", "out-dev", "copies"] {
        fs::create_dir_all(d.join(sub))?;
    }
    for i in 0..counts.containers {
        let manifest = format!(
            "name: api-{i:03}\nversion: 0.0.1\ninit: /bin/test-container\n\
             args: [\"sleep-forever\"]\nuid: 1000\ngid: 1000\n"
        );
        pack(&d.join("repo"), &manifest, &program)?;
    }
    let (signed, unsigned) = packages(d, install_mib)?;
    let socket = d.join("api.sock");
    let config = d.join("northstar.toml");
    let cgroup = format!("northstar-bench-api-{}", std::process::id());
    fs::write(
        &config,
        format!(
            "development = true\n{}\n[repositories.dev]\ndir = \"{d}/dev\"\nunverified = true\n\n\
             [repositories.signed]\ndir = \"{d}/signed\"\nkey = \"{d}/bench.pub\"\n\n\
             [api]\nsocket = \"{socket}\"\nmax_requests_per_sec = 1000000\n\
             max_install_size = \"1G\"\n",
            config_text(d, &cgroup, false),
            d = d.display(),
            socket = socket.display()
        ),
    )?;
    let daemon = Daemon::start(&daemon, &config, &socket)?;
    let result = measure(d, &daemon.socket, &counts, &signed, &unsigned);
    daemon.stop()?;
    result
}

/// What to measure, from the command line.
#[derive(Clone, Copy)]
struct Counts {
    containers: usize,
    requests: usize,
    pipelined: u64,
    runs: usize,
}

fn measure(d: &Path, socket: &Path, counts: &Counts, signed: &Path, unsigned: &Path) -> Result<()> {
    let Counts {
        containers,
        requests,
        pipelined,
        runs,
    } = *counts;
    let url = format!("unix://{}", socket.display());
    let mut client = Client::connect(&url, options())?;
    let list = client.list()?;
    if list.len() != containers {
        bail!("{} containers listed, {containers} expected", list.len());
    }
    let echo = echo(d, &client, list)?;
    let mut baseline = Client::connect(&format!("unix://{}", echo.socket.display()), options())?;

    // One at a time, alternating request by request.
    for _ in 0..100 {
        client.list()?;
        baseline.list()?;
    }
    let mut ours = Vec::with_capacity(requests);
    let mut theirs = Vec::with_capacity(requests);
    for _ in 0..requests {
        ours.push(timed(|| client.list())?.0);
        theirs.push(timed(|| baseline.list())?.0);
    }
    let rps = |samples: &[Duration]| {
        samples.len() as f64 / samples.iter().sum::<Duration>().as_secs_f64()
    };
    let (ours_rps, theirs_rps) = (rps(&ours), rps(&theirs));
    let (ours_med, theirs_med) = (median(&mut ours), median(&mut theirs));
    let (ours_p99, theirs_p99) = (percentile(&ours, 99.0), percentile(&theirs, 99.0));
    let answer = list_answer_len(&mut client)?;
    println!("list, {containers} containers ({answer} bytes per answer), {requests} requests, one at a time");
    println!("| | daemon | echo baseline | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| median round trip | {} | {} | {:.2} |",
        ms(ours_med),
        ms(theirs_med),
        ratio(ours_med, theirs_med)
    );
    println!(
        "| p99 round trip | {} | {} | {:.2} |",
        ms(ours_p99),
        ms(theirs_p99),
        ratio(ours_p99, theirs_p99)
    );
    println!(
        "| requests per second | {ours_rps:.0} | {theirs_rps:.0} | {:.2} |",
        ours_rps / theirs_rps
    );

    // Pipelined on one connection: best of three, alternating.
    let mut ours = Duration::MAX;
    let mut theirs = Duration::MAX;
    for _ in 0..3 {
        ours = ours.min(Raw::connect(socket)?.pipelined(&Request::List {}, pipelined)?);
        theirs = theirs.min(Raw::connect(&echo.socket)?.pipelined(&Request::List {}, pipelined)?);
    }
    let per_s = |t: Duration| pipelined as f64 / t.as_secs_f64();
    println!();
    println!("list pipelined, {pipelined} requests on one connection, best of 3");
    println!("| | daemon | echo baseline | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| requests per second | {:.0} | {:.0} | {:.2} |",
        per_s(ours),
        per_s(theirs),
        per_s(ours) / per_s(theirs)
    );

    install(d, &url, runs, signed, unsigned)
}

/// Median times of copies and installs of the same packages, alternating.
fn install(d: &Path, url: &str, runs: usize, signed: &Path, unsigned: &Path) -> Result<()> {
    let size = fs::metadata(signed)?.len();
    let copy_to = d.join("copies/package.npk");
    let mut copy = Vec::new();
    let mut synced = Vec::new();
    // (label, repository, package, digest checked, phases): `nstar install` sends no
    // digest unless `--check-digest` is given.
    let mut installs: Vec<(&str, &str, &Path, bool, Vec<Phases>)> = vec![
        ("signed", "signed", signed, false, Vec::new()),
        ("dev", "dev", unsigned, false, Vec::new()),
        ("signed, --check-digest", "signed", signed, true, Vec::new()),
    ];
    for _ in 0..runs {
        copy.push(timed(|| fs::copy(signed, &copy_to))?.0);
        fs::remove_file(&copy_to)?;
        synced.push(
            timed(|| {
                fs::copy(signed, &copy_to)?;
                fs::File::open(&copy_to)?.sync_all()
            })?
            .0,
        );
        fs::remove_file(&copy_to)?;
        for (_, repository, package, digest, phases) in &mut installs {
            phases.push(install_once(url, package, repository, *digest)?);
        }
    }
    let copy = median(&mut copy);
    let synced = median(&mut synced);
    let verify = verify_time(d, signed)?;
    println!();
    println!(
        "install of a {:.1} MiB package (64 MiB of incompressible data), median of {runs}",
        size as f64 / (1 << 20) as f64
    );
    println!("| | time | MiB/s | vs copy | vs synced copy |");
    println!("|---|---|---|---|---|");
    println!(
        "| copy (`std::fs::copy`) | {} | {:.0} | 1.00 | |",
        ms(copy),
        mib_per_s(size, copy)
    );
    println!(
        "| copy + fsync | {} | {:.0} | {:.2} | 1.00 |",
        ms(synced),
        mib_per_s(size, synced),
        ratio(copy, synced)
    );
    for (label, _, _, _, phases) in &mut installs {
        let total = median(&mut phases.iter().map(|p| p.total).collect::<Vec<_>>());
        println!(
            "| install into `{label}` | {} | {:.0} | **{:.2}** | {:.2} |",
            ms(total),
            mib_per_s(size, total),
            ratio(copy, total),
            ratio(synced, total)
        );
    }
    println!();
    println!("install phases (medians): digest on the client, upload until the last byte is sent, then the answer");
    println!("| repository | digest | upload | answer |");
    println!("|---|---|---|---|");
    for (label, _, _, _, phases) in &mut installs {
        let pick =
            |f: fn(&Phases) -> Duration| median(&mut phases.iter().map(f).collect::<Vec<_>>());
        let (digest, upload, answer) = (pick(|p| p.digest), pick(|p| p.upload), pick(|p| p.answer));
        println!(
            "| {label} | {} | {} | {} |",
            ms(digest),
            ms(upload),
            ms(answer)
        );
    }
    println!(
        "signature and verity check of the package in this process (as the runtime does): {}",
        ms(verify)
    );
    Ok(())
}

/// Where an install's time goes.
struct Phases {
    digest: Duration,
    upload: Duration,
    answer: Duration,
    total: Duration,
}

/// One install as `nstar install` does it, then an untimed uninstall.
fn install_once(url: &str, package: &Path, repository: &str, digest: bool) -> Result<Phases> {
    let begin = Instant::now();
    let mut client = Client::connect(url, options())?;
    let digest = digest.then(|| package_sha256(package)).transpose()?;
    let digested = Instant::now();
    let mut sent = None;
    let id = client.install(
        package,
        &RepositoryName::new(repository)?,
        digest,
        &mut |done, total| {
            if done == total {
                sent = Some(Instant::now());
            }
        },
    )?;
    let end = Instant::now();
    let sent = sent.context("the upload did not finish")?;
    client.uninstall(&id, false)?;
    Ok(Phases {
        digest: digested - begin,
        upload: sent - digested,
        answer: end - sent,
        total: end - begin,
    })
}

/// The runtime's check of a signed package, in this process: open, signature, verity tree.
fn verify_time(d: &Path, package: &Path) -> Result<Duration> {
    let key = npk::key::PublicKey::load(&d.join("bench.pub"))?;
    let (time, ()) = timed(|| -> Result<()> {
        npk::package::Npk::open(package)?
            .verify(&key)?
            .check_fs_img()?;
        Ok(())
    })?;
    Ok(time)
}

/// A signed package of `mib` MiB of incompressible data (its key's public half at
/// `d/bench.pub`) and an unsigned one of the same size.
fn packages(d: &Path, mib: usize) -> Result<(PathBuf, PathBuf)> {
    let root = d.join("bulk-root");
    fs::create_dir_all(&root)?;
    fs::write(root.join("data.bin"), bench::random_bytes(mib << 20, 7))?;
    let key = npk::key::SecretKey::generate()?;
    key.public().save(&d.join("bench.pub"))?;
    let mut made = Vec::new();
    for (name, out, key) in [("bulk", "out", Some(&key)), ("bulk-dev", "out-dev", None)] {
        let manifest = npk::manifest::Manifest::from_yaml_str(&format!(
            "name: {name}\nversion: 0.0.1\nuid: 1000\ngid: 1000\n"
        ))?;
        let options = npk::pack::Options {
            compression: npk::squashfs::Compression::None,
            key,
            ..Default::default()
        };
        npk::pack::pack_manifest(&manifest, &root, &d.join(out), &options, &mut |_| ())?;
        made.push(d.join(out).join(format!("{name}-0.0.1.npk")));
    }
    Ok((made[0].clone(), made[1].clone()))
}

/// The baseline server, answering with the daemon's welcome and list answer.
fn echo(
    d: &Path,
    client: &Client,
    list: Vec<northstar_client::api::ContainerInfo>,
) -> Result<Echo> {
    let welcome = ServerMessage::Welcome(Welcome {
        version: client.server_version(),
        permissions: client.permissions(),
    });
    let answer = ServerMessage::Response {
        id: RequestId(0),
        response: Response::Containers { containers: list },
    };
    let answer = serde_json::to_string(&answer)?.replacen(r#""id":0"#, r#""id":{id}"#, 1);
    Echo::start(
        &d.join("echo.sock"),
        serde_json::to_string(&welcome)?,
        answer,
    )
}

/// Bytes of a `list` answer frame.
fn list_answer_len(client: &mut Client) -> Result<usize> {
    let containers = client.list()?;
    let answer = ServerMessage::Response {
        id: RequestId(1),
        response: Response::Containers { containers },
    };
    Ok(serde_json::to_string(&answer)?.len() + 1)
}

fn options() -> Options {
    Options {
        request_timeout: Some(Duration::from_secs(300)),
        ..Options::default()
    }
}

/// `a / b` as a number.
fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}
