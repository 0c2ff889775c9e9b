# The kernel options of the Raspberry Pi 2 board (board-configs/rpi2/kernel.config
# of the workspace, linked as raspberrypi2/northstar.cfg): a configuration
# fragment for meta-raspberrypi's kernel, with the northstar distribution.
FILESEXTRAPATHS:prepend:northstar := "${THISDIR}/${PN}:"

SRC_URI:append:northstar = " file://northstar.cfg"
