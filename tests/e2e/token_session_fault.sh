#!/bin/bash
# A token that refuses every new session (C_OpenSession fails, as a network
# HSM that went away does) is reported as token_unavailable, naming the
# CKR, in bounded time: libp11 0.4.12 would wait forever in its session
# pool (hsm/token.c opens a raw session before libp11's login for that).
. "$(dirname "$0")/lib.sh"
P11SHIM_LIB=${P11SHIM_LIB:-${HKMS_BUILD:-}/tests/libp11shim.so}
[ -f "$P11SHIM_LIB" ] || skip "no libp11shim.so (build target p11shim)"
hkms_setup
cd "$T"
unset P11SHIM_FAULTS P11SHIM_DELAY P11SHIM_KILL_SESSIONS_AT P11SHIM_STATS P11SHIM_LOG P11SHIM_CONTROL
sed "s#^module = .*#module = $(realpath "$P11SHIM_LIB")#" "$HKMS_CONFIG" > shim.conf
grep -q libp11shim shim.conf || fail "no module line in the config"
export P11SHIM_TARGET=$SOFTHSM_MODULE
hkms --config shim.conf key generate k1 --type ec:p256 >/dev/null || fail "key generate through the shim"
for ckr in CKR_DEVICE_REMOVED CKR_DEVICE_ERROR CKR_TOKEN_NOT_PRESENT; do
	P11SHIM_FAULTS="C_OpenSession:$ckr@always" timeout 60 "$HKMS_BIN" --config shim.conf key list \
		> out 2> err
	rc=$?
	[ $rc = 124 ] && fail "$ckr on C_OpenSession: key list hangs"
	[ $rc != 0 ] || fail "$ckr on C_OpenSession: key list succeeded"
	grep -q '"code":"token_unavailable"' err && grep -q "$ckr" err ||
		fail "$ckr on C_OpenSession: $(cat err)"
done
hkms --config shim.conf key list | grep -q k1 || fail "the token works again without the fault"
pass "a token refusing sessions: token_unavailable naming the CKR, no hang"
