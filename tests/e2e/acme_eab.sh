#!/bin/bash
# External account binding (RFC 8555 §7.3.4): with --eab-required the
# directory says externalAccountRequired and lego without a binding is
# refused (externalAccountRequired); a key made by hkms acme eab-create
# (stored 0600 in the store's secrets, shown once) lets lego register and
# issue; a wrong MAC key and a second account on a used key are refused
# (unauthorized); nothing but the bound account's certificate is issued.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
. "$(dirname "$0")/acme.inc"
need curl python3 lego
hkms_setup
cd "$T"
acme_setup web --eab-required
curl -sf --cacert service.pem "$DIR" | python3 -c 'import json,sys
assert json.load(sys.stdin)["meta"]["externalAccountRequired"] is True' || fail "directory meta"
hkms --json acme eab-create web --kid team-a > eab.json || fail "eab-create"
KID=$(jget kid < eab.json) HMAC=$(jget hmac_key < eab.json)
[ "$(stat -c %a data/secrets/acme.web/team-a.json)" = 600 ] || fail "the EAB key is not 0600"
hkms --json audit show --limit 1000 | grep -qF "$HMAC" && fail "the MAC key is in the audit log"

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
