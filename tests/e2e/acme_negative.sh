#!/bin/bash
# ACME refusals and the account lifecycle with a small client of our own
# (tests/e2e/acme_client.py): a bad JWS signature, a wrong or unsupported
# alg, the wrong media type, a replayed or unknown nonce, a wrong url, an
# unknown kid, a jwk where a kid belongs, a name the ACME policy refuses,
# a challenge answering the wrong key authorization, a CSR naming other
# names, a validation target in a refused range (loopback, once
# allow_loopback is off) — each the RFC 8555 problem type in an
# application/problem+json document, and nothing issued; then ES256,
# ES384 and RS256 accounts, issuance and revocation by the certificate's
# key, keyChange, account deactivation and order/authorization expiry.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
. "$(dirname "$0")/acme.inc"
need curl python3
python3 -c 'import cryptography' 2>/dev/null || skip "python3-cryptography is not installed"
hkms_setup
cd "$T"
printf '{"allow_dns": [".acme.test"]}\n' > acme-policy.json
acme_setup web --policy acme-policy.json
client() { python3 "$HKMS_SRC/tests/e2e/acme_client.py" "$DIR" "$T/service.pem" "$HTTP01" "$@"; }

client bad-signature bad-alg media-type replayed-nonce wrong-url unknown-kid jwk-and-kid \
	refused-name wrong-key-authorization bad-csr > client.out 2>&1 ||
	{ cat client.out; tail -20 serve.log; fail "refusals"; }
[ "$(issued_count web)" = 0 ] || fail "a refused request issued a certificate"
hkms --json audit show --limit 1000 | python3 -c 'import json,sys
l=[x for x in json.load(sys.stdin)["lines"] if x["op"]=="acme.challenge.http-01"]
assert any(x["result"]=="error" and x["detail"].get("error")=="acme_incorrect_response" and x["actor"].startswith("acme:web/") for x in l), l' || fail "the failed challenge is not audited"
pass "bad signature, bad alg, media type, replayed nonce, wrong url, unknown kid, jwk for kid, refused name, wrong key authorization, bad CSR: each its problem type, nothing issued"

client account-keys issue-revoke-by-cert-key key-change deactivate > client.out 2>&1 ||
	{ cat client.out; tail -20 serve.log; fail "lifecycle"; }
check_issued web acme_client.pem
hkms --json ca issued --ca web | python3 -c 'import json,sys
r=json.load(sys.stdin); assert len(r)==1 and r[0]["status"]=="revoked", r' ||
	fail "revocation by the certificate key did not revoke"
pass "ES256/ES384/RS256 accounts, issue + revoke by the certificate key, keyChange, deactivation"

# expiry: a server whose orders and authorizations live 2 s (test hook)
serve_stop
HKMS_ACME_TEST_LIFETIME=2 serve_start
DIR=$URL/acme/web/directory
client expiry > client.out 2>&1 || { cat client.out; fail "expiry"; }
pass "an expired order is invalid, its authorization expired, finalize refused"

# validation may not go to loopback unless the config allows it
serve_stop
sed -i '/^allow_loopback/d' "$HKMS_CONFIG"
serve_start
DIR=$URL/acme/web/directory
client refused-target > client.out 2>&1 || { cat client.out; tail -20 serve.log; fail "refused target"; }
[ "$(issued_count web)" = 1 ] || fail "something was issued"
pass "a validation target on loopback is refused (rejectedIdentifier) by default"
