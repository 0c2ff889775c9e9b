//! The images of `ab-uboot`: the board's and runtime's configuration of the scenario,
//! root, data and initramfs as every boot builds them (one root image in both slots,
//! with the run's bundle CA as its keyring), `poweroff`, the bundles, the boot partition
//! with U-Boot's script and the slots' state, the A/B disk and the flash.

use std::path::{Path, PathBuf};

use npk::key::SecretKey;

use super::{
    board_toml, bundles, initial_env, initial_state, runtime_toml, Images, ATTEMPTS, MODULES,
    POWEROFF, POWEROFF_AFTER, POWEROFF_VERSION, SLOTS, STATE, STATE_ADDR,
};
use crate::boot::REPOSITORY;
use crate::image::set;
use crate::scenario::{Error, Options, Shared};
use crate::uboot::{self, disk, script};

/// The images: root, data and initramfs as every boot builds them (one root image in
/// both slots, checked against the one signed descriptor, with the run's bundle CA as
/// its keyring), the poweroff container, the bundles, the boot partition, the disk and
/// the flash.
pub(super) fn build(shared: &Shared, dir: &Path, options: &Options) -> Result<Images, Error> {
    let board_path = dir.join("board.toml");
    std::fs::write(&board_path, board_toml()).map_err(Error::io("write", &board_path))?;
    let board_runtime = &shared.files.runtime_toml;
    let runtime =
        std::fs::read_to_string(board_runtime).map_err(Error::io("read", board_runtime))?;
    let runtime_path = dir.join("runtime.toml");
    std::fs::write(&runtime_path, runtime_toml(&runtime))
        .map_err(Error::io("write", &runtime_path))?;
    let keys = bundles::keys(dir)?;
    let root_files = [(keys.ca.clone(), PathBuf::from(bundles::KEYRING))];
    let mut files = shared.files.clone();
    files.board_toml = board_path;
    files.modules = MODULES.iter().map(|m| (*m).to_owned()).collect();
    files.watchdog = false;
    files.root_device = "/dev/vda2".into();
    files.data_device = Some("/dev/vda4".into());
    let package_key = SecretKey::generate().map_err(Error::key("generate"))?;
    let spec = set::Spec {
        kernel: &shared.kernel,
        files: &files,
        init: &shared.init,
        runtime_config: &runtime_path,
        package_key: &package_key,
        repository: REPOSITORY,
        root_files: &root_files,
    };
    let (set, ()) = set::build(&spec, dir, |stage| {
        pack_poweroff(shared, stage, &package_key)
    })?;
    let bundles = bundles::build(&keys, &set.root.path, dir)?;

    let script_text = script::text(&script::Boot {
        slots: SLOTS.iter().map(|(n, _)| (*n).to_owned()).collect(),
        attempts: ATTEMPTS,
        device: "virtio 0:1".into(),
        kernel: "Image".into(),
        initramfs: "initramfs.cpio".into(),
        state: STATE.into(),
        state_size: uboot::ENV_SIZE,
        state_addr: STATE_ADDR.into(),
    });
    let state_path = dir.join(STATE);
    let state = initial_state().encode().map_err(uboot::Error::from)?;
    std::fs::write(&state_path, state).map_err(Error::io("write", &state_path))?;
    let script_path = dir.join("boot.scr");
    let image = script::image("Northstar A/B", &script_text);
    std::fs::write(&script_path, image).map_err(Error::io("write", &script_path))?;
    std::fs::write(dir.join("boot.cmd"), &script_text)
        .map_err(Error::io("write", &dir.join("boot.cmd")))?;
    let size = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.len())
            .map_err(Error::io("read", p))
    };
    let payload = size(&shared.kernel.vmlinuz)? + size(&set.initrd)?;
    let boot_img = dir.join("boot.img");
    disk::fat(
        &boot_img,
        payload / (1 << 20) + 8,
        &[
            (&shared.kernel.vmlinuz, "Image"),
            (&set.initrd, "initramfs.cpio"),
            (&script_path, "boot.scr"),
            (&state_path, STATE),
        ],
    )
    .map_err(uboot::Error::from)?;
    let disk = disk::build(
        &dir.join("disk.img"),
        &[
            (disk::BOOT, &boot_img),
            (SLOTS[0].1, &set.root.path),
            (SLOTS[1].1, &set.root.path),
            (disk::DATA, &set.data),
        ],
    )
    .map_err(uboot::Error::from)?;
    let flash = uboot::flash(Path::new(uboot::U_BOOT_BIN), &initial_env(options), dir)?;
    Ok(Images {
        disk,
        flash,
        descriptor: set.root.descriptor,
        root: set.root.path,
        bundles,
    })
}

/// Packs `poweroff`: test-container asking for a power-off through its console
/// connection [`POWEROFF_AFTER`] seconds after it started.
fn pack_poweroff(shared: &Shared, stage: &set::Stage<'_>, key: &SecretKey) -> Result<(), Error> {
    let root = stage.scratch.join(POWEROFF);
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).map_err(Error::io("create", &bin))?;
    let program = bin.join("test-container");
    std::fs::copy(&shared.test_container, &program).map_err(Error::io("copy", &program))?;
    let yaml = stage.scratch.join(format!("{POWEROFF}.yaml"));
    let manifest = format!(
        "name: {POWEROFF}\nversion: {POWEROFF_VERSION}\ninit: /bin/test-container\n\
         args: [\"print:1,ready\", \"sleep:{POWEROFF_AFTER}\", \"console:shutdown\", \"sleep-forever\"]\n\
         uid: 1000\ngid: 1000\nautostart: relaxed\n\
         console:\n  permissions: [shutdown]\nio:\n  stdout: pipe\n  stderr: pipe\n"
    );
    std::fs::write(&yaml, manifest).map_err(Error::io("write", &yaml))?;
    let manifest = npk::pack::read_manifest(&yaml).map_err(Error::pack(POWEROFF))?;
    let options = npk::pack::Options {
        key: Some(key),
        ..npk::pack::Options::default()
    };
    npk::pack::pack_manifest(&manifest, &root, stage.repository, &options, &mut |_| ())
        .map_err(Error::pack(POWEROFF))?;
    Ok(())
}
