SUMMARY = "Northstar init: PID 1 of an embedded device and container runtime"
DESCRIPTION = "The static northstar binary that boots from the initramfs as /init, \
               verifies the root file system (dm-verity, signed root descriptor), mounts the \
               data partition and runs the container runtime."

require northstar.inc

inherit deploy

CARGO_SRC_DIR = "init"

# tls: the management API's TCP listener (mutual TLS 1.3; about 1 MiB more in the
# init). It listens only when the runtime configuration has [api.tcp].
PACKAGECONFIG ??= ""
PACKAGECONFIG[tls] = ",,,"
CARGO_BUILD_FLAGS:append = "${@bb.utils.contains('PACKAGECONFIG', 'tls', ' --features tls', '', d)}"

# PID 1 runs from the initramfs: static, no loader, no shared libraries.
RUSTFLAGS:append = " -C target-feature=+crt-static"

# The init goes into the initramfs (northstar_image.bbclass), not the root file
# system: it is deployed, and the package holds it for SDKs and inspection only.
do_install:append() {
    if ${READELF} -l ${D}${bindir}/northstar | grep -q 'Requesting program interpreter'; then
        bbfatal "northstar is dynamically linked: the init must be static"
    fi
}

do_deploy() {
    install -D -m 0755 ${D}${bindir}/northstar ${DEPLOYDIR}/northstar-init
}
do_deploy[doc] = "Deploys the init for the initramfs of northstar-image"
addtask deploy after do_install before do_build
