use super::*;

fn package() -> Package {
    Package {
        name: "ten-3".into(),
        npk: "/data/repos/ten-3-0.0.1.npk".into(),
        fs_img: 4096,
        hash_offset: 565_248 - 8192,
        root_hash: "ab".repeat(32),
        command: vec![
            "/bin/test-container".into(),
            "read:/proc/uptime".into(),
            "print:1,ready".into(),
        ],
    }
}

fn script_of(packages: Vec<Package>) -> String {
    script(&Script {
        modules: vec![
            "/lib/modules/6.1/kernel/a/dm-mod.ko".into(),
            "/lib/modules/6.1/kernel/a/dm-verity.ko".into(),
        ],
        root: Root {
            device: "/dev/vda".into(),
            root_hash: "cd".repeat(32),
            hash_offset: 40_960,
        },
        data_device: "/dev/vdb".into(),
        data_fs: "ext4".into(),
        packages,
    })
}

#[test]
fn a_package_is_attached_verified_mounted_and_started() {
    let text = script_of(vec![
        package(),
        Package {
            name: "ten-4".into(),
            ..package()
        },
    ]);
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.iter().position(|l| l.starts_with("losetup")).unwrap();
    let hash = "ab".repeat(32);
    assert_eq!(
        lines[at..at + 6],
        [
            "losetup -r -o 4096 -f /data/repos/ten-3-0.0.1.npk",
            &format!("veritysetup open /dev/loop0 ten-3 /dev/loop0 {hash} --hash-offset=557056"),
            "mkdir -p /mnt/ten-3",
            "mount -t squashfs -o ro /dev/mapper/ten-3 /mnt/ten-3",
            "mount -t proc proc /mnt/ten-3/proc",
            "unshare -m -p -f chroot /mnt/ten-3 /bin/test-container read:/proc/uptime \
             print:1,ready &",
        ]
    );
    // The second package takes the next loop device.
    assert_eq!(
        lines[at + 7],
        format!("veritysetup open /dev/loop1 ten-4 /dev/loop1 {hash} --hash-offset=557056")
    );
}

#[test]
fn the_script_loads_modules_in_order_before_the_root_and_reports_its_times() {
    let text = script_of(vec![package()]);
    let pos = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle} in\n{text}"))
    };
    assert!(text.starts_with("#!/bin/sh\n"));
    assert!(pos("mount -t proc proc /proc") < pos("read up idle < /proc/uptime"));
    assert!(pos("read up idle") < pos(&format!("echo \"{INIT_LINE}$up\"")));
    assert!(pos("insmod /lib/modules/6.1/kernel/a/dm-mod.ko") < pos("dm-verity.ko"));
    assert!(pos("dm-verity.ko") < pos("veritysetup open /dev/vda root"));
    let root = format!(
        "veritysetup open /dev/vda root /dev/vda {} --hash-offset=40960\n\
         mount -t squashfs -o ro /dev/mapper/root /root\n\
         mount -t ext4 /dev/vdb /data\n",
        "cd".repeat(32)
    );
    assert!(pos(&root) < pos("losetup"));
    assert!(pos("while [ ! -b /dev/vdb ]") < pos(&root));
    assert!(pos(" &\n") < pos(&format!("{LAUNCHED_LINE}1 programs at $up")));
    assert!(text.ends_with("while :; do sleep 3600; done\n"));
}

#[test]
fn a_package_reads_its_verity_values_from_a_signed_npk() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::write(root.join("bin/test-container"), vec![7u8; 10_000]).unwrap();
    let yaml = dir.path().join("m.yaml");
    std::fs::write(
        &yaml,
        "name: ten-0\nversion: 0.0.1\ninit: /bin/test-container\nuid: 1000\ngid: 1000\n",
    )
    .unwrap();
    let manifest = npk::pack::read_manifest(&yaml).unwrap();
    let key = npk::key::SecretKey::generate().unwrap();
    let options = npk::pack::Options {
        key: Some(&key),
        ..npk::pack::Options::default()
    };
    let npk =
        npk::pack::pack_manifest(&manifest, &root, dir.path(), &options, &mut |_| ()).unwrap();
    let command = vec!["/bin/test-container".to_string()];
    let p = Package::read(&npk, &key.public(), "/data/x/", command.clone()).unwrap();
    let verified = npk::package::Npk::open(&npk)
        .unwrap()
        .verify(&key.public())
        .unwrap();
    assert_eq!(p.name, "ten-0");
    assert_eq!(p.npk, "/data/x/ten-0-0.0.1.npk");
    assert_eq!(p.fs_img, verified.fs_img().start);
    assert_eq!(p.fs_img % 4096, 0);
    assert_eq!(p.hash_offset, verified.verity().offset);
    assert_eq!(
        p.hash_offset,
        verified.verity().superblock.data_blocks * 4096
    );
    // The dm table the runtime loads names the same root hash.
    assert!(verified.dm_table("/dev/loop0").contains(&p.root_hash));
    assert_eq!(p.command, command);
    // Another key refuses the package.
    let other = npk::key::SecretKey::generate().unwrap().public();
    assert!(Package::read(&npk, &other, "/data/x", command).is_err());
}

#[test]
fn ldd_output_gives_the_libraries_and_the_loader() {
    let text = "\tlinux-vdso.so.1 (0x00007ffc)\n\
                \tlibcryptsetup.so.12 => /lib/x86_64-linux-gnu/libcryptsetup.so.12 (0x7f)\n\
                \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x7f)\n\
                \t/lib64/ld-linux-x86-64.so.2 (0x7f)\n";
    assert_eq!(
        parse_ldd(text),
        [
            PathBuf::from("/lib/x86_64-linux-gnu/libcryptsetup.so.12"),
            PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
            PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
        ]
    );
}

#[test]
fn the_report_needs_every_launched_program() {
    let transcript = "[    2.1] virtio_blk virtio1: [vda] 8 512-byte logical blocks\r\n\
                      baseline: init started at 2.50\r\n\
                      3.10 0.40\n\
                      36 35 0:22 / /proc rw - proc proc rw\n\
                      baseline: launched 2 programs at 3.20\n";
    let report = Report::parse(transcript).unwrap();
    assert_eq!(report.init, 2.5);
    assert_eq!(report.launched, 2);
    assert_eq!(report.programs, [3.1]);
    assert_eq!(report.last_started_ms(), None);
    let both = format!("{transcript}3.31 0.52\n");
    let ms = Report::parse(&both).unwrap().last_started_ms().unwrap();
    assert!((ms - 810.0).abs() < 1e-6, "{ms}");
    assert_eq!(Report::parse("3.10 0.40\n"), None);
}
