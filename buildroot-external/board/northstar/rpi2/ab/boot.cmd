# Raspberry Pi 2, A/B root slots in RAUC's U-Boot conventions (doc/boot-loaders.md):
# BOOT_ORDER lists the slots in the order they are tried, BOOT_<x>_LEFT counts the
# attempts each has left (hex, as setexpr writes it). The first slot of the order
# with attempts left has one taken, the environment (uboot.env on the FAT boot
# partition, ENV_IS_IN_FAT) is saved, and the slot is booted with rauc.slot=<x>;
# Northstar's init makes that slot's rootfs_<x> partition the root, verifies it and,
# once the system has run healthy, gives the slot its attempts back.
#
# mkimage -A arm -O linux -T script -C none -d boot.cmd boot.scr

# First boot, or an environment without the slots' variables: the defaults.
test -n "${BOOT_ORDER}" || setenv BOOT_ORDER "A B"
test -n "${BOOT_A_LEFT}" || setenv BOOT_A_LEFT 3
test -n "${BOOT_B_LEFT}" || setenv BOOT_B_LEFT 3

setenv rauc_slot
for BOOT_SLOT in "${BOOT_ORDER}"; do
  if test -n "${rauc_slot}"; then
    true
  elif test "x${BOOT_SLOT}" = "xA"; then
    if test ${BOOT_A_LEFT} -gt 0; then
      setexpr BOOT_A_LEFT ${BOOT_A_LEFT} - 1
      echo "slot A: ${BOOT_A_LEFT} attempts left after this one"
      setenv rauc_slot A
    fi
  elif test "x${BOOT_SLOT}" = "xB"; then
    if test ${BOOT_B_LEFT} -gt 0; then
      setexpr BOOT_B_LEFT ${BOOT_B_LEFT} - 1
      echo "slot B: ${BOOT_B_LEFT} attempts left after this one"
      setenv rauc_slot B
    fi
  fi
done

if test -z "${rauc_slot}"; then
  # Every slot used up its attempts: give them all another round rather than
  # stop here (RAUC's example does the same).
  echo "no slot has attempts left: every slot gets 3 again"
  setenv BOOT_A_LEFT 3
  setenv BOOT_B_LEFT 3
  saveenv
  reset
fi

# Save the taken attempt before booting: a hang, panic or power cut costs it.
saveenv

# The kernel, its device tree and the initramfs (the init, board.toml, the root's
# key and descriptor) from the boot partition; the initramfs last, for ${filesize}.
load mmc 0:1 ${kernel_addr_r} zImage
load mmc 0:1 ${fdt_addr_r} bcm2709-rpi-2-b.dtb
load mmc 0:1 ${ramdisk_addr_r} initramfs.cpio.gz
setenv bootargs "console=ttyAMA0,115200 panic=-1 rauc.slot=${rauc_slot}"
bootz ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdt_addr_r}

echo "booting slot ${rauc_slot} failed"
reset
