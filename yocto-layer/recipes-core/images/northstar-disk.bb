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

# "1": the Raspberry Pi 2's A/B SD card (boot, rootfs_a, rootfs_b, data; U-Boot
# picks the slot) instead of the single-root one. Needs RPI_USE_U_BOOT = "1" and a
# board whose board.toml has the [slots] of doc/yocto.md (kas/raspberrypi2-ab.yml).
NORTHSTAR_AB ??= "0"
# The override northstar-ab, after the machine's: the A/B settings below win.
# (The linter knows machine and distribution overrides only: hence the nooelint.)
OVERRIDES .= "${@':northstar-ab' if d.getVar('NORTHSTAR_AB') == '1' else ''}"

WKS_FILE ?= "northstar-emmc.wks.in"
WKS_FILE:raspberrypi2 ?= "northstar-sdcard.wks.in"
# nooelint: oelint.vars.specific
WKS_FILE:northstar-ab ?= "northstar-sdcard-ab.wks.in"

# The boot partition: the kernel and device trees (the machine's IMAGE_BOOT_FILES)
# and the initramfs.
IMAGE_BOOT_FILES:append = " ${NORTHSTAR_ROOT_IMAGE}-${MACHINE}.initramfs.cpio.gz;initramfs.cpio.gz"
NORTHSTAR_BOOT_DTBS = "${@' '.join(os.path.basename(t) for t in (d.getVar('KERNEL_DEVICETREE') or '').split())}"
IMAGE_BOOT_FILES:salvator-x = "Image ${NORTHSTAR_BOOT_DTBS} ${NORTHSTAR_ROOT_IMAGE}-${MACHINE}.initramfs.cpio.gz;initramfs.cpio.gz"
IMAGE_BOOT_FILES:h3ulcb = "Image ${NORTHSTAR_BOOT_DTBS} ${NORTHSTAR_ROOT_IMAGE}-${MACHINE}.initramfs.cpio.gz;initramfs.cpio.gz"

# A/B: U-Boot's script and environment of northstar-ab-boot instead of
# meta-raspberrypi's boot.scr.
NORTHSTAR_AB_BOOT_FILES = "northstar-ab/boot.scr;boot.scr northstar-ab/uboot.env;uboot.env"
# nooelint: oelint.vars.specific
IMAGE_BOOT_FILES:remove:northstar-ab = "boot.scr"
# nooelint: oelint.vars.specific
IMAGE_BOOT_FILES:append:northstar-ab = " ${NORTHSTAR_AB_BOOT_FILES}"
NORTHSTAR_AB_DEPENDS = ""
# nooelint: oelint.vars.specific
NORTHSTAR_AB_DEPENDS:northstar-ab = "northstar-ab-boot:do_deploy"
do_image_wic[depends] += "${NORTHSTAR_AB_DEPENDS}"
