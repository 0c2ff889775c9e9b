SUMMARY = "Northstar disk image: boot, root and data partitions of northstar-image"
DESCRIPTION = "The boot medium of a board (SD card, eMMC) assembled by wic from \
               northstar-image's root image, data partition and initramfs and the kernel."
LICENSE = "MIT"

inherit image

# Only the partitioned boards; the x86_64 QEMU board boots the root and data
# images of northstar-image as two disks.
COMPATIBLE_MACHINE = "raspberrypi2|salvator-x|h3ulcb"

IMAGE_FSTYPES = "wic"
IMAGE_LINGUAS = ""
IMAGE_FEATURES = ""
PACKAGE_INSTALL = ""

NORTHSTAR_ROOT_IMAGE ?= "northstar-image"
do_image_wic[depends] += "${NORTHSTAR_ROOT_IMAGE}:do_image_complete"

# The wic plugin that fills the boot partition from IMAGE_BOOT_FILES: renamed after
# scarthgap (bootimg-partition -> bootimg_partition).
NORTHSTAR_WIC_BOOT_SOURCE ?= "${@bb.utils.contains('LAYERSERIES_CORENAMES', 'scarthgap', 'bootimg-partition', 'bootimg_partition', d)}"

WKS_FILE ?= "northstar-emmc.wks.in"
WKS_FILE:raspberrypi2 ?= "northstar-sdcard.wks.in"

# The boot partition: the kernel and device trees (the machine's IMAGE_BOOT_FILES)
# and the initramfs.
IMAGE_BOOT_FILES:append = " ${NORTHSTAR_ROOT_IMAGE}-${MACHINE}.initramfs.cpio.gz;initramfs.cpio.gz"
NORTHSTAR_BOOT_DTBS = "${@' '.join(os.path.basename(t) for t in (d.getVar('KERNEL_DEVICETREE') or '').split())}"
IMAGE_BOOT_FILES:salvator-x = "Image ${NORTHSTAR_BOOT_DTBS} ${NORTHSTAR_ROOT_IMAGE}-${MACHINE}.initramfs.cpio.gz;initramfs.cpio.gz"
IMAGE_BOOT_FILES:h3ulcb = "Image ${NORTHSTAR_BOOT_DTBS} ${NORTHSTAR_ROOT_IMAGE}-${MACHINE}.initramfs.cpio.gz;initramfs.cpio.gz"
