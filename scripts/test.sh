#!/usr/bin/env bash
# The whole test suite: set-up, formatting, lints, unit and integration tests (as root:
# they loop-mount images), cross builds for the three boards, fuzz smoke runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# One-shot builds: incremental compilation only costs time and disk here.
export CARGO_INCREMENTAL=0

# Each step prints the free disk space: the suite builds for four targets and two
# profiles, and a full disk is the first thing to rule out when a step fails.
step() {
    printf '\n==== %s\n' "$*"
    printf '(%d s into the run; disk: %s free, target/ %s)\n' "$SECONDS" \
        "$(df -h --output=avail . | tail -n 1 | tr -d ' ')" "$(du -sh target 2>/dev/null | cut -f1 || echo 0)"
}
# Below this much free space (GiB), a step removes build output the rest no longer needs.
low_disk_gib=${LOW_DISK_GIB:-25}
low_on_disk() { [ "$(df -B1G --output=avail . | tail -n 1 | tr -d ' ')" -lt "$low_disk_gib" ]; }

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
if [ "$(id -u)" -ne 0 ]; then
    echo "the integration tests mount loop devices: run as root" >&2
    exit 1
fi
cargo test --workspace --locked
# The debug build is not used by the steps below (they build release binaries).
if low_on_disk; then
    echo "less than ${low_disk_gib} GiB free: removing target/debug"
    rm -rf target/debug
fi

step "boots (QEMU, three boards)"
# Debian's kernels (fetched once into target/qemu-cache) and Northstar's init as PID 1 on
# each board, under QEMU TCG with hard timeouts; the harness ends QEMU itself where the
# board cannot power off (raspi2b). (`qemu-tests boot-probe`, a minimal static init that
# only loads modules, is a bring-up tool for new boards: the boots below do all it does.)
# Release: the harness shares its host build (proc macros) with the release cross builds.
qemu_tests() { cargo run --locked --release --quiet -p qemu-tests -- "$@"; }
qemu_tests fetch
# Northstar's own init as PID 1: verified root (dm-verity, signed descriptor), ext4 data
# partition with signed example packages, hello-world started and heard on the console,
# then Ctrl-Alt-Del (QMP) for an orderly reboot and e2fsck -fn of the data image.
started=$SECONDS
qemu_tests boot --board x86_64 --timeout 90
echo "x86_64 boot: $((SECONDS - started)) s"
# The same on the aarch64 `virt` stand-in for the Renesas board (virtio disks and the
# i6300esb switched in on the kernel command line) and on the Raspberry Pi 2 (raspi2b: one
# SD card, MBR with root in p2 and data in p3, watchdog off). These machines have no PS/2
# keyboard: a container asks for the reboot through its console connection instead.
for board in aarch64 rpi2; do
    started=$SECONDS
    qemu_tests boot --board "$board" --timeout 180
    echo "$board boot: $((SECONDS - started)) s"
done
# The README's demo, non-interactive: every example on the x86_64 image with its expected
# output, nstar list/reboot/shutdown over the management channel (virtio-serial), the
# persistence count across the reboot, e2fsck of the data partition.
started=$SECONDS
qemu_tests demo --check
echo "x86_64 demo check: $((SECONDS - started)) s"
# The x86_64 scenarios (doc/qemu-tests.md), binaries built once for all of them: ten
# signed containers, a tampered root and a tampered package refused, an OOM kill, no
# zombies after orphans, the watchdog fed and, with a hung test build of the init, firing,
# and power cuts during an install through the management channel.
started=$SECONDS
qemu_tests scenario --board x86_64 all
echo "x86_64 scenarios: $((SECONDS - started)) s"

step "cross builds (static binaries for the boards, run under qemu-user)"
vectors=npk/tests/data/northstar-0.9
declare -A emulator=(
    [x86_64-unknown-linux-musl]=""
    [aarch64-unknown-linux-musl]=qemu-aarch64
    [armv7-unknown-linux-gnueabihf]=qemu-arm
)
for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf; do
    # The same packages as the boots' builds (qemu-tests/src/cargo.rs, GUEST_PACKAGES):
    # their output is reused, not rebuilt with other features.
    cargo build --locked --release --target "$target" -p northstar -p nstar -p hello-world \
        -p ferris -p persistence -p cpueater -p memeater -p test-container
    for bin in nstar northstar; do
        f="target/$target/release/$bin"
        file "$f" | grep -Eq "statically linked|static-pie linked" || { echo "$f is not static" >&2; exit 1; }
        printf '%-34s %-10s %8d bytes\n' "$target" "$bin" "$(stat -c %s "$f")"
    done
    run=${emulator[$target]}
    $run "target/$target/release/northstar" --version
    $run "target/$target/release/nstar" verify "$vectors/hello-0.0.1.npk" --key "$vectors/vectors.pub" >/dev/null
    work=$(mktemp -d)
    $run "target/$target/release/nstar" keygen t --out "$work" >/dev/null
    $run "target/$target/release/nstar" pack examples/message/manifest.yaml examples/message/root \
        --key "$work/t.key" --out "$work" >/dev/null
    $run "target/$target/release/nstar" verify "$work/message-0.1.0.npk" --key "$work/t.pub" >/dev/null
    rm -rf "$work"
    echo "$target: nstar verifies a Northstar 0.9 package and packs and verifies its own"
done

step "build-system integrations (Buildroot external tree, Yocto layer)"
# Structure and its self-test, shellcheck, oelint-adv, Buildroot's post-build and
# post-image scripts on the boards' static binaries above, and a QEMU boot of the x86_64
# images they make.
bash scripts/check-integrations.sh --boot

step "fuzz smoke runs"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-15}"

step "all tests passed"
