# northstar_image: the images of Northstar's boot contract (doc/boot.md of the
# workspace) from an image recipe's root file system.
#
# The image type "northstar" writes, into ${IMGDEPLOYDIR}, with links named
# ${IMAGE_BASENAME}-${MACHINE}.<suffix>:
#   .root.img           squashfs of the root, padded to 4096 bytes, the verity
#                       superblock and hash tree appended (veritysetup format)
#   .root.verity(.sig)  the signed root descriptor (root hash, salt, data blocks)
#   .data.ext4          the data partition: the NPKs of NORTHSTAR_CONTAINERS in
#                       their repositories' dirs
#   .initramfs.cpio.gz  /init (the northstar init), board.toml, root.pub, the
#                       descriptor and the board's kernel modules
# The root holds no init and no kernel modules: the kernel starts /init of the
# initramfs, which verifies the root and makes it /.

inherit northstar

IMAGE_TYPES += "northstar"

# Recipes (inheriting npk) whose packages go onto the data partition.
NORTHSTAR_CONTAINERS ??= ""
# Size of the data partition image, as mke2fs takes it.
NORTHSTAR_DATA_SIZE ??= "256M"
# More modules for the initramfs than board.toml lists (a QEMU stand-in's).
NORTHSTAR_EXTRA_MODULES ??= ""
NORTHSTAR_EXTRA_MODULES:qemuarm64 ??= "virtio_pci virtio_blk i6300esb"
# The initramfs's modules instead of board.toml's list (empty: board.toml's): a
# stand-in's whole northstar.modules= list, for a kernel that lacks modules of the
# board (a distribution kernel booting the stand-in).
NORTHSTAR_MODULES ??= ""
# "1": lockdown = true in the initramfs's board.toml (unless the board's file
# sets lockdown): the kernel command line cannot choose the root, the runtime
# configuration or the slot (doc/boot.md, "Lockdown"). "0" only for development
# images that choose the root on the command line (QEMU stand-ins).
NORTHSTAR_LOCKDOWN ??= "1"
# A PEM file of CA certificates, installed as /etc/northstar/bundle-keyring.pem:
# what update bundles must chain to (board.toml's slots.keyring default). Empty:
# none, the device takes no bundle.
NORTHSTAR_BUNDLE_KEYRING ??= ""

do_image_northstar[depends] += " \
    nstar-native:do_populate_sysroot \
    squashfs-tools-native:do_populate_sysroot \
    cryptsetup-native:do_populate_sysroot \
    e2fsprogs-native:do_populate_sysroot \
    cpio-native:do_populate_sysroot \
    openssl-native:do_populate_sysroot \
    northstar:do_deploy \
    ${@' '.join(c + ':do_deploy' for c in d.getVar('NORTHSTAR_CONTAINERS').split())} \
"
do_image_northstar[vardeps] += "NORTHSTAR_ROOT_KEY NORTHSTAR_PACKAGES_KEY NORTHSTAR_BOARD_DIR NORTHSTAR_LOCKDOWN"

# The root: the runtime configuration, the repositories' key, the mount points.
northstar_rootfs() {
    northstar_key "${NORTHSTAR_PACKAGES_KEY}"
    install -D -m 0644 "${NORTHSTAR_BOARD_DIR}/runtime.toml" "${IMAGE_ROOTFS}/etc/northstar/runtime.toml"
    packages_key="${NORTHSTAR_PACKAGES_KEY}"
    install -D -m 0644 "${packages_key%.key}.pub" "${IMAGE_ROOTFS}/etc/northstar/packages.pub"
    for dir in dev proc sys run tmp data; do
        install -d "${IMAGE_ROOTFS}/$dir"
    done
    if [ -n "${NORTHSTAR_BUNDLE_KEYRING}" ]; then
        grep -q -- '-----BEGIN CERTIFICATE-----' "${NORTHSTAR_BUNDLE_KEYRING}" \
            || bbfatal "NORTHSTAR_BUNDLE_KEYRING: ${NORTHSTAR_BUNDLE_KEYRING} holds no PEM certificate"
        install -D -m 0644 "${NORTHSTAR_BUNDLE_KEYRING}" "${IMAGE_ROOTFS}/etc/northstar/bundle-keyring.pem"
    fi
}
ROOTFS_POSTPROCESS_COMMAND += "northstar_rootfs"
do_rootfs[file-checksums] += "${NORTHSTAR_BOARD_DIR}/runtime.toml:True"
do_rootfs[vardeps] += "NORTHSTAR_BUNDLE_KEYRING"
# nstar generates the development keys when none are configured.
DEPENDS += "nstar-native"

IMAGE_CMD:northstar() {
    work="${WORKDIR}/northstar"
    out="${IMGDEPLOYDIR}/${IMAGE_NAME}"
    rm -rf "$work"
    mkdir -p "$work"
    northstar_key "${NORTHSTAR_ROOT_KEY}"
    northstar_key "${NORTHSTAR_PACKAGES_KEY}"
    root_key="${NORTHSTAR_ROOT_KEY}"
    root_pub="${root_key%.key}.pub"
    packages_key="${NORTHSTAR_PACKAGES_KEY}"
    packages_pub="${packages_key%.key}.pub"

    # The root: squashfs (without the kernel modules, which only the initramfs
    # needs), padding, hash tree. The salt is derived from the squashfs.
    mksquashfs "${IMAGE_ROOTFS}" "$out.root.img" -noappend -all-root -comp xz -e lib/modules
    size=$(stat -c %s "$out.root.img")
    blocks=$(((size + 4095) / 4096))
    dd if=/dev/null of="$out.root.img" bs=4096 seek=$blocks count=0 2>/dev/null
    salt=$(sha256sum "$out.root.img" | cut -c 1-64)
    veritysetup format --format=1 --hash=sha256 --data-block-size=4096 --hash-block-size=4096 \
        --data-blocks=$blocks --hash-offset=$((blocks * 4096)) --salt=$salt \
        "$out.root.img" "$out.root.img" > "$work/verity.txt"
    hash=$(sed -n 's/^Root hash:[[:space:]]*//p' "$work/verity.txt")
    [ ${#hash} -eq 64 ] || bbfatal "no root hash from veritysetup format"

    # The descriptor, signed (raw ed25519 over its bytes) with the root key.
    printf 'root_hash = "%s"\nsalt = "%s"\ndata_blocks = %d\n' $hash $salt $blocks > "$out.root.verity"
    printf '\060\056\002\001\000\060\005\006\003\053\145\160\004\042\004\040' > "$work/root.der"
    cat "${NORTHSTAR_ROOT_KEY}" >> "$work/root.der"
    openssl pkey -inform DER -in "$work/root.der" -pubout -outform DER | tail -c 32 | cmp -s - "$root_pub" \
        || bbfatal "$root_pub is not the public key of ${NORTHSTAR_ROOT_KEY}"
    openssl pkeyutl -sign -inkey "$work/root.der" -keyform DER -rawin \
        -in "$out.root.verity" -out "$out.root.verity.sig"
    rm -f "$work/root.der"

    # The data partition: each container's NPK in its repository's dir.
    mkdir -p "$work/data/northstar"
    for repo in ${DEPLOY_DIR_IMAGE}/northstar-npk/*/; do
        [ -d "$repo" ] || continue
        name=$(basename "$repo")
        dir=$(awk -v want="$name" '
            /^[ \t]*\[/ { s = $0; gsub(/[ \t\[\]]/, "", s) }
            s == "repositories." want && /^[ \t]*dir[ \t]*=/ { sub(/^[^=]*=[ \t]*"/, ""); sub(/".*/, ""); print; exit }
        ' "${NORTHSTAR_BOARD_DIR}/runtime.toml")
        case "$dir" in
        /data/?*) ;;
        *) bbfatal "repository $name: no dir on /data in ${NORTHSTAR_BOARD_DIR}/runtime.toml" ;;
        esac
        mkdir -p "$work/data/${dir#/data/}"
        for npk in "$repo"*.npk; do
            [ -f "$npk" ] || continue
            nstar verify "$npk" --key "$packages_pub" > /dev/null
            cp "$npk" "$work/data/${dir#/data/}/"
        done
    done
    mke2fs -t ext4 -b 4096 -L northstar-data -E root_owner=0:0 -d "$work/data" -F -q \
        "$out.data.ext4" ${NORTHSTAR_DATA_SIZE}

    # The initramfs: the init, the board, the root's key and descriptor, and the
    # board's modules (or NORTHSTAR_MODULES) with their dependencies (modules.dep of
    # the root).
    stage="$work/initramfs"
    install -D -m 0755 "${DEPLOY_DIR_IMAGE}/northstar-init" "$stage/init"
    # board.toml, with lockdown = true first (a top-level key precedes the
    # tables) unless NORTHSTAR_LOCKDOWN is "0" or the board's file sets it.
    mkdir -p "$stage/etc/northstar"
    if [ "${NORTHSTAR_LOCKDOWN}" = "1" ] && ! grep -Eq '^[[:space:]]*lockdown[[:space:]]*=' "${NORTHSTAR_BOARD_DIR}/board.toml"; then
        {
            echo "# Added by the build (NORTHSTAR_LOCKDOWN): the kernel command line cannot"
            echo "# choose the root, the runtime configuration or the slot."
            echo "lockdown = true"
            echo
            cat "${NORTHSTAR_BOARD_DIR}/board.toml"
        } > "$stage/etc/northstar/board.toml"
        chmod 0644 "$stage/etc/northstar/board.toml"
    else
        install -m 0644 "${NORTHSTAR_BOARD_DIR}/board.toml" "$stage/etc/northstar/board.toml"
    fi
    install -D -m 0644 "$root_pub" "$stage/etc/northstar/root.pub"
    install -D -m 0644 "$out.root.verity" "$stage/etc/northstar/root.verity"
    install -D -m 0644 "$out.root.verity.sig" "$stage/etc/northstar/root.verity.sig"
    wanted="${NORTHSTAR_MODULES}"
    [ -n "$wanted" ] || wanted="$(awk '
        { sub(/#.*/, "") }
        !inlist && /^[ \t]*modules[ \t]*=/ { inlist = 1; sub(/^[^=]*=/, "") }
        inlist { l = $0; while (match(l, /"[^"]*"/)) { print substr(l, RSTART + 1, RLENGTH - 2); l = substr(l, RSTART + RLENGTH) } if ($0 ~ /\]/) exit }
    ' "${NORTHSTAR_BOARD_DIR}/board.toml")"
    wanted="$wanted ${NORTHSTAR_EXTRA_MODULES}"
    for moddir in ${IMAGE_ROOTFS}${nonarch_base_libdir}/modules/*; do
        [ -f "$moddir/modules.dep" ] || continue
        release=$(basename "$moddir")
        builtin="$moddir/modules.builtin"
        [ -f "$builtin" ] || builtin=/dev/null
        awk -v wanted="$(echo $wanted)" '
            function norm(p, n) { n = p; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n); gsub(/-/, "_", n); return n }
            function add(name, i, dd, n) {
                if (name in done) return
                done[name] = 1
                if (!(name in path)) { if (!(name in builtin)) { print "unknown module " name > "/dev/stderr"; failed = 1 } return }
                print path[name]
                n = split(deps[name], dd, " ")
                for (i = 1; i <= n; i++) add(norm(dd[i]))
            }
            FILENAME ~ /modules\.builtin$/ { builtin[norm($0)] = 1; next }
            { p = $0; sub(/:.*/, "", p); r = $0; sub(/^[^:]*:[ \t]*/, "", r); path[norm(p)] = p; deps[norm(p)] = r }
            END { n = split(wanted, w, " "); for (i = 1; i <= n; i++) { m = w[i]; gsub(/-/, "_", m); add(m) } exit failed }
        ' "$builtin" "$moddir/modules.dep" > "$work/modules.txt" || bbfatal "the board's modules do not resolve in $moddir"
        for index in modules.dep modules.builtin modules.builtin.modinfo; do
            [ -f "$moddir/$index" ] && install -D -m 0644 "$moddir/$index" "$stage/lib/modules/$release/$index"
        done
        while read -r file; do
            case "$file" in
            *.ko) install -D -m 0644 "$moddir/$file" "$stage/lib/modules/$release/$file" ;;
            *) bbfatal "$file: compressed module; the init loads plain .ko files" ;;
            esac
        done < "$work/modules.txt"
    done
    find "$stage" -exec touch -h -d "@${REPRODUCIBLE_TIMESTAMP_ROOTFS}" {} +
    (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) \
        | gzip -n -9 > "$out.initramfs.cpio.gz"

    for suffix in root.img root.verity root.verity.sig data.ext4 initramfs.cpio.gz; do
        ln -sf "${IMAGE_NAME}.$suffix" "${IMGDEPLOYDIR}/${IMAGE_BASENAME}-${MACHINE}.$suffix"
    done
    rm -rf "$work"
}
