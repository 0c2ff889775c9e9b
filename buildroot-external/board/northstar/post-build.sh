#!/usr/bin/env bash
# Buildroot post-build script (BR2_ROOTFS_POST_BUILD_SCRIPT): completes the root
# file system as doc/boot.md specifies it. Argument 1: the target directory.
#
# The root holds no init: the kernel starts /init of the initramfs (post-image.sh
# writes it), which verifies this root, mounts it and makes it /. Nothing of the
# root is executed by the init.
set -euo pipefail

target=${1:?usage: post-build.sh TARGET_DIR [args]}
# shellcheck source=buildroot-external/board/northstar/common.sh
. "$BR2_EXTERNAL_NORTHSTAR_PATH/board/northstar/common.sh"

# The init moves its mounts there and mounts the data partition on /data.
for dir in dev proc sys run tmp data; do
    [ -L "$target/$dir" ] && rm -f "$target/$dir"
    mkdir -p "$target/$dir"
done

# The runtime configuration and the key of its repositories.
packages_pub=$(northstar_pub "$NORTHSTAR_PACKAGES_KEY")
[ -f "$packages_pub" ] || northstar_die "$packages_pub: no such file (the public key of $NORTHSTAR_PACKAGES_KEY)"
[ "$(stat -c %s "$packages_pub")" -eq 32 ] || northstar_die "$packages_pub: not a 32-byte public key"
install -D -m 0644 "$NORTHSTAR_BOARD_DIR/runtime.toml" "$target/etc/northstar/runtime.toml"
install -D -m 0644 "$packages_pub" "$target/etc/northstar/packages.pub"

# The CA certificates update bundles are verified against (board.toml's
# slots.keyring default), when configured.
if [ -n "$NORTHSTAR_BUNDLE_KEYRING" ]; then
    [ -f "$NORTHSTAR_BUNDLE_KEYRING" ] || northstar_die "$NORTHSTAR_BUNDLE_KEYRING: no such file (BR2_PACKAGE_NORTHSTAR_BUNDLE_KEYRING)"
    grep -q -- '-----BEGIN CERTIFICATE-----' "$NORTHSTAR_BUNDLE_KEYRING" \
        || northstar_die "$NORTHSTAR_BUNDLE_KEYRING: no PEM certificate"
    install -D -m 0644 "$NORTHSTAR_BUNDLE_KEYRING" "$target/etc/northstar/bundle-keyring.pem"
fi

echo "northstar: root file system: runtime.toml of $NORTHSTAR_BOARD_DIR, packages.pub of $NORTHSTAR_PACKAGES_KEY${NORTHSTAR_BUNDLE_KEYRING:+, bundle-keyring.pem of $NORTHSTAR_BUNDLE_KEYRING}"
