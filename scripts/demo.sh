#!/usr/bin/env bash
# The main job: builds the example containers, packs them into signed NPKs with a demo key,
# then inspects and verifies them. (Booting them under the init in QEMU comes with PID 1.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

out=out/demo
mkdir -p "$out/registry" "$out/keys" "$out/roots"
target=x86_64-unknown-linux-musl

cargo build --locked --release -p nstar
nstar=target/release/nstar
cargo build --locked --release --target "$target" -p hello-world

[ -f "$out/keys/demo.key" ] || "$nstar" keygen demo --out "$out/keys"

# hello-world: the static binary at /bin/hello-world.
rm -rf "$out/roots/hello-world" && mkdir -p "$out/roots/hello-world/bin"
cp "target/$target/release/hello-world" "$out/roots/hello-world/bin/"

"$nstar" pack examples/hello-world/manifest.yaml "$out/roots/hello-world" \
    --key "$out/keys/demo.key" --out "$out/registry"
"$nstar" pack examples/message/manifest.yaml examples/message/root \
    --key "$out/keys/demo.key" --out "$out/registry"

for npk in "$out"/registry/*.npk; do
    printf '\n==== %s\n' "$npk"
    "$nstar" inspect "$npk" --key "$out/keys/demo.pub"
    "$nstar" verify "$npk" --key "$out/keys/demo.pub"
done
