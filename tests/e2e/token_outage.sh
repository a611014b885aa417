#!/bin/bash
# A token outage mid-run (issue 13b): the token answers the login and the
# key search, then fails the signature (CKR_DEVICE_ERROR from C_Sign,
# CKR_DEVICE_REMOVED from C_SignInit) or the search (CKR_TOKEN_NOT_PRESENT).
# hkms retries once on a rebuilt context (the shim counts two failed
# calls), then fails with token_unavailable naming the CKR: never
# module_load, never a bare crypto_error. A single failure is recovered
# and the certificate verifies.
. "$(dirname "$0")/lib.sh"
need jq
hkms_setup
P11SHIM_LIB=${P11SHIM_LIB:-${HKMS_BUILD:-}/tests/libp11shim.so}
[ -f "$P11SHIM_LIB" ] || skip "no fault shim built"
cd "$T"
sed "s#^module = .*#module = $P11SHIM_LIB#" "$HKMS_CONFIG" > shim.conf
export P11SHIM_TARGET=$SOFTHSM_MODULE
"$HKMS_BIN" key generate k --type ec:p256 >/dev/null || fail "key generate"
n=0
for f in C_Sign:CKR_DEVICE_ERROR C_SignInit:CKR_DEVICE_REMOVED C_FindObjectsInit:CKR_TOKEN_NOT_PRESENT; do
	fn=${f%%:*} ckr=${f#*:}
	n=$((n + 1))
	P11SHIM_FAULTS="$f@always" P11SHIM_STATS=$T/st.json "$HKMS_BIN" --config shim.conf \
		cert self-sign c$n --key k --subject /CN=x.example > out.txt 2> err.txt &&
		fail "$f: succeeded"
	[ "$(wc -l < err.txt)" = 1 ] || fail "$f: stderr is not one line: $(cat err.txt)"
	jq -e --arg ckr "$ckr" '.error.code == "token_unavailable" and (.error.message | contains($ckr))' err.txt \
		>/dev/null || fail "$f: $(cat err.txt)"
	calls=$(jq --arg fn "$fn" '.functions[$fn].injected' st.json)
	[ "$calls" -ge 2 ] || fail "$f: not retried ($calls failed calls)"
	[ "$fn" = C_FindObjectsInit ] || [ "$calls" = 2 ] || fail "$f: retried more than once ($calls)"
	"$HKMS_BIN" cert show c$n >/dev/null 2>&1 && fail "$f: a record was made"
done
pass "token down mid-run: token_unavailable naming the CKR after one retry (C_Sign, C_SignInit, C_FindObjectsInit)"
P11SHIM_FAULTS="C_Sign:CKR_DEVICE_ERROR@n=1" P11SHIM_STATS=$T/st.json "$HKMS_BIN" --config shim.conf \
	cert self-sign ok1 --key k --subject /CN=x.example --out-file ok1.pem >/dev/null 2> err.txt ||
	fail "one failure was not recovered: $(cat err.txt)"
[ "$(jq '.functions.C_Sign.injected' st.json)" = 1 ] || fail "no fault was injected"
[ "$(openssl x509 -in ok1.pem -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)" = \
  "$("$HKMS_BIN" --json key show k | jq -r .public_key_pem | openssl pkey -pubin -outform DER | sha256sum)" ] ||
	fail "the recovered certificate is not for k"
openssl verify -CAfile ok1.pem ok1.pem >/dev/null || fail "the recovered certificate does not verify"
pass "one C_Sign failure is retried on a rebuilt context and the certificate verifies"
