SUMMARY = "A/B boot files of the Raspberry Pi 2 for Northstar: boot.scr and uboot.env"
DESCRIPTION = "U-Boot's script that picks the root slot in RAUC's conventions \
               (BOOT_ORDER, BOOT_<x>_LEFT, rauc.slot=<x>) and the initial U-Boot \
               environment for the FAT boot partition (ENV_IS_IN_FAT)."

# The workspace's sources: the same files as the Buildroot tree's
# (buildroot-external/board/northstar/rpi2/ab/).
require recipes-core/northstar/northstar-source.inc

DEPENDS += "u-boot-tools-native"
INHIBIT_DEFAULT_DEPS = "1"

COMPATIBLE_MACHINE = "raspberrypi2"

inherit deploy nopackages

# The size of U-Boot's environment (CONFIG_ENV_SIZE of rpi_2): board.toml's
# slots.uboot.size must say the same.
NORTHSTAR_UBOOT_ENV_SIZE ??= "0x4000"

do_compile() {
    mkimage -A arm -O linux -T script -C none -n "northstar A/B" \
        -d ${S}/buildroot-external/board/northstar/rpi2/ab/boot.cmd ${B}/boot.scr
    grep -v '^#' ${S}/buildroot-external/board/northstar/rpi2/ab/uboot-env.txt \
        | mkenvimage -s ${NORTHSTAR_UBOOT_ENV_SIZE} -o ${B}/uboot.env -
}

# Under a directory of their own: meta-raspberrypi's rpi-u-boot-scr deploys a
# boot.scr of its own (northstar-disk takes this one instead).
do_deploy() {
    install -d ${DEPLOYDIR}/northstar-ab
    install -m 0644 ${B}/boot.scr ${B}/uboot.env ${DEPLOYDIR}/northstar-ab/
}
addtask deploy after do_compile before do_build
