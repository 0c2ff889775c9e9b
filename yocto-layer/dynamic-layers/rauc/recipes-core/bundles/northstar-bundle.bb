# nooelint: oelint.file.underscores - a bundle's version is RAUC_BUNDLE_VERSION, not the file name's
SUMMARY = "Northstar system update bundle: the verified root of northstar-image"
DESCRIPTION = "A RAUC bundle in the verity format with northstar-image's root image \
               (squashfs, dm-verity superblock and hash tree) for the slot class \
               rootfs, which rauc and Northstar's nstar system install take."
HOMEPAGE = "https://example.invalid/northstar"
LICENSE = "MIT"

# Nothing to fetch: the bundle is made from northstar-image's deployed root image.
SRC_URI = ""

inherit bundle northstar

NORTHSTAR_ROOT_IMAGE ?= "northstar-image"

# Must equal board.toml's slots.compatible: the device refuses another.
RAUC_BUNDLE_COMPATIBLE ?= "northstar-${NORTHSTAR_BOARD}"
RAUC_BUNDLE_FORMAT = "verity"
RAUC_BUNDLE_SLOTS = "rootfs"
RAUC_SLOT_rootfs = "${NORTHSTAR_ROOT_IMAGE}"
# The image type's deployed root image: ${NORTHSTAR_ROOT_IMAGE}-${MACHINE}.root.img.
RAUC_SLOT_rootfs[fstype] = "root.img"

# The signer (PEM): a certificate that chains to the keyring of the devices
# (NORTHSTAR_BUNDLE_KEYRING), with no extendedKeyUsage or codeSigning.
RAUC_KEY_FILE ?= "${NORTHSTAR_KEY_DIR}/bundle-signer.key"
RAUC_CERT_FILE ?= "${NORTHSTAR_KEY_DIR}/bundle-signer.pem"
