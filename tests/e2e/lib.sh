# Shared helpers for end-to-end tests: source it, then call hkms_setup.
# Gives each test a private data dir with its own SoftHSM2 token, made by
# `hkms init`, and removes it on exit. Real binaries only.
set -u

: "${HKMS_BIN:?HKMS_BIN must point to the hkms binary}"
HKMS_SRC=${HKMS_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SOFTHSM_MODULE=${HKMS_SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }

need() {
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"
	done
}

hkms_setup() {
	need softhsm2-util openssl
	[ -e "$SOFTHSM_MODULE" ] || skip "no SoftHSM2 module"
	T=$(mktemp -d /tmp/hkms-e2e.XXXXXX)
	trap 'hkms_cleanup' EXIT
	export HKMS_DATA_DIR=$T/data
	unset HKMS_PIN HKMS_SO_PIN SOFTHSM2_CONF
	"$HKMS_BIN" init --data-dir "$T/data" >/dev/null || fail "hkms init"
	export HKMS_CONFIG=$T/data/hkms.conf
	export SOFTHSM2_CONF=$T/data/token/softhsm2.conf
}

hkms_cleanup() {
	local rc=$?
	[ -n "${HKMS_KEEP:-}" ] && { echo "kept $T"; return $rc; }
	[ -n "${T:-}" ] && rm -rf "$T"
	return $rc
}

# HKMS_WRAP runs hkms under a tool, e.g. valgrind (tests/memcheck)
hkms() { ${HKMS_WRAP:-} "$HKMS_BIN" "$@"; }

# with_pin CMD...: run a third-party tool with the token PIN in HKMS_PIN
# (read from the 0600 file; never on a command line)
with_pin() { HKMS_PIN=$(cat "$T/data/token/user.pin") "$@"; }

# expect_fail CODE CMD...: CMD must exit non-zero and print a JSON error
# with that code on stderr.
expect_fail() {
	local code=$1; shift
	local out rc
	out=$("$@" 2>&1 >/dev/null); rc=$?
	[ $rc -ne 0 ] || fail "expected failure ($code) but exit 0: $*"
	echo "$out" | grep -q '"error":{"code":"'"$code"'"' ||
		fail "expected error code $code from '$*', got: $out"
}

# jget FILE|- KEY: a top-level string/number/bool from JSON on stdin
jget() { python3 -c 'import json,sys; v=json.load(sys.stdin); k=sys.argv[1]
for p in k.split("."): v=v[int(p)] if isinstance(v,list) else v[p]
print(json.dumps(v) if isinstance(v,(dict,list,bool)) or v is None else v)' "$1"; }
