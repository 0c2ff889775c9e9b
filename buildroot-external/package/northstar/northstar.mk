################################################################################
#
# northstar
#
################################################################################

# The sources are the workspace this external tree is part of. To build another
# checkout, set NORTHSTAR_OVERRIDE_SRCDIR in local.mk (Buildroot's override
# mechanism).
NORTHSTAR_VERSION = $(NORTHSTAR_WORKSPACE_VERSION)
NORTHSTAR_SITE = $(NORTHSTAR_WORKSPACE)
NORTHSTAR_SITE_METHOD = local
NORTHSTAR_LICENSE = Apache-2.0
NORTHSTAR_LICENSE_FILES = Cargo.toml

NORTHSTAR_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = $(NORTHSTAR_WORKSPACE_RSYNC_EXCLUSIONS)
HOST_NORTHSTAR_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = $(NORTHSTAR_WORKSPACE_RSYNC_EXCLUSIONS)

# Signing the root descriptor (post-image.sh), the initramfs archive.
NORTHSTAR_DEPENDENCIES = host-northstar host-openssl host-cpio

NORTHSTAR_CARGO_PROFILE = $(if $(BR2_ENABLE_DEBUG),debug,release)
NORTHSTAR_BIN_DIR = $(@D)/target/$(RUSTC_TARGET_NAME)/$(NORTHSTAR_CARGO_PROFILE)
HOST_NORTHSTAR_BIN_DIR = $(@D)/target/release

# cargo-package vendors the crates of downloaded sources only; a local source
# is vendored here, with the download cache of every cargo package
# ($(DL_DIR)/br-cargo-home), and cargo is pointed at the vendored copy (once:
# a reconfigure finds the replacement already in the workspace's config).
define NORTHSTAR_CARGO_VENDOR
	cd $(@D) && rm -rf VENDOR && mkdir -p .cargo && \
		$(PKG_COMMON_CARGO_ENV) $(HOST_DIR)/bin/cargo vendor \
			--locked --versioned-dirs --manifest-path Cargo.toml VENDOR \
			> $(@D)/.cargo/vendor.toml
	grep -qx '\[source.vendored-sources\]' $(@D)/.cargo/config.toml 2>/dev/null || \
		cat $(@D)/.cargo/vendor.toml >> $(@D)/.cargo/config.toml
endef
NORTHSTAR_PRE_CONFIGURE_HOOKS += NORTHSTAR_CARGO_VENDOR
HOST_NORTHSTAR_PRE_CONFIGURE_HOOKS += NORTHSTAR_CARGO_VENDOR

# PID 1 must not depend on a loader or shared libraries: static, with musl or
# with glibc (crt-static; the init makes no NSS calls).
NORTHSTAR_RUSTFLAGS = -C target-feature=+crt-static
ifeq ($(NORMALIZED_ARCH),arm)
NORTHSTAR_RUSTFLAGS += -Clink-arg=-Wl,--allow-multiple-definition
endif
NORTHSTAR_CARGO_ENV = \
	CARGO_TARGET_$(call UPPERCASE,$(RUSTC_TARGET_NAME))_RUSTFLAGS="$(NORTHSTAR_RUSTFLAGS)"

NORTHSTAR_CARGO_BUILD_OPTS = -p northstar $(if $(BR2_PACKAGE_NORTHSTAR_NSTAR),-p nstar) \
	$(if $(BR2_PACKAGE_NORTHSTAR_TLS),--features northstar/tls)
HOST_NORTHSTAR_CARGO_BUILD_OPTS = -p nstar

# The workspace root is a virtual manifest, which cargo install cannot take:
# the binaries are copied from cargo's output instead. Nothing of the init goes
# into the root file system.
ifeq ($(BR2_PACKAGE_NORTHSTAR_NSTAR),y)
define NORTHSTAR_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0755 $(NORTHSTAR_BIN_DIR)/nstar $(TARGET_DIR)/usr/bin/nstar
endef
else
NORTHSTAR_INSTALL_TARGET = NO
endif

# The init goes to the images directory, whence post-image.sh takes it into
# the initramfs as /init.
NORTHSTAR_INSTALL_IMAGES = YES
define NORTHSTAR_INSTALL_IMAGES_CMDS
	$(INSTALL) -D -m 0755 $(NORTHSTAR_BIN_DIR)/northstar $(BINARIES_DIR)/northstar-init
endef

define HOST_NORTHSTAR_INSTALL_CMDS
	$(INSTALL) -D -m 0755 $(HOST_NORTHSTAR_BIN_DIR)/nstar $(HOST_DIR)/bin/nstar
endef

# Development keys, generated once for each key that is not configured.
define HOST_NORTHSTAR_DEV_KEY
	mkdir -p $(NORTHSTAR_DEV_KEY_DIR)
	test -e $(NORTHSTAR_DEV_KEY_DIR)/$(1).key || \
		$(HOST_DIR)/bin/nstar keygen $(1) --out $(NORTHSTAR_DEV_KEY_DIR)
endef
define HOST_NORTHSTAR_DEV_KEYS
	$(if $(call qstrip,$(BR2_PACKAGE_NORTHSTAR_ROOT_KEY)),,$(call HOST_NORTHSTAR_DEV_KEY,root))
	$(if $(call qstrip,$(BR2_PACKAGE_NORTHSTAR_PACKAGES_KEY)),,$(call HOST_NORTHSTAR_DEV_KEY,packages))
endef
HOST_NORTHSTAR_POST_INSTALL_HOOKS += HOST_NORTHSTAR_DEV_KEYS

$(eval $(cargo-package))
$(eval $(host-cargo-package))
