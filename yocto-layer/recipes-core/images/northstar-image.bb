SUMMARY = "Northstar image: verified root, signed packages, initramfs with the init"
DESCRIPTION = "A read-only squashfs root protected by dm-verity with a signed \
               root descriptor, an ext4 data partition holding the signed \
               container packages, and an initramfs whose /init is \
               Northstar's init (doc/boot.md of the workspace)."
LICENSE = "MIT"

inherit image northstar_image

IMAGE_FSTYPES = "northstar"
IMAGE_LINGUAS = ""
IMAGE_FEATURES = ""

# Nothing in the root is executed by the init; the kernel modules are taken
# from here into the initramfs and left out of the root image.
IMAGE_INSTALL = "kernel-modules"

NORTHSTAR_CONTAINERS ?= "hello-world-npk message-npk"
