################################################################################
#
# northstar-hello-world
#
################################################################################

# An example of a container built from source: the hello-world example of the
# workspace, a static binary at /bin/hello-world of the container.
NORTHSTAR_HELLO_WORLD_VERSION = $(NORTHSTAR_WORKSPACE_VERSION)
NORTHSTAR_HELLO_WORLD_SITE = $(NORTHSTAR_WORKSPACE)
NORTHSTAR_HELLO_WORLD_SITE_METHOD = local
NORTHSTAR_HELLO_WORLD_LICENSE = Apache-2.0
NORTHSTAR_HELLO_WORLD_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = $(NORTHSTAR_WORKSPACE_RSYNC_EXCLUSIONS)
NORTHSTAR_HELLO_WORLD_PRE_CONFIGURE_HOOKS += NORTHSTAR_CARGO_VENDOR
NORTHSTAR_HELLO_WORLD_CARGO_ENV = $(NORTHSTAR_CARGO_ENV)
NORTHSTAR_HELLO_WORLD_CARGO_BUILD_OPTS = -p hello-world

# The example's manifest with autostart added: the runtime starts it at boot.
NORTHSTAR_HELLO_WORLD_NPK_MANIFEST = $(@D)/npk-manifest.yaml
define NORTHSTAR_HELLO_WORLD_NPK_INSTALL_CMDS
	sed '/^io:/i autostart: relaxed' $(@D)/examples/hello-world/manifest.yaml \
		> $(@D)/npk-manifest.yaml
	$(INSTALL) -D -m 0755 \
		$(@D)/target/$(RUSTC_TARGET_NAME)/$(NORTHSTAR_CARGO_PROFILE)/hello-world \
		$(NORTHSTAR_HELLO_WORLD_NPK_ROOT)/bin/hello-world
endef

$(eval $(npk-package))
$(eval $(cargo-package))
