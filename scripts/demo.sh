#!/usr/bin/env bash
# The main job: builds the example containers (hello-world, ferris says hello from two
# resources, persistence, cpueater, memeater), packs them into signed NPKs with a demo key,
# then inspects and verifies them. (Booting them under the init in QEMU comes with PID 1.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

out=out/demo
mkdir -p "$out/registry" "$out/keys" "$out/roots"
target=x86_64-unknown-linux-musl

cargo build --locked --release -p nstar
nstar=target/release/nstar
programs=(hello-world ferris persistence cpueater memeater)
cargo build --locked --release --target "$target" "${programs[@]/#/-p}"

[ -f "$out/keys/demo.key" ] || "$nstar" keygen demo --out "$out/keys"

# Each container's root: its static program in /bin (the resource `ferris` too) and the
# directories its manifest mounts on (the images are read-only).
root() { # name program mount-points...
    local dir="$out/roots/$1" program=$2
    shift 2
    rm -rf "$dir" && mkdir -p "$dir"
    if [ -n "$program" ]; then
        mkdir -p "$dir/bin" && cp "target/$target/release/$program" "$dir/bin/"
    fi
    for m in "$@"; do mkdir -p "$dir$m"; done
}
root hello-world hello-world /proc
root ferris ferris
root hello-ferris "" /ferris /message
root persistence persistence /data
root cpueater cpueater /proc
root memeater memeater
rm -f "$out"/registry/*.npk
for name in hello-world ferris hello-ferris persistence cpueater memeater; do
    "$nstar" pack "examples/$name/manifest.yaml" "$out/roots/$name" \
        --key "$out/keys/demo.key" --out "$out/registry"
done
"$nstar" pack examples/message/manifest.yaml examples/message/root \
    --key "$out/keys/demo.key" --out "$out/registry"

for npk in "$out"/registry/*.npk; do
    printf '\n==== %s\n' "$npk"
    "$nstar" inspect "$npk" --key "$out/keys/demo.pub"
    "$nstar" verify "$npk" --key "$out/keys/demo.pub"
done
