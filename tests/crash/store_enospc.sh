#!/bin/bash
# T-FS-3 (ENOSPC part): the store on a 256 KiB tmpfs in a user+mount
# namespace. Filling it must give HKMS_E_NOSPACE with every acknowledged
# record and the audit chain intact, and work again once space is freed.
# Usage: store_enospc.sh DRIVER
set -u
DRV=${1:?usage: store_enospc.sh DRIVER}
unshare -rm true 2>/dev/null || { echo "unshare -rm not permitted: skip"; exit 77; }
T=$(mktemp -d /tmp/hkms-enospc-XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir "$T/mnt"
unshare -rm sh -c 'mount -t tmpfs -o size=256k tmpfs "$1" && exec "$2" enospc "$1/data"' \
    sh "$T/mnt" "$DRV" || { echo "FAIL: enospc driver" >&2; exit 1; }
echo "enospc: all passed"
