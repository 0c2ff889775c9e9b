#!/usr/bin/env bash
# Builds every fuzz target and runs each for a short smoke run: scripts/fuzz.sh [seconds]
# A long run: scripts/fuzz.sh 3600
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-20}
# cargo-fuzz needs unstable rustc flags; the pinned stable toolchain accepts them with
# RUSTC_BOOTSTRAP. No sanitizer: the code under test is safe Rust, and this keeps the run
# independent of a nightly toolchain.
export RUSTC_BOOTSTRAP=1
for target in $(cargo fuzz list); do
    mkdir -p "corpus/$target"
    case $target in
        manifest) cp ../npk/tests/data/northstar-0.9/manifests/*.yaml "corpus/$target/" ;;
        package) cp ../npk/tests/data/northstar-0.9/message-0.1.2.npk "corpus/$target/" ;;
        api_frames)
            # The example sessions of the protocol's documentation.
            sed -n 's/^> {/{/p' ../doc/api.md > "corpus/$target/client.jsonl"
            sed -n 's/^< {/{/p' ../doc/api.md > "corpus/$target/server.jsonl" ;;
    esac
    cargo fuzz build --sanitizer none "$target"
    cargo fuzz run --sanitizer none "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=1024 2>&1 | tail -n 2
done
