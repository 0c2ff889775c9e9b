use super::*;

const DEP: &str = "\
kernel/drivers/md/dm-verity.ko: kernel/drivers/md/dm-bufio.ko kernel/drivers/md/dm-mod.ko kernel/lib/reed_solomon/reed_solomon.ko
kernel/drivers/md/dm-bufio.ko: kernel/drivers/md/dm-mod.ko
kernel/drivers/md/dm-mod.ko:
kernel/lib/reed_solomon/reed_solomon.ko:
kernel/drivers/block/loop.ko:
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
";

const BUILTIN: &str = "kernel/net/unix/unix.ko\nkernel/fs/binfmt_elf.ko\n";

fn index() -> ModuleIndex {
    ModuleIndex::parse(Path::new("/m"), DEP, BUILTIN).unwrap()
}

fn names(resolution: &Resolution) -> Vec<&str> {
    resolution
        .load_order
        .iter()
        .map(|m| m.name.as_str())
        .collect()
}

#[test]
fn canonical_names_follow_the_kernel() {
    assert_eq!(canonical_name("dm-mod"), "dm_mod");
    assert_eq!(canonical_name("kernel/drivers/md/dm-mod.ko"), "dm_mod");
    assert_eq!(canonical_name("virtio_blk.ko.xz"), "virtio_blk");
}

#[test]
fn dependencies_come_first_and_once() {
    let resolution = index().resolve(&["dm-verity", "dm_bufio", "loop"]).unwrap();
    assert_eq!(
        names(&resolution),
        ["dm_mod", "dm_bufio", "reed_solomon", "dm_verity", "loop"]
    );
    let verity = &resolution.load_order[3];
    assert_eq!(verity.relative, Path::new("kernel/drivers/md/dm-verity.ko"));
    assert_eq!(verity.path, Path::new("/m/kernel/drivers/md/dm-verity.ko"));
    assert!(resolution.builtin.is_empty());
}

#[test]
fn builtin_modules_are_reported_apart() {
    let resolution = index().resolve(&["unix", "ext4", "unix"]).unwrap();
    assert_eq!(resolution.builtin, ["unix"]);
    assert_eq!(names(&resolution), ["crc16", "mbcache", "jbd2", "ext4"]);
    assert!(index().is_builtin("binfmt-elf"));
}

#[test]
fn unknown_modules_and_cycles_are_errors() {
    let err = index().resolve(&["nonexistent"]).unwrap_err();
    assert!(matches!(err, Error::Unknown { ref name, .. } if name == "nonexistent"));
    let cyclic = "a.ko: b.ko\nb.ko: a.ko\n";
    let index = ModuleIndex::parse(Path::new("/m"), cyclic, "").unwrap();
    let err = index.resolve(&["a"]).unwrap_err();
    assert!(matches!(err, Error::Cycle { .. }), "{err}");
    let missing_dep = ModuleIndex::parse(Path::new("/m"), "a.ko: gone.ko\n", "").unwrap();
    assert!(matches!(
        missing_dep.resolve(&["a"]),
        Err(Error::Unknown { ref name, .. }) if name == "gone"
    ));
}

#[test]
fn malformed_lines_name_the_line() {
    let err = ModuleIndex::parse(Path::new("/m"), "a.ko:\nno colon here\n", "").unwrap_err();
    assert!(matches!(err, Error::Parse { line: 2, .. }), "{err}");
    let err = ModuleIndex::parse(Path::new("/m"), "a.ko:\na.ko:\n", "").unwrap_err();
    assert!(matches!(err, Error::Parse { line: 2, .. }), "{err}");
}
