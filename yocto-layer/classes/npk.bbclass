# npk: packs a recipe's output into a signed Northstar package (NPK) and deploys
# it for the image's registry.
#
# The recipe installs the container's root into ${D} (or sets NPK_ROOT) as usual
# and names its manifest (NPK_MANIFEST). do_npk runs nstar pack with the package
# key; do_deploy puts the NPK into ${DEPLOY_DIR_IMAGE}/northstar-npk/<repository>/.
# An image lists the recipe in NORTHSTAR_CONTAINERS (northstar_image.bbclass),
# which copies the NPK onto the data partition, into the repository's dir.

inherit northstar deploy

DEPENDS += "nstar-native"

# The manifest (YAML, doc/manifest.md of the workspace).
NPK_MANIFEST ??= "${S}/manifest.yaml"
# The container's root file system.
NPK_ROOT ??= "${D}"
# The repository (runtime.toml [repositories.<name>]) it is installed into.
NPK_REPOSITORY ??= "${NORTHSTAR_REPOSITORY}"
# More options of nstar pack, e.g. "--compression zstd".
NPK_OPTS ??= ""

NPK_DIR = "${WORKDIR}/npk"

# The dm-verity salt is derived from the recipe's name and version: the same
# input gives the same package (reproducible builds).
do_npk() {
    northstar_key "${NORTHSTAR_PACKAGES_KEY}"
    rm -rf "${NPK_DIR}"
    mkdir -p "${NPK_DIR}"
    salt=$(printf '%s' "${PN}-${PV}" | sha256sum | cut -c 1-64)
    nstar manifest check "${NPK_MANIFEST}"
    nstar pack "${NPK_MANIFEST}" "${NPK_ROOT}" --key "${NORTHSTAR_PACKAGES_KEY}" \
        --out "${NPK_DIR}" --salt "$salt" ${NPK_OPTS}
}
do_npk[doc] = "Packs the recipe's output into a signed NPK with nstar"
do_npk[vardeps] += "NORTHSTAR_PACKAGES_KEY NPK_OPTS"
addtask npk after do_install before do_deploy

do_deploy() {
    install -d "${DEPLOYDIR}/northstar-npk/${NPK_REPOSITORY}"
    install -m 0644 "${NPK_DIR}"/*.npk "${DEPLOYDIR}/northstar-npk/${NPK_REPOSITORY}/"
}
do_deploy[doc] = "Deploys the NPK for the registry of northstar-image"
addtask deploy after do_npk before do_build
