#!/usr/bin/env bash
# The whole test suite: set-up, formatting, lints, unit and integration tests (as root:
# they loop-mount images), cross builds for the three boards, fuzz smoke runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

step() { printf '\n==== %s\n' "$*"; }

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

step "cross builds (static binaries for the boards, run under qemu-user)"
vectors=npk/tests/data/northstar-0.9
declare -A emulator=(
    [x86_64-unknown-linux-musl]=""
    [aarch64-unknown-linux-musl]=qemu-aarch64
    [armv7-unknown-linux-gnueabihf]=qemu-arm
)
for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf; do
    cargo build --locked --release --target "$target" -p nstar -p northstar
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

step "fuzz smoke runs"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-15}"

step "all tests passed"
