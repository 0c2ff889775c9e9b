################################################################################
# npk-package: pack a package's output into a signed Northstar package (NPK)
#
# A container package is built as any Buildroot package (generic-package,
# cargo-package, ...). Instead of installing into the root file system, its
# files go into the container's own root, which nstar packs with the
# package's manifest and signs with the package key. The NPK is collected in
# $(NORTHSTAR_REPOSITORIES_DIR)/<repository>/ and post-image.sh copies it to the
# data partition (/data/northstar/repositories/<repository>/).
#
# Evaluate it right before the package's own infrastructure:
#
#   FOO_NPK_MANIFEST = $(FOO_PKGDIR)/manifest.yaml
#   define FOO_NPK_INSTALL_CMDS
#   	$(INSTALL) -D -m 0755 $(@D)/foo $(FOO_NPK_ROOT)/bin/foo
#   endef
#   $(eval $(npk-package))
#   $(eval $(cargo-package))
#
# Variables of the package (<PKG> is the upper-case package name):
#   <PKG>_NPK_MANIFEST      the manifest (YAML, doc/manifest.md). Required.
#   <PKG>_NPK_INSTALL_CMDS  commands that fill $(<PKG>_NPK_ROOT) after the build.
#   <PKG>_NPK_ROOT          the container's root; default $(@D)/npk-root, emptied
#                           before <PKG>_NPK_INSTALL_CMDS run. A package without
#                           a build (resources) may point it at a directory of
#                           its own and leave <PKG>_NPK_INSTALL_CMDS empty.
#   <PKG>_NPK_REPOSITORY    the repository; default BR2_PACKAGE_NORTHSTAR_REPOSITORY.
#   <PKG>_NPK_OPTS          more options of nstar pack (--compression zstd, ...).
#
# With BR2_REPRODUCIBLE the dm-verity salt is derived from the package's name
# and version, so that the same input gives the same NPK.
#
# argument 1 is the lower-case package name, argument 2 the upper-case one
################################################################################

define inner-npk-package

$(2)_NPK_ROOT ?= $$($(2)_DIR)/npk-root
$(2)_NPK_REPOSITORY ?= $$(call qstrip,$$(BR2_PACKAGE_NORTHSTAR_REPOSITORY))
$(2)_NPK_DIR = $$(NORTHSTAR_REPOSITORIES_DIR)/$$($(2)_NPK_REPOSITORY)

# nstar and the keys; the package's files never enter the root file system.
$(2)_DEPENDENCIES += host-northstar
$(2)_INSTALL_TARGET = NO

define $(2)_NPK_PACK
	@$$(call MESSAGE,"Packing $(1) into an NPK")
	test -n "$$($(2)_NPK_MANIFEST)" || \
		{ echo "$(1): $(2)_NPK_MANIFEST is not set" >&2; exit 1; }
	$$(if $$($(2)_NPK_INSTALL_CMDS),rm -rf $$($(2)_NPK_ROOT))
	mkdir -p $$($(2)_NPK_ROOT) $$($(2)_NPK_DIR)
	$$($(2)_NPK_INSTALL_CMDS)
	$$(HOST_DIR)/bin/nstar manifest check $$($(2)_NPK_MANIFEST)
	$$(HOST_DIR)/bin/nstar pack $$($(2)_NPK_MANIFEST) $$($(2)_NPK_ROOT) \
		--key $$(NORTHSTAR_PACKAGES_KEY) --out $$($(2)_NPK_DIR) \
		$$(if $$(BR2_REPRODUCIBLE),--salt $$$$(printf '%s' '$(1)-$$($(2)_VERSION)' | sha256sum | cut -c 1-64)) \
		$$($(2)_NPK_OPTS)
endef
$(2)_POST_BUILD_HOOKS += $(2)_NPK_PACK

endef

npk-package = $(call inner-npk-package,$(pkgname),$(call UPPERCASE,$(pkgname)))
