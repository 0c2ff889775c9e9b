//! Capability names map to the kernel's numbers (include/uapi/linux/capability.h).

use npk::manifest::Capability;

#[test]
fn kernel_numbers() {
    for (name, number) in [
        ("CAP_CHOWN", 0),
        ("CAP_KILL", 5),
        ("CAP_NET_BIND_SERVICE", 10),
        ("CAP_NET_ADMIN", 12),
        ("CAP_SYS_ADMIN", 21),
        ("CAP_SYS_TIME", 25),
        ("CAP_MAC_ADMIN", 33),
        ("CAP_BPF", 39),
        ("CAP_CHECKPOINT_RESTORE", 40),
    ] {
        assert_eq!(Capability::new(name).unwrap().number(), number, "{name}");
    }
}
