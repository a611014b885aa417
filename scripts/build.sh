#!/bin/sh
# Configure and build hkms into BUILD_DIR (default ./build). Extra
# arguments go to cmake, e.g. -DHKMS_SANITIZE=ON.
set -eu
cd "$(dirname "$0")/.."
dir=${BUILD_DIR:-build}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
