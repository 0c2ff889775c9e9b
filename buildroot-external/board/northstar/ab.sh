# shellcheck shell=bash
# A/B root slots for post-image.sh (BR2_PACKAGE_NORTHSTAR_AB): the U-Boot boot
# script and environment of the boot partition, and the RAUC bundle of the root
# image. Sourced after common.sh.

# The boot files of DIR $1 into directory $2: boot.cmd compiled into boot.scr
# (mkimage), uboot-env.txt made into uboot.env (mkenvimage, the size of
# board.toml's [slots.uboot]), config.txt copied.
northstar_ab_boot_files() {
    local src=$1 out=$2 board=$NORTHSTAR_BOARD_DIR/board.toml size
    grep -q '^\[slots\]' "$board" \
        || northstar_die "$board: no [slots] table, which BR2_PACKAGE_NORTHSTAR_AB needs (doc/buildroot.md)"
    [ "$(northstar_board_value slots bootloader "$board")" = uboot ] \
        || northstar_die "$board: slots.bootloader is not \"uboot\" (the A/B image boots with U-Boot)"
    size=$(northstar_board_value slots.uboot size "$board")
    [ -n "$size" ] || northstar_die "$board: no slots.uboot.size"
    [ -n "$(northstar_board_value slots.uboot file "$board")" ] \
        || northstar_die "$board: no slots.uboot.file: the A/B image keeps uboot.env on the boot partition"
    for f in boot.cmd uboot-env.txt config.txt; do
        [ -f "$src/$f" ] || northstar_die "$src/$f: no such file"
    done
    for tool in mkimage mkenvimage; do
        command -v "$tool" >/dev/null || northstar_die "$tool not found (BR2_PACKAGE_HOST_UBOOT_TOOLS)"
    done
    rm -rf "$out"
    mkdir -p "$out"
    mkimage -A arm -O linux -T script -C none -n "northstar A/B" -d "$src/boot.cmd" "$out/boot.scr" >/dev/null
    grep -v '^#' "$src/uboot-env.txt" | mkenvimage -s "$((size))" -o "$out/uboot.env" -
    install -m 0644 "$src/config.txt" "$out/config.txt"
    echo "northstar: A/B boot files: boot.scr of $src/boot.cmd, uboot.env ($((size)) bytes)"
}

# The update bundle $2 of root image $1 (slot class rootfs), in RAUC's verity
# format, when a signer is configured; $3 a work directory. With host-rauc
# (BR2_PACKAGE_HOST_RAUC) `rauc bundle`, else `nstar bundle create`.
northstar_bundle() {
    local image=$1 out=$2 work=$3 board=$NORTHSTAR_BOARD_DIR/board.toml compatible version
    rm -f "$out"
    if [ -z "$NORTHSTAR_BUNDLE_CERT" ] && [ -z "$NORTHSTAR_BUNDLE_KEY" ]; then
        return 0
    fi
    for f in "$NORTHSTAR_BUNDLE_CERT" "$NORTHSTAR_BUNDLE_KEY"; do
        [ -n "$f" ] || northstar_die "BR2_PACKAGE_NORTHSTAR_BUNDLE_CERT and _KEY: set both or neither"
        [ -f "$f" ] || northstar_die "$f: no such file"
    done
    compatible=$(northstar_board_value slots compatible "$board")
    [ -n "$compatible" ] || northstar_die "$board: no slots.compatible, which a bundle must carry"
    version=$NORTHSTAR_BUNDLE_VERSION
    [ -n "$version" ] || version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$BR2_EXTERNAL_NORTHSTAR_PATH/../Cargo.toml" | head -n 1)
    [ -n "$version" ] || northstar_die "no bundle version (BR2_PACKAGE_NORTHSTAR_BUNDLE_VERSION)"
    if [ "$(northstar_option BR2_PACKAGE_HOST_RAUC)" = y ]; then
        command -v rauc >/dev/null || northstar_die "rauc not found (host-rauc)"
        rm -rf "$work"
        mkdir -p "$work/content"
        cp "$image" "$work/content/rootfs.img"
        printf '[update]\ncompatible=%s\nversion=%s\n\n[bundle]\nformat=verity\n\n[image.rootfs]\nfilename=rootfs.img\n' \
            "$compatible" "$version" >"$work/content/manifest.raucm"
        rauc bundle --cert="$NORTHSTAR_BUNDLE_CERT" --key="$NORTHSTAR_BUNDLE_KEY" "$work/content" "$out" >/dev/null
        rm -rf "$work"
        echo "northstar: $out: rauc bundle, compatible $compatible, version $version"
    else
        "$(northstar_nstar)" bundle create --cert "$NORTHSTAR_BUNDLE_CERT" --key "$NORTHSTAR_BUNDLE_KEY" \
            --compatible "$compatible" --version "$version" --rootfs "$image" -o "$out" >/dev/null
        echo "northstar: $out: nstar bundle create, compatible $compatible, version $version"
    fi
}
