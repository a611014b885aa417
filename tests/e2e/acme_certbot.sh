#!/bin/bash
# ACME with certbot (RFC 8555, http-01): certbot registers, issues for two
# names with its standalone http-01 server, renews and revokes against
# hkms serve; each certificate verifies against the CA, is in hkms ca
# issued with the ACME account as requester and is audited with it; the
# revoked certificate is revoked in hkms.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
. "$(dirname "$0")/acme.inc"
need curl python3 certbot
hkms_setup
cd "$T"
acme_setup web

curl -sf --cacert service.pem "$DIR" | python3 -c 'import json,sys
d=json.load(sys.stdin); assert all(k in d for k in ("newNonce","newAccount","newOrder","revokeCert","keyChange")), d' ||
	fail "directory"
pass "directory lists the resources"

cb() {
	REQUESTS_CA_BUNDLE=$T/service.pem certbot --non-interactive \
		--config-dir "$T/cb/etc" --work-dir "$T/cb/work" --logs-dir "$T/cb/log" \
		--server "$DIR" "$@" >>"$T/certbot.log" 2>&1
}
cb register --agree-tos --register-unsafely-without-email || { cat certbot.log; fail "certbot register"; }
pass "certbot registered an account"

cb certonly --standalone --http-01-port "$HTTP01" --http-01-address 127.0.0.1 \
	-d one.acme.test -d two.acme.test --cert-name pair || { cat certbot.log; tail -50 serve.log; fail "certbot certonly"; }
LIVE=$T/cb/etc/live/pair
openssl x509 -in "$LIVE/cert.pem" -noout -ext subjectAltName | grep -q 'DNS:one.acme.test' &&
	openssl x509 -in "$LIVE/cert.pem" -noout -ext subjectAltName | grep -q 'DNS:two.acme.test' ||
	fail "the certificate does not name both names"
check_issued web "$LIVE/cert.pem"
openssl verify -CAfile web.pem -untrusted "$LIVE/chain.pem" "$LIVE/cert.pem" >/dev/null ||
	fail "chain.pem"
pass "certbot issued for two names with http-01; verifies, in ca issued, audited with the account"

first=$(openssl x509 -in "$LIVE/cert.pem" -noout -serial)
cb renew --no-random-sleep-on-renew --force-renewal --cert-name pair --standalone --http-01-port "$HTTP01" --http-01-address 127.0.0.1 ||
	{ cat certbot.log; fail "certbot renew"; }
second=$(openssl x509 -in "$LIVE/cert.pem" -noout -serial)
[ "$first" != "$second" ] || fail "renew gave the same certificate"
check_issued web "$LIVE/cert.pem"
[ "$(issued_count web)" = 2 ] || fail "expected 2 issued certificates"
pass "certbot renew issued a new certificate"

serial=$(openssl x509 -in "$LIVE/cert.pem" -noout -serial | cut -d= -f2)
cb revoke --cert-path "$LIVE/cert.pem" --reason keycompromise --no-delete-after-revoke ||
	{ cat certbot.log; fail "certbot revoke"; }
hkms --json ca issued --ca web | python3 -c 'import json,sys
s=sys.argv[1].upper().lstrip("0")
r=[x for x in json.load(sys.stdin) if x["serial"].upper().lstrip("0")==s][0]
assert r["status"]=="revoked", r' "$serial" || fail "the revoked certificate is not revoked in hkms"
pass "certbot revoke (account key) revoked it in hkms"
