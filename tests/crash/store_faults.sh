#!/bin/bash
# T-FS-3 (libfiu part): POSIX faults injected with fiu-run. A failing
# fsync/fdatasync/write/rename must give a clear error and leave the
# previous record (and the audit chain) intact.
# Usage: store_faults.sh DRIVER
set -u
DRV=${1:?usage: store_faults.sh DRIVER}
command -v fiu-run >/dev/null || { echo "fiu-run missing: skip"; exit 77; }
# ASan intercepts the same libc calls that fiu-run's preload wraps, so no
# fault would be injected: this test runs in the plain build only.
if ldd "$DRV" 2>/dev/null | grep -q libasan; then
	echo "sanitizer build: libfiu cannot inject faults here: skip"; exit 77
fi
T=$(mktemp -d /tmp/hkms-fiu-XXXXXX)
trap 'rm -rf "$T"' EXIT
D=$T/data

fail() { echo "FAIL: $*" >&2; exit 1; }

"$DRV" put1 "$D" rec 1 || fail "setup put"
"$DRV" audit1 "$D" || fail "setup audit"

# fault name, what the error must mention
while read -r point want; do
	out=$(fiu-run -x -c "enable name=$point" "$DRV" put1 "$D" rec 2 2>&1) &&
		fail "put succeeded with $point failing"
	grep -qi -- "$want" <<<"$out" ||
		fail "$point: unclear error: $out"
	echo "$point: $out"
	"$DRV" get1 "$D" rec 1 || fail "$point: previous record not intact"
	"$DRV" check "$D" /dev/null || fail "$point: store inconsistent"
done <<'LIST'
posix/io/sync/fsync fsync
posix/io/rw/write write
posix/io/dir/rename rename
LIST

out=$(fiu-run -x -c "enable name=posix/io/sync/fdatasync" "$DRV" audit1 "$D" 2>&1) &&
	fail "audit append succeeded with a failing fdatasync"
grep -q "fdatasync" <<<"$out" || fail "fdatasync: unclear error: $out"
echo "posix/io/sync/fdatasync: $out"
"$DRV" check "$D" /dev/null || fail "audit not intact after fdatasync failure"

# without faults everything works again
"$DRV" put1 "$D" rec 3 && "$DRV" get1 "$D" rec 3 && "$DRV" audit1 "$D" &&
	"$DRV" check "$D" /dev/null || fail "store unusable after the faults"
echo "fault injection: all passed"
