//! Installing bundles made by our writer into loop devices standing in for the slots,
//! with the U-Boot environment in a file. Needs root (losetup) and `openssl`.

use super::board::slots::{Bootloader, Slot, Slots, UbootEnv};
use super::slot::{Keeper, Target};
use super::slot_install::{self, Error};
use northstar_bootenv::{uboot, Env};
use northstar_bundle::{
    write::{self, Signer},
    Manifest,
};
use npk::squashfs::Compression;
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

const SLOT_SIZE: u64 = 2 << 20;
const ENV_SIZE: usize = 0x1000;

struct Loop(PathBuf);

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.0).status();
    }
}

struct Device {
    dir: tempfile::TempDir,
    a: Loop,
    b: Loop,
    env: PathBuf,
    keyring: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn attach(file: &Path) -> Option<Loop> {
    std::fs::File::create(file)
        .unwrap()
        .set_len(SLOT_SIZE)
        .unwrap();
    let out = Command::new("losetup")
        .args(["--find", "--show"])
        .arg(file)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| Loop(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())))
}

/// Two slots on loop devices, booted A, a fresh U-Boot environment, a CA and a signer.
fn device() -> Option<Device> {
    let openssl = Command::new("openssl").arg("version").output();
    if !nix::unistd::geteuid().is_root() || !openssl.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: needs root (losetup) and openssl");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = |s: &str| dir.path().join(s);
    let (a, b) = (attach(&p("a.img"))?, attach(&p("b.img"))?);
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    run(Command::new("openssl")
        .args(["req", "-x509", "-days", "30", "-subj", "/CN=slot test CA"])
        .args(ec)
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign"])
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.pem")));
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-days",
            "30",
            "-subj",
            "/CN=slot test signer",
        ])
        .args(ec)
        .arg("-CA")
        .arg(p("ca.pem"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .args(["-addext", "basicConstraints=CA:FALSE"])
        .args(["-addext", "keyUsage=critical,digitalSignature"])
        .arg("-keyout")
        .arg(p("signer.key"))
        .arg("-out")
        .arg(p("signer.pem")));
    let env = p("uboot.env");
    std::fs::File::create(&env)
        .unwrap()
        .set_len(2 * ENV_SIZE as u64)
        .unwrap();
    let mut vars = Env::new();
    vars.set("BOOT_ORDER", "A B");
    vars.set("BOOT_A_LEFT", "2");
    vars.set("BOOT_B_LEFT", "3");
    uboot::write(&env_config(&env), &vars).unwrap();
    std::fs::create_dir(p("northstar")).unwrap();
    Some(Device {
        keyring: p("ca.pem"),
        cert: p("signer.pem"),
        key: p("signer.key"),
        dir,
        a,
        b,
        env,
    })
}

fn env_config(env: &Path) -> uboot::Config {
    let at = |offset| uboot::Location {
        path: env.to_owned(),
        offset,
        size: ENV_SIZE,
    };
    uboot::Config {
        primary: at(0),
        redundant: Some(at(ENV_SIZE as u64)),
    }
}

impl Device {
    fn slots(&self) -> Slots {
        let slot = |name: &str, root: &Loop| Slot {
            name: name.to_string(),
            root: root.0.clone(),
            boot: None,
        };
        Slots {
            bootloader: Bootloader::Uboot,
            healthy_after: Duration::from_secs(60),
            attempts: 3,
            compatible: Some("northstar-test".into()),
            keyring: self.keyring.clone(),
            slots: vec![slot("A", &self.a), slot("B", &self.b)],
            uboot: Some(UbootEnv {
                device: self.env.clone(),
                offset: 0,
                size: ENV_SIZE as u64,
                redundant_offset: Some(ENV_SIZE as u64),
                fs: None,
                file: None,
            }),
            grub: None,
        }
    }

    /// A bundle of `image` as rootfs with `compatible` and `version`.
    fn bundle(&self, name: &str, compatible: &str, version: &str, image: &[u8]) -> PathBuf {
        let content = self.dir.path().join(format!("{name}.d"));
        std::fs::create_dir(&content).unwrap();
        std::fs::write(content.join("rootfs.img"), image).unwrap();
        let text = format!(
            "[update]\ncompatible={compatible}\nversion={version}\n\n[bundle]\nformat=verity\n\n\
             [image.rootfs]\nfilename=rootfs.img\n"
        );
        let manifest = Manifest::parse(text.as_bytes()).unwrap();
        let signer = Signer::from_pem(
            &std::fs::read(&self.cert).unwrap(),
            &std::fs::read(&self.key).unwrap(),
        )
        .unwrap();
        let out = self.dir.path().join(format!("{name}.raucb"));
        write::create(&content, &manifest, &signer, Compression::Zstd, &out).unwrap();
        out
    }

    fn install(&self, keeper: &Keeper, bundle: &Path) -> Result<slot_install::Installed, Error> {
        slot_install::install(
            keeper,
            &self.slots(),
            self.dir.path(),
            bundle,
            &mut |_, _| {},
        )
    }

    fn env(&self) -> Env {
        uboot::read(&env_config(&self.env)).unwrap()
    }
}

fn image(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 11) as u8)
        .collect()
}

#[test]
fn a_bundle_goes_into_the_other_slot_which_becomes_active() {
    let Some(dev) = device() else { return };
    let keeper = Keeper::new(dev.slots(), Some("A".into()));
    let rootfs = image(700_000, 1);
    let bundle = dev.bundle("good", "northstar-test", "2.0.0", &rootfs);
    let installed = dev.install(&keeper, &bundle).unwrap();
    assert_eq!(installed.slot, "B");
    assert_eq!(installed.version, "2.0.0");
    assert_eq!(installed.bytes, rootfs.len() as u64);
    let b = std::fs::read(dev.dir.path().join("b.img")).unwrap();
    assert_eq!(&b[..rootfs.len()], &rootfs[..]);
    // The booted slot is untouched.
    let a = std::fs::read(dev.dir.path().join("a.img")).unwrap();
    assert!(a.iter().all(|x| *x == 0));
    let env = dev.env();
    assert_eq!(env.get("BOOT_ORDER"), Some("B A"));
    assert_eq!(env.get("BOOT_B_LEFT"), Some("3"));
    assert!(installed.status.slots[1].primary);
    let versions = std::fs::read_to_string(dev.dir.path().join(slot_install::VERSIONS)).unwrap();
    assert_eq!(versions, "B=2.0.0\n");
}

#[test]
fn refusals_write_nothing_and_mark_nothing() {
    let Some(dev) = device() else { return };
    let keeper = Keeper::new(dev.slots(), Some("A".into()));
    let rootfs = image(300_000, 2);
    let untouched = |what: &str| {
        let b = std::fs::read(dev.dir.path().join("b.img")).unwrap();
        assert!(b.iter().all(|x| *x == 0), "{what}: slot B was written");
        assert_eq!(dev.env().get("BOOT_ORDER"), Some("A B"), "{what}");
    };
    let other = dev.bundle("other", "another-board", "2.0.0", &rootfs);
    let e = dev.install(&keeper, &other).unwrap_err();
    assert!(matches!(e, Error::Manifest { .. }), "{e}");
    untouched("wrong compatible");

    std::fs::write(dev.dir.path().join(slot_install::VERSIONS), "A=3.1.0\n").unwrap();
    let old = dev.bundle("old", "northstar-test", "3.0.9", &rootfs);
    let e = dev.install(&keeper, &old).unwrap_err();
    assert!(
        e.to_string()
            .contains("version 3.0.9, below 3.1.0 of the booted slot A"),
        "{e}"
    );
    untouched("downgrade");

    let good = dev.bundle("tampered", "northstar-test", "3.2.0", &rootfs);
    let mut bytes = std::fs::read(&good).unwrap();
    bytes[5000] ^= 0x40;
    std::fs::write(&good, &bytes).unwrap();
    let e = dev.install(&keeper, &good).unwrap_err();
    assert!(matches!(e, Error::Bundle(_)), "{e}");
    untouched("tampered payload");

    // Without a booted slot there is no "other" slot to write.
    let unknown = Keeper::new(dev.slots(), None);
    let fine = dev.bundle("fine", "northstar-test", "3.2.0", &rootfs);
    let e = dev.install(&unknown, &fine).unwrap_err();
    assert!(e.to_string().contains("slot"), "{e}");
    untouched("no booted slot");
    assert_eq!(keeper.resolve(&Target::Other).unwrap(), "B");
}

#[test]
fn the_clock_or_the_build_time_whichever_is_later() {
    use std::time::SystemTime;
    let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    let secs = |t: northstar_bundle::UnixTime| t.as_secs();
    assert_eq!(
        secs(slot_install::validity_time(at(100), Some(5_000))),
        5_000
    );
    assert_eq!(
        secs(slot_install::validity_time(at(9_000), Some(5_000))),
        9_000
    );
    assert_eq!(secs(slot_install::validity_time(at(100), None)), 100);
}
