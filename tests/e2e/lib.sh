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
	# the bootstrap admin client (a client CA and its key in the token)
	# only where a test asks for it (HKMS_SETUP_ADMIN_CLIENT=1; or run
	# `hkms init` again): the other tests count keys and certificates
	if [ "${HKMS_SETUP_ADMIN_CLIENT:-0}" = 1 ]; then
		"$HKMS_BIN" init --data-dir "$T/data" >/dev/null || fail "hkms init"
	else
		"$HKMS_BIN" init --data-dir "$T/data" --no-admin-client >/dev/null ||
			fail "hkms init"
	fi
	export HKMS_CONFIG=$T/data/hkms.conf
	export SOFTHSM2_CONF=$T/data/token/softhsm2.conf
}

# Background processes: hkms_bg CMD... starts CMD in the background (a
# function too, e.g. `hkms_bg ht trust watch > out`), records it for
# hkms_cleanup and leaves its pid in BG_PID. hkms_bg_stop PID stops it and
# everything it started (a function runs in a subshell whose child is the
# real process: killing the subshell alone would orphan it) and reaps it.
HKMS_BG_PIDS=
hkms_bg() {
	"$@" &
	BG_PID=$!
	HKMS_BG_PIDS="$HKMS_BG_PIDS $BG_PID"
}
hkms_kill_tree() {
	local c
	kill -STOP "$1" 2>/dev/null	# no new children while we look
	for c in $(pgrep -P "$1" 2>/dev/null); do hkms_kill_tree "$c" "$2"; done
	kill "-$2" "$1" 2>/dev/null
	kill -CONT "$1" 2>/dev/null
}
hkms_alive() {	# running, not a zombie waiting to be reaped
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$st" ] && [ "${st#Z}" = "$st" ]
}
hkms_bg_stop() {
	local i p rest=
	for p in $HKMS_BG_PIDS; do [ "$p" = "$1" ] || rest="$rest $p"; done
	HKMS_BG_PIDS=$rest
	# only our own child: a pid reaped earlier may belong to anyone now
	[ "$(ps -o ppid= -p "$1" 2>/dev/null | tr -d ' ')" = "$$" ] || return 0
	hkms_kill_tree "$1" TERM
	for i in $(seq 1 50); do hkms_alive "$1" || break; sleep 0.1; done
	hkms_alive "$1" && hkms_kill_tree "$1" KILL
	wait "$1" 2>/dev/null
	return 0
}

# Processes other than this shell whose command line, environment or
# working directory points into $T: started by this test and still alive.
# Prints "pid: command line" for each.
hkms_leftovers() {
	local d pid c e
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[ "$pid" = $$ ] || [ "$pid" = "$BASHPID" ] && continue
		c=() e=()
		mapfile -d "" -t c 2>/dev/null < "$d/cmdline"
		mapfile -d "" -t e 2>/dev/null < "$d/environ"
		if [[ " ${c[*]} " == *"$T/"* || " ${c[*]} " == *" $T "* ||
		    " ${e[*]} " == *"=$T/"* || " ${e[*]} " == *"=$T "* ]] ||
		    [ "$d/cwd" -ef "$T" ] || [ "$d/cwd" -ef "$T/data" ]; then
			[ ${#c[@]} -gt 0 ] && echo "$pid: ${c[*]}"
		fi
	done
}

# The EXIT trap: stop what hkms_bg started, fail the test if any process
# it started is still alive (killing it), remove $T. The test's own exit
# status is kept otherwise.
hkms_cleanup() {
	local rc=$? p left
	for p in $HKMS_BG_PIDS; do hkms_bg_stop "$p"; done
	cd / || true
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		left=$(hkms_leftovers)
		if [ -n "$left" ]; then
			echo "FAIL: the test left processes behind (killed now):" >&2
			echo "$left" >&2
			for p in $(echo "$left" | cut -d: -f1); do
				hkms_kill_tree "$p" KILL
			done
			rc=1
		fi
	fi
	[ -n "${HKMS_KEEP:-}" ] && { echo "kept $T"; [ $rc -eq 0 ] || exit $rc; return $rc; }
	[ -n "${T:-}" ] && rm -rf "$T"
	[ $rc -eq 0 ] || [ -z "${left:-}" ] || exit $rc
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
