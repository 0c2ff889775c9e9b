SUMMARY = "nstar: build, sign, inspect and verify Northstar packages (NPKs)"
DESCRIPTION = "The command-line tool of Northstar's package format: key \
               generation, packing and signing, inspection and full verification of NPKs."

require northstar.inc

CARGO_SRC_DIR = "nstar"

# nstar-native packs and signs the containers (npk.bbclass) and images.
BBCLASSEXTEND = "native"
