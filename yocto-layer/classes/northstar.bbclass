# Settings shared by Northstar's images (northstar_image.bbclass) and packages
# (npk.bbclass): the board and the signing keys.

# The workspace this layer is part of (the layer's parent directory): the board
# configurations (board-configs/<board>/) and, with externalsrc, the sources.
NORTHSTAR_TREE ??= "${@os.path.normpath(os.path.join(os.path.dirname(bb.utils.which(d.getVar('BBPATH'), 'classes/northstar.bbclass')), '..', '..'))}"

# The board configuration directory (board-configs/<board>/ of the workspace)
# of the machine: board.toml into the initramfs, runtime.toml into the root.
NORTHSTAR_BOARD ??= "${@northstar_board_of(d)}"
NORTHSTAR_BOARD_DIR ??= "${NORTHSTAR_TREE}/board-configs/${NORTHSTAR_BOARD}"

# Signing keys: nstar keygen's raw files, the public key beside the secret one
# (.pub for .key). Keep release keys out of the build directory and sstate
# mirrors; point these at them in local.conf.
NORTHSTAR_KEY_DIR ??= "${TOPDIR}/northstar-keys"
NORTHSTAR_ROOT_KEY ??= "${NORTHSTAR_KEY_DIR}/root.key"
NORTHSTAR_PACKAGES_KEY ??= "${NORTHSTAR_KEY_DIR}/packages.key"
# "1": generate a development key pair for a missing key (never ship those).
NORTHSTAR_DEV_KEYS ??= "1"

# The repository of the runtime configuration that receives built containers.
NORTHSTAR_REPOSITORY ??= "system"

def northstar_board_of(d):
    boards = {
        "qemux86-64": "x86_64",
        "raspberrypi2": "rpi2",
        "salvator-x": "renesas-aarch64",
        "h3ulcb": "renesas-aarch64",
        "qemuarm64": "renesas-aarch64",
    }
    return boards.get(d.getVar("MACHINE"), "")

# Makes sure the secret key $1 and its public key exist: generates a development
# pair when allowed, under a lock (several tasks may ask at once).
northstar_key() {
    key="$1"
    pub="${key%.key}.pub"
    if [ ! -e "$key" ] && [ "${NORTHSTAR_DEV_KEYS}" = "1" ]; then
        mkdir -p "$(dirname "$key")"
        (
            flock 9
            if [ ! -e "$key" ]; then
                bbwarn "Northstar: generating the development key $key: never ship it"
                nstar keygen "$(basename "$key" .key)" --out "$(dirname "$key")"
            fi
        ) 9>"$(dirname "$key")/.lock"
    fi
    [ -f "$key" ] || bbfatal "Northstar: $key: no such key (set NORTHSTAR_ROOT_KEY and NORTHSTAR_PACKAGES_KEY)"
    [ -f "$pub" ] || bbfatal "Northstar: $pub: no public key beside $key"
}
