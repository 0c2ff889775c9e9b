#!/usr/bin/env bash
# The main job: the example containers as signed packages on the x86_64 image, booted by
# Northstar's init as PID 1 under QEMU (TCG). hello-world greets, hello-ferris runs a
# program from one resource container on the text of another, persistence counts its
# starts across reboots, cpueater runs under a CPU limit, memeater under a memory limit.
# The serial console stays on this terminal (Ctrl-A X ends QEMU); the printed
# `nstar -u unix://…` line manages the machine from another terminal.
#
#   bash scripts/demo-qemu.sh            # interactive
#   bash scripts/demo-qemu.sh --check    # boot, check every example and nstar, power off
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo run --locked --release --quiet -p qemu-tests -- demo "$@"
