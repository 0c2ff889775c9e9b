SUMMARY = "hello-world example container, as a signed NPK"
DESCRIPTION = "The hello-world example of the Northstar workspace: a static \
               binary that greets and exits, started at boot (autostart)."

require recipes-core/northstar/northstar.inc

inherit npk

CARGO_SRC_DIR = "examples/hello-world"
RUSTFLAGS:append = " -C target-feature=+crt-static"

# The container's root is its own tree, not the image's: /bin/hello-world.
NPK_ROOT = "${WORKDIR}/npk-root"
NPK_MANIFEST = "${WORKDIR}/npk-manifest.yaml"

do_npk:prepend() {
    rm -rf "${NPK_ROOT}"
    install -D -m 0755 "${D}${bindir}/hello-world" "${NPK_ROOT}/bin/hello-world"
    sed '/^io:/i autostart: relaxed' "${S}/examples/hello-world/manifest.yaml" > "${NPK_MANIFEST}"
}
