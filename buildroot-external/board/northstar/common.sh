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
export NORTHSTAR_BOARD_DIR NORTHSTAR_ROOT_KEY NORTHSTAR_PACKAGES_KEY NORTHSTAR_REPOSITORY NORTHSTAR_DATA_SIZE
