use super::*;
use crate::kernels::{Kernel, Package};

fn kernel(board: Board) -> Kernel {
    Kernel {
        board,
        package: Package {
            name: "linux-image-6.1.0-1-x".into(),
            arch: board.debian_arch().into(),
            version: "1".into(),
        },
        release: "6.1.0-1-x".into(),
        vmlinuz: PathBuf::from("/k/vmlinuz"),
        modules_dir: PathBuf::from("/k/modules"),
        dtb: board.dtb().map(|d| PathBuf::from("/k").join(d)),
    }
}

fn config(board: Board) -> QemuConfig {
    QemuConfig::new(&kernel(board), Path::new("/i/initrd"), Path::new("/l/log"))
}

fn after<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
    args.windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1].as_str())
        .collect()
}

#[test]
fn every_board_boots_under_tcg_without_network() {
    for board in Board::ALL {
        let args = config(board).args().unwrap();
        assert!(!args.iter().any(|a| a.contains("kvm")), "{args:?}");
        assert_eq!(after(&args, "-accel"), ["tcg"]);
        assert_eq!(after(&args, "-nic"), ["none"]);
        assert_eq!(after(&args, "-serial"), ["stdio"]);
        assert!(args.contains(&"-no-reboot".to_string()));
        assert_eq!(after(&args, "-kernel"), ["/k/vmlinuz"]);
        assert_eq!(after(&args, "-initrd"), ["/i/initrd"]);
        let append = after(&args, "-append");
        let mut expected = format!("console={} panic=-1", board.console());
        for arg in board.kernel_args() {
            expected = format!("{expected} {arg}");
        }
        assert_eq!(append, [expected]);
    }
}

#[test]
fn the_raspberry_pi_gets_its_dtb_and_1024_mib() {
    let args = config(Board::Rpi2).args().unwrap();
    assert_eq!(after(&args, "-M"), ["raspi2b"]);
    assert_eq!(after(&args, "-m"), ["1024"]);
    assert_eq!(after(&args, "-dtb"), ["/k/bcm2836-rpi-2-b.dtb"]);
    assert_eq!(
        after(&args, "-append"),
        ["console=ttyAMA0 panic=-1 cgroup.memory=nokmem,nosocket cgroup_disable=cpuset"]
    );
    assert!(after(&config(Board::X86_64).args().unwrap(), "-dtb").is_empty());
}

#[test]
fn disks_and_serial_ports_are_plumbed() {
    let mut cfg = config(Board::Aarch64);
    cfg.cmdline.push("quiet".into());
    cfg.drives.push(Drive {
        path: PathBuf::from("/d/a,b.img"),
        read_only: true,
    });
    cfg.drives.push(Drive {
        path: PathBuf::from("/d/data.img"),
        read_only: false,
    });
    cfg.serial_ports.push(SerialPort {
        name: "northstar".into(),
        socket: PathBuf::from("/s/console.sock"),
    });
    cfg.devices.push("i6300esb".into());
    cfg.qmp = Some(PathBuf::from("/s/qmp.sock"));
    let args = cfg.args().unwrap();
    assert_eq!(
        after(&args, "-drive"),
        [
            "file=/d/a,,b.img,if=none,id=disk0,format=raw,readonly=on",
            "file=/d/data.img,if=none,id=disk1,format=raw"
        ]
    );
    assert_eq!(
        after(&args, "-device"),
        [
            "virtio-blk-pci,drive=disk0",
            "virtio-blk-pci,drive=disk1",
            "virtio-serial",
            "virtserialport,chardev=vs0,name=northstar",
            "i6300esb"
        ]
    );
    assert_eq!(
        after(&args, "-qmp"),
        ["unix:/s/qmp.sock,server=on,wait=off"]
    );
    assert_eq!(
        after(&args, "-chardev"),
        ["socket,id=vs0,path=/s/console.sock,server=on,wait=off"]
    );
    assert!(after(&args, "-append")[0].ends_with("panic=-1 quiet"));
}

#[test]
fn the_raspberry_pi_has_one_sd_card_and_no_virtio() {
    let mut cfg = config(Board::Rpi2);
    cfg.drives.push(Drive {
        path: PathBuf::from("/d/sd.img"),
        read_only: false,
    });
    assert_eq!(
        after(&cfg.args().unwrap(), "-drive"),
        ["file=/d/sd.img,if=sd,format=raw"]
    );
    cfg.drives.push(cfg.drives[0].clone());
    assert!(matches!(cfg.args(), Err(Error::Unsupported { .. })));
    cfg.drives.pop();
    cfg.serial_ports.push(SerialPort {
        name: "x".into(),
        socket: PathBuf::from("/s"),
    });
    assert!(matches!(cfg.args(), Err(Error::Unsupported { .. })));
}

#[test]
fn an_interactive_machine_that_reboots() {
    let mut cfg = config(Board::X86_64);
    cfg.interactive = true;
    cfg.no_reboot = false;
    let args = cfg.args().unwrap();
    assert_eq!(after(&args, "-serial"), ["mon:stdio"]);
    assert!(!args.contains(&"-no-reboot".to_string()));
    assert_eq!(after(&args, "-accel"), ["tcg"]);
}

#[test]
fn smp_and_snapshot_only_when_asked() {
    let plain = config(Board::X86_64).args().unwrap();
    assert!(!plain.iter().any(|a| a == "-smp" || a == "-snapshot"));
    let mut two = config(Board::X86_64);
    two.smp = 2;
    two.snapshot = true;
    let args = two.args().unwrap();
    assert_eq!(after(&args, "-smp"), ["2"]);
    assert!(args.contains(&"-snapshot".to_string()));
}
