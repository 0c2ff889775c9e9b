# shellcheck shell=bash
# Shared by post-build.sh and post-image.sh: the Northstar options of the
# Buildroot configuration, with the paths resolved.
#
# Buildroot exports BR2_CONFIG, BASE_DIR, HOST_DIR, TARGET_DIR, BINARIES_DIR and
# BR2_EXTERNAL_NORTHSTAR_PATH to these scripts. Outside Buildroot (tests), set
# them the same way.

: "${BR2_CONFIG:?BR2_CONFIG is not set: run from Buildroot or set it}"
: "${BASE_DIR:?BASE_DIR is not set}"
: "${BR2_EXTERNAL_NORTHSTAR_PATH:?BR2_EXTERNAL_NORTHSTAR_PATH is not set}"

northstar_die() {
    echo "northstar: $*" >&2
    exit 1
}

# The value of a string or bool option of .config, unquoted, with
# $(BR2_EXTERNAL_NORTHSTAR_PATH) and $(BASE_DIR) expanded; empty when unset.
northstar_option() {
    local value
    value=$(sed -n "s/^$1=//p" "$BR2_CONFIG" | tail -n 1)
    value=${value#\"}
    value=${value%\"}
    value=${value//\$(BR2_EXTERNAL_NORTHSTAR_PATH)/$BR2_EXTERNAL_NORTHSTAR_PATH}
    value=${value//\$(BASE_DIR)/$BASE_DIR}
    printf '%s\n' "$value"
}

# The secret key file of option $1 (ROOT_KEY or PACKAGES_KEY), or the
# development key $2 (root or packages) when the option is empty.
northstar_key() {
    local key
    key=$(northstar_option "BR2_PACKAGE_NORTHSTAR_$1")
    [ -n "$key" ] || key=$BASE_DIR/northstar-keys/$2.key
    printf '%s\n' "$key"
}

# The public key beside a secret key file: .key replaced by .pub.
northstar_pub() {
    printf '%s.pub\n' "${1%.key}"
}

# nstar of the build (host-northstar), else one on PATH.
northstar_nstar() {
    if [ -n "${HOST_DIR:-}" ] && [ -x "$HOST_DIR/bin/nstar" ]; then
        printf '%s\n' "$HOST_DIR/bin/nstar"
    else
        command -v nstar || northstar_die "nstar not found (host-northstar not built?)"
    fi
}

NORTHSTAR_BOARD_DIR=$(northstar_option BR2_PACKAGE_NORTHSTAR_BOARD_DIR)
[ -n "$NORTHSTAR_BOARD_DIR" ] || northstar_die "BR2_PACKAGE_NORTHSTAR_BOARD_DIR is not set"
[ -f "$NORTHSTAR_BOARD_DIR/board.toml" ] || northstar_die "$NORTHSTAR_BOARD_DIR/board.toml: no such file"
[ -f "$NORTHSTAR_BOARD_DIR/runtime.toml" ] || northstar_die "$NORTHSTAR_BOARD_DIR/runtime.toml: no such file"
NORTHSTAR_ROOT_KEY=$(northstar_key ROOT_KEY root)
NORTHSTAR_PACKAGES_KEY=$(northstar_key PACKAGES_KEY packages)
NORTHSTAR_REPOSITORY=$(northstar_option BR2_PACKAGE_NORTHSTAR_REPOSITORY)
NORTHSTAR_REPOSITORY=${NORTHSTAR_REPOSITORY:-system}
NORTHSTAR_DATA_SIZE=$(northstar_option BR2_PACKAGE_NORTHSTAR_DATA_SIZE)
NORTHSTAR_DATA_SIZE=${NORTHSTAR_DATA_SIZE:-256M}
# A bool option that defaults to y: off only when .config says it is not set
# (a defconfig leaves default values out).
northstar_option_default_y() {
    if grep -qx "# $1 is not set" "$BR2_CONFIG"; then
        echo n
    else
        echo y
    fi
}
NORTHSTAR_LOCKDOWN=$(northstar_option_default_y BR2_PACKAGE_NORTHSTAR_LOCKDOWN)
NORTHSTAR_AB=$(northstar_option BR2_PACKAGE_NORTHSTAR_AB)
NORTHSTAR_BUNDLE_KEYRING=$(northstar_option BR2_PACKAGE_NORTHSTAR_BUNDLE_KEYRING)
NORTHSTAR_BUNDLE_CERT=$(northstar_option BR2_PACKAGE_NORTHSTAR_BUNDLE_CERT)
NORTHSTAR_BUNDLE_KEY=$(northstar_option BR2_PACKAGE_NORTHSTAR_BUNDLE_KEY)
NORTHSTAR_BUNDLE_VERSION=$(northstar_option BR2_PACKAGE_NORTHSTAR_BUNDLE_VERSION)
export NORTHSTAR_LOCKDOWN NORTHSTAR_AB NORTHSTAR_BUNDLE_KEYRING NORTHSTAR_BUNDLE_CERT NORTHSTAR_BUNDLE_KEY \
    NORTHSTAR_BUNDLE_VERSION
export NORTHSTAR_BOARD_DIR NORTHSTAR_ROOT_KEY NORTHSTAR_PACKAGES_KEY NORTHSTAR_REPOSITORY NORTHSTAR_DATA_SIZE

# board.toml $1 installed as $2, with "lockdown = true" first unless lockdown is
# off (BR2_PACKAGE_NORTHSTAR_LOCKDOWN) or the board's file sets it itself. First:
# a top-level key must come before the file's first table.
northstar_board_toml() {
    mkdir -p "$(dirname "$2")"
    if [ "$NORTHSTAR_LOCKDOWN" = y ] && ! grep -Eq '^[[:space:]]*lockdown[[:space:]]*=' "$1"; then
        {
            echo '# Added by the build (BR2_PACKAGE_NORTHSTAR_LOCKDOWN): the kernel command'
            echo '# line cannot choose the root, the runtime configuration or the slot.'
            echo 'lockdown = true'
            echo
            cat "$1"
        } >"$2"
        chmod 0644 "$2"
    else
        install -m 0644 "$1" "$2"
    fi
}

# The value of key $2 of table [$1] of board.toml file $3, quotes removed; empty
# when absent.
northstar_board_value() {
    awk -v table="$1" -v key="$2" '
        { sub(/[ \t]#.*/, "") }
        /^[ \t]*\[/ { section = $0; gsub(/[ \t\[\]]/, "", section); next }
        section == table && $0 ~ "^[ \t]*" key "[ \t]*=" {
            sub(/^[^=]*=[ \t]*/, ""); gsub(/^"|"[ \t]*$/, ""); sub(/[ \t]+$/, ""); print; exit
        }' "$3"
}
