//! The machines of the boot benchmark (`bench --bin boot`): the images of `ten` built
//! once ([`prepare`]), with the shell-init baseline's initramfs ([`crate::baseline`]) for
//! the same kernel, root and data images, then booted as often as the benchmark asks:
//! Northstar's init until its boot report names every container ([`boot_northstar`]),
//! the baseline until every program it launched printed its start ([`boot_baseline`]).
//! Every machine runs with `-snapshot` (each boot starts from the same disks) and is
//! killed once it has shown what is measured.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::images::{self, Images};
use super::{drive, spec, Error, Options, Scenario, Shared};
use crate::baseline::{self, Package, Root, Script};
use crate::boot::report::{self, BootReport};
use crate::boot::REPOSITORY;
use crate::image::initrd::ROOT_DESCRIPTOR;
use crate::initramfs::reader;
use crate::modules::ModuleIndex;
use crate::qemu::{Qemu, QemuConfig};

/// The images of both sides.
pub struct Prepared {
    dir: PathBuf,
    images: Images,
    /// The baseline's initramfs.
    pub baseline_initrd: PathBuf,
    /// The baseline's `/init`.
    pub script: String,
    /// The containers' ids, as the boot report names them.
    pub ids: Vec<String>,
}

/// Builds the `ten` images (with `shared.payload` in each package) and the baseline's
/// initramfs in `<work_dir>/x86_64/bench/<name>/`.
pub fn prepare(shared: &Shared, name: &str, options: &Options) -> Result<Prepared, Error> {
    let dir = options
        .work_dir
        .join(shared.board.name())
        .join("bench")
        .join(name);
    std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
    let images = images::build(shared, Scenario::Ten, &dir)?;
    let resolution =
        ModuleIndex::load(&shared.kernel.modules_dir)?.resolve(&shared.files.modules)?;
    let repository = shared.files.data_repository(REPOSITORY)?;
    let on_data = repository.on_data().unwrap_or_default().to_owned();
    let host_dir = dir.join("stage/data").join(&on_data);
    let guest_dir = format!("/data/{on_data}");
    let key = images.package_key.public();
    let mut packages = Vec::new();
    for container in &images.containers {
        let npk = host_dir.join(format!("{}-{}.npk", container.name, spec::VERSION));
        let mut command = vec![spec::PROGRAM.to_owned(), "read:/proc/uptime".to_owned()];
        command.extend(container.args.iter().cloned());
        packages.push(Package::read(&npk, &key, &guest_dir, command)?);
    }
    let script = baseline::script(&Script {
        modules: resolution
            .load_order
            .iter()
            .map(|m| baseline::guest_module(&shared.kernel, m))
            .collect(),
        root: root(&images.initrd, &shared.files.root_device)?,
        data_device: shared
            .files
            .data_device
            .clone()
            .unwrap_or_else(|| "/dev/vdb".into()),
        data_fs: "ext4".into(),
        packages,
    });
    let baseline_initrd = dir.join("baseline.cpio");
    baseline::assemble(&script, &shared.kernel, &resolution)?
        .write(&baseline_initrd)
        .map_err(|e| Error::Initrd(e.into()))?;
    let ids = images.containers.iter().map(|c| c.id()).collect();
    Ok(Prepared {
        dir,
        images,
        baseline_initrd,
        script,
        ids,
    })
}

/// The root's `veritysetup` values from the descriptor in Northstar's initramfs.
fn root(initrd: &Path, device: &str) -> Result<Root, Error> {
    let bytes = std::fs::read(initrd).map_err(Error::io("read", initrd))?;
    let bad = |what: &str| Error::Io {
        step: "read the root descriptor from",
        path: initrd.to_path_buf(),
        source: std::io::Error::other(what.to_owned()),
    };
    let entries = reader::parse(&bytes).map_err(|e| bad(&e.to_string()))?;
    let name = ROOT_DESCRIPTOR.trim_start_matches('/');
    let entry = entries
        .iter()
        .find(|e| e.name.trim_start_matches('/') == name)
        .ok_or_else(|| bad("no root descriptor"))?;
    let text = String::from_utf8_lossy(&entry.data);
    let value = |key: &str| {
        text.lines()
            .filter_map(|l| l.split_once(" = "))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().trim_matches('"').to_owned())
            .ok_or_else(|| bad(key))
    };
    let blocks: u64 = value("data_blocks")?
        .parse()
        .map_err(|_| bad("data_blocks"))?;
    Ok(Root {
        device: device.to_owned(),
        root_hash: value("root_hash")?,
        hash_offset: blocks * npk::verity::BLOCK_SIZE,
    })
}

/// A machine of `prepared` with `initrd`: the scenario's, with `-snapshot`.
fn machine(
    shared: &Shared,
    prepared: &Prepared,
    initrd: &Path,
    log: &str,
    options: &Options,
) -> Result<QemuConfig, Error> {
    let mut config = drive::machine(
        shared,
        Scenario::Ten,
        &prepared.images,
        &prepared.dir,
        log,
        options,
    )?;
    config.initrd = initrd.to_path_buf();
    config.snapshot = true;
    Ok(config)
}

/// Boots Northstar's init and returns its boot report once it names every container.
pub fn boot_northstar(
    shared: &Shared,
    prepared: &Prepared,
    options: &Options,
) -> Result<BootReport, Error> {
    let config = machine(
        shared,
        prepared,
        &prepared.images.initrd,
        "northstar.log",
        options,
    )?;
    let mut qemu = Qemu::spawn(&config)?;
    let deadline = Instant::now() + options.boot_timeout;
    let result = (|| {
        qemu.expect_until(report::FIRST_LINE, deadline)?;
        for id in &prepared.ids {
            qemu.seen_until(&format!("container {id} "), deadline)?;
        }
        Ok::<_, Error>(())
    })();
    let transcript = qemu.transcript();
    qemu.kill()?;
    result?;
    BootReport::parse(&transcript).ok_or_else(|| failed(shared, &qemu, "no boot report"))
}

/// Boots the baseline and returns what it printed once every program it launched has
/// printed its start.
pub fn boot_baseline(
    shared: &Shared,
    prepared: &Prepared,
    options: &Options,
) -> Result<baseline::Report, Error> {
    let config = machine(
        shared,
        prepared,
        &prepared.baseline_initrd,
        "baseline.log",
        options,
    )?;
    let mut qemu = Qemu::spawn(&config)?;
    let deadline = Instant::now() + options.boot_timeout;
    let result = (|| {
        qemu.expect_until(baseline::LAUNCHED_LINE, deadline)?;
        loop {
            let report = baseline::Report::parse(&qemu.transcript());
            if let Some(r) = report.filter(|r| r.last_started_ms().is_some()) {
                return Ok(r);
            }
            if Instant::now() >= deadline {
                return Err(failed(shared, &qemu, "not every program printed its start"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })();
    qemu.kill()?;
    result
}

fn failed(shared: &Shared, qemu: &Qemu, what: &str) -> Error {
    let transcript = qemu.transcript();
    let lines: Vec<&str> = transcript.lines().collect();
    Error::BootFailed {
        board: shared.board,
        line: what.to_owned(),
        log: qemu.log_path().to_path_buf(),
        tail: lines[lines.len().saturating_sub(30)..].join("\n"),
    }
}
