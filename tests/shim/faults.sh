#!/bin/bash
# shim_faults: faults configured in the shim really reach the caller, in
# the forms docs/shim.md promises: environment rules (@always, @n, @window,
# @p with a seed, phase=post), delays, the control file changed under a
# running process, the session killer, the session cap, token-info flags,
# the concurrency detector and the SIGUSR2 stats dump.
. "$(dirname "$0")/lib.sh"

[ -n "${P11SHIM_DRV:-}" ] || die "P11SHIM_DRV must name the built p11shim_drv"
export P11SHIM_STATS=$STATS
cd "$WORK" || die "no work dir"
quiet p11 --keypairgen --key-type EC:prime256v1 --id 01 --label ec1 ||
	die "cannot make an EC key"
quiet p11 --keypairgen --key-type rsa:2048 --id 02 --label rsa1 ||
	die "cannot make an RSA key"
printf 'hello shim\n' > data

# -- pkcs11-tool sees injected errors ------------------------------------
# pkcs11-tool falls back to C_SignUpdate/C_SignFinal when C_Sign fails, so
# both ends of a signature are faulted.
P11SHIM_FAULTS="C_Sign|C_SignFinal:CKR_DEVICE_ERROR@always" \
	p11 --sign --id 02 -m SHA256-RSA-PKCS -i data -o sig > sign.out 2>&1
check "pkcs11-tool --sign fails with C_Sign:CKR_DEVICE_ERROR@always" \
	test $? -ne 0
check "... and reports CKR_DEVICE_ERROR" grep -q CKR_DEVICE_ERROR sign.out
check "... and the stats count the injection" \
	test "$(sval .functions.C_Sign.injected)" -ge 1

P11SHIM_FAULTS="C_Login:CKR_PIN_INCORRECT@always" \
	p11 --list-objects > login.out 2>&1
check "login fails with C_Login:CKR_PIN_INCORRECT@always" test $? -ne 0
check "... and reports CKR_PIN_INCORRECT" grep -q CKR_PIN_INCORRECT login.out
expect "... after exactly one C_Login attempt" "$(sval .login_attempts)" 1
expect "... which was injected" "$(sval .functions.C_Login.injected)" 1

P11SHIM_FAULTS="C_Login:CKR_PIN_LOCKED" p11 --list-objects > locked.out 2>&1
check "C_Login:CKR_PIN_LOCKED (no trigger = always) is reported" \
	grep -q CKR_PIN_LOCKED locked.out

# -- triggers, driven call by call ------------------------------------------
out=$(P11SHIM_FAULTS="C_Sign:CKR_DEVICE_ERROR@n=2" \
	drv init open login "sign ec1" "sign ec1" "sign ec1" | tr '\n' ' ')
expect "@n=2 fails only the second C_Sign, and the next sign works" "$out" \
	"init CKR_OK open CKR_OK login CKR_OK sign CKR_OK sign CKR_DEVICE_ERROR sign CKR_OK "
expect "@n=2 rule stats" "$(sval '.rules[0] | "\(.seen) \(.fired)"')" "3 1"

out=$(P11SHIM_FAULTS="C_SignInit:CKR_DEVICE_REMOVED@window=2-3" \
	drv init open login "sign ec1" "sign ec1" "sign ec1" "sign ec1" |
	tr '\n' ' ')
expect "@window=2-3: an outage that recovers" "$out" \
	"init CKR_OK open CKR_OK login CKR_OK sign CKR_OK sign CKR_DEVICE_REMOVED sign CKR_DEVICE_REMOVED sign CKR_OK "

out=$(P11SHIM_FAULTS="C_Sign:CKR_USER_NOT_LOGGED_IN@every=2" \
	drv init open login "sign ec1" "sign ec1" "sign ec1" "sign ec1" |
	tr '\n' ' ')
expect "@every=2" "$out" \
	"init CKR_OK open CKR_OK login CKR_OK sign CKR_OK sign CKR_USER_NOT_LOGGED_IN sign CKR_OK sign CKR_USER_NOT_LOGGED_IN "

out=$(P11SHIM_FAULTS="C_OpenSession:CKR_SESSION_COUNT@after=2" \
	drv init open open open open | tr '\n' ' ')
expect "@after=2" "$out" \
	"init CKR_OK open CKR_OK open CKR_SESSION_COUNT open CKR_SESSION_COUNT open CKR_SESSION_COUNT "

signs=$(for i in $(seq 20); do echo "sign ec1"; done)
run_p() {
	{ printf '%s\n' init open login; printf '%s\n' "$signs"; } |
	P11SHIM_SEED=$1 P11SHIM_FAULTS="C_Sign:CKR_DEVICE_ERROR|CKR_GENERAL_ERROR@p=0.3" \
		SHIMDRV_PIN=$PIN "$P11SHIM_DRV" "$P11SHIM_LIB" t | tr '\n' ' '
}
a=$(run_p 42); b=$(run_p 42); c=$(run_p 7)
expect "@p=0.3 with P11SHIM_SEED is reproducible" "$a" "$b"
check "@p=0.3 injected some faults" grep -q "CKR_DEVICE_ERROR\|CKR_GENERAL_ERROR" <<<"$a"
check "@p=0.3 let some calls through" grep -q "sign CKR_OK" <<<"$a"
check "another seed gives another pattern" test "$a" != "$c"

# phase=post: the real C_Sign ran, the caller is told the session is gone,
# and the shim closed it for real, so using it again fails genuinely.
out=$(P11SHIM_FAULTS="C_Sign:CKR_SESSION_HANDLE_INVALID@n=1,phase=post" \
	drv init open login "sign ec1" "sign ec1" open login "sign ec1" \
	finalize | tr '\n' ' ')
expect "phase=post SESSION_HANDLE_INVALID closes the session for real" \
	"$out" "init CKR_OK open CKR_OK login CKR_OK sign CKR_SESSION_HANDLE_INVALID sign CKR_SESSION_HANDLE_INVALID open CKR_OK login CKR_OK sign CKR_OK finalize CKR_OK "
expect "... C_Sign reached the real module once" \
	"$(sval '.functions.C_Sign.calls')" 2
expect "... and no session leaked" "$(sval .sessions_open)" 0

# ",keep" leaves the real session open.
out=$(P11SHIM_FAULTS="C_SignInit:CKR_SESSION_HANDLE_INVALID@n=1,keep" \
	drv init open login "sign ec1" "sign ec1" | tr '\n' ' ')
expect ",keep: the session still works afterwards" "$out" \
	"init CKR_OK open CKR_OK login CKR_OK sign CKR_SESSION_HANDLE_INVALID sign CKR_OK "

# -- delay -------------------------------------------------------------------
t0=$(date +%s%N)
out=$(P11SHIM_DELAY="C_Sign:700ms@n=1" drv init open login "sign ec1" |
	tr '\n' ' ')
t1=$(date +%s%N)
check "P11SHIM_DELAY=C_Sign:700ms slows the call" \
	test $(( (t1 - t0) / 1000000 )) -ge 700
expect "... which then succeeds" "$out" \
	"init CKR_OK open CKR_OK login CKR_OK sign CKR_OK "
expect "... and is counted" "$(sval .functions.C_Sign.delayed)" 1

# -- session cap and token flags ----------------------------------------------
out=$(P11SHIM_MAX_SESSIONS=2 \
	P11SHIM_TOKENINFO_FLAGS=+CKF_USER_PIN_COUNT_LOW,+CKF_USER_PIN_FINAL_TRY,+CKF_USER_PIN_LOCKED \
	drv init info open open open close open | tr '\n' ' ')
flags=$(sed -n 's/.*flags=\(0x[0-9a-f]*\).*/\1/p' <<<"$out")
check "P11SHIM_TOKENINFO_FLAGS sets COUNT_LOW|FINAL_TRY|LOCKED" \
	test $(( flags & 0x70000 )) -eq $(( 0x70000 ))
check "P11SHIM_MAX_SESSIONS rewrites ulMaxSessionCount" \
	grep -q "max_sessions=2 max_rw_sessions=2" <<<"$out"
check "the third C_OpenSession gets CKR_SESSION_COUNT, after a close one works" \
	grep -q "open CKR_OK open CKR_OK open CKR_SESSION_COUNT close CKR_OK open CKR_OK" <<<"$out"
expect "... refusal counted" "$(sval .sessions_refused)" 1
expect "... never more than 2 open" "$(sval .sessions_max_open)" 2

out=$(P11SHIM_TOKENINFO_FLAGS=-CKF_LOGIN_REQUIRED drv init info)
flags=$(sed -n 's/.*flags=\(0x[0-9a-f]*\).*/\1/p' <<<"$out")
check "P11SHIM_TOKENINFO_FLAGS can clear a flag" test $(( flags & 4 )) -eq 0

# -- concurrency detector -----------------------------------------------------
# A delay inside every call makes threads on one session overlap for sure
# (the shim counts a thread as inside the session during the delay; with a
# delay on C_Sign only, the threads could all fail fast before reaching it).
P11SHIM_DELAY="*:5ms" drv init open login "sign ec1" \
	"threads 4 5 shared" >/dev/null
check "threads sharing one session are flagged" \
	test "$(sval .concurrency_violations)" -gt 0
check "... max_concurrent_per_session > 1" \
	test "$(sval .max_concurrent_per_session)" -gt 1
P11SHIM_DELAY="*:2ms" drv init open login "sign ec1" \
	"threads 4 5 own" >/dev/null
expect "one session per thread is not flagged" \
	"$(sval .concurrency_violations)" 0
check "... although the threads overlapped" \
	test "$(sval .max_inflight_calls)" -gt 1

# -- control file under a running process: token gone, then back ----------------
export P11SHIM_CONTROL=$CTL
rm -f "$CTL"
drv_start
expect "running driver: setup" \
	"$(drv_do init; drv_do open; drv_do login; drv_do 'sign ec1')" \
	"$(printf 'init CKR_OK\nopen CKR_OK\nlogin CKR_OK\nsign CKR_OK')"
ctl "P11SHIM_FAULTS=*:CKR_DEVICE_REMOVED@always"
expect "control file: token gone" "$(drv_do 'sign ec1')" \
	"sign CKR_DEVICE_REMOVED"
expect "control file: token gone (info)" "$(drv_do info)" \
	"info CKR_DEVICE_REMOVED"
ctl "# token is back" "P11SHIM_FAULTS="
expect "control file: token back" "$(drv_do 'sign ec1')" "sign CKR_OK"

ctl "P11SHIM_FAULTS=C_Sign:CKR_NO_SUCH_CODE"
expect "bad control file keeps the previous settings" \
	"$(drv_do 'sign ec1')" "sign CKR_OK"

ctl "P11SHIM_KILL_SESSIONS_AT=1"
drv_do info >/dev/null	# call 1 after the load; the kill follows it
expect "KILL_SESSIONS_AT via control file: session gone" \
	"$(drv_do 'sign ec1')" "sign CKR_SESSION_HANDLE_INVALID"
expect "... reopen and log in again" "$(drv_do open; drv_do login; drv_do 'sign ec1')" \
	"$(printf 'open CKR_OK\nlogin CKR_OK\nsign CKR_OK')"

ctl "P11SHIM_FAULTS=C_Login:CKR_PIN_INCORRECT@n=1"
expect "control file rules count from their load" "$(drv_do login)" \
	"login CKR_PIN_INCORRECT"

# SIGUSR2 writes the stats without stopping the process.
# A test waits for a dump from this pid with reason "signal".
kill -USR2 "$DRV_PID"
for i in $(seq 100); do
	[ "$(sval '"\(.pid) \(.reason)"' 2>/dev/null)" = "$DRV_PID signal" ] &&
		break
	sleep 0.05
done
expect "SIGUSR2 dumps the stats of the running process" \
	"$(sval '"\(.pid) \(.reason)"')" "$DRV_PID signal"
expect "... showing the control file error" "$(sval .config_errors)" 1
check "... and its text" grep -q NO_SUCH_CODE <<<"$(sval .last_config_error)"
expect "... and the kill" "$(sval '"\(.kill_events) \(.sessions_killed)"')" "1 1"
expect "... and the process is still alive" "$(drv_do 'sign ec1')" "sign CKR_OK"

rm -f "$CTL"
expect "control file removed: back to the environment" \
	"$(drv_do close; drv_do finalize)" \
	"$(printf 'close CKR_OK\nfinalize CKR_OK')"
drv_stop
expect "no session left open" "$(sval .sessions_open)" 0
unset P11SHIM_CONTROL

# -- KILL_SESSIONS_AT from the environment ------------------------------------
# Count the calls of a fixed command sequence (C_Initialize is call 1 and
# the driver does not finalize), then kill right after its last call.
drv init open login "sign ec1" >/dev/null
n=$(sval .calls_total)
out=$(P11SHIM_KILL_SESSIONS_AT=$n drv init open login "sign ec1" "sign ec1" \
	open login "sign ec1" | tr '\n' ' ')
expect "P11SHIM_KILL_SESSIONS_AT=$n kills the session after call $n" "$out" \
	"init CKR_OK open CKR_OK login CKR_OK sign CKR_OK sign CKR_SESSION_HANDLE_INVALID open CKR_OK login CKR_OK sign CKR_OK "
expect "... once" "$(sval .kill_events)" 1

# -- a typo must not pass silently --------------------------------------------
P11SHIM_FAULTS="C_Sgn:CKR_DEVICE_ERROR" p11 --list-objects > typo.out 2>&1
check "a bad P11SHIM_FAULTS aborts the process" test $? -ne 0
check "... naming the problem" grep -q "unknown function 'C_Sgn'" typo.out

finish
