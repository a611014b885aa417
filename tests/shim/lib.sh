# Shared helpers for the shim tests (sourced, not run).
#
# Needs P11SHIM_LIB (the built libp11shim.so; ctest sets it) and, for the
# driver-based checks, P11SHIM_DRV.  Exits 77 (ctest "skipped") when the
# SoftHSM2 / OpenSC tools or jq are not installed.

set -u

SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
FAILS=0

skip() { echo "SKIP: $*"; exit 77; }
die() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*" >&2; FAILS=$((FAILS + 1)); }
check() { # check DESCRIPTION COMMAND...
	local what=$1; shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}

for tool in softhsm2-util pkcs11-tool jq; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool not installed"
done
[ -e "$SOFTHSM_MODULE" ] || skip "no SoftHSM2 module at $SOFTHSM_MODULE"
[ -n "${P11SHIM_LIB:-}" ] && [ -f "$P11SHIM_LIB" ] ||
	die "P11SHIM_LIB must name the built libp11shim.so"
# Absolute paths: the tests cd into their work directory.
P11SHIM_LIB=$(realpath "$P11SHIM_LIB")
[ -n "${P11SHIM_DRV:-}" ] && P11SHIM_DRV=$(realpath "$P11SHIM_DRV")

# Nothing of the caller's shim settings may leak into a test.
unset P11SHIM_FAULTS P11SHIM_DELAY P11SHIM_PHASE P11SHIM_MAX_SESSIONS \
	P11SHIM_TOKENINFO_FLAGS P11SHIM_KILL_SESSIONS_AT P11SHIM_SEED \
	P11SHIM_STATS P11SHIM_CONTROL P11SHIM_LOG P11SHIM_TARGET

WORK=$(mktemp -d "${TMPDIR:-/tmp}/p11shim.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

# A private SoftHSM2 token "t" (TOKENS.md section 1).  Test PINs only.
PIN=1234
mkdir -p "$WORK/tokens"
cat > "$WORK/softhsm2.conf" <<CONF
directories.tokendir = $WORK/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
export SOFTHSM2_CONF=$WORK/softhsm2.conf
softhsm2-util --init-token --free --label t --pin $PIN --so-pin 5678 \
	>/dev/null || die "cannot create the SoftHSM2 token"

STATS=$WORK/stats.json
CTL=$WORK/control

# p11 [pkcs11-tool args...]: pkcs11-tool through the shim, logged in.
p11() {
	pkcs11-tool --module "$P11SHIM_LIB" --token-label t --login --pin $PIN "$@"
}

# sval JQ-EXPR: one value from the last stats dump.
sval() { jq -r "$1" "$STATS"; }

# ctl LINES...: replace the control file atomically (write, then rename),
# so the shim never reads a half-written file.
ctl() {
	printf '%s\n' "$@" > "$CTL.tmp" && mv -f "$CTL.tmp" "$CTL"
}

# drv COMMAND...: run the driver with one command per argument, print its
# answers.  The driver reads the PIN from the environment (test only).
drv() {
	[ -n "${P11SHIM_DRV:-}" ] || die "P11SHIM_DRV is not set"
	printf '%s\n' "$@" | SHIMDRV_PIN=$PIN "$P11SHIM_DRV" "$P11SHIM_LIB" t
}

# Coprocess driver, for changing the control file between two commands.
drv_start() {
	[ -n "${P11SHIM_DRV:-}" ] || die "P11SHIM_DRV is not set"
	coproc DRV { SHIMDRV_PIN=$PIN exec "$P11SHIM_DRV" "$P11SHIM_LIB" t; }
}
# drv_do COMMAND: send one command, print the one-line answer.
drv_do() {
	local reply
	echo "$1" >&"${DRV[1]}"
	IFS= read -r -t 60 reply <&"${DRV[0]}" || reply="(no answer)"
	echo "$reply"
}
drv_stop() {
	local pid=$DRV_PID
	echo quit >&"${DRV[1]}"
	wait "$pid" 2>/dev/null || true
}

# quiet COMMAND...: run it with its output going to $WORK/commands.log.
quiet() { "$@" >>"$WORK/commands.log" 2>&1; }

# expect DESCRIPTION ACTUAL EXPECTED
expect() {
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$2', want '$3'"; fi
}

finish() {
	if [ "$FAILS" -ne 0 ]; then
		echo "$FAILS check(s) failed"
		exit 1
	fi
	echo "all checks passed"
	exit 0
}
