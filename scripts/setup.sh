#!/usr/bin/env bash
# Installs everything the build, the tests and the demo need on a fresh Debian 12 machine.
# Idempotent: each step checks first and does nothing when its work is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

packages=(
    cryptsetup-bin      # veritysetup: the reference dm-verity implementation (test oracle, benchmark baseline)
    busybox-static      # the shell init of the boot benchmark's baseline (bench --bin boot)
    squashfs-tools      # unsquashfs/mksquashfs: test oracle and benchmark baseline
    unzip zip           # zip oracle in tests
    musl-tools          # static x86_64 binaries
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross     # aarch64 linker
    gcc-arm-linux-gnueabihf libc6-dev-armhf-cross   # armv7 linker
    hyperfine           # benchmarks
    crun                # container start baseline of the runtime benchmarks (bench/)
    file                # checks that the board binaries are static
    qemu-user           # runs the cross-built binaries in the tests
    qemu-system-x86 qemu-system-arm   # boot tests of the three boards (qemu-tests/)
    cpio                # initramfs oracle of the qemu-tests unit tests (cpio -t, cpio -i)
    kmod                # depmod: module index of the unpacked guest kernels
    e2fsprogs           # mke2fs -d, e2fsck, dumpe2fs, debugfs: the data partition image of the boot test
    fdisk               # sfdisk: the partition table of the Raspberry Pi 2's SD card image (boot test)
    genimage dosfstools mtools   # the Buildroot post-image script's disk images (scripts/check-integrations.sh)
    shellcheck          # the Buildroot scripts
    python3-venv        # the venv of oelint-adv
    rauc                # rauc bundle / rauc info: the oracle of the bundle reader and writer (bundle/)
    libubootenv-tool    # fw_printenv / fw_setenv: the oracle of the U-Boot environment (bootenv/)
    grub-common         # grub-editenv: the oracle of the GRUB environment block (bootenv/)
    u-boot-tools        # mkimage, mkenvimage: the A/B boot script and environment of the integrations' images
    u-boot-qemu         # U-Boot for QEMU's aarch64 virt: the boot loader of the ab-uboot scenario (qemu-tests/)
)
# The boot tests fetch Debian's kernels of the three boards (downloaded and unpacked, not
# installed): apt needs the arm64 and armhf architectures and package lists naming them.
foreign=$(dpkg --print-foreign-architectures)
added=0
for arch in arm64 armhf; do
    grep -qx "$arch" <<<"$foreign" || { as_root dpkg --add-architecture "$arch"; added=1; }
done
# One name at a time: given several, apt-cache show succeeds when any one is found.
for kernel in linux-image-amd64:amd64 linux-image-arm64:arm64 linux-image-armmp:armhf; do
    apt-cache show "$kernel" >/dev/null 2>&1 || added=1
done
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ] || [ "$added" -eq 1 ]; then
    # A mirror in the middle of a sync can fail one list (seen: bookworm-security armhf);
    # go on with the lists apt has: a package that is really missing fails the install below.
    as_root apt-get update -qq || echo "setup: apt-get update reported errors, going on" >&2
fi
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The toolchain and targets pinned in rust-toolchain.toml.
toolchain=$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)
targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf)
installed=$(rustup target list --installed --toolchain "$toolchain" 2>/dev/null || true)
for t in "${targets[@]}"; do
    grep -qx "$t" <<<"$installed" || rustup target add --toolchain "$toolchain" "$t"
done
rustup component list --installed --toolchain "$toolchain" | grep -q '^clippy' \
    || rustup component add --toolchain "$toolchain" clippy rustfmt

# The checks of the Buildroot tree and the Yocto layer (scripts/check-integrations.sh), in
# a venv of Debian's python3, pinned: oelint-adv (the layer's linter) and kconfiglib
# (Buildroot's Kconfig files). The marker names the set installed.
venv=target/integrations-venv
lint=(oelint-adv==9.11.2 oelint-parser==8.13.2 oelint-data==1.5.26 kconfiglib==14.1.0)
if [ "$(cat "$venv/installed" 2>/dev/null)" != "${lint[*]}" ]; then
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${lint[@]}"
    echo "${lint[*]}" >"$venv/installed"
fi

# cargo-fuzz for the fuzz targets (built with the pinned toolchain, see scripts/fuzz.sh).
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
