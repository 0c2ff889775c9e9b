SUMMARY = "message example container, as a signed NPK"
DESCRIPTION = "The message example of the Northstar workspace: a resource \
               container (files that other containers mount)."

require recipes-core/northstar/northstar-source.inc

inherit npk

# A resource container: nothing to build, its root and manifest are files of
# the workspace.
do_compile[noexec] = "1"
do_install[noexec] = "1"

NPK_ROOT = "${S}/examples/message/root"
NPK_MANIFEST = "${S}/examples/message/manifest.yaml"
