#!/bin/bash
# The token's seal key is made once: six processes that each run their
# first `hkms acme eab-create` at the same moment on a token without a seal
# key (each must find or make "hkms-seal" under the token lock) all
# succeed, store sealed records, and leave exactly one AES seal key in the
# token (docs/hsm.md "Sealed data").
. "$(dirname "$0")/lib.sh"
need python3 pkcs11-tool
hkms_setup
cd "$T"
hkms ca create web --key-type ec:p256 --subject "/CN=Seal Test" >/dev/null || fail "ca create"
hkms acme enable web --profile tls-server >/dev/null || fail "acme enable"
count_seal() {
	with_pin sh -c 'pkcs11-tool --module "$0" --token-label hkms --login --pin env:HKMS_PIN \
		--list-objects --type secrkey' "$SOFTHSM_MODULE" > secrkeys.txt 2>&1 ||
		{ cat secrkeys.txt; fail "pkcs11-tool"; }
	grep -c 'label: *hkms-seal' secrkeys.txt
}
[ "$(count_seal)" = 0 ] || fail "a fresh token has a seal key"
pids=
for i in 1 2 3 4 5 6; do
	hkms --json acme eab-create web --kid "k$i" > "k$i.json" 2> "k$i.err" &
	pids="$pids $!"
done
for p in $pids; do wait "$p" || fail "a parallel eab-create failed: $(cat k*.err)"; done
[ "$(count_seal)" = 1 ] || { cat secrkeys.txt; fail "parallel first use made more than one seal key"; }
for i in 1 2 3 4 5 6; do
	python3 - "data/secrets/acme.web/k$i.json" "$(jget hmac_key < "k$i.json")" <<'PY' ||
import json, sys
d = json.load(open(sys.argv[1]))
assert "hmac_key_sealed" in d and "hmac_key" not in d, d
assert sys.argv[2] not in open(sys.argv[1]).read()
PY
		fail "record k$i is not sealed"
done
pass "six processes' first seal at once: all succeed, one seal key in the token"
