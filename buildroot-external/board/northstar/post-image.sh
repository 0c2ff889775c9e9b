#!/usr/bin/env bash
# Buildroot post-image script (BR2_ROOTFS_POST_IMAGE_SCRIPT): the images of
# doc/boot.md from Buildroot's output.
#
#   post-image.sh BINARIES_DIR [-c GENIMAGE_CONFIG] [-a GENIMAGE_CONFIG -u DIR]
#                 [-m MODULE,...] [-M MODULE,...]
#
# -c  a genimage configuration that assembles the board's disk image from the
#     files below (boards with a partitioned boot medium); without it the root
#     and data images are the disks themselves (QEMU x86_64).
# -a  the A/B genimage configuration, used instead of -c's with
#     BR2_PACKAGE_NORTHSTAR_AB (ab.sh: boot.scr, uboot.env, the bundle).
# -u  the A/B boot files of the board: DIR/boot.cmd (compiled into boot.scr),
#     DIR/uboot-env.txt (U-Boot's environment, made into uboot.env) and
#     DIR/config.txt (the Raspberry Pi firmware's, starting U-Boot).
# -m  more kernel modules for the initramfs than the board's list, e.g. those
#     of a QEMU stand-in that the kernel command line switches to.
# -M  the initramfs's modules instead of the board's list: a stand-in's whole
#     northstar.modules= list, for a kernel that lacks modules of the board
#     (a distribution kernel booting the stand-in).
#
# Input (BINARIES_DIR): rootfs.squashfs (BR2_TARGET_ROOTFS_SQUASHFS),
# northstar-init (the northstar package); TARGET_DIR/lib/modules/<release>/
# (the kernel's modules, depmod's index); the NPKs collected by npk-package in
# BASE_DIR/northstar-repositories/<repository>/.
#
# Output (BINARIES_DIR):
#   root.img           squashfs padded to 4096 bytes, verity superblock, hash tree
#   root.verity(.sig)  the root descriptor and its ed25519 signature
#   data.ext4          the data partition: northstar/repositories/<name>/*.npk
#   initramfs.cpio.gz  /init, board.toml, root.pub, the descriptor, the modules
#   plus what the genimage configuration makes (sdcard.img, emmc.img), and
#   with A/B: northstar-ab/ (boot.scr, uboot.env, config.txt) and, with a
#   bundle signer configured, update.raucb.
set -euo pipefail

BINARIES_DIR=${1:?usage: post-image.sh BINARIES_DIR [-c GENIMAGE_CONFIG] [-a GENIMAGE_CONFIG -u DIR] [-m MODULE,...] [-M MODULE,...]}
shift
export BINARIES_DIR
genimage_config=""
ab_genimage_config=""
ab_boot_dir=""
extra_modules=""
only_modules=""
while [ $# -gt 0 ]; do
    case $1 in
        -c) genimage_config=${2:?-c needs a file}; shift 2 ;;
        -a) ab_genimage_config=${2:?-a needs a file}; shift 2 ;;
        -u) ab_boot_dir=${2:?-u needs a directory}; shift 2 ;;
        -m) extra_modules=${2:?-m needs a list}; shift 2 ;;
        -M) only_modules=${2:?-M needs a list}; shift 2 ;;
        *) shift ;; # the other scripts' arguments
    esac
done

# shellcheck source=buildroot-external/board/northstar/common.sh
. "$BR2_EXTERNAL_NORTHSTAR_PATH/board/northstar/common.sh"
# shellcheck source=buildroot-external/board/northstar/ab.sh
. "$BR2_EXTERNAL_NORTHSTAR_PATH/board/northstar/ab.sh"
: "${TARGET_DIR:?TARGET_DIR is not set}"
if [ -n "${HOST_DIR:-}" ]; then
    PATH=$HOST_DIR/bin:$HOST_DIR/sbin:$PATH
fi
PATH=$PATH:/sbin:/usr/sbin
nstar=$(northstar_nstar)
for tool in veritysetup mke2fs cpio openssl gzip; do
    command -v "$tool" >/dev/null || northstar_die "$tool not found"
done
reproducible=$(northstar_option BR2_REPRODUCIBLE)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}

work=$BINARIES_DIR/northstar.work
rm -rf "$work"
mkdir -p "$work"

root_key=$NORTHSTAR_ROOT_KEY
root_pub=$(northstar_pub "$root_key")
packages_pub=$(northstar_pub "$NORTHSTAR_PACKAGES_KEY")
for f in "$root_key" "$root_pub" "$packages_pub"; do
    [ -f "$f" ] || northstar_die "$f: no such file"
done

# --- the root file system: squashfs, padding, dm-verity ----------------------
squashfs=$BINARIES_DIR/rootfs.squashfs
[ -f "$squashfs" ] || northstar_die "$squashfs: no such file (enable BR2_TARGET_ROOTFS_SQUASHFS)"
root=$BINARIES_DIR/root.img
cp "$squashfs" "$root"
size=$(stat -c %s "$root")
data_blocks=$(( (size + 4095) / 4096 ))
truncate -s $(( data_blocks * 4096 )) "$root"
if [ "$reproducible" = y ]; then
    salt=$(sha256sum "$squashfs" | cut -c 1-64)
    uuid=$(printf '%s' "$salt" | sed 's/^\(.\{8\}\)\(.\{4\}\)\(.\{4\}\)\(.\{4\}\)\(.\{12\}\).*/\1-\2-\3-\4-\5/')
    uuid_opt=(--uuid="$uuid")
else
    salt=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
    uuid_opt=()
fi
veritysetup format --format=1 --hash=sha256 --data-block-size=4096 --hash-block-size=4096 \
    --data-blocks="$data_blocks" --hash-offset=$(( data_blocks * 4096 )) --salt="$salt" \
    "${uuid_opt[@]}" "$root" "$root" > "$work/verity.txt"
root_hash=$(awk -F: '/^Root hash:/ { gsub(/[ \t]/, "", $2); print $2 }' "$work/verity.txt")
[ ${#root_hash} -eq 64 ] || northstar_die "no root hash in the output of veritysetup format: $(cat "$work/verity.txt")"
veritysetup verify --hash-offset=$(( data_blocks * 4096 )) "$root" "$root" "$root_hash" >/dev/null \
    || northstar_die "$root: veritysetup verify failed"

# --- the root descriptor, signed with the root key -------------------------
# TOML, exactly these three keys; the signature is raw ed25519 (64 bytes) over
# the file's bytes. The secret key file is the 32-byte seed: as PKCS#8 (DER) for
# openssl.
descriptor=$BINARIES_DIR/root.verity
printf 'root_hash = "%s"\nsalt = "%s"\ndata_blocks = %d\n' "$root_hash" "$salt" "$data_blocks" > "$descriptor"
[ "$(stat -c %s "$root_key")" -eq 32 ] || northstar_die "$root_key: not a 32-byte secret key (nstar keygen)"
[ "$(stat -c %s "$root_pub")" -eq 32 ] || northstar_die "$root_pub: not a 32-byte public key"
der=$work/root-key.der
( umask 077; { printf '\060\056\002\001\000\060\005\006\003\053\145\160\004\042\004\040'; cat "$root_key"; } > "$der" )
openssl pkey -inform DER -in "$der" -pubout -outform DER | tail -c 32 | cmp -s - "$root_pub" \
    || northstar_die "$root_pub is not the public key of $root_key"
openssl pkeyutl -sign -inkey "$der" -keyform DER -rawin -in "$descriptor" -out "$descriptor.sig"
rm -f "$der"
[ "$(stat -c %s "$descriptor.sig")" -eq 64 ] || northstar_die "$descriptor.sig: not a 64-byte signature"

# --- the data partition: the repositories with their signed packages ---------
# Each repository directory collected by npk-package must be a repository of
# the runtime configuration whose dir lies on the data partition.
repository_dir() {
    awk -v want="$1" '
        /^[ \t]*\[/ { section = $0; gsub(/[ \t\[\]]/, "", section) }
        section == "repositories." want && /^[ \t]*dir[ \t]*=/ {
            sub(/^[^=]*=[ \t]*"/, ""); sub(/".*/, ""); print; exit
        }' "$NORTHSTAR_BOARD_DIR/runtime.toml"
}
data_stage=$work/data
mkdir -p "$data_stage/northstar"
repositories=$BASE_DIR/northstar-repositories
packages=0
if [ -d "$repositories" ]; then
    for repo in "$repositories"/*/; do
        [ -d "$repo" ] || continue
        name=$(basename "$repo")
        dir=$(repository_dir "$name")
        [ -n "$dir" ] || northstar_die "repository $name: not in $NORTHSTAR_BOARD_DIR/runtime.toml"
        case $dir in
            /data/?*) ;;
            *) northstar_die "repository $name: dir $dir is not on the data partition (/data)" ;;
        esac
        mkdir -p "$data_stage/${dir#/data/}"
        for npk in "$repo"*.npk; do
            [ -f "$npk" ] || continue
            "$nstar" verify "$npk" --key "$packages_pub" >/dev/null \
                || northstar_die "$npk does not verify with $packages_pub"
            cp "$npk" "$data_stage/${dir#/data/}/"
            packages=$((packages + 1))
        done
    done
fi
rm -f "$BINARIES_DIR/data.ext4"
mke2fs -t ext4 -b 4096 -L northstar-data -E root_owner=0:0 -d "$data_stage" -F -q \
    "$BINARIES_DIR/data.ext4" "$NORTHSTAR_DATA_SIZE" >/dev/null

# --- the initramfs ---------------------------------------------------------
init=$BINARIES_DIR/northstar-init
[ -f "$init" ] || northstar_die "$init: no such file (the northstar package installs it)"
stage=$work/initramfs
install -D -m 0755 "$init" "$stage/init"
northstar_board_toml "$NORTHSTAR_BOARD_DIR/board.toml" "$stage/etc/northstar/board.toml"
install -D -m 0644 "$root_pub" "$stage/etc/northstar/root.pub"
install -D -m 0644 "$descriptor" "$stage/etc/northstar/root.verity"
install -D -m 0644 "$descriptor.sig" "$stage/etc/northstar/root.verity.sig"

# The board's modules (board.toml `modules`, or -M's instead) and -m's, with
# every module they depend on (modules.dep); built-in ones need nothing.
board_modules() {
    awk '
        { sub(/#.*/, "") }
        !inlist && /^[ \t]*modules[ \t]*=/ { inlist = 1; sub(/^[^=]*=/, "") }
        inlist {
            line = $0
            while (match(line, /"[^"]*"/)) {
                print substr(line, RSTART + 1, RLENGTH - 2)
                line = substr(line, RSTART + RLENGTH)
            }
            if ($0 ~ /\]/) exit
        }' "$NORTHSTAR_BOARD_DIR/board.toml"
}
if [ -n "$only_modules" ]; then
    wanted=$(tr ',' '\n' <<<"$only_modules,$extra_modules")
else
    wanted=$(board_modules; tr ',' '\n' <<<"$extra_modules")
fi
wanted=$(grep -v '^$' <<<"$wanted" || true)
if [ -n "$wanted" ]; then
    releases=("$TARGET_DIR"/lib/modules/*/modules.dep)
    [ -f "${releases[0]}" ] || northstar_die "no $TARGET_DIR/lib/modules/<release>/modules.dep: the board loads modules ($(tr '\n' ' ' <<<"$wanted"))"
    [ ${#releases[@]} -eq 1 ] || northstar_die "more than one kernel release in $TARGET_DIR/lib/modules"
    moddir=$(dirname "${releases[0]}")
    release=$(basename "$moddir")
    files=$(awk -v wanted="$(tr '\n' ' ' <<<"$wanted")" '
        function norm(p,   n) { n = p; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n); gsub(/-/, "_", n); return n }
        function add(name,   i, d, n) {
            if (name in done) return
            done[name] = 1
            if (!(name in path)) {
                if (name in builtin) return
                printf "unknown module %s (neither in modules.dep nor built in)\n", name > "/dev/stderr"
                failed = 1; return
            }
            print path[name]
            n = split(deps[name], d, " ")
            for (i = 1; i <= n; i++) add(norm(d[i]))
        }
        FILENAME ~ /modules\.builtin$/ { builtin[norm($0)] = 1; next }
        {
            p = $0; sub(/:.*/, "", p)
            r = $0; sub(/^[^:]*:[ \t]*/, "", r)
            path[norm(p)] = p; deps[norm(p)] = r
        }
        END {
            n = split(wanted, w, " ")
            for (i = 1; i <= n; i++) { m = w[i]; gsub(/-/, "_", m); add(m) }
            exit failed
        }' "$( [ -f "$moddir/modules.builtin" ] && echo "$moddir/modules.builtin" || echo /dev/null)" "$moddir/modules.dep") \
        || northstar_die "the board's modules do not resolve in $moddir"
    for index in modules.dep modules.builtin modules.builtin.modinfo; do
        [ -f "$moddir/$index" ] && install -D -m 0644 "$moddir/$index" "$stage/lib/modules/$release/$index"
    done
    while read -r file; do
        [ -n "$file" ] || continue
        case $file in
            *.ko) ;;
            *) northstar_die "$file: compressed module; the init loads uncompressed .ko files (disable CONFIG_MODULE_COMPRESS)" ;;
        esac
        install -D -m 0644 "$moddir/$file" "$stage/lib/modules/$release/$file"
    done <<<"$files"
fi
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
( cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet ) \
    | gzip -n -9 > "$BINARIES_DIR/initramfs.cpio.gz"

# --- A/B: the boot script, U-Boot's environment, the bundle ---------------
if [ "$NORTHSTAR_AB" = y ]; then
    [ -n "$ab_genimage_config" ] || northstar_die "BR2_PACKAGE_NORTHSTAR_AB: no A/B genimage configuration (-a in BR2_ROOTFS_POST_SCRIPT_ARGS)"
    [ -n "$ab_boot_dir" ] || northstar_die "BR2_PACKAGE_NORTHSTAR_AB: no A/B boot files (-u in BR2_ROOTFS_POST_SCRIPT_ARGS)"
    northstar_ab_boot_files "$ab_boot_dir" "$BINARIES_DIR/northstar-ab"
    genimage_config=$ab_genimage_config
    northstar_bundle "$root" "$BINARIES_DIR/update.raucb" "$work/bundle"
fi

# --- the disk image --------------------------------------------------------
if [ -n "$genimage_config" ]; then
    command -v genimage >/dev/null || northstar_die "genimage not found (BR2_PACKAGE_HOST_GENIMAGE)"
    mkdir -p "$work/genimage-root"
    genimage --rootpath "$work/genimage-root" --tmppath "$work/genimage.tmp" \
        --inputpath "$BINARIES_DIR" --outputpath "$BINARIES_DIR" --config "$genimage_config"
fi

rm -rf "$work"
echo "northstar: root.img (data blocks: $data_blocks, root hash $root_hash), data.ext4 ($packages packages), initramfs.cpio.gz${genimage_config:+, $(basename "$genimage_config")}"
