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
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
cd "$T"
printf '{"allow_dns": [".acme.test"]}\n' > acme-policy.json
acme_setup web --policy acme-policy.json
(umask 077; printf 'cert-type = "P12"\ncert = "%s:%s"\ncacert = "%s"\nsilent\nmax-time = 20\n' \
	"$T/data/admin-client.p12" "$(cat "$T/data/admin-client.pass")" "$T/service.pem" > admin.curlrc)
api() { curl -K admin.curlrc -w '\n%{http_code}' "$@"; }

# the operator's API: enable, status, disable another CA
hkms ca create api --key-type ec:p256 --subject "/CN=ACME API" >/dev/null || fail "ca api"
api -X PUT -H 'Content-Type: application/json' --data '{"profile":"tls-server","policy":{"allow_dns":[".api.test"]}}' \
	"$URL/v1/acme/api" > put.out
[ "$(tail -1 put.out)" = 200 ] || fail "PUT /v1/acme/api: $(cat put.out)"
curl -sf --cacert service.pem "$URL/acme/api/directory" >/dev/null || fail "the API-enabled directory"
api "$URL/v1/acme" | sed '$d' | python3 -c 'import json,sys
r={x["ca"]:x for x in json.load(sys.stdin)}; assert r["api"]["enabled"] and r["web"]["profile"]=="tls-server", r' ||
	fail "GET /v1/acme"
[ "$(api -X DELETE "$URL/v1/acme/api" | tail -1)" = 200 ] || fail "DELETE /v1/acme/api"
[ "$(curl -s -o dir.out -w '%{http_code}' --cacert service.pem "$URL/acme/api/directory")" = 404 ] &&
	grep -q 'urn:ietf:params:acme:error:malformed' dir.out || fail "a disabled directory: $(cat dir.out)"
[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert service.pem -X PUT "$URL/v1/acme/api")" = 401 ] ||
	fail "the operator API without a client certificate"
pass "the operator API enables, lists and disables ACME for a CA (no client certificate: 401)"

# errors the server answers before an ACME route runs are problem
# documents too: no such route (404), wrong method (405), too large (413)
problem_of() {	# EXPECTED-STATUS CURL-ARGS...: the problem type
	local want=$1; shift
	curl -s -D hdr.out -o prob.out -w '%{http_code}' --cacert service.pem "$@" > st.out
	[ "$(cat st.out)" = "$want" ] || fail "$*: status $(cat st.out), not $want"
	grep -qi '^content-type: application/problem+json' hdr.out || fail "$*: not a problem document: $(cat hdr.out)"
	python3 -c 'import json,sys; d=json.load(open("prob.out")); assert d["status"]==int(sys.argv[1]) and d["type"].startswith("urn:ietf:params:acme:error:"), d; print(d["type"])' "$want"
}
problem_of 404 "$URL/acme/web/no-such-resource" | grep -q ':malformed$' || fail "404 is not malformed"
problem_of 405 -X DELETE "$URL/acme/web/directory" | grep -q ':malformed$' || fail "405 is not malformed"
head -c $((2 * 1024 * 1024)) /dev/zero > big.bin
problem_of 413 -H 'Content-Type: application/jose+json' -H 'Expect:' --data-binary @big.bin "$URL/acme/web/new-account" |
	grep -q ':malformed$' || fail "413 is not malformed"
rm -f big.bin
[ "$(curl -s -D hdr.out -o /dev/null -w '%{http_code}' --cacert service.pem "$URL/v1/no-such")" = 404 ] &&
	grep -qi '^content-type: application/json' hdr.out || fail "the rest of the API keeps its JSON envelope"
pass "errors before an ACME route (404, 405, 413) are problem documents; the API keeps JSON"

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

api "$URL/metrics" | sed '$d' > metrics.txt
grep -q '^hkms_acme_orders_total [1-9]' metrics.txt &&
	grep -q '^hkms_acme_issue_duration_seconds_count 1$' metrics.txt &&
	grep -q 'hkms_operations_total{op="acme.challenge.http-01",result="error"} [1-9]' metrics.txt &&
	grep -q 'hkms_operations_total{op="acme.challenge.http-01",result="ok"} [1-9]' metrics.txt ||
	{ grep acme metrics.txt; fail "ACME metrics"; }
pass "metrics: orders, issuance latency, challenges by type and result"

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
