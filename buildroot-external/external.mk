################################################################################
#
# Northstar external tree
#
################################################################################

# The workspace this tree belongs to: the sources of the init, nstar and the
# example containers, and the board configurations (board-configs/<board>/).
NORTHSTAR_WORKSPACE = $(realpath $(BR2_EXTERNAL_NORTHSTAR_PATH)/..)
# Its version (Cargo.toml [workspace.package]): the version of every package built
# from it. Set here, before any package is evaluated.
NORTHSTAR_WORKSPACE_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' $(NORTHSTAR_WORKSPACE)/Cargo.toml | head -n 1)
# A local copy of the workspace leaves out build output, fuzzing corpora and the
# build-system integrations themselves.
NORTHSTAR_WORKSPACE_RSYNC_EXCLUSIONS = \
	--exclude /target --exclude /fuzz/target --exclude /fuzz/corpus \
	--exclude /fuzz/artifacts --exclude /out --exclude /buildroot-external \
	--exclude /yocto-layer

# Keys. An empty option means: a development key pair generated once into
# $(NORTHSTAR_DEV_KEY_DIR) by host-northstar. Each option names the secret key
# file (nstar keygen's raw 32-byte seed); the public key is the same path with
# .pub instead of .key.
NORTHSTAR_DEV_KEY_DIR = $(BASE_DIR)/northstar-keys
NORTHSTAR_ROOT_KEY = $(or $(call qstrip,$(BR2_PACKAGE_NORTHSTAR_ROOT_KEY)),$(NORTHSTAR_DEV_KEY_DIR)/root.key)
NORTHSTAR_PACKAGES_KEY = $(or $(call qstrip,$(BR2_PACKAGE_NORTHSTAR_PACKAGES_KEY)),$(NORTHSTAR_DEV_KEY_DIR)/packages.key)

# Where the NPKs of the container packages are collected: one directory per
# repository, copied to the data partition by board/northstar/post-image.sh.
NORTHSTAR_REPOSITORIES_DIR = $(BASE_DIR)/northstar-repositories

# The npk-package infrastructure, then the packages (which use it).
include $(BR2_EXTERNAL_NORTHSTAR_PATH)/package/pkg-npk.mk
include $(sort $(wildcard $(BR2_EXTERNAL_NORTHSTAR_PATH)/package/*/*.mk))
