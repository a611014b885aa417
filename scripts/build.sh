#!/bin/sh
# Configure and build hkms into BUILD_DIR (default ./build). Extra
# arguments go to cmake, e.g. -DHKMS_SANITIZE=ON. Test hooks are off unless
# -DHKMS_TEST_HOOKS=ON is given (scripts/test.sh does; the value is kept in
# the build dir's cache until changed).
set -eu
cd "$(dirname "$0")/.."
dir=${BUILD_DIR:-build}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
