# The kernel options of the R-Car H3 boards (board-configs/renesas-aarch64/
# kernel.config of the workspace, linked as <machine>/northstar.cfg): a
# configuration fragment for meta-renesas' BSP kernel, with the northstar
# distribution.
FILESEXTRAPATHS:prepend:northstar := "${THISDIR}/${PN}:"

SRC_URI:append:northstar = " file://northstar.cfg"
