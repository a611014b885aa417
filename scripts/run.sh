#!/bin/sh
# The main job on the embedded default: install what is missing, build,
# create a private SoftHSM2 token under ./state (never the system's token
# dir), generate a key in it and print the key's details.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# the shipped configuration: no test hooks (explicit, so a ./build
# configured by scripts/test.sh is switched back)
./scripts/build.sh -DHKMS_TEST_HOOKS=OFF
export HKMS_DATA_DIR="$PWD/state"
export HKMS_CONFIG="$HKMS_DATA_DIR/hkms.conf"
./build/src/cli/hkms init --data-dir "$HKMS_DATA_DIR"
name="demo-$(date +%Y%m%d%H%M%S)"
./build/src/cli/hkms key generate "$name" --type ec:p256
echo
./build/src/cli/hkms key list
