#!/usr/bin/env bash
# The whole test suite: set-up, formatting, lints, unit and integration tests (as root:
# they loop-mount images), cross builds for the three boards, the boots, the demo and the
# scenarios under QEMU, the build-system integrations, fuzz smoke runs. Ends with a table
# of every step's time.
set -euo pipefail
cd "$(dirname "$0")/.."

# One-shot builds: incremental compilation only costs time and disk here.
export CARGO_INCREMENTAL=0

# Each step prints the seconds into the run and the free disk space (the suite builds for
# four targets and two profiles, and a full disk is the first thing to rule out when a
# step fails); at the end, even when a step failed, a table of every step's time.
steps=()
current=""
began=0
end_step() {
    [ -n "$current" ] && steps+=("$((SECONDS - began))|$current")
    current=""
}
step() {
    end_step
    current=$*
    began=$SECONDS
    printf '\n==== %s\n' "$*"
    printf '(%d s into the run; disk: %s free, target/ %s)\n' "$SECONDS" \
        "$(df -h --output=avail . | tail -n 1 | tr -d ' ')" "$(du -sh target 2>/dev/null | cut -f1 || echo 0)"
}
# The fuzz targets' build, started in the background before the QEMU step.
fuzz_build=""
fuzz_build_log=target/fuzz-build.log
summary() {
    local status=$? entry
    # A background build the run no longer waits for (a step failed) goes with it.
    [ -n "$fuzz_build" ] && kill -- "-$fuzz_build" 2>/dev/null
    end_step
    printf '\n==== step times\n'
    for entry in "${steps[@]}"; do
        printf '%6d s  %s\n' "${entry%%|*}" "${entry#*|}"
    done
    if [ "$status" -eq 0 ]; then
        printf '%6d s  in all\n' "$SECONDS"
    else
        printf '%6d s  in all: FAILED (status %d) in the last step above\n' "$SECONDS" "$status"
    fi
}
trap summary EXIT
# Below this much free space (GiB), a step removes build output the rest no longer needs.
low_disk_gib=${LOW_DISK_GIB:-25}
low_on_disk() { [ "$(df -B1G --output=avail . | tail -n 1 | tr -d ' ')" -lt "$low_disk_gib" ]; }

step "setup"
bash scripts/setup.sh

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
# Of the debug build, the steps below use only the QEMU harness (they build release
# binaries): when disk is short, it goes, and the harness is built again there.
if low_on_disk; then
    echo "less than ${low_disk_gib} GiB free: removing target/debug"
    rm -rf target/debug
fi

step "cross builds (static binaries for the boards, run under qemu-user)"
# The boards' binaries in one cargo run for the three targets (cargo keeps both cores busy
# across them), the same packages as the QEMU step's builds (GUEST_PACKAGES in
# qemu-tests/src/cargo.rs): that step reuses this output instead of building again.
targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf)
cargo build --locked --release "${targets[@]/#/--target=}" -p northstar -p nstar -p hello-world \
    -p ferris -p persistence -p cpueater -p memeater -p test-container
vectors=npk/tests/data/northstar-0.9
declare -A emulator=(
    [x86_64-unknown-linux-musl]=""
    [aarch64-unknown-linux-musl]=qemu-aarch64
    [armv7-unknown-linux-gnueabihf]=qemu-arm
)
for target in "${targets[@]}"; do
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

# The fuzz targets' build (fuzz/, its own target directory and compiler flags: nothing to
# share with the builds above) runs in the background at the lowest priority during the
# QEMU and integration steps, whose machines leave the cores idle much of the time (a
# guest waiting for its containers, its watchdog, the host); the fuzz step waits for it.
# It gets a process group of its own, so that a failed run can stop it.
setsid nice -n 19 bash scripts/fuzz.sh --build >"$fuzz_build_log" 2>&1 &
fuzz_build=$!

step "boots (QEMU, three boards), demo check, scenarios"
# `qemu-tests suite` (doc/qemu-tests.md): Debian's kernels (fetched once into
# target/qemu-cache); the binaries built once for every machine (the boards' builds above
# are reused, the x86_64 one's nstar is the host's; only the init's test build with
# fault-injection comes on top); then, two machines at a time under QEMU TCG, each with
# its hard timeout:
# - Northstar's own init as PID 1 on each board: verified root (dm-verity, signed
#   descriptor), ext4 data partition with signed example packages, hello-world started
#   and heard on the console, then an orderly reboot (Ctrl-Alt-Del through QMP on x86_64;
#   on the aarch64 `virt` stand-in for the Renesas board and on the Raspberry Pi 2, which
#   have no PS/2 keyboard, a container's request through its console connection) and
#   e2fsck -fn of the data image;
# - the README's demo, non-interactive: every example on the x86_64 image with its
#   expected output; through the management channel's proxy (nstar channel on the
#   virtio-serial port) a followed log while 100 nstar runs one after the other and 10 at
#   once are answered first time, a restarted proxy, nstar speaking the link directly;
#   the persistence count across a reboot in place; e2fsck of the data partition;
# - the x86_64 scenarios: ten signed containers, a tampered root and a tampered package
#   refused, an OOM kill, no zombies after orphans, the watchdog fed and, with a hung test
#   build of the init, firing, and power cuts during an install through the channel.
# Each machine's run prints its own time; a table of all of them ends the step.
# (`qemu-tests boot-probe`, a minimal static init that only loads modules, is a bring-up
# tool for new boards: the boots do all it does.) The harness itself in the debug profile:
# the tests step built nearly all of it (a release build would start from nothing, as it
# shares only the proc macros with the release cross builds).
cargo run --locked --quiet -p qemu-tests -- suite

step "build-system integrations (Buildroot external tree, Yocto layer)"
# Structure and its self-test, shellcheck, oelint-adv, Buildroot's post-build and
# post-image scripts on the boards' static binaries above, and a QEMU boot of the x86_64
# images they make.
bash scripts/check-integrations.sh --boot

step "fuzz smoke runs"
if ! wait "$fuzz_build"; then
    fuzz_build=""
    tail -n 40 "$fuzz_build_log"
    echo "the fuzz targets' build failed (log: $fuzz_build_log)" >&2
    exit 1
fi
fuzz_build=""
echo "in the background: $(tail -n 1 "$fuzz_build_log")"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-15}"

end_step
printf '\n==== all tests passed\n'
