#!/usr/bin/env bash
# Checks of the build-system integrations (buildroot-external/, yocto-layer/) that run
# without Buildroot or BitBake:
#
#   1. the structural checks (scripts/check-integrations.py, with kconfiglib for the
#      Kconfig files) and their self-test, which breaks references in a copy and expects
#      each break to be reported;
#   2. shellcheck of the Buildroot scripts;
#   3. oelint-adv on the layer (no error or warning) for every series it supports;
#   4. Buildroot's post-build.sh and post-image.sh, run with host tools on an output
#      directory laid out as Buildroot's, for each defconfig: the root image (squashfs,
#      verity, signed descriptor), the data partition, the initramfs and the disk image
#      are checked with veritysetup, openssl, unsquashfs, e2fsck, debugfs, cpio and the
#      partition table;
#   5. the Yocto layer's npk and image shell functions, expanded as BitBake expands them
#      and run under /bin/sh -e, with the same checks of their images;
#   6. with --boot (each board when the QEMU tests' kernel of it is cached, else skipped
#      with a message): Buildroot's x86_64 images (q35), Raspberry Pi 2 SD card image
#      (raspi2b) and R-Car H3 eMMC image (one virtio disk of aarch64 virt, the board's
#      stand-in), and the Yocto class's qemux86-64 images (q35) and salvator-x images
#      (virt), boot under QEMU (TCG) with Northstar's init up to hello-world's greeting.
#      The Yocto raspberrypi2 images are checked only (their SD card is a wic image).
#
# Needs the static binaries of the boards (cargo build --release --target <t> -p nstar
# -p northstar, as scripts/test.sh's cross builds make them) and scripts/setup.sh's tools.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
boot=0
[ "${1:-}" = "--boot" ] && boot=1

step() { printf '\n---- %s\n' "$*"; }
fail() { echo "check-integrations: $*" >&2; exit 1; }

venv=target/integrations-venv
[ -x "$venv/bin/oelint-adv" ] || fail "$venv missing: run scripts/setup.sh"
python=$venv/bin/python   # with kconfiglib

step "structure"
"$python" scripts/check-integrations.py
"$python" scripts/check-integrations.py --self-test

step "shellcheck"
if command -v shellcheck >/dev/null; then
    shellcheck -x buildroot-external/board/northstar/*.sh scripts/check-integrations.sh
    echo "shellcheck: clean"
else
    echo "shellcheck not installed: skipped"
fi

step "oelint-adv (yocto-layer)"
oelint=$venv/bin/oelint-adv
mapfile -t layer_files < <(find yocto-layer -name '*.bb' -o -name '*.bbappend' -o -name '*.bbclass' \
    -o -name '*.inc' -o -name '*.conf' | sort)
series=$(sed -n 's/^LAYERSERIES_COMPAT_northstar = "\(.*\)"/\1/p' yocto-layer/conf/layer.conf)
for release in $series; do
    # HOMEPAGE is the repository's address, which the linter cannot reach from here.
    findings=$("$oelint" --quiet --relpaths --hide info --release "$release" \
        --suppress oelint.vars.homepageping \
        --constantmods=+yocto-layer/oelint-constants.json "${layer_files[@]}" 2>&1) \
        || { echo "$findings"; fail "oelint-adv --release $release failed"; }
    [ -z "$findings" ] || { echo "$findings"; fail "oelint-adv --release $release reported findings"; }
    echo "oelint-adv --release $release: ${#layer_files[@]} files, no error or warning"
done

step "lockdown and A/B: options, boot script, layouts against the guides' board.toml"
python3 - <<'EOF' || fail "lockdown and A/B structure"
import re, sys, tomllib, pathlib
errors = []
def check(ok, what):
    if not ok:
        errors.append(what)
def read(p):
    return pathlib.Path(p).read_text()

# Lockdown on by default in both, with the documented opt-outs.
cfg = read("buildroot-external/package/northstar/Config.in")
m = re.search(r"^config BR2_PACKAGE_NORTHSTAR_LOCKDOWN\n\tbool [^\n]+\n\tdefault (\w+)", cfg, re.M)
check(m and m.group(1) == "y", "Config.in: BR2_PACKAGE_NORTHSTAR_LOCKDOWN is not a bool with default y")
for sym in ("AB", "BUNDLE_KEYRING", "BUNDLE_CERT", "BUNDLE_KEY"):
    check(f"config BR2_PACKAGE_NORTHSTAR_{sym}\n" in cfg, f"Config.in: no BR2_PACKAGE_NORTHSTAR_{sym}")
check("select BR2_PACKAGE_HOST_UBOOT_TOOLS" in cfg, "Config.in: A/B does not select host-uboot-tools (mkimage)")
cls = read("yocto-layer/classes/northstar_image.bbclass")
check('NORTHSTAR_LOCKDOWN ??= "1"' in cls, 'northstar_image.bbclass: NORTHSTAR_LOCKDOWN ??= "1" missing')
check('NORTHSTAR_BUNDLE_KEYRING ??= ""' in cls, "northstar_image.bbclass: no NORTHSTAR_BUNDLE_KEYRING")
check("/etc/northstar/bundle-keyring.pem" in cls, "northstar_image.bbclass: the keyring is not installed")
for doc, optout in (("doc/buildroot.md", "# BR2_PACKAGE_NORTHSTAR_LOCKDOWN is not set"),
                    ("doc/yocto.md", 'NORTHSTAR_LOCKDOWN = "0"')):
    check(optout in read(doc), f"{doc}: the lockdown opt-out {optout!r} is not documented")

# The guides' board.toml snippets: valid TOML, the same slots in both.
def snippet(doc):
    text = read(doc)
    m = re.search(r"^## A/B root slots.*?^```toml\n(.*?)^```$", text, re.M | re.S)
    check(m, f"{doc}: no board.toml snippet under 'A/B root slots'")
    return tomllib.loads(m.group(1)) if m else {"slots": {"slot": [], "uboot": {}}}
br, yo = snippet("doc/buildroot.md"), snippet("doc/yocto.md")
check(br == yo, "doc/buildroot.md and doc/yocto.md give different [slots]")
slots = br["slots"]
check(slots.get("bootloader") == "uboot", "the snippet's bootloader is not uboot")
uboot = slots.get("uboot", {})
check(uboot.get("fs") == "vfat" and uboot.get("file") == "uboot.env", "the snippet's environment is not uboot.env on vfat")
names = [s["name"] for s in slots["slot"]]
labels = {s["name"]: s["root"].removeprefix("PARTLABEL=") for s in slots["slot"]}
check(all(s["root"].startswith("PARTLABEL=") for s in slots["slot"]), "the snippet's slots are not named by PARTLABEL")
env_label = uboot.get("device", "").removeprefix("PARTLABEL=")

# The layouts: genimage partition names and wks --part-name, the slots' roots holding
# the root image, the environment's partition the FAT one.
gen = re.sub(r"#.*", "", read("buildroot-external/board/northstar/genimage-raspberrypi2-ab.cfg"))
gparts = re.findall(r"^\s*partition\s+(\w+)\s*\{(.*?)\}", gen, re.M | re.S)
gnames = [n for n, _ in gparts]
check('partition-table-type = "hybrid"' in gen, "genimage A/B: not a GPT with a hybrid MBR")
for slot, label in labels.items():
    body = dict(gparts).get(label, "")
    check('image = "root.img"' in body, f"genimage A/B: no partition {label} with root.img (slot {slot})")
check("image = \"boot.vfat\"" in dict(gparts).get(env_label, ""), f"genimage A/B: {env_label} is not the FAT partition")
check("data" in gnames, "genimage A/B: no data partition")
for f in ("u-boot.bin", "boot.scr", "uboot.env", "config.txt", "initramfs.cpio.gz"):
    check(re.search(rf'"{re.escape(f)}"|file {re.escape(f)} \{{', gen), f"genimage A/B: {f} is not on the boot partition")
wks = read("yocto-layer/wic/northstar-sdcard-ab.wks.in")
wparts = [l for l in wks.splitlines() if l.startswith("part ")]
wnames = [re.search(r"--part-name (\S+)", l).group(1) if "--part-name" in l else None for l in wparts]
check("bootloader --ptable gpt-hybrid" in wks, "wks A/B: not gpt-hybrid")
check(wnames == gnames, f"wks A/B partitions {wnames} are not genimage's {gnames}")
for slot, label in labels.items():
    line = wparts[wnames.index(label)] if label in wnames else ""
    check(".root.img" in line, f"wks A/B: no partition {label} with the root image (slot {slot})")
check(env_label in wnames and "--fstype=vfat" in wparts[wnames.index(env_label)] and "--mbr" in wparts[wnames.index(env_label)],
      f"wks A/B: {env_label} is not the FAT partition of the hybrid MBR")
check(".data.ext4" in wparts[wnames.index("data")] if "data" in wnames else False, "wks A/B: no data partition")

# The boot script (both integrations take the same file): RAUC's variables.
cmd = read("buildroot-external/board/northstar/rpi2/ab/boot.cmd")
check(re.search(r'^for (\w+) in "\$\{BOOT_ORDER\}"; do$', cmd, re.M), "boot.cmd: does not walk BOOT_ORDER")
check(re.search(r'^test -n "\$\{BOOT_ORDER\}" \|\| setenv BOOT_ORDER "' + " ".join(names) + '"$', cmd, re.M),
      "boot.cmd: no BOOT_ORDER default of the snippet's slots")
for n in names:
    check(re.search(rf"if test \$\{{BOOT_{n}_LEFT\}} -gt 0; then\n\s+setexpr BOOT_{n}_LEFT \$\{{BOOT_{n}_LEFT\}} - 1\n(?:.*\n)*?\s+setenv rauc_slot {n}\n", cmd),
          f"boot.cmd: slot {n} is not booted only while BOOT_{n}_LEFT > 0, decremented")
save, boot = cmd.rfind("\nsaveenv\n"), cmd.find("\nbootz ")
check(0 <= save < boot, "boot.cmd: the environment is not saved before booting")
check(re.search(r'^setenv bootargs ".*\brauc\.slot=\$\{rauc_slot\}.*"$', cmd, re.M), "boot.cmd: no rauc.slot= on the kernel command line")
for f in ("zImage", "bcm2709-rpi-2-b.dtb", "initramfs.cpio.gz"):
    check(re.search(rf"^load mmc 0:1 \S+ {re.escape(f)}$", cmd, re.M), f"boot.cmd: does not load {f} from the boot partition")
env = read("buildroot-external/board/northstar/rpi2/ab/uboot-env.txt")
check(f"BOOT_ORDER={' '.join(names)}\n" in env, "uboot-env.txt: BOOT_ORDER differs from the slots")
check(re.search(r"^bootcmd=.*boot\.scr.*source", env, re.M), "uboot-env.txt: bootcmd does not run boot.scr")
check("kernel=u-boot.bin" in read("buildroot-external/board/northstar/rpi2/ab/config.txt"), "rpi2/ab/config.txt: the firmware does not start U-Boot")
recipe = read("yocto-layer/dynamic-layers/raspberrypi/recipes-bsp/northstar-ab-boot/northstar-ab-boot_git.bb")
for f in ("boot.cmd", "uboot-env.txt"):
    check(f"${{S}}/buildroot-external/board/northstar/rpi2/ab/{f}" in recipe,
          f"northstar-ab-boot: does not take the Buildroot tree's {f}")
check(re.search(r"^\s+mkimage -A arm -O linux -T script -C none ", recipe, re.M), "northstar-ab-boot: boot.scr is not made with mkimage")
check("mkenvimage -s ${NORTHSTAR_UBOOT_ENV_SIZE}" in recipe, "northstar-ab-boot: uboot.env is not made with mkenvimage")
check(int(slots["uboot"]["size"]) == int(re.search(r'NORTHSTAR_UBOOT_ENV_SIZE \?\?= "(\w+)"', recipe).group(1), 0),
      "northstar-ab-boot: NORTHSTAR_UBOOT_ENV_SIZE is not the snippet's slots.uboot.size")
disk = read("yocto-layer/recipes-core/images/northstar-disk.bb")
check('WKS_FILE:northstar-ab ?= "northstar-sdcard-ab.wks.in"' in disk, "northstar-disk: NORTHSTAR_AB does not select the A/B wks")
check("northstar-ab/boot.scr;boot.scr" in disk and "northstar-ab/uboot.env;uboot.env" in disk,
      "northstar-disk: boot.scr and uboot.env are not on the boot partition")
defconfig = read("buildroot-external/configs/northstar_raspberrypi2_defconfig")
check("genimage-raspberrypi2-ab.cfg" in defconfig and "rpi2/ab" in defconfig,
      "northstar_raspberrypi2_defconfig: post-image.sh gets no -a/-u for A/B")

# The bundle: meta-rauc's class in a dynamic layer, the layer not depending on it.
bundle = read("yocto-layer/dynamic-layers/rauc/recipes-core/bundles/northstar-bundle.bb")
check(re.search(r"^inherit bundle\b", bundle, re.M), "northstar-bundle: does not inherit bundle")
for var, want in (("RAUC_BUNDLE_FORMAT", '"verity"'), ("RAUC_BUNDLE_SLOTS", '"rootfs"'),
                  ("RAUC_SLOT_rootfs", '"${NORTHSTAR_ROOT_IMAGE}"'), ("RAUC_SLOT_rootfs[fstype]", '"root.img"'),
                  ("RAUC_BUNDLE_COMPATIBLE", '"northstar-${NORTHSTAR_BOARD}"'),
                  ("RAUC_KEY_FILE", None), ("RAUC_CERT_FILE", None)):
    m = re.search(rf"^{re.escape(var)} \??= (.+)$", bundle, re.M)
    check(m and (want is None or m.group(1) == want), f"northstar-bundle: {var} is not {want or 'set'}")
check(slots.get("compatible") == "northstar-rpi2", "the snippet's compatible is not northstar-rpi2 (RAUC_BUNDLE_COMPATIBLE of rpi2)")
conf = read("yocto-layer/conf/layer.conf")
check("rauc:${LAYERDIR}/dynamic-layers/rauc/" in conf, "layer.conf: no BBFILES_DYNAMIC for meta-rauc (collection rauc)")
check("rauc" not in re.search(r'^LAYERDEPENDS_northstar = "(.*)"', conf, re.M).group(1), "layer.conf: the layer depends on meta-rauc")

for e in errors:
    print("lockdown/A/B:", e)
sys.exit(1 if errors else 0)
EOF
echo "lockdown on by default with the documented opt-outs; the genimage and wks A/B layouts, boot.cmd (BOOT_ORDER, BOOT_<x>_LEFT, rauc.slot) and uboot.env match the guides' board.toml; the bundle recipe is meta-rauc's class in a dynamic layer"

# ---------------------------------------------------------------------------------
# Buildroot's scripts outside Buildroot.
nstar=target/x86_64-unknown-linux-musl/release/nstar
[ -x "$nstar" ] || nstar=target/release/nstar
[ -x "$nstar" ] || fail "no nstar binary: build it first (cargo build --release -p nstar)"
nstar=$root/$nstar

declare -A target_of=(
    [northstar_qemu_x86_64_defconfig]=x86_64-unknown-linux-musl
    [northstar_raspberrypi2_defconfig]=armv7-unknown-linux-gnueabihf
    [northstar_rcar_h3_defconfig]=aarch64-unknown-linux-musl
)
declare -A cache_of=(
    [northstar_qemu_x86_64_defconfig]=x86_64
    [northstar_raspberrypi2_defconfig]=rpi2
    [northstar_rcar_h3_defconfig]=aarch64
)
# The R-Car board's QEMU stand-in (aarch64 virt, board-configs/renesas-aarch64/README.md):
# its module list, which replaces the board's on the kernel command line and, with
# post-image.sh's -M, in the initramfs (Debian's arm64 kernel has no renesas_wdt).
rcar_virt_modules=virtio_pci,virtio_blk,loop,squashfs,dm-verity,crc32c_generic,ext4,i6300esb
declare -A disk_of=(
    [northstar_raspberrypi2_defconfig]=sdcard.img
    [northstar_rcar_h3_defconfig]=emmc.img
)

# A modules tree of the board's modules (fake .ko files) with a dependency chain
# and one built-in module, as depmod writes it.
fake_modules() {
    local board_toml=$1 dir=$2 first=1
    mkdir -p "$dir/kernel"
    : >"$dir/modules.dep"
    : >"$dir/modules.builtin"
    printf 'fake\n' >"$dir/kernel/dep_core.ko"
    printf 'kernel/dep_core.ko:\n' >>"$dir/modules.dep"
    while read -r m; do
        m=${m//-/_}
        if [ "$first" -eq 1 ]; then
            printf 'kernel/%s.ko\n' "$m" >>"$dir/modules.builtin"
            first=0
            continue
        fi
        printf 'fake %s\n' "$m" >"$dir/kernel/$m.ko"
        printf 'kernel/%s.ko: kernel/dep_core.ko\n' "$m" >>"$dir/modules.dep"
    done < <(sed -n '/^modules = \[/,/^\]/p' "$board_toml" | grep -o '"[^"]*"' | tr -d '"')
}

# The start of partition $2 (1-based) of the MBR of image $1, in bytes, and its type.
partition() {
    python3 - "$1" "$2" <<'EOF'
import struct, sys
with open(sys.argv[1], "rb") as f:
    mbr = f.read(512)
assert mbr[510:512] == b"\x55\xaa", "no MBR"
entry = mbr[446 + 16 * (int(sys.argv[2]) - 1):][:16]
print(struct.unpack("<I", entry[8:12])[0] * 512, hex(entry[4]))
EOF
}

# The installed board.toml $1 is the board's $2 with lockdown = true added ($3 = y)
# or unchanged ($3 = n), compared as TOML.
check_board_toml() {
    python3 - "$1" "$2" "$3" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    got = tomllib.load(f)
with open(sys.argv[2], "rb") as f:
    want = tomllib.load(f)
if sys.argv[3] == "y" and "lockdown" not in want:
    want["lockdown"] = True
if got != want:
    diff = {k: got.get(k) for k in set(got) | set(want) if got.get(k) != want.get(k)}
    sys.exit(f"differs from the board's (lockdown {sys.argv[3]}) in {diff}")
EOF
}

verify_images() {
    local images=$1 board_dir=$2 keys=$3 defconfig=$4 lockdown=$5
    local hash salt blocks
    hash=$(sed -n 's/^root_hash = "\(.*\)"$/\1/p' "$images/root.verity")
    salt=$(sed -n 's/^salt = "\(.*\)"$/\1/p' "$images/root.verity")
    blocks=$(sed -n 's/^data_blocks = \([0-9]*\)$/\1/p' "$images/root.verity")
    if [ "$(wc -l <"$images/root.verity")" -ne 3 ] || [ ${#hash} -ne 64 ] || [ ${#salt} -ne 64 ] || [ -z "$blocks" ]; then
        fail "$defconfig: root.verity is not the three keys of doc/boot.md: $(cat "$images/root.verity")"
    fi
    veritysetup verify --hash-offset=$((blocks * 4096)) "$images/root.img" "$images/root.img" "$hash" \
        || fail "$defconfig: root.img does not verify"
    veritysetup dump --hash-offset=$((blocks * 4096)) "$images/root.img" >"$images/dump.txt"
    if ! grep -q "^Data blocks:[[:space:]]*$blocks$" "$images/dump.txt" || ! grep -q "^Salt:[[:space:]]*$salt$" "$images/dump.txt"; then
        fail "$defconfig: the verity superblock does not carry the descriptor's salt and blocks"
    fi
    cp "$images/root.img" "$images/root.bad"
    printf 'X' | dd of="$images/root.bad" bs=1 seek=100 conv=notrunc status=none
    if veritysetup verify --hash-offset=$((blocks * 4096)) "$images/root.bad" "$images/root.bad" "$hash" 2>/dev/null; then
        fail "$defconfig: a flipped byte of root.img still verifies"
    fi
    rm -f "$images/root.bad"
    { printf '\060\052\060\005\006\003\053\145\160\003\041\000'; cat "$keys/root.pub"; } >"$images/root-pub.der"
    openssl pkeyutl -verify -pubin -keyform DER -inkey "$images/root-pub.der" -rawin \
        -in "$images/root.verity" -sigfile "$images/root.verity.sig" >/dev/null \
        || fail "$defconfig: root.verity.sig does not verify with root.pub"
    unsquashfs -q -d "$images/root" "$images/root.img" >/dev/null
    cmp -s "$images/root/etc/northstar/runtime.toml" "$board_dir/runtime.toml" \
        || fail "$defconfig: the root's runtime.toml is not the board's"
    cmp -s "$images/root/etc/northstar/packages.pub" "$keys/packages.pub" \
        || fail "$defconfig: the root's packages.pub is not the package key"
    for d in dev proc sys run tmp data; do
        [ -d "$images/root/$d" ] || fail "$defconfig: the root has no /$d"
    done
    e2fsck -fn "$images/data.ext4" >/dev/null 2>&1 || fail "$defconfig: data.ext4 is not clean"
    debugfs -R "ls -p /northstar/repositories/system" "$images/data.ext4" 2>/dev/null \
        | grep -q '/message-0.1.0.npk/' || fail "$defconfig: data.ext4 has no message package"
    mkdir "$images/initramfs"
    (cd "$images/initramfs" && gzip -dc "$images/initramfs.cpio.gz" | cpio -id --quiet)
    for f in init etc/northstar/board.toml etc/northstar/root.pub etc/northstar/root.verity etc/northstar/root.verity.sig; do
        [ -f "$images/initramfs/$f" ] || fail "$defconfig: the initramfs has no /$f"
    done
    check_board_toml "$images/initramfs/etc/northstar/board.toml" "$board_dir/board.toml" "$lockdown" \
        || fail "$defconfig: the initramfs's board.toml is not the board's with lockdown $lockdown"
    cmp -s "$images/initramfs/etc/northstar/root.verity" "$images/root.verity" || fail "$defconfig: root.verity differs"
    cmp -s "$images/initramfs/etc/northstar/root.pub" "$keys/root.pub" || fail "$defconfig: root.pub differs"
    ls "$images"/initramfs/lib/modules/*/modules.dep >/dev/null 2>&1 || fail "$defconfig: no modules.dep in the initramfs"
    if [ -n "${disk_of[$defconfig]:-}" ]; then
        local disk=$images/${disk_of[$defconfig]} start type
        [ -f "$disk" ] || fail "$defconfig: genimage made no ${disk_of[$defconfig]}"
        read -r start type < <(partition "$disk" 1)
        [ "$type" = 0xc ] || fail "$defconfig: partition 1 is not FAT (type $type)"
        read -r start type < <(partition "$disk" 2)
        [ "$(dd if="$disk" bs=1 skip="$start" count=4 status=none)" = hsqs ] \
            || fail "$defconfig: partition 2 does not hold the squashfs root"
        cmp -s <(dd if="$disk" bs=512 skip=$((start / 512)) count=$(($(stat -c %s "$images/root.img") / 512)) status=none) \
            "$images/root.img" \
            || fail "$defconfig: partition 2 is not root.img"
        read -r start type < <(partition "$disk" 3)
        [ "$(dd if="$disk" bs=1 skip=$((start + 1080)) count=2 status=none | od -An -tx1 | tr -d ' ')" = 53ef ] \
            || fail "$defconfig: partition 3 does not hold the ext4 data partition"
    fi
}

# The GPT of disk image $2 against board.toml $1: every PARTLABEL= the board names
# (slot roots, data, the U-Boot environment's partition) is a partition of that
# name; the slot roots start with root image $3, data is ext4, the environment's
# partition FAT; the hybrid MBR has the FAT partition and the GPT's 0xEE entry.
gpt_matches_board() {
    python3 - "$1" "$2" "$3" <<'EOF'
import struct, sys, tomllib
board = tomllib.load(open(sys.argv[1], "rb"))
disk = open(sys.argv[2], "rb")
root = open(sys.argv[3], "rb").read()
def at(offset, n):
    disk.seek(offset)
    return disk.read(n)
mbr = at(0, 512)
types = [mbr[446 + 16 * i + 4] for i in range(4)]
assert 0xEE in types and 0x0C in types, f"MBR partition types {types}: not a hybrid MBR with the FAT partition"
header = at(512, 92)
assert header[:8] == b"EFI PART", "no GPT header"
entries, count, size = struct.unpack("<QII", header[72:88])
parts = {}
for i in range(count):
    e = at(entries * 512 + i * size, size)
    if e[:16] == bytes(16):
        continue
    first = struct.unpack("<Q", e[32:40])[0]
    parts[e[56:128].decode("utf-16-le").rstrip("\0")] = first * 512
print("GPT partitions:", ", ".join(f"{n} at {o}" for n, o in parts.items()))
def label(dev, what):
    assert dev.startswith("PARTLABEL="), f"{what} {dev} is not a PARTLABEL"
    name = dev[len("PARTLABEL="):]
    assert name in parts, f"{what} {dev}: no such partition (GPT: {sorted(parts)})"
    return parts[name]
for slot in board["slots"]["slot"]:
    start = label(slot["root"], f"slot {slot['name']} root")
    assert at(start, len(root)) == root, f"slot {slot['name']}: {slot['root']} does not hold root.img"
start = label(board["data"]["device"], "data.device")
assert at(start + 1080, 2) == b"\x53\xef", "the data partition is not ext4"
start = label(board["slots"]["uboot"]["device"], "slots.uboot.device")
assert at(start + 82, 5) == b"FAT32" or at(start + 54, 3) == b"FAT", "the U-Boot environment's partition is not FAT"
EOF
}

work=$root/target/check-integrations
rm -rf "$work"
for defconfig in northstar_qemu_x86_64_defconfig northstar_raspberrypi2_defconfig northstar_rcar_h3_defconfig; do
    step "Buildroot post-build.sh and post-image.sh: $defconfig"
    base=$work/$defconfig
    target=${target_of[$defconfig]}
    board_dir=$(sed -n 's/^BR2_PACKAGE_NORTHSTAR_BOARD_DIR="\(.*\)"$/\1/p' "buildroot-external/configs/$defconfig")
    # The configuration as Buildroot's .config: the defconfig, and for the R-Car H3,
    # whose images boot on the virt stand-in with the root chosen on the kernel
    # command line, lockdown off (the development opt-out of doc/buildroot.md).
    mkdir -p "$base"
    config=$base/.config
    cp "buildroot-external/configs/$defconfig" "$config"
    lockdown=y
    if [ "$defconfig" = northstar_rcar_h3_defconfig ]; then
        echo '# BR2_PACKAGE_NORTHSTAR_LOCKDOWN is not set' >>"$config"
        lockdown=n
    fi
    board_dir=${board_dir//\$(BR2_EXTERNAL_NORTHSTAR_PATH)/$root/buildroot-external}
    export BR2_CONFIG=$config BASE_DIR=$base TARGET_DIR=$base/target BINARIES_DIR=$base/images \
        HOST_DIR=$base/host BR2_EXTERNAL_NORTHSTAR_PATH=$root/buildroot-external
    mkdir -p "$HOST_DIR/bin" "$TARGET_DIR/etc" "$BINARIES_DIR" "$base/northstar-keys"
    ln -s "$nstar" "$HOST_DIR/bin/nstar"
    # What host-northstar's hook and the packages do in a real build.
    "$nstar" keygen root --out "$base/northstar-keys" >/dev/null
    "$nstar" keygen packages --out "$base/northstar-keys" >/dev/null
    init=target/$target/release/northstar
    [ -f "$init" ] || fail "$init missing: build it first (cargo build --release --target $target -p northstar)"
    install -m 0755 "$init" "$BINARIES_DIR/northstar-init"
    repo=$base/northstar-repositories/system
    mkdir -p "$repo" "$base/hello/bin"
    "$nstar" pack examples/message/manifest.yaml examples/message/root \
        --key "$base/northstar-keys/packages.key" --out "$repo" >/dev/null
    hello=target/$target/release/hello-world
    if [ "$boot" -eq 1 ] && [ ! -f "$hello" ]; then
        cargo build --locked --release --quiet --target "$target" -p hello-world
    fi
    [ -f "$hello" ] || hello=$init   # any binary: the package is only checked, not run
    install -m 0755 "$hello" "$base/hello/bin/hello-world"
    sed '/^io:/i autostart: relaxed' examples/hello-world/manifest.yaml >"$base/hello.yaml"
    "$nstar" manifest check "$base/hello.yaml" >/dev/null
    "$nstar" pack "$base/hello.yaml" "$base/hello" --key "$base/northstar-keys/packages.key" --out "$repo" >/dev/null
    # The kernel's modules: the QEMU tests' Debian kernel of the board when cached (the
    # images then boot; the R-Car initramfs then holds the virt stand-in's modules
    # instead of the board's), else a modules tree of the board's modules.
    cache=(target/qemu-cache/"${cache_of[$defconfig]:-none}"/root/lib/modules/*/modules.dep)
    standin=()
    if [ -f "${cache[0]}" ]; then
        mkdir -p "$TARGET_DIR/lib/modules"
        ln -s "$root/$(dirname "${cache[0]}")" "$TARGET_DIR/lib/modules/$(basename "$(dirname "${cache[0]}")")"
        [ "$defconfig" = northstar_rcar_h3_defconfig ] && standin=(-M "$rcar_virt_modules")
    else
        fake_modules "$board_dir/board.toml" "$TARGET_DIR/lib/modules/6.12.9"
    fi
    # Boot files the genimage configurations take from the images directory.
    mkdir -p "$BINARIES_DIR/rpi-firmware"
    for f in bcm2709-rpi-2-b.dtb zImage Image r8a77951-salvator-xs.dtb r8a77951-ulcb.dtb \
        rpi-firmware/bootcode.bin rpi-firmware/fixup.dat rpi-firmware/start.elf; do
        printf 'boot file %s\n' "$f" >"$BINARIES_DIR/$f"
    done
    cp buildroot-external/board/northstar/rpi2/config.txt buildroot-external/board/northstar/rpi2/cmdline.txt \
        "$BINARIES_DIR/rpi-firmware/"

    buildroot-external/board/northstar/post-build.sh "$TARGET_DIR"
    mksquashfs "$TARGET_DIR" "$BINARIES_DIR/rootfs.squashfs" -noappend -all-root -comp xz -e lib/modules -quiet >/dev/null
    args=$(sed -n 's/^BR2_ROOTFS_POST_SCRIPT_ARGS="\(.*\)"$/\1/p' "$config")
    args=${args//\$(BR2_EXTERNAL_NORTHSTAR_PATH)/$BR2_EXTERNAL_NORTHSTAR_PATH}
    # shellcheck disable=SC2086 # the arguments are words, as Buildroot passes them
    buildroot-external/board/northstar/post-image.sh "$BINARIES_DIR" $args "${standin[@]}" >"$base/post-image.log" 2>&1 \
        || { tail -n 30 "$base/post-image.log" >&2; fail "$defconfig: post-image.sh failed (log: $base/post-image.log)"; }
    grep '^northstar:' "$base/post-image.log"
    verify_images "$BINARIES_DIR" "$board_dir" "$base/northstar-keys" "$defconfig" "$lockdown"
    echo "$defconfig: root.img verifies (veritysetup) with its signed descriptor, data.ext4 holds the signed packages, the initramfs has the init, board (lockdown $lockdown) and modules${disk_of[$defconfig]:+, ${disk_of[$defconfig]} has the partitions}"
done

# ---------------------------------------------------------------------------------
# A/B (BR2_PACKAGE_NORTHSTAR_AB) on the Raspberry Pi 2: the board of doc/buildroot.md
# (board-configs/rpi2 with the doc's [slots] snippet and data on PARTLABEL=data), a
# bundle CA and signer, host-rauc; post-build.sh and post-image.sh as above.
step "Buildroot A/B: northstar_raspberrypi2_defconfig with BR2_PACKAGE_NORTHSTAR_AB"
ca=$work/bundle-ca
mkdir -p "$ca"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj /CN=northstar-test-ca \
    -keyout "$ca/ca.key" -out "$ca/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=northstar-test-signer \
    -keyout "$ca/signer.key" -out "$ca/signer.csr" 2>/dev/null
# An X.509 v3 signer (extensions; webpki refuses v1) with digitalSignature, no EKU.
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n' >"$ca/signer.ext"
openssl x509 -req -in "$ca/signer.csr" -CA "$ca/ca.pem" -CAkey "$ca/ca.key" -CAcreateserial -days 3650 \
    -extfile "$ca/signer.ext" -out "$ca/signer.pem" 2>/dev/null
# The doc's board.toml snippet: the first toml block after the A/B heading.
snippet=$(awk '/^## A\/B root slots/ { s = 1 } s && /^```toml$/ { b = 1; next } b && /^```$/ { exit } b' doc/buildroot.md)
[ -n "$snippet" ] || fail "doc/buildroot.md: no board.toml snippet under \"A/B root slots\""
ab=$work/ab
rm -rf "$ab"
cp -a "$work/northstar_raspberrypi2_defconfig" "$ab"
rm -rf "$ab/images/northstar-ab" "$ab/images/sdcard.img" "$ab/images/root" "$ab/images/initramfs" "$ab/target/etc/northstar"
mkdir -p "$ab/board"
# The FAT file system for uboot.env (the guide's modules; nls_ascii: the default
# iocharset of Debian's kernel, whose modules the initramfs gets when cached).
sed -e 's|^device = "/dev/mmcblk0p3"|device = "PARTLABEL=data"|' \
    -e 's|^    "ext4", .*|&\n    "vfat",\n    "nls_cp437",\n    "nls_ascii",|' \
    board-configs/rpi2/board.toml >"$ab/board/board.toml"
printf '\n%s\n' "$snippet" >>"$ab/board/board.toml"
cp board-configs/rpi2/runtime.toml "$ab/board/"
ab_modules=("$ab"/target/lib/modules/*)
if [ ! -L "${ab_modules[0]}" ]; then   # no cached kernel: a modules tree of this board's list
    rm -rf "$ab/target/lib/modules"
    fake_modules "$ab/board/board.toml" "$ab/target/lib/modules/6.12.9"
fi
grep -q '^device = "PARTLABEL=data"' "$ab/board/board.toml" || fail "A/B: the board's data device was not switched"
config=$ab/.config
sed '/^BR2_PACKAGE_NORTHSTAR_BOARD_DIR=/d' buildroot-external/configs/northstar_raspberrypi2_defconfig >"$config"
grep -v '^#' buildroot-external/board/northstar/rpi2/ab/defconfig.fragment | grep . >>"$config"
cat >>"$config" <<EOF
BR2_PACKAGE_NORTHSTAR_BOARD_DIR="$ab/board"
BR2_PACKAGE_NORTHSTAR_BUNDLE_KEYRING="$ca/ca.pem"
BR2_PACKAGE_NORTHSTAR_BUNDLE_CERT="$ca/signer.pem"
BR2_PACKAGE_NORTHSTAR_BUNDLE_KEY="$ca/signer.key"
BR2_PACKAGE_NORTHSTAR_BUNDLE_VERSION="2.1.0"
EOF
export BR2_CONFIG=$config BASE_DIR=$ab TARGET_DIR=$ab/target BINARIES_DIR=$ab/images HOST_DIR=$ab/host
printf 'u-boot\n' >"$BINARIES_DIR/u-boot.bin"
ab_tools=1
for tool in mkimage mkenvimage rauc; do
    command -v "$tool" >/dev/null || { echo "$tool not installed (u-boot-tools, rauc): the A/B image is skipped"; ab_tools=0; }
done
if [ "$ab_tools" -eq 1 ]; then
    buildroot-external/board/northstar/post-build.sh "$TARGET_DIR" >/dev/null
    # A real root is megabytes; rauc refuses a bundle whose payload is one block.
    head -c 262144 /dev/urandom >"$TARGET_DIR/etc/filler"
    cmp -s "$TARGET_DIR/etc/northstar/bundle-keyring.pem" "$ca/ca.pem" \
        || fail "A/B: post-build.sh did not install the bundle keyring"
    mksquashfs "$TARGET_DIR" "$BINARIES_DIR/rootfs.squashfs" -noappend -all-root -comp xz -e lib/modules -quiet >/dev/null
    args=$(sed -n 's/^BR2_ROOTFS_POST_SCRIPT_ARGS="\(.*\)"$/\1/p' "$config")
    args=${args//\$(BR2_EXTERNAL_NORTHSTAR_PATH)/$BR2_EXTERNAL_NORTHSTAR_PATH}
    # shellcheck disable=SC2086 # the arguments are words, as Buildroot passes them
    buildroot-external/board/northstar/post-image.sh "$BINARIES_DIR" $args >"$ab/post-image.log" 2>&1 \
        || { tail -n 30 "$ab/post-image.log" >&2; fail "A/B: post-image.sh failed (log: $ab/post-image.log)"; }
    grep '^northstar:' "$ab/post-image.log"
    verify_images "$BINARIES_DIR" "$ab/board" "$ab/northstar-keys" northstar-rpi2-ab y
    gpt_matches_board "$ab/board/board.toml" "$BINARIES_DIR/sdcard.img" "$BINARIES_DIR/root.img" \
        || fail "A/B: sdcard.img does not have the layout of board.toml"
    # The FAT boot partition: U-Boot, its script and environment, the firmware's
    # configuration that starts U-Boot.
    fat=$BINARIES_DIR/boot.vfat
    for f in u-boot.bin boot.scr uboot.env config.txt zImage bcm2709-rpi-2-b.dtb initramfs.cpio.gz; do
        mtype -i "$fat" "::$f" >/dev/null 2>&1 || fail "A/B: the boot partition has no $f"
    done
    mtype -i "$fat" ::config.txt | grep -qx 'kernel=u-boot.bin' || fail "A/B: config.txt does not start U-Boot"
    mcopy -o -i "$fat" ::boot.scr "$ab/boot.scr"
    mcopy -o -i "$fat" ::uboot.env "$ab/uboot.env"
    dumpimage -l "$ab/boot.scr" | grep -q '^Image Type:.* Script ' || fail "A/B: boot.scr is not a U-Boot script image"
    cmp -s <(tail -c +73 "$ab/boot.scr") buildroot-external/board/northstar/rpi2/ab/boot.cmd \
        || fail "A/B: boot.scr does not hold rpi2/ab/boot.cmd"
    size=$(python3 -c 'import sys,tomllib; print(tomllib.load(open(sys.argv[1],"rb"))["slots"]["uboot"]["size"])' "$ab/board/board.toml")
    [ "$(stat -c %s "$ab/uboot.env")" -eq "$size" ] || fail "A/B: uboot.env is not slots.uboot.size ($size) bytes"
    python3 - "$ab/uboot.env" <<'EOF' || fail "A/B: uboot.env has no valid CRC or lacks the slots' variables"
import sys, zlib
env = open(sys.argv[1], "rb").read()
crc, data = int.from_bytes(env[:4], "little"), env[4:]
assert zlib.crc32(data) == crc, "crc"
pairs = dict(v.split("=", 1) for v in data.split(b"\0\0")[0].decode().split("\0"))
assert pairs["BOOT_ORDER"] == "A B" and pairs["BOOT_A_LEFT"] == "3" and pairs["BOOT_B_LEFT"] == "3", pairs
assert "boot.scr" in pairs["bootcmd"], pairs["bootcmd"]
EOF
    # The bundle: RAUC's and Northstar's readers verify it against the keyring.
    rauc info --keyring="$ca/ca.pem" "$BINARIES_DIR/update.raucb" >"$ab/rauc-info.txt" 2>&1 \
        || { cat "$ab/rauc-info.txt" >&2; fail "A/B: rauc info does not verify update.raucb"; }
    "$nstar" bundle info "$BINARIES_DIR/update.raucb" --keyring "$ca/ca.pem" >"$ab/nstar-info.txt" \
        || fail "A/B: nstar bundle info does not verify update.raucb"
    grep -q "northstar-rpi2" "$ab/nstar-info.txt" || fail "A/B: the bundle does not carry the board's compatible"
    grep -q "2.1.0" "$ab/nstar-info.txt" \
        || fail "A/B: the bundle does not carry the version: $(cat "$ab/nstar-info.txt")"
    # Without host-rauc, nstar bundle create makes it.
    echo '# BR2_PACKAGE_HOST_RAUC is not set' >>"$config"
    sed -i '/^BR2_PACKAGE_HOST_RAUC=y$/d' "$config"
    # shellcheck disable=SC2086
    buildroot-external/board/northstar/post-image.sh "$BINARIES_DIR" $args >"$ab/post-image-nstar.log" 2>&1 \
        || { tail -n 30 "$ab/post-image-nstar.log" >&2; fail "A/B: post-image.sh without host-rauc failed"; }
    grep -q 'nstar bundle create' "$ab/post-image-nstar.log" || fail "A/B: the bundle was not made by nstar"
    rauc info --keyring="$ca/ca.pem" "$BINARIES_DIR/update.raucb" >/dev/null 2>&1 \
        || fail "A/B: rauc info does not verify nstar's update.raucb"
    echo "A/B: sdcard.img has boot, rootfs_a, rootfs_b and data as board.toml names them, boot.scr and uboot.env on the FAT partition, lockdown in board.toml, the keyring in the root, update.raucb verifies with rauc and nstar (rauc bundle and nstar bundle create)"
fi

# ---------------------------------------------------------------------------------
# The Yocto layer's shell functions outside BitBake: npk.bbclass's do_npk and do_deploy,
# northstar_image.bbclass's rootfs step and image command, with BitBake's variable
# expansion (check-integrations.py --yocto-shell), under /bin/sh -e as BitBake runs them.
declare -A machine_target=(
    [qemux86-64]=x86_64-unknown-linux-musl
    [raspberrypi2]=armv7-unknown-linux-gnueabihf
    [salvator-x]=aarch64-unknown-linux-musl
)
declare -A machine_board=([qemux86-64]=x86_64 [raspberrypi2]=rpi2 [salvator-x]=renesas-aarch64)
declare -A machine_cache=([qemux86-64]=x86_64 [salvator-x]=aarch64)
for machine in qemux86-64 raspberrypi2 salvator-x; do
    step "Yocto image class outside BitBake: $machine"
    dir=$work/yocto-$machine
    board_dir=$root/board-configs/${machine_board[$machine]}
    mkdir -p "$dir/bin" "$dir/deploy" "$dir/imgdeploy" "$dir/rootfs/etc" "$dir/hello/bin"
    ln -s "$nstar" "$dir/bin/nstar"
    install -m 0755 "target/${machine_target[$machine]}/release/northstar" "$dir/deploy/northstar-init"
    # The kernel's modules as for Buildroot: the QEMU tests' Debian kernel when cached
    # (qemux86-64; salvator-x with the virt stand-in's modules, NORTHSTAR_MODULES), else
    # a modules tree of the board's modules.
    cache=(target/qemu-cache/"${machine_cache[$machine]:-none}"/root/lib/modules/*/modules.dep)
    modules=""
    if [ -f "${cache[0]}" ]; then
        mkdir -p "$dir/rootfs/lib/modules"
        ln -s "$root/$(dirname "${cache[0]}")" "$dir/rootfs/lib/modules/$(basename "$(dirname "${cache[0]}")")"
        [ "$machine" = salvator-x ] && modules=${rcar_virt_modules//,/ }
    else
        fake_modules "$board_dir/board.toml" "$dir/rootfs/lib/modules/6.6.0-yocto-standard"
    fi
    hello=target/${machine_target[$machine]}/release/hello-world
    [ -f "$hello" ] || hello=$nstar   # any binary: the package is only checked, not run
    install -m 0755 "$hello" "$dir/hello/bin/hello-world"
    sed '/^io:/i autostart: relaxed' examples/hello-world/manifest.yaml >"$dir/hello.yaml"
    # Lockdown as the class sets it, but off for salvator-x, whose images boot on the
    # virt stand-in with the root chosen on the kernel command line.
    lockdown=1
    [ "$machine" = salvator-x ] && lockdown=0
    common=(NORTHSTAR_DEV_KEYS=1 NORTHSTAR_ROOT_KEY="$dir/keys/root.key"
        NORTHSTAR_PACKAGES_KEY="$dir/keys/packages.key" NPK_REPOSITORY=system DEPLOYDIR="$dir/deploy"
        NPK_OPTS="" NORTHSTAR_LOCKDOWN="$lockdown" NORTHSTAR_BUNDLE_KEYRING="$work/bundle-ca/ca.pem")
    {
        "$python" scripts/check-integrations.py --yocto-shell "${common[@]}" PN=message-npk PV=0.1.0+git \
            NPK_DIR="$dir/npk-message" NPK_MANIFEST="$root/examples/message/manifest.yaml" \
            NPK_ROOT="$root/examples/message/root" WORKDIR="$dir/work" IMGDEPLOYDIR="$dir/imgdeploy" \
            IMAGE_NAME=unused IMAGE_ROOTFS="$dir/rootfs" DEPLOY_DIR_IMAGE="$dir/deploy" \
            NORTHSTAR_BOARD_DIR="$board_dir" NORTHSTAR_DATA_SIZE=64M nonarch_base_libdir=/lib \
            NORTHSTAR_EXTRA_MODULES="" NORTHSTAR_MODULES="$modules" REPRODUCIBLE_TIMESTAMP_ROOTFS=1520598896 \
            IMAGE_BASENAME=northstar-image MACHINE="$machine"
        echo 'npk_do_npk; npk_do_deploy'
        "$python" scripts/check-integrations.py --yocto-shell "${common[@]}" PN=hello-world-npk PV=0.1.0+git \
            NPK_DIR="$dir/npk-hello" NPK_MANIFEST="$dir/hello.yaml" NPK_ROOT="$dir/hello" \
            WORKDIR="$dir/work" IMGDEPLOYDIR="$dir/imgdeploy" IMAGE_NAME="northstar-image-$machine-20260101" \
            IMAGE_ROOTFS="$dir/rootfs" DEPLOY_DIR_IMAGE="$dir/deploy" NORTHSTAR_BOARD_DIR="$board_dir" \
            NORTHSTAR_DATA_SIZE=64M nonarch_base_libdir=/lib NORTHSTAR_EXTRA_MODULES="" NORTHSTAR_MODULES="$modules" \
            REPRODUCIBLE_TIMESTAMP_ROOTFS=1520598896 IMAGE_BASENAME=northstar-image MACHINE="$machine"
        echo 'npk_do_npk; npk_do_deploy; northstar_rootfs; IMAGE_CMD_northstar'
    } >"$dir/run.sh"
    (cd "$dir" && PATH=$dir/bin:$PATH:/sbin:/usr/sbin sh -e "$dir/run.sh") >"$dir/run.log" 2>&1 \
        || { tail -n 30 "$dir/run.log" >&2; fail "$machine: the layer's shell functions failed (log: $dir/run.log)"; }
    grep -q "WARNING: Northstar: generating the development key" "$dir/run.log" \
        || fail "$machine: northstar_key generated no development key"
    view=$dir/view
    mkdir -p "$view"
    for suffix in root.img root.verity root.verity.sig data.ext4 initramfs.cpio.gz; do
        [ -L "$dir/imgdeploy/northstar-image-$machine.$suffix" ] || fail "$machine: no link northstar-image-$machine.$suffix"
        cp "$dir/imgdeploy/northstar-image-$machine.$suffix" "$view/$suffix"
    done
    verify_images "$view" "$board_dir" "$dir/keys" "yocto-$machine" "$( [ "$lockdown" = 1 ] && echo y || echo n)"
    unsquashfs -q -d "$view/keyring" "$view/root.img" etc/northstar/bundle-keyring.pem >/dev/null
    cmp -s "$view/keyring/etc/northstar/bundle-keyring.pem" "$work/bundle-ca/ca.pem" \
        || fail "$machine: the root has no /etc/northstar/bundle-keyring.pem of NORTHSTAR_BUNDLE_KEYRING"
    echo "$machine: the layer's image command made a root that verifies with its signed descriptor, the data partition with both packages, the initramfs"
done

# ---------------------------------------------------------------------------------
# Boots images under QEMU until hello-world greets (or the init reports a failed boot):
# boot_qemu NAME LOG QEMU-ARGS...
boot_qemu() {
    local name=$1 log=$2 qemu deadline start=$SECONDS
    shift 2
    timeout --kill-after=5 180 "$@" >"$log" 2>&1 &
    qemu=$!
    deadline=$((SECONDS + 170))
    until grep -q "Hello, embedded world" "$log" 2>/dev/null || grep -q "boot failed" "$log" 2>/dev/null \
        || [ $SECONDS -ge $deadline ] || ! kill -0 "$qemu" 2>/dev/null; do
        sleep 1
    done
    kill "$qemu" 2>/dev/null || true
    wait "$qemu" 2>/dev/null || true
    if ! grep -q "Hello, embedded world" "$log"; then
        tail -n 30 "$log" >&2
        fail "$name: the images did not boot to hello-world (console: $log)"
    fi
    grep -E "verified, mounted|Startup finished|Hello, embedded world" "$log" | sed 's/^/  /'
    echo "$name: Northstar's init verified the root, mounted the data partition and started hello-world ($((SECONDS - start)) s)"
}

if [ "$boot" -eq 1 ]; then
    step "boot: the Buildroot images under QEMU (x86_64, Raspberry Pi 2, R-Car H3 on virt)"
    images=$work/northstar_qemu_x86_64_defconfig/images
    kernel=(target/qemu-cache/x86_64/root/boot/vmlinuz-*)
    if [ ! -L "$work/northstar_qemu_x86_64_defconfig/target/lib/modules/${kernel[0]#*vmlinuz-}" ]; then
        echo "no cached x86_64 kernel (qemu-tests fetch): x86_64 boot skipped"
    else
        boot_qemu northstar_qemu_x86_64_defconfig "$images/console.log" \
            qemu-system-x86_64 -M q35 -m 512 -accel tcg -nographic -no-reboot -monitor none -serial stdio -nic none \
            -kernel "${kernel[0]}" -initrd "$images/initramfs.cpio.gz" -append "console=ttyS0 panic=-1" \
            -drive file="$images/root.img",if=none,id=d0,format=raw,readonly=on -device virtio-blk-pci,drive=d0 \
            -drive file="$images/data.ext4",if=none,id=d1,format=raw -device virtio-blk-pci,drive=d1 \
            -device i6300esb
    fi
    # raspi2b: the SD card image of genimage, grown to the power of two QEMU wants;
    # the watchdog off (QEMU resets the machine when it is started), no kernel or socket
    # memory accounting and no cpuset controller (static keys whose patching stalls
    # raspi2b under TCG): the board's README.
    images=$work/northstar_raspberrypi2_defconfig/images
    kernel=(target/qemu-cache/rpi2/root/boot/vmlinuz-*)
    dtb=(target/qemu-cache/rpi2/root/usr/lib/linux-image-*/bcm2836-rpi-2-b.dtb)
    if [ ! -L "$work/northstar_raspberrypi2_defconfig/target/lib/modules/${kernel[0]#*vmlinuz-}" ]; then
        echo "no cached rpi2 kernel (qemu-tests fetch): Raspberry Pi 2 boot skipped"
    else
        cp "$images/sdcard.img" "$images/sd.img"
        truncate -s 512M "$images/sd.img"
        boot_qemu northstar_raspberrypi2_defconfig "$images/console.log" \
            qemu-system-arm -M raspi2b -m 1024 -accel tcg -nographic -no-reboot -monitor none -serial stdio \
            -dtb "${dtb[0]}" -kernel "${kernel[0]}" -initrd "$images/initramfs.cpio.gz" \
            -append "console=ttyAMA0 panic=-1 cgroup.memory=nokmem,nosocket cgroup_disable=cpuset northstar.watchdog=off" \
            -drive file="$images/sd.img",if=sd,format=raw
    fi
    # The A/B SD card: the kernel started by QEMU in U-Boot's place with the slot the
    # boot script would name (rauc.slot=B, the second slot: not the single-root
    # layout's partition 2); lockdown on, the partitions found by PARTLABEL.
    if [ ! -L "$work/ab/target/lib/modules/${kernel[0]#*vmlinuz-}" ]; then
        echo "no cached rpi2 kernel or no A/B image: Raspberry Pi 2 A/B boot skipped"
    else
        cp "$work/ab/images/sdcard.img" "$work/ab/images/sd.img"
        truncate -s 1G "$work/ab/images/sd.img"
        boot_qemu northstar-rpi2-ab "$work/ab/images/console.log" \
            qemu-system-arm -M raspi2b -m 1024 -accel tcg -nographic -no-reboot -monitor none -serial stdio \
            -dtb "${dtb[0]}" -kernel "${kernel[0]}" -initrd "$work/ab/images/initramfs.cpio.gz" \
            -append "console=ttyAMA0 panic=-1 cgroup.memory=nokmem,nosocket cgroup_disable=cpuset northstar.watchdog=off rauc.slot=B" \
            -drive file="$work/ab/images/sd.img",if=sd,format=raw
        grep -q "slot: B" "$work/ab/images/console.log" || fail "northstar-rpi2-ab: the boot report names no slot B"
        grep -Eq "root: (PARTLABEL=rootfs_b|/dev/mmcblk0p3) verified" "$work/ab/images/console.log" \
            || fail "northstar-rpi2-ab: the verified root was not slot B's rootfs_b (partition 3)"
    fi
    # R-Car H3 on its stand-in, aarch64 virt with a Cortex-A57: the eMMC image of genimage
    # is one virtio disk (its partitions vda1-3), the kernel command line switches the
    # board's devices to virt's (board-configs/renesas-aarch64/README.md).
    images=$work/northstar_rcar_h3_defconfig/images
    kernel=(target/qemu-cache/aarch64/root/boot/vmlinuz-*)
    if [ ! -L "$work/northstar_rcar_h3_defconfig/target/lib/modules/${kernel[0]#*vmlinuz-}" ]; then
        echo "no cached aarch64 kernel (qemu-tests fetch): R-Car H3 (virt) boot skipped"
    else
        cp --sparse=always "$images/emmc.img" "$images/emmc-virt.img"
        boot_qemu northstar_rcar_h3_defconfig "$images/console.log" \
            qemu-system-aarch64 -M virt -cpu cortex-a57 -m 512 -accel tcg -nographic -no-reboot -monitor none \
            -serial stdio -nic none -kernel "${kernel[0]}" -initrd "$images/initramfs.cpio.gz" \
            -append "console=ttyAMA0 panic=-1 northstar.modules=$rcar_virt_modules northstar.root.device=/dev/vda2 northstar.data.device=/dev/vda3" \
            -drive file="$images/emmc-virt.img",if=none,id=d0,format=raw -device virtio-blk-pci,drive=d0 \
            -device i6300esb
    fi
    step "boot: the Yocto image class's images under QEMU (qemux86-64, salvator-x on virt)"
    images=$work/yocto-qemux86-64/imgdeploy
    kernel=(target/qemu-cache/x86_64/root/boot/vmlinuz-*)
    if [ ! -L "$work/yocto-qemux86-64/rootfs/lib/modules/${kernel[0]#*vmlinuz-}" ]; then
        echo "no cached x86_64 kernel (qemu-tests fetch): qemux86-64 boot skipped"
    else
        boot_qemu yocto-qemux86-64 "$work/yocto-qemux86-64/console.log" \
            qemu-system-x86_64 -M q35 -m 512 -accel tcg -nographic -no-reboot -monitor none -serial stdio -nic none \
            -kernel "${kernel[0]}" -initrd "$images/northstar-image-qemux86-64.initramfs.cpio.gz" \
            -append "console=ttyS0 panic=-1" \
            -drive file="$images/northstar-image-qemux86-64.root.img",if=none,id=d0,format=raw,readonly=on \
            -device virtio-blk-pci,drive=d0 \
            -drive file="$images/northstar-image-qemux86-64.data.ext4",if=none,id=d1,format=raw \
            -device virtio-blk-pci,drive=d1 -device i6300esb
    fi
    # salvator-x on the virt stand-in: the root and data images as two virtio disks, the
    # command line of board-configs/renesas-aarch64/README.md.
    images=$work/yocto-salvator-x/imgdeploy
    kernel=(target/qemu-cache/aarch64/root/boot/vmlinuz-*)
    if [ ! -L "$work/yocto-salvator-x/rootfs/lib/modules/${kernel[0]#*vmlinuz-}" ]; then
        echo "no cached aarch64 kernel (qemu-tests fetch): salvator-x (virt) boot skipped"
    else
        boot_qemu yocto-salvator-x "$work/yocto-salvator-x/console.log" \
            qemu-system-aarch64 -M virt -cpu cortex-a57 -m 512 -accel tcg -nographic -no-reboot -monitor none \
            -serial stdio -nic none -kernel "${kernel[0]}" \
            -initrd "$images/northstar-image-salvator-x.initramfs.cpio.gz" \
            -append "console=ttyAMA0 panic=-1 northstar.modules=$rcar_virt_modules northstar.root.device=/dev/vda northstar.data.device=/dev/vdb" \
            -drive file="$images/northstar-image-salvator-x.root.img",if=none,id=d0,format=raw,readonly=on \
            -device virtio-blk-pci,drive=d0 \
            -drive file="$images/northstar-image-salvator-x.data.ext4",if=none,id=d1,format=raw \
            -device virtio-blk-pci,drive=d1 -device i6300esb
    fi
fi
step "integrations: all checks passed"
