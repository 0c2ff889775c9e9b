################################################################################
#
# northstar-message
#
################################################################################

# An example of a container without a build: a resource container whose root
# and manifest are files of the workspace.
NORTHSTAR_MESSAGE_VERSION = $(NORTHSTAR_WORKSPACE_VERSION)
NORTHSTAR_MESSAGE_SITE = $(NORTHSTAR_WORKSPACE)/examples/message
NORTHSTAR_MESSAGE_SITE_METHOD = local
NORTHSTAR_MESSAGE_LICENSE = Apache-2.0

NORTHSTAR_MESSAGE_NPK_MANIFEST = $(@D)/manifest.yaml
NORTHSTAR_MESSAGE_NPK_ROOT = $(@D)/root

$(eval $(npk-package))
$(eval $(generic-package))
