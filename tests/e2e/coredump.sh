#!/bin/bash
# Secrets stay out of core files and the environment (issue 10, item 5;
# RELIABILITY.md T-HOST-2). With `ulimit -c unlimited` and a core_pattern
# that writes files (a control process proves cores are written here):
#  - `hkms key generate` stopped by gdb right after it logged in with
#    HKMS_PIN (our PIN copy, libp11's re-login copy in memory), then killed
#    with SIGSEGV: no core file, and its /proc/<pid>/environ holds neither
#    HKMS_PIN nor the PIN;
#  - `hkms trust watch` started with HKMS_PIN and HKMS_SO_PIN set, killed
#    with SIGABRT: no core, nothing of either in /proc/<pid>/environ.
# A core that does appear is searched for the PIN (reported, still a fail).
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup
PIN=$(cat "$T/data/token/user.pin")
C=$T/cores; mkdir -p "$C"

# cores as files in the crashing process's cwd: change a piped or absolute
# core_pattern for the test (restored on exit), or skip if we cannot
cp=/proc/sys/kernel/core_pattern
old_pattern=$(cat "$cp" 2>/dev/null)
case $old_pattern in
""|*/*|"|"*)
	if [ -w "$cp" ] && echo "core.%p" > "$cp" 2>/dev/null; then
		trap 'echo "$old_pattern" > '"$cp"'; hkms_cleanup' EXIT
	else
		skip "core_pattern '$old_pattern' does not write core files and cannot be changed"
	fi ;;
esac
ulimit -c unlimited 2>/dev/null || skip "cannot raise RLIMIT_CORE"

# control: an ordinary process does leave a core here
(cd "$C" && exec sleep 30) & ctl=$!
sleep 0.2; kill -SEGV $ctl; wait $ctl 2>/dev/null
[ -n "$(ls -A "$C")" ] || skip "no core file from a control process (pattern '$(cat "$cp")')"
rm -f "$C"/*
pass "control: a crashing process leaves a core file here"

no_core() {	# no_core WHAT: nothing in $C, else say whether it holds the PIN
	local f
	[ -z "$(ls -A "$C")" ] && return 0
	for f in "$C"/*; do
		if grep -aqF "$PIN" "$f"; then echo "core $f holds the PIN" >&2
		else echo "core $f (no PIN found in it)" >&2; fi
	done
	fail "$1 left a core file"
}
env_clean() {	# env_clean FILE WHAT
	! grep -aq -e 'HKMS_PIN' -e 'HKMS_SO_PIN' -e "$PIN" "$1" ||
		fail "$2: /proc/<pid>/environ still holds the PIN variables: $(tr '\0' ' ' < "$1" | grep -o 'HKMS_[A-Z_]*PIN=[^ ]*' | sed 's/=.*/=…/')"
}

# 1. a process that holds the PIN (logged in), crashed by gdb
if command -v gdb >/dev/null 2>&1; then
	(cd "$C" && HKMS_PIN=$PIN gdb -q -batch -nx \
		-ex 'set pagination off' -ex 'set confirm off' \
		-ex 'break hkms_hsm_open' -ex run -ex finish \
		-ex "python import gdb; open('$T/gdb.env','wb').write(open('/proc/%d/environ' % gdb.selected_inferior().pid,'rb').read())" \
		-ex 'signal SIGSEGV' \
		--args "$HKMS_BIN" key generate cd1 --type ec:p256 > "$T/gdb.out" 2>&1)
	grep -q 'SEGV' "$T/gdb.out" || fail "gdb did not crash hkms: $(tail -5 "$T/gdb.out")"
	[ -s "$T/gdb.env" ] || fail "gdb did not stop after login: $(tail -5 "$T/gdb.out")"
	env_clean "$T/gdb.env" "hkms key generate after login"
	no_core "hkms key generate killed by SIGSEGV after login"
	pass "SIGSEGV after login (gdb): no core; HKMS_PIN gone from /proc/<pid>/environ"
else
	echo "note: gdb not installed, the logged-in crash is not tested"
fi

# 2. a long-running command started with both PIN variables, SIGABRT
(cd "$C" && HKMS_PIN=$PIN HKMS_SO_PIN=$PIN exec "$HKMS_BIN" trust watch > "$T/w.out" 2>&1) &
w=$!
for i in $(seq 1 50); do grep -q 'HKMS_DATA_DIR' "/proc/$w/environ" 2>/dev/null && break; sleep 0.1; done
sleep 0.3
cat "/proc/$w/environ" > "$T/w.env" || fail "cannot read the watcher's environ"
grep -q "^Max core file size *0 *0" "/proc/$w/limits" || fail "RLIMIT_CORE is not 0: $(grep core "/proc/$w/limits")"
env_clean "$T/w.env" "hkms trust watch"
kill -ABRT $w; wait $w 2>/dev/null
no_core "hkms trust watch killed by SIGABRT"
pass "SIGABRT: no core (RLIMIT_CORE 0, not dumpable); HKMS_PIN/HKMS_SO_PIN gone from the environment"

# the PIN still works for the command that read it
HKMS_PIN=$PIN hkms key generate cd2 --type ec:p256 >/dev/null || fail "HKMS_PIN no longer logs in"
pass "HKMS_PIN is still used once read"
