use super::*;

/// A `lib/modules/<release>` tree like Debian's (the dm-verity and ext4 chains of the
/// arm64 kernel), with empty `.ko` files.
fn tree() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("lib/modules/6.1.0-test");
    let dep = "\
kernel/drivers/md/dm-verity.ko: kernel/drivers/md/dm-bufio.ko kernel/drivers/md/dm-mod.ko kernel/drivers/dax/dax.ko kernel/lib/reed_solomon/reed_solomon.ko
kernel/drivers/md/dm-mod.ko: kernel/drivers/dax/dax.ko
kernel/drivers/md/dm-bufio.ko:
kernel/drivers/dax/dax.ko:
kernel/lib/reed_solomon/reed_solomon.ko:
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/drivers/block/loop.ko:
kernel/fs/squashfs/squashfs.ko.xz:
";
    let builtin = "kernel/drivers/virtio/virtio.ko\nkernel/drivers/block/virtio_blk.ko\n";
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("modules.dep"), dep).unwrap();
    fs::write(dir.join("modules.builtin"), builtin).unwrap();
    for line in dep.lines() {
        let (ko, _) = line.split_once(':').unwrap();
        let path = dir.join(ko);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"").unwrap();
    }
    (root, dir)
}

fn names(modules: &[Module]) -> Vec<&str> {
    modules.iter().map(|m| m.name.as_str()).collect()
}

#[test]
fn dependencies_come_first_each_once() {
    let (_root, dir) = tree();
    let index = Index::load(&dir).unwrap();
    let (order, builtin) = index
        .resolve(&["loop", "squashfs", "dm-verity", "ext4", "dm_mod"])
        .unwrap();
    assert_eq!(
        names(&order),
        [
            "loop",
            "squashfs",
            "reed_solomon",
            "dax",
            "dm_mod",
            "dm_bufio",
            "dm_verity",
            "jbd2",
            "mbcache",
            "crc16",
            "ext4"
        ]
    );
    assert!(builtin.is_empty());
    assert_eq!(order[6].path, dir.join("kernel/drivers/md/dm-verity.ko"));
    assert_eq!(order[1].path, dir.join("kernel/fs/squashfs/squashfs.ko.xz"));
    // Every module comes after everything it depends on.
    for (i, m) in order.iter().enumerate() {
        let (_, deps) = &index.entries[&m.name];
        for d in deps {
            let at = order.iter().position(|o| &o.name == d).unwrap();
            assert!(at < i, "{d} before {}", m.name);
        }
    }
}

#[test]
fn dashes_and_underscores_are_the_same() {
    let (_root, dir) = tree();
    let index = Index::load(&dir).unwrap();
    let (a, _) = index.resolve(&["dm_verity"]).unwrap();
    let (b, _) = index.resolve(&["dm-verity"]).unwrap();
    assert_eq!(a, b);
    let (_, builtin) = index.resolve(&["virtio-blk", "virtio_blk"]).unwrap();
    assert_eq!(builtin, ["virtio_blk"]);
}

#[test]
fn builtins_are_skipped_and_missing_modules_named() {
    let (_root, dir) = tree();
    let index = Index::load(&dir).unwrap();
    let (order, builtin) = index.resolve(&["virtio_blk", "loop"]).unwrap();
    assert_eq!(names(&order), ["loop"]);
    assert_eq!(builtin, ["virtio_blk"]);
    let e = index.resolve(&["loop", "i6300esb"]).unwrap_err();
    assert!(
        matches!(&e, Error::Missing { name, .. } if name == "i6300esb"),
        "{e}"
    );
    assert!(e.to_string().starts_with("module i6300esb: neither"), "{e}");
}

#[test]
fn broken_indexes_are_errors() {
    let dir = Path::new("/lib/modules/x");
    let e = Index::parse(dir, "a.ko: b.ko\nnot a module line\n", "").unwrap_err();
    assert_eq!(e.to_string(), "/lib/modules/x/modules.dep: line 2: no ':'");
    let e = Index::parse(dir, "a.ko:\nsub/a.ko:\n", "").unwrap_err();
    assert!(e.to_string().contains("line 2: module listed twice"), "{e}");
    // A dependency missing from the index names that dependency.
    let index = Index::parse(dir, "a.ko: b.ko\n", "").unwrap();
    let e = index.resolve(&["a"]).unwrap_err();
    assert!(
        matches!(&e, Error::Missing { name, .. } if name == "b"),
        "{e}"
    );
    // Cycles are reported, not followed forever.
    let index = Index::parse(dir, "a.ko: b.ko\nb.ko: a.ko\n", "").unwrap();
    let e = index.resolve(&["a"]).unwrap_err();
    assert_eq!(e.to_string(), "module a: depends on itself (a -> b -> a)");
}

#[test]
fn missing_builtin_list_is_empty_and_directory_uses_the_release() {
    let (root, dir) = tree();
    fs::remove_file(dir.join("modules.builtin")).unwrap();
    let index = Index::load(&dir).unwrap();
    assert!(index.resolve(&["virtio_blk"]).is_err());
    let osrelease = root.path().join("osrelease");
    fs::write(&osrelease, "6.1.0-test\n").unwrap();
    assert_eq!(
        directory(&root.path().join("lib/modules"), &osrelease).unwrap(),
        dir
    );
    // Nothing requested: the index is not even read.
    assert_eq!(
        load_all::<&str>(Path::new("/nonexistent"), &[]).unwrap(),
        Loaded::default()
    );
    let e = load_all(Path::new("/nonexistent"), &["loop"]).unwrap_err();
    assert!(matches!(e, Error::Read { .. }), "{e}");
}

#[test]
fn canonical_names() {
    assert_eq!(canonical("kernel/drivers/md/dm-mod.ko"), "dm_mod");
    assert_eq!(canonical("squashfs.ko.zst"), "squashfs");
    assert_eq!(canonical("sdhci-iproc"), "sdhci_iproc");
}
