#!/usr/bin/env bash
# Builds every fuzz target and runs each for a short smoke run: scripts/fuzz.sh [seconds]
# A long run: scripts/fuzz.sh 3600. Only the build: scripts/fuzz.sh --build.
# FUZZ_JOBS targets run at a time (default 2: libFuzzer runs one thread per target, and
# the build machines have two cores); each runs for the full time given.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
build_only=0
if [ "${1:-}" = "--build" ]; then
    build_only=1
    shift
fi
seconds=${1:-20}
jobs=${FUZZ_JOBS:-2}
# cargo-fuzz needs unstable rustc flags; the pinned stable toolchain accepts them with
# RUSTC_BOOTSTRAP. No sanitizer: the code under test is safe Rust, and this keeps the run
# independent of a nightly toolchain.
export RUSTC_BOOTSTRAP=1
# Every target in one cargo run: the dependencies once, the targets' own crates side by
# side.
started=$SECONDS
cargo fuzz build --sanitizer none
echo "fuzz targets built in $((SECONDS - started)) s"
[ "$build_only" -eq 1 ] && exit 0

logs=target/smoke-logs
rm -rf "$logs"
mkdir -p "$logs"
mapfile -t targets < <(cargo fuzz list)
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    case $target in
        manifest | plan) cp ../npk/tests/data/northstar-0.9/manifests/*.yaml "corpus/$target/" ;;
        package) cp ../npk/tests/data/northstar-0.9/message-0.1.2.npk "corpus/$target/" ;;
        api_frames)
            # The example sessions of the protocol's documentation.
            sed -n 's/^> {/{/p' ../doc/api.md > "corpus/$target/client.jsonl"
            sed -n 's/^< {/{/p' ../doc/api.md > "corpus/$target/server.jsonl" ;;
        api_server) sed -n 's/^> {/{/p' ../doc/api.md > "corpus/$target/client.jsonl" ;;
    esac
done

# One smoke run; its output goes to $logs/<target>.log.
smoke() {
    cargo fuzz run --sanitizer none "$1" "corpus/$1" -- \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=1024 >"$logs/$1.log" 2>&1
}
# The runs of a batch end together; each is reported with the end of its output, a
# failed one (a crash, a leak, a timeout) with its last 40 lines.
failed=()
for ((i = 0; i < ${#targets[@]}; i += jobs)); do
    batch=("${targets[@]:i:jobs}")
    pids=()
    for target in "${batch[@]}"; do
        smoke "$target" &
        pids+=($!)
    done
    for j in "${!batch[@]}"; do
        target=${batch[$j]}
        if wait "${pids[$j]}"; then
            echo "$target: $(tail -n 1 "$logs/$target.log")"
        else
            echo "$target: FAILED (log: fuzz/$logs/$target.log)"
            tail -n 40 "$logs/$target.log"
            failed+=("$target")
        fi
    done
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: failed targets: ${failed[*]}" >&2
    exit 1
fi
