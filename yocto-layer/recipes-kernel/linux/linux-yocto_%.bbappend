# The kernel options of Northstar's boards (board-configs/<board>/kernel.config
# of the workspace, linked as <machine>/northstar.cfg): a configuration fragment
# for linux-yocto, with the northstar distribution. The machine's directory
# (FILESOVERRIDES) picks the board's fragment.
FILESEXTRAPATHS:prepend:northstar := "${THISDIR}/${PN}:"

SRC_URI:append:northstar = " file://northstar.cfg"
