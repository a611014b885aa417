#!/bin/bash
# External account binding (RFC 8555 §7.3.4): with --eab-required the
# directory says externalAccountRequired and lego without a binding is
# refused (externalAccountRequired); a key made by hkms acme eab-create
# (stored 0600 in the store's secrets, shown once, sealed by the token's
# AES-256 key "hkms-seal": the file holds no key bytes) lets lego register
# and issue; a wrong MAC key, a sealed key moved into another kid's file
# and a second account on a used key are refused (unauthorized); a token
# without AES-GCM refuses eab-create (token_mechanism) and writes nothing;
# nothing but the bound account's certificate is issued.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
. "$(dirname "$0")/acme.inc"
need curl python3 lego pkcs11-tool
hkms_setup
cd "$T"
acme_setup web --eab-required
curl -sf --cacert service.pem "$DIR" | python3 -c 'import json,sys
assert json.load(sys.stdin)["meta"]["externalAccountRequired"] is True' || fail "directory meta"
hkms --json acme eab-create web --kid team-a > eab.json || fail "eab-create"
KID=$(jget kid < eab.json) HMAC=$(jget hmac_key < eab.json)
[ "$(stat -c %a data/secrets/acme.web/team-a.json)" = 600 ] || fail "the EAB key is not 0600"
hkms --json audit show --limit 1000 | grep -qF "$HMAC" && fail "the MAC key is in the audit log"
# sealed: neither the base64url key nor its bytes in hex are in the file
HEX=$(python3 -c 'import base64,sys; k=sys.argv[1]; print(base64.urlsafe_b64decode(k+"="*(-len(k)%4)).hex())' "$HMAC")
[ ${#HEX} = 64 ] || fail "the MAC key is not 32 bytes"
grep -qF "$HMAC" data/secrets/acme.web/team-a.json && fail "the EAB key is stored in clear"
grep -qiF "$HEX" data/secrets/acme.web/team-a.json && fail "the EAB key is stored in clear (hex)"
python3 - data/secrets/acme.web/team-a.json "$HEX" <<'PY' || fail "the EAB record is not a sealed blob"
import base64, json, sys
d = json.load(open(sys.argv[1]))
assert "hmac_key" not in d, d
b = d["hmac_key_sealed"]; b = base64.urlsafe_b64decode(b + "=" * (-len(b) % 4))
assert b[0] == 1 and len(b) == 1 + 12 + 32 + 16, len(b)   # version, IV, ct, tag
assert bytes.fromhex(sys.argv[2]) not in b
PY
with_pin sh -c 'pkcs11-tool --module "$0" --token-label hkms --login --pin env:HKMS_PIN \
	--list-objects --type secrkey' "$SOFTHSM_MODULE" > secrkeys.txt 2>&1 || { cat secrkeys.txt; fail "pkcs11-tool"; }
grep -q 'label: *hkms-seal' secrkeys.txt || { cat secrkeys.txt; fail "no seal key in the token"; }
grep -A8 'label: *hkms-seal' secrkeys.txt | grep -q 'never extractable' ||
	{ cat secrkeys.txt; fail "the seal key is extractable"; }
[ "$(grep -c 'label: *hkms-seal' secrkeys.txt)" = 1 ] || fail "more than one seal key"
pass "the EAB key is stored sealed by a non-extractable token key, not in clear"

# a token without AES-GCM (test hook): eab-create fails, nothing stored
HKMS_TEST_NO_AES_GCM=1 hkms --json acme eab-create web --kid no-gcm > nogcm.json 2>&1 &&
	fail "eab-create without AES-GCM succeeded"
grep -q token_mechanism nogcm.json || { cat nogcm.json; fail "no AES-GCM: not token_mechanism"; }
[ -e data/secrets/acme.web/no-gcm.json ] && fail "eab-create without AES-GCM stored a record"
pass "a token without AES-GCM: eab-create fails with token_mechanism, nothing stored"

lg() {	# lg DIR-NAME ARGS...
	local w=$1; shift
	LEGO_CA_CERTIFICATES=$T/service.pem lego --accept-tos --email ops@acme.test \
		--server "$DIR" --path "$T/$w" "$@" >>"$T/$w.log" 2>&1
}
lg none --domains eab.acme.test --http --http.port "127.0.0.1:$HTTP01" run &&
	fail "registered without a binding"
grep -q "requires External Account Binding" none.log || { cat none.log; fail "lego did not see externalAccountRequired"; }
python3 "$HKMS_SRC/tests/e2e/acme_client.py" "$DIR" "$T/service.pem" "$HTTP01" eab-required > client.out 2>&1 ||
	{ cat client.out; fail "a newAccount without a binding is not externalAccountRequired"; }
bad=$(python3 -c 'import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode())')
lg wrong --eab --kid "$KID" --hmac "$bad" --domains eab.acme.test --http --http.port "127.0.0.1:$HTTP01" run &&
	fail "registered with a wrong MAC key"
grep -q 'error:unauthorized' wrong.log || { cat wrong.log; fail "wrong MAC key: not unauthorized"; }
pass "without a binding: externalAccountRequired; a wrong MAC key: unauthorized"

# team-a's sealed key copied into team-b's file: does not open under team-b
hkms --json acme eab-create web --kid team-b > eab-b.json || fail "eab-create team-b"
HMAC_B=$(jget hmac_key < eab-b.json)
python3 - data/secrets/acme.web/team-a.json data/secrets/acme.web/team-b.json <<'PY' || fail "swap"
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
b["hmac_key_sealed"] = a["hmac_key_sealed"]
open(sys.argv[2], "w").write(json.dumps(b))
PY
for h in "$HMAC" "$HMAC_B"; do
	lg moved --eab --kid team-b --hmac "$h" --domains eab.acme.test --http --http.port "127.0.0.1:$HTTP01" run &&
		fail "a sealed key moved to another kid registered an account"
done
[ "$(grep -c 'error:unauthorized' moved.log)" = 2 ] || { cat moved.log; fail "moved blob: not unauthorized"; }
pass "a sealed EAB key moved into another kid's file is refused (unauthorized)"

lg good --eab --kid "$KID" --hmac "$HMAC" --domains eab.acme.test --http --http.port "127.0.0.1:$HTTP01" run ||
	{ cat good.log; tail -20 serve.log; fail "lego with EAB"; }
check_issued web good/certificates/eab.acme.test.crt
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d.get("account"), d' \
	data/secrets/acme.web/team-a.json || fail "the EAB key is not bound to the account"
lg second --eab --kid "$KID" --hmac "$HMAC" --domains eab.acme.test --http --http.port "127.0.0.1:$HTTP01" run &&
	fail "a used EAB key bound a second account"
grep -q 'error:unauthorized' second.log || { cat second.log; fail "second account: not unauthorized"; }
[ "$(issued_count web)" = 1 ] || fail "expected exactly one certificate"
pass "an operator's EAB key registers one account, which issues; a second account on it is refused"
