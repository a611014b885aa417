#!/bin/bash
# A token that fails at login: opening it spends at most one PIN attempt.
# The open retries a token that looks absent for a moment (another process
# rewriting SoftHSM2's files), but never after a PIN refusal, and a login
# that failed after the token counted the attempt (the shim reports
# CKR_DEVICE_ERROR / CKR_GENERAL_ERROR after the real C_Login ran, with
# CKF_USER_PIN_COUNT_LOW set) is not tried again. C_Login calls are counted
# by the fault shim.
. "$(dirname "$0")/lib.sh"
need python3
P11SHIM_LIB=${P11SHIM_LIB:-${HKMS_BUILD:-}/tests/libp11shim.so}
[ -f "$P11SHIM_LIB" ] || skip "no fault shim built"
hkms_setup
sed "s#^module = .*#module = $P11SHIM_LIB#" "$HKMS_CONFIG" > "$T/shim.conf"
export P11SHIM_TARGET=$SOFTHSM_MODULE
logins() { python3 -c 'import json,sys
print(json.load(open(sys.argv[1]))["functions"]["C_Login"]["calls"])' "$T/stats.json"; }

"$HKMS_BIN" --config "$T/shim.conf" key list >/dev/null || fail "hkms does not work through the shim"
# a token that counted the failed login (CKF_USER_PIN_COUNT_LOW) and then
# reported a device error: one C_Login, no retry
for f in CKR_DEVICE_ERROR CKR_GENERAL_ERROR; do
	rm -f "$T/stats.json"
	out=$(P11SHIM_FAULTS="C_Login:$f@always,phase=post" P11SHIM_TOKENINFO_FLAGS=+CKF_USER_PIN_COUNT_LOW \
		P11SHIM_STATS=$T/stats.json "$HKMS_BIN" --config "$T/shim.conf" key list 2>&1 >/dev/null) &&
		fail "key list succeeded with C_Login failing"
	echo "$out" | grep -q '"code":"pin_refused"' || fail "$f: $out"
	[ "$(logins)" = 1 ] || fail "$f after a counted attempt: $(logins) C_Login calls for one open"
done
# a PIN refusal: one C_Login
rm -f "$T/stats.json"
out=$(P11SHIM_FAULTS="C_Login:CKR_PIN_INCORRECT@always" P11SHIM_STATS=$T/stats.json \
	"$HKMS_BIN" --config "$T/shim.conf" key list 2>&1 >/dev/null) && fail "PIN refused but exit 0"
echo "$out" | grep -q '"code":"pin_incorrect"' || fail "pin refused: $out"
[ "$(logins)" = 1 ] || fail "PIN refused: $(logins) C_Login calls"
# a transient device error with no attempt counted (SoftHSM2 reading a torn
# token file) is still survived: one retry, then success
rm -f "$T/stats.json"
P11SHIM_FAULTS="C_Login:CKR_GENERAL_ERROR@n=1" P11SHIM_STATS=$T/stats.json \
	"$HKMS_BIN" --config "$T/shim.conf" key list >/dev/null || fail "a transient login error was not survived"
[ "$(logins)" = 2 ] || fail "transient: $(logins) C_Login calls"
pass "a failed login the token counted is not repeated (one C_Login); a PIN refusal is tried once; a transient error is retried"
exit 0
