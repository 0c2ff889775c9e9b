//! The U-Boot environment against libubootenv's `fw_setenv`/`fw_printenv` as oracles.

use std::path::{Path, PathBuf};
use std::process::Command;

use northstar_bootenv::uboot::{self, Config};
use northstar_bootenv::Env;
use proptest::prelude::*;

const FILE_SIZE: usize = 0x10000;

/// The tools' directory, or `None` (and a printed reason) if they are not installed.
fn tools() -> Option<()> {
    let found = ["fw_setenv", "fw_printenv"]
        .iter()
        .all(|tool| which(tool).is_some());
    if !found {
        println!("skipped: fw_setenv/fw_printenv not installed (debian package libubootenv-tool)");
    }
    found.then_some(())
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(tool))
        .find(|path| path.is_file())
}

struct Setup {
    _dir: tempfile::TempDir,
    cfg: PathBuf,
    defenv: PathBuf,
    config: Config,
}

/// A zeroed file with the environment at a non-zero offset, plus the tools' config.
fn setup(size: usize, redundant: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("env.img");
    std::fs::write(&image, vec![0u8; FILE_SIZE]).unwrap();
    let mut text = format!("{} 0x2000 {:#x}\n", image.display(), size);
    if redundant {
        text.push_str(&format!(
            "# redundant copy\n{} 0x8000 {:#x}\n",
            image.display(),
            size
        ));
    }
    let cfg = dir.path().join("fw_env.config");
    std::fs::write(&cfg, &text).unwrap();
    // An empty default environment: the tools refuse to write without one on a blank device.
    let defenv = dir.path().join("default.env");
    std::fs::write(&defenv, "").unwrap();
    let config = uboot::parse_fw_env_config(&text).unwrap();
    Setup {
        _dir: dir,
        cfg,
        defenv,
        config,
    }
}

impl Setup {
    fn image(&self) -> &Path {
        &self.config.primary.path
    }

    /// Sets all variables with one `fw_setenv -s` call (one environment write).
    fn tool_set(&self, env: &Env) {
        let script = self.cfg.with_file_name("script");
        let text: String = env.iter().map(|(n, v)| format!("{n}={v}\n")).collect();
        std::fs::write(&script, text).unwrap();
        let status = Command::new("fw_setenv")
            .arg("-c")
            .arg(&self.cfg)
            .arg("-f")
            .arg(&self.defenv)
            .arg("-s")
            .arg(&script)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn tool_set_one(&self, name: &str, value: &str) {
        let status = Command::new("fw_setenv")
            .arg("-c")
            .arg(&self.cfg)
            .arg("-f")
            .arg(&self.defenv)
            .args([name, value])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn tool_print(&self) -> Env {
        let out = Command::new("fw_printenv")
            .arg("-c")
            .arg(&self.cfg)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|line| line.split_once('=').unwrap())
            .collect()
    }
}

fn sample() -> Env {
    [
        ("bootcmd", "run distro_bootcmd; reset"),
        ("BOOT_ORDER", "A B"),
        ("BOOT_A_LEFT", "3"),
        ("BOOT_B_LEFT", "0"),
        ("args", "root=/dev/mmcblk0p2 console=ttyS0,115200 x=y=z"),
    ]
    .into_iter()
    .collect()
}

#[test]
fn reads_what_fw_setenv_writes() {
    let Some(()) = tools() else { return };
    for redundant in [false, true] {
        let s = setup(0x2000, redundant);
        s.tool_set(&sample());
        assert_eq!(
            uboot::read(&s.config).unwrap(),
            sample().sorted(),
            "redundant {redundant}"
        );
        // A second tool write lands in the other copy (redundant) or in place (single).
        s.tool_set_one("BOOT_B_LEFT", "2");
        let mut expected = sample();
        expected.set("BOOT_B_LEFT", "2");
        let loaded = uboot::load(&s.config).unwrap();
        assert_eq!(loaded.env, expected.sorted());
        assert_eq!(loaded.flags, redundant.then_some(2));
    }
}

#[test]
fn fw_printenv_reads_what_we_write() {
    let Some(()) = tools() else { return };
    for redundant in [false, true] {
        let s = setup(0x2000, redundant);
        uboot::write(&s.config, &sample()).unwrap();
        assert_eq!(s.tool_print(), sample().sorted());
        let mut next = sample();
        next.set("BOOT_ORDER", "B A");
        next.remove("bootcmd");
        uboot::write(&s.config, &next).unwrap();
        assert_eq!(s.tool_print(), next.sorted(), "redundant {redundant}");
    }
}

/// `fw_setenv` pads the data area with whatever its heap buffer held (not always zero), so
/// the bytes are compared up to the terminating empty entry, and whole when its padding is
/// zero. Setting single variables on the command line at size 0x1000 gives zero padding.
fn assert_same_bytes(tool: &[u8], ours: &[u8], config: &Config, env: &Env) {
    let header = config.header_len();
    let used: usize = env
        .iter()
        .map(|(n, v)| n.len() + v.len() + 2)
        .sum::<usize>()
        + 1;
    for location in std::iter::once(&config.primary).chain(&config.redundant) {
        let start = location.offset as usize;
        let tool = &tool[start..start + location.size];
        let ours = &ours[start..start + location.size];
        // The flags byte (if any) and the data up to the terminator are the same.
        assert_eq!(tool[4..header + used], ours[4..header + used]);
        if tool[header + used..].iter().all(|&b| b == 0) {
            assert_eq!(tool, ours, "copy at {start:#x}");
        }
    }
}

#[test]
fn byte_identical_to_fw_setenv() {
    let Some(()) = tools() else { return };
    for redundant in [false, true] {
        let tool = setup(0x1000, redundant);
        let ours = setup(0x1000, redundant);
        let mut env = Env::new();
        for (name, value) in [
            ("BOOT_ORDER", "A B"),
            ("BOOT_A_LEFT", "3"),
            ("BOOT_B_LEFT", "3"),
            ("BOOT_A_LEFT", "2"),
        ] {
            tool.tool_set_one(name, value);
            env.set(name, value);
            uboot::write(&ours.config, &env).unwrap();
            let tool_bytes = std::fs::read(tool.image()).unwrap();
            let our_bytes = std::fs::read(ours.image()).unwrap();
            assert_eq!(
                tool_bytes, our_bytes,
                "after setting {name}={value}, redundant {redundant}"
            );
        }
        let bigger = setup(0x2000, redundant);
        let ours = setup(0x2000, redundant);
        bigger.tool_set(&sample());
        uboot::write(&ours.config, &sample()).unwrap();
        let tool_bytes = std::fs::read(bigger.image()).unwrap();
        let our_bytes = std::fs::read(ours.image()).unwrap();
        assert_same_bytes(&tool_bytes, &our_bytes, &ours.config, &sample());
    }
}

#[test]
fn interrupted_redundant_write_keeps_old_values() {
    let Some(()) = tools() else { return };
    let s = setup(0x2000, true);
    s.tool_set_one("v", "old");
    s.tool_set_one("v", "new");
    let loaded = uboot::load(&s.config).unwrap();
    assert_eq!(loaded.env.get("v"), Some("new"));
    // Simulate a power cut during the last write: the newer copy's crc does not match.
    let newer = match loaded.copy {
        uboot::Copy::Primary => &s.config.primary,
        uboot::Copy::Redundant => s.config.redundant.as_ref().unwrap(),
    };
    let mut bytes = std::fs::read(s.image()).unwrap();
    bytes[newer.offset as usize] ^= 0x55;
    std::fs::write(s.image(), &bytes).unwrap();
    assert_eq!(uboot::read(&s.config).unwrap().get("v"), Some("old"));
    assert_eq!(s.tool_print().get("v"), Some("old"));
    // Both copies broken: an error, where u-boot would use its default environment.
    let other = if newer == &s.config.primary {
        s.config.redundant.as_ref().unwrap()
    } else {
        &s.config.primary
    };
    bytes[other.offset as usize] ^= 0x55;
    std::fs::write(s.image(), &bytes).unwrap();
    let err = uboot::read(&s.config).unwrap_err();
    assert!(matches!(err, uboot::Error::NoValidCopy { .. }), "{err}");
    assert!(err.to_string().contains("default environment"), "{err}");
}

#[test]
fn our_interrupted_write_is_ignored_by_fw_printenv() {
    let Some(()) = tools() else { return };
    let s = setup(0x1000, true);
    let old: Env = [("v", "old")].into_iter().collect();
    uboot::write(&s.config, &old).unwrap();
    let before = std::fs::read(s.image()).unwrap();
    let new: Env = [("v", "new")].into_iter().collect();
    uboot::write(&s.config, &new).unwrap();
    // Only half of the new copy reached the disk.
    let mut bytes = std::fs::read(s.image()).unwrap();
    let target = s.config.primary.offset as usize;
    bytes[target + 0x800..target + 0x1000]
        .copy_from_slice(&before[target + 0x800..target + 0x1000]);
    bytes[target + 5] ^= 1;
    std::fs::write(s.image(), &bytes).unwrap();
    assert_eq!(uboot::read(&s.config).unwrap(), old);
    assert_eq!(s.tool_print(), old);
}

fn arb_env() -> impl Strategy<Value = Env> {
    // Values as fw_setenv -s can carry them: one line, non-empty (empty deletes).
    proptest::collection::btree_map("[A-Za-z_][A-Za-z0-9_.]{0,15}", "[ -~]{1,40}", 1..20)
        .prop_map(|map| map.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn round_trips_through_the_tools(env in arb_env(), redundant in any::<bool>()) {
        let Some(()) = tools() else { return Ok(()) };
        let s = setup(0x2000, redundant);
        uboot::write(&s.config, &env).unwrap();
        prop_assert_eq!(s.tool_print(), env.sorted());
        let t = setup(0x2000, redundant);
        t.tool_set(&env);
        prop_assert_eq!(uboot::read(&t.config).unwrap(), env.sorted());
    }
}
