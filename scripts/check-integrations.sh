#!/usr/bin/env bash
# Checks of the build-system integrations (buildroot-external/, yocto-layer/) that run
# without Buildroot or BitBake:
#
#   1. the structural checks (scripts/check-integrations.py, with kconfiglib for the
#      Kconfig files) and their self-test, which breaks references in a copy and expects
#      each break to be reported;
#   2. shellcheck of the Buildroot scripts;
#   3. oelint-adv on the layer (no error or warning) for every series it supports;
#   4. Buildroot's post-build.sh and post-image.sh, run with host tools on an output
#      directory laid out as Buildroot's, for each defconfig: the root image (squashfs,
#      verity, signed descriptor), the data partition, the initramfs and the disk image
#      are checked with veritysetup, openssl, unsquashfs, e2fsck, debugfs, cpio and the
#      partition table;
#   5. the Yocto layer's npk and image shell functions, expanded as BitBake expands them
#      and run under /bin/sh -e, with the same checks of their images;
#   6. with --boot (each board when the QEMU tests' kernel of it is cached, else skipped
#      with a message): Buildroot's x86_64 images (q35), Raspberry Pi 2 SD card image
#      (raspi2b) and R-Car H3 eMMC image (one virtio disk of aarch64 virt, the board's
#      stand-in), and the Yocto class's qemux86-64 images (q35) and salvator-x images
#      (virt), boot under QEMU (TCG) with Northstar's init up to hello-world's greeting.
#      The Yocto raspberrypi2 images are checked only (their SD card is a wic image).
#
# Needs the static binaries of the boards (cargo build --release --target <t> -p nstar
# -p northstar, as scripts/test.sh's cross builds make them) and scripts/setup.sh's tools.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
boot=0
[ "${1:-}" = "--boot" ] && boot=1

step() { printf '\n---- %s\n' "$*"; }
fail() { echo "check-integrations: $*" >&2; exit 1; }

venv=target/integrations-venv
[ -x "$venv/bin/oelint-adv" ] || fail "$venv missing: run scripts/setup.sh"
python=$venv/bin/python   # with kconfiglib

step "structure"
"$python" scripts/check-integrations.py
"$python" scripts/check-integrations.py --self-test

step "shellcheck"
if command -v shellcheck >/dev/null; then
    shellcheck -x buildroot-external/board/northstar/*.sh scripts/check-integrations.sh
    echo "shellcheck: clean"
else
    echo "shellcheck not installed: skipped"
fi

step "oelint-adv (yocto-layer)"
oelint=$venv/bin/oelint-adv
mapfile -t layer_files < <(find yocto-layer -name '*.bb' -o -name '*.bbappend' -o -name '*.bbclass' \
    -o -name '*.inc' -o -name '*.conf' | sort)
series=$(sed -n 's/^LAYERSERIES_COMPAT_northstar = "\(.*\)"/\1/p' yocto-layer/conf/layer.conf)
for release in $series; do
    # HOMEPAGE is the repository's address, which the linter cannot reach from here.
    findings=$("$oelint" --quiet --relpaths --hide info --release "$release" \
        --suppress oelint.vars.homepageping \
        --constantmods=+yocto-layer/oelint-constants.json "${layer_files[@]}" 2>&1) \
        || { echo "$findings"; fail "oelint-adv --release $release failed"; }
    [ -z "$findings" ] || { echo "$findings"; fail "oelint-adv --release $release reported findings"; }
    echo "oelint-adv --release $release: ${#layer_files[@]} files, no error or warning"
done

# ---------------------------------------------------------------------------------
# Buildroot's scripts outside Buildroot.
nstar=target/x86_64-unknown-linux-musl/release/nstar
[ -x "$nstar" ] || nstar=target/release/nstar
[ -x "$nstar" ] || fail "no nstar binary: build it first (cargo build --release -p nstar)"
nstar=$root/$nstar

declare -A target_of=(
    [northstar_qemu_x86_64_defconfig]=x86_64-unknown-linux-musl
    [northstar_raspberrypi2_defconfig]=armv7-unknown-linux-gnueabihf
    [northstar_rcar_h3_defconfig]=aarch64-unknown-linux-musl
)
declare -A cache_of=(
    [northstar_qemu_x86_64_defconfig]=x86_64
    [northstar_raspberrypi2_defconfig]=rpi2
    [northstar_rcar_h3_defconfig]=aarch64
)
# The R-Car board's QEMU stand-in (aarch64 virt, board-configs/renesas-aarch64/README.md):
# its module list, which replaces the board's on the kernel command line and, with
# post-image.sh's -M, in the initramfs (Debian's arm64 kernel has no renesas_wdt).
rcar_virt_modules=virtio_pci,virtio_blk,loop,squashfs,dm-verity,crc32c_generic,ext4,i6300esb
declare -A disk_of=(
    [northstar_raspberrypi2_defconfig]=sdcard.img
    [northstar_rcar_h3_defconfig]=emmc.img
)

# A modules tree of the board's modules (fake .ko files) with a dependency chain
# and one built-in module, as depmod writes it.
fake_modules() {
    local board_toml=$1 dir=$2 first=1
    mkdir -p "$dir/kernel"
    : >"$dir/modules.dep"
    : >"$dir/modules.builtin"
    printf 'fake\n' >"$dir/kernel/dep_core.ko"
    printf 'kernel/dep_core.ko:\n' >>"$dir/modules.dep"
    while read -r m; do
        m=${m//-/_}
        if [ "$first" -eq 1 ]; then
            printf 'kernel/%s.ko\n' "$m" >>"$dir/modules.builtin"
            first=0
            continue
        fi
        printf 'fake %s\n' "$m" >"$dir/kernel/$m.ko"
        printf 'kernel/%s.ko: kernel/dep_core.ko\n' "$m" >>"$dir/modules.dep"
    done < <(sed -n '/^modules = \[/,/^\]/p' "$board_toml" | grep -o '"[^"]*"' | tr -d '"')
}

# The start of partition $2 (1-based) of the MBR of image $1, in bytes, and its type.
partition() {
    python3 - "$1" "$2" <<'EOF'
import struct, sys
with open(sys.argv[1], "rb") as f:
    mbr = f.read(512)
assert mbr[510:512] == b"\x55\xaa", "no MBR"
entry = mbr[446 + 16 * (int(sys.argv[2]) - 1):][:16]
print(struct.unpack("<I", entry[8:12])[0] * 512, hex(entry[4]))
EOF
}

verify_images() {
    local images=$1 board_dir=$2 keys=$3 defconfig=$4
    local hash salt blocks
    hash=$(sed -n 's/^root_hash = "\(.*\)"$/\1/p' "$images/root.verity")
    salt=$(sed -n 's/^salt = "\(.*\)"$/\1/p' "$images/root.verity")
    blocks=$(sed -n 's/^data_blocks = \([0-9]*\)$/\1/p' "$images/root.verity")
    if [ "$(wc -l <"$images/root.verity")" -ne 3 ] || [ ${#hash} -ne 64 ] || [ ${#salt} -ne 64 ] || [ -z "$blocks" ]; then
        fail "$defconfig: root.verity is not the three keys of doc/boot.md: $(cat "$images/root.verity")"
    fi
    veritysetup verify --hash-offset=$((blocks * 4096)) "$images/root.img" "$images/root.img" "$hash" \
        || fail "$defconfig: root.img does not verify"
    veritysetup dump --hash-offset=$((blocks * 4096)) "$images/root.img" >"$images/dump.txt"
    if ! grep -q "^Data blocks:[[:space:]]*$blocks$" "$images/dump.txt" || ! grep -q "^Salt:[[:space:]]*$salt$" "$images/dump.txt"; then
        fail "$defconfig: the verity superblock does not carry the descriptor's salt and blocks"
    fi
    cp "$images/root.img" "$images/root.bad"
    printf 'X' | dd of="$images/root.bad" bs=1 seek=100 conv=notrunc status=none
    if veritysetup verify --hash-offset=$((blocks * 4096)) "$images/root.bad" "$images/root.bad" "$hash" 2>/dev/null; then
        fail "$defconfig: a flipped byte of root.img still verifies"
    fi
    rm -f "$images/root.bad"
    { printf '\060\052\060\005\006\003\053\145\160\003\041\000'; cat "$keys/root.pub"; } >"$images/root-pub.der"
    openssl pkeyutl -verify -pubin -keyform DER -inkey "$images/root-pub.der" -rawin \
        -in "$images/root.verity" -sigfile "$images/root.verity.sig" >/dev/null \
        || fail "$defconfig: root.verity.sig does not verify with root.pub"
    unsquashfs -q -d "$images/root" "$images/root.img" >/dev/null
    cmp -s "$images/root/etc/northstar/runtime.toml" "$board_dir/runtime.toml" \
        || fail "$defconfig: the root's runtime.toml is not the board's"
    cmp -s "$images/root/etc/northstar/packages.pub" "$keys/packages.pub" \
        || fail "$defconfig: the root's packages.pub is not the package key"
    for d in dev proc sys run tmp data; do
        [ -d "$images/root/$d" ] || fail "$defconfig: the root has no /$d"
    done
    e2fsck -fn "$images/data.ext4" >/dev/null 2>&1 || fail "$defconfig: data.ext4 is not clean"
    debugfs -R "ls -p /northstar/repositories/system" "$images/data.ext4" 2>/dev/null \
        | grep -q '/message-0.1.0.npk/' || fail "$defconfig: data.ext4 has no message package"
    mkdir "$images/initramfs"
    (cd "$images/initramfs" && gzip -dc "$images/initramfs.cpio.gz" | cpio -id --quiet)
    for f in init etc/northstar/board.toml etc/northstar/root.pub etc/northstar/root.verity etc/northstar/root.verity.sig; do
        [ -f "$images/initramfs/$f" ] || fail "$defconfig: the initramfs has no /$f"
    done
    cmp -s "$images/initramfs/etc/northstar/board.toml" "$board_dir/board.toml" || fail "$defconfig: board.toml differs"
    cmp -s "$images/initramfs/etc/northstar/root.verity" "$images/root.verity" || fail "$defconfig: root.verity differs"
    cmp -s "$images/initramfs/etc/northstar/root.pub" "$keys/root.pub" || fail "$defconfig: root.pub differs"
    ls "$images"/initramfs/lib/modules/*/modules.dep >/dev/null 2>&1 || fail "$defconfig: no modules.dep in the initramfs"
    if [ -n "${disk_of[$defconfig]:-}" ]; then
        local disk=$images/${disk_of[$defconfig]} start type
        [ -f "$disk" ] || fail "$defconfig: genimage made no ${disk_of[$defconfig]}"
        read -r start type < <(partition "$disk" 1)
        [ "$type" = 0xc ] || fail "$defconfig: partition 1 is not FAT (type $type)"
        read -r start type < <(partition "$disk" 2)
        [ "$(dd if="$disk" bs=1 skip="$start" count=4 status=none)" = hsqs ] \
            || fail "$defconfig: partition 2 does not hold the squashfs root"
        cmp -s <(dd if="$disk" bs=512 skip=$((start / 512)) count=$(($(stat -c %s "$images/root.img") / 512)) status=none) \
            "$images/root.img" \
            || fail "$defconfig: partition 2 is not root.img"
        read -r start type < <(partition "$disk" 3)
        [ "$(dd if="$disk" bs=1 skip=$((start + 1080)) count=2 status=none | od -An -tx1 | tr -d ' ')" = 53ef ] \
            || fail "$defconfig: partition 3 does not hold the ext4 data partition"
    fi
}

work=$root/target/check-integrations
rm -rf "$work"
for defconfig in northstar_qemu_x86_64_defconfig northstar_raspberrypi2_defconfig northstar_rcar_h3_defconfig; do
    step "Buildroot post-build.sh and post-image.sh: $defconfig"
    base=$work/$defconfig
    target=${target_of[$defconfig]}
    config=$root/buildroot-external/configs/$defconfig
    board_dir=$(sed -n 's/^BR2_PACKAGE_NORTHSTAR_BOARD_DIR="\(.*\)"$/\1/p' "$config")
    board_dir=${board_dir//\$(BR2_EXTERNAL_NORTHSTAR_PATH)/$root/buildroot-external}
    export BR2_CONFIG=$config BASE_DIR=$base TARGET_DIR=$base/target BINARIES_DIR=$base/images \
        HOST_DIR=$base/host BR2_EXTERNAL_NORTHSTAR_PATH=$root/buildroot-external
    mkdir -p "$HOST_DIR/bin" "$TARGET_DIR/etc" "$BINARIES_DIR" "$base/northstar-keys"
    ln -s "$nstar" "$HOST_DIR/bin/nstar"
    # What host-northstar's hook and the packages do in a real build.
    "$nstar" keygen root --out "$base/northstar-keys" >/dev/null
    "$nstar" keygen packages --out "$base/northstar-keys" >/dev/null
    init=target/$target/release/northstar
    [ -f "$init" ] || fail "$init missing: build it first (cargo build --release --target $target -p northstar)"
    install -m 0755 "$init" "$BINARIES_DIR/northstar-init"
    repo=$base/northstar-repositories/system
    mkdir -p "$repo" "$base/hello/bin"
    "$nstar" pack examples/message/manifest.yaml examples/message/root \
        --key "$base/northstar-keys/packages.key" --out "$repo" >/dev/null
    hello=target/$target/release/hello-world
    if [ "$boot" -eq 1 ] && [ ! -f "$hello" ]; then
        cargo build --locked --release --quiet --target "$target" -p hello-world
    fi
    [ -f "$hello" ] || hello=$init   # any binary: the package is only checked, not run
    install -m 0755 "$hello" "$base/hello/bin/hello-world"
    sed '/^io:/i autostart: relaxed' examples/hello-world/manifest.yaml >"$base/hello.yaml"
    "$nstar" manifest check "$base/hello.yaml" >/dev/null
    "$nstar" pack "$base/hello.yaml" "$base/hello" --key "$base/northstar-keys/packages.key" --out "$repo" >/dev/null
    # The kernel's modules: the QEMU tests' Debian kernel of the board when cached (the
    # images then boot; the R-Car initramfs then holds the virt stand-in's modules
    # instead of the board's), else a modules tree of the board's modules.
    cache=(target/qemu-cache/"${cache_of[$defconfig]:-none}"/root/lib/modules/*/modules.dep)
    standin=()
    if [ -f "${cache[0]}" ]; then
        mkdir -p "$TARGET_DIR/lib/modules"
        ln -s "$root/$(dirname "${cache[0]}")" "$TARGET_DIR/lib/modules/$(basename "$(dirname "${cache[0]}")")"
        [ "$defconfig" = northstar_rcar_h3_defconfig ] && standin=(-M "$rcar_virt_modules")
    else
        fake_modules "$board_dir/board.toml" "$TARGET_DIR/lib/modules/6.12.9"
    fi
    # Boot files the genimage configurations take from the images directory.
    mkdir -p "$BINARIES_DIR/rpi-firmware"
    for f in bcm2709-rpi-2-b.dtb zImage Image r8a77951-salvator-xs.dtb r8a77951-ulcb.dtb \
        rpi-firmware/bootcode.bin rpi-firmware/fixup.dat rpi-firmware/start.elf; do
        printf 'boot file %s\n' "$f" >"$BINARIES_DIR/$f"
    done
    cp buildroot-external/board/northstar/rpi2/config.txt buildroot-external/board/northstar/rpi2/cmdline.txt \
        "$BINARIES_DIR/rpi-firmware/"

    buildroot-external/board/northstar/post-build.sh "$TARGET_DIR"
    mksquashfs "$TARGET_DIR" "$BINARIES_DIR/rootfs.squashfs" -noappend -all-root -comp xz -e lib/modules -quiet >/dev/null
    args=$(sed -n 's/^BR2_ROOTFS_POST_SCRIPT_ARGS="\(.*\)"$/\1/p' "$config")
    args=${args//\$(BR2_EXTERNAL_NORTHSTAR_PATH)/$BR2_EXTERNAL_NORTHSTAR_PATH}
    # shellcheck disable=SC2086 # the arguments are words, as Buildroot passes them
    buildroot-external/board/northstar/post-image.sh "$BINARIES_DIR" $args "${standin[@]}" >"$base/post-image.log" 2>&1 \
        || { tail -n 30 "$base/post-image.log" >&2; fail "$defconfig: post-image.sh failed (log: $base/post-image.log)"; }
    grep '^northstar:' "$base/post-image.log"
    verify_images "$BINARIES_DIR" "$board_dir" "$base/northstar-keys" "$defconfig"
    echo "$defconfig: root.img verifies (veritysetup) with its signed descriptor, data.ext4 holds the signed packages, the initramfs has the init, board and modules${disk_of[$defconfig]:+, ${disk_of[$defconfig]} has the partitions}"
done

# ---------------------------------------------------------------------------------
# The Yocto layer's shell functions outside BitBake: npk.bbclass's do_npk and do_deploy,
# northstar_image.bbclass's rootfs step and image command, with BitBake's variable
# expansion (check-integrations.py --yocto-shell), under /bin/sh -e as BitBake runs them.
declare -A machine_target=(
    [qemux86-64]=x86_64-unknown-linux-musl
    [raspberrypi2]=armv7-unknown-linux-gnueabihf
    [salvator-x]=aarch64-unknown-linux-musl
)
declare -A machine_board=([qemux86-64]=x86_64 [raspberrypi2]=rpi2 [salvator-x]=renesas-aarch64)
declare -A machine_cache=([qemux86-64]=x86_64 [salvator-x]=aarch64)
for machine in qemux86-64 raspberrypi2 salvator-x; do
    step "Yocto image class outside BitBake: $machine"
    dir=$work/yocto-$machine
    board_dir=$root/board-configs/${machine_board[$machine]}
    mkdir -p "$dir/bin" "$dir/deploy" "$dir/imgdeploy" "$dir/rootfs/etc" "$dir/hello/bin"
    ln -s "$nstar" "$dir/bin/nstar"
    install -m 0755 "target/${machine_target[$machine]}/release/northstar" "$dir/deploy/northstar-init"
    # The kernel's modules as for Buildroot: the QEMU tests' Debian kernel when cached
    # (qemux86-64; salvator-x with the virt stand-in's modules, NORTHSTAR_MODULES), else
    # a modules tree of the board's modules.
    cache=(target/qemu-cache/"${machine_cache[$machine]:-none}"/root/lib/modules/*/modules.dep)
    modules=""
    if [ -f "${cache[0]}" ]; then
        mkdir -p "$dir/rootfs/lib/modules"
        ln -s "$root/$(dirname "${cache[0]}")" "$dir/rootfs/lib/modules/$(basename "$(dirname "${cache[0]}")")"
        [ "$machine" = salvator-x ] && modules=${rcar_virt_modules//,/ }
    else
        fake_modules "$board_dir/board.toml" "$dir/rootfs/lib/modules/6.6.0-yocto-standard"
    fi
    hello=target/${machine_target[$machine]}/release/hello-world
    [ -f "$hello" ] || hello=$nstar   # any binary: the package is only checked, not run
    install -m 0755 "$hello" "$dir/hello/bin/hello-world"
    sed '/^io:/i autostart: relaxed' examples/hello-world/manifest.yaml >"$dir/hello.yaml"
    common=(NORTHSTAR_DEV_KEYS=1 NORTHSTAR_ROOT_KEY="$dir/keys/root.key"
        NORTHSTAR_PACKAGES_KEY="$dir/keys/packages.key" NPK_REPOSITORY=system DEPLOYDIR="$dir/deploy"
        NPK_OPTS="")
    {
        "$python" scripts/check-integrations.py --yocto-shell "${common[@]}" PN=message-npk PV=0.1.0+git \
            NPK_DIR="$dir/npk-message" NPK_MANIFEST="$root/examples/message/manifest.yaml" \
            NPK_ROOT="$root/examples/message/root" WORKDIR="$dir/work" IMGDEPLOYDIR="$dir/imgdeploy" \
            IMAGE_NAME=unused IMAGE_ROOTFS="$dir/rootfs" DEPLOY_DIR_IMAGE="$dir/deploy" \
            NORTHSTAR_BOARD_DIR="$board_dir" NORTHSTAR_DATA_SIZE=64M nonarch_base_libdir=/lib \
            NORTHSTAR_EXTRA_MODULES="" NORTHSTAR_MODULES="$modules" REPRODUCIBLE_TIMESTAMP_ROOTFS=1520598896 \
            IMAGE_BASENAME=northstar-image MACHINE="$machine"
        echo 'npk_do_npk; npk_do_deploy'
        "$python" scripts/check-integrations.py --yocto-shell "${common[@]}" PN=hello-world-npk PV=0.1.0+git \
            NPK_DIR="$dir/npk-hello" NPK_MANIFEST="$dir/hello.yaml" NPK_ROOT="$dir/hello" \
            WORKDIR="$dir/work" IMGDEPLOYDIR="$dir/imgdeploy" IMAGE_NAME="northstar-image-$machine-20260101" \
            IMAGE_ROOTFS="$dir/rootfs" DEPLOY_DIR_IMAGE="$dir/deploy" NORTHSTAR_BOARD_DIR="$board_dir" \
            NORTHSTAR_DATA_SIZE=64M nonarch_base_libdir=/lib NORTHSTAR_EXTRA_MODULES="" NORTHSTAR_MODULES="$modules" \
            REPRODUCIBLE_TIMESTAMP_ROOTFS=1520598896 IMAGE_BASENAME=northstar-image MACHINE="$machine"
        echo 'npk_do_npk; npk_do_deploy; northstar_rootfs; IMAGE_CMD_northstar'
    } >"$dir/run.sh"
    (cd "$dir" && PATH=$dir/bin:$PATH:/sbin:/usr/sbin sh -e "$dir/run.sh") >"$dir/run.log" 2>&1 \
        || { tail -n 30 "$dir/run.log" >&2; fail "$machine: the layer's shell functions failed (log: $dir/run.log)"; }
    grep -q "WARNING: Northstar: generating the development key" "$dir/run.log" \
        || fail "$machine: northstar_key generated no development key"
    view=$dir/view
    mkdir -p "$view"
    for suffix in root.img root.verity root.verity.sig data.ext4 initramfs.cpio.gz; do
        [ -L "$dir/imgdeploy/northstar-image-$machine.$suffix" ] || fail "$machine: no link northstar-image-$machine.$suffix"
        cp "$dir/imgdeploy/northstar-image-$machine.$suffix" "$view/$suffix"
    done
    verify_images "$view" "$board_dir" "$dir/keys" "yocto-$machine"
    echo "$machine: the layer's image command made a root that verifies with its signed descriptor, the data partition with both packages, the initramfs"
done

# ---------------------------------------------------------------------------------
# Boots images under QEMU until hello-world greets (or the init reports a failed boot):
# boot_qemu NAME LOG QEMU-ARGS...
boot_qemu() {
    local name=$1 log=$2 qemu deadline start=$SECONDS
    shift 2
    timeout --kill-after=5 180 "$@" >"$log" 2>&1 &
    qemu=$!
    deadline=$((SECONDS + 170))
    until grep -q "Hello, embedded world" "$log" 2>/dev/null || grep -q "boot failed" "$log" 2>/dev/null \
        || [ $SECONDS -ge $deadline ] || ! kill -0 "$qemu" 2>/dev/null; do
        sleep 1
    done
    kill "$qemu" 2>/dev/null || true
    wait "$qemu" 2>/dev/null || true
    if ! grep -q "Hello, embedded world" "$log"; then
        tail -n 30 "$log" >&2
        fail "$name: the images did not boot to hello-world (console: $log)"
    fi
    grep -E "verified, mounted|Startup finished|Hello, embedded world" "$log" | sed 's/^/  /'
    echo "$name: Northstar's init verified the root, mounted the data partition and started hello-world ($((SECONDS - start)) s)"
}

if [ "$boot" -eq 1 ]; then
    step "boot: the Buildroot images under QEMU (x86_64, Raspberry Pi 2, R-Car H3 on virt)"
    images=$work/northstar_qemu_x86_64_defconfig/images
    kernel=(target/qemu-cache/x86_64/root/boot/vmlinuz-*)
    if [ ! -L "$work/northstar_qemu_x86_64_defconfig/target/lib/modules/${kernel[0]#*vmlinuz-}" ]; then
        echo "no cached x86_64 kernel (qemu-tests fetch): x86_64 boot skipped"
    else
        boot_qemu northstar_qemu_x86_64_defconfig "$images/console.log" \
            qemu-system-x86_64 -M q35 -m 512 -accel tcg -nographic -no-reboot -monitor none -serial stdio -nic none \
            -kernel "${kernel[0]}" -initrd "$images/initramfs.cpio.gz" -append "console=ttyS0 panic=-1" \
            -drive file="$images/root.img",if=none,id=d0,format=raw,readonly=on -device virtio-blk-pci,drive=d0 \
            -drive file="$images/data.ext4",if=none,id=d1,format=raw -device virtio-blk-pci,drive=d1 \
            -device i6300esb
    fi
    # raspi2b: the SD card image of genimage, grown to the power of two QEMU wants;
    # the watchdog off (QEMU resets the machine when it is started), no kernel or socket
    # memory accounting and no cpuset controller (static keys whose patching stalls
    # raspi2b under TCG): the board's README.
    images=$work/northstar_raspberrypi2_defconfig/images
    kernel=(target/qemu-cache/rpi2/root/boot/vmlinuz-*)
    dtb=(target/qemu-cache/rpi2/root/usr/lib/linux-image-*/bcm2836-rpi-2-b.dtb)
    if [ ! -L "$work/northstar_raspberrypi2_defconfig/target/lib/modules/${kernel[0]#*vmlinuz-}" ]; then
        echo "no cached rpi2 kernel (qemu-tests fetch): Raspberry Pi 2 boot skipped"
    else
        cp "$images/sdcard.img" "$images/sd.img"
        truncate -s 512M "$images/sd.img"
        boot_qemu northstar_raspberrypi2_defconfig "$images/console.log" \
            qemu-system-arm -M raspi2b -m 1024 -accel tcg -nographic -no-reboot -monitor none -serial stdio \
            -dtb "${dtb[0]}" -kernel "${kernel[0]}" -initrd "$images/initramfs.cpio.gz" \
            -append "console=ttyAMA0 panic=-1 cgroup.memory=nokmem,nosocket cgroup_disable=cpuset northstar.watchdog=off" \
            -drive file="$images/sd.img",if=sd,format=raw
    fi
    # R-Car H3 on its stand-in, aarch64 virt with a Cortex-A57: the eMMC image of genimage
    # is one virtio disk (its partitions vda1-3), the kernel command line switches the
    # board's devices to virt's (board-configs/renesas-aarch64/README.md).
    images=$work/northstar_rcar_h3_defconfig/images
    kernel=(target/qemu-cache/aarch64/root/boot/vmlinuz-*)
    if [ ! -L "$work/northstar_rcar_h3_defconfig/target/lib/modules/${kernel[0]#*vmlinuz-}" ]; then
        echo "no cached aarch64 kernel (qemu-tests fetch): R-Car H3 (virt) boot skipped"
    else
        cp --sparse=always "$images/emmc.img" "$images/emmc-virt.img"
        boot_qemu northstar_rcar_h3_defconfig "$images/console.log" \
            qemu-system-aarch64 -M virt -cpu cortex-a57 -m 512 -accel tcg -nographic -no-reboot -monitor none \
            -serial stdio -nic none -kernel "${kernel[0]}" -initrd "$images/initramfs.cpio.gz" \
            -append "console=ttyAMA0 panic=-1 northstar.modules=$rcar_virt_modules northstar.root.device=/dev/vda2 northstar.data.device=/dev/vda3" \
            -drive file="$images/emmc-virt.img",if=none,id=d0,format=raw -device virtio-blk-pci,drive=d0 \
            -device i6300esb
    fi
    step "boot: the Yocto image class's images under QEMU (qemux86-64, salvator-x on virt)"
    images=$work/yocto-qemux86-64/imgdeploy
    kernel=(target/qemu-cache/x86_64/root/boot/vmlinuz-*)
    if [ ! -L "$work/yocto-qemux86-64/rootfs/lib/modules/${kernel[0]#*vmlinuz-}" ]; then
        echo "no cached x86_64 kernel (qemu-tests fetch): qemux86-64 boot skipped"
    else
        boot_qemu yocto-qemux86-64 "$work/yocto-qemux86-64/console.log" \
            qemu-system-x86_64 -M q35 -m 512 -accel tcg -nographic -no-reboot -monitor none -serial stdio -nic none \
            -kernel "${kernel[0]}" -initrd "$images/northstar-image-qemux86-64.initramfs.cpio.gz" \
            -append "console=ttyS0 panic=-1" \
            -drive file="$images/northstar-image-qemux86-64.root.img",if=none,id=d0,format=raw,readonly=on \
            -device virtio-blk-pci,drive=d0 \
            -drive file="$images/northstar-image-qemux86-64.data.ext4",if=none,id=d1,format=raw \
            -device virtio-blk-pci,drive=d1 -device i6300esb
    fi
    # salvator-x on the virt stand-in: the root and data images as two virtio disks, the
    # command line of board-configs/renesas-aarch64/README.md.
    images=$work/yocto-salvator-x/imgdeploy
    kernel=(target/qemu-cache/aarch64/root/boot/vmlinuz-*)
    if [ ! -L "$work/yocto-salvator-x/rootfs/lib/modules/${kernel[0]#*vmlinuz-}" ]; then
        echo "no cached aarch64 kernel (qemu-tests fetch): salvator-x (virt) boot skipped"
    else
        boot_qemu yocto-salvator-x "$work/yocto-salvator-x/console.log" \
            qemu-system-aarch64 -M virt -cpu cortex-a57 -m 512 -accel tcg -nographic -no-reboot -monitor none \
            -serial stdio -nic none -kernel "${kernel[0]}" \
            -initrd "$images/northstar-image-salvator-x.initramfs.cpio.gz" \
            -append "console=ttyAMA0 panic=-1 northstar.modules=$rcar_virt_modules northstar.root.device=/dev/vda northstar.data.device=/dev/vdb" \
            -drive file="$images/northstar-image-salvator-x.root.img",if=none,id=d0,format=raw,readonly=on \
            -device virtio-blk-pci,drive=d0 \
            -drive file="$images/northstar-image-salvator-x.data.ext4",if=none,id=d1,format=raw \
            -device virtio-blk-pci,drive=d1 -device i6300esb
    fi
fi
step "integrations: all checks passed"
