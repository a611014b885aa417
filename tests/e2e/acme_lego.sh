#!/bin/bash
# ACME with lego: register and issue for two names with http-01, one with
# tls-alpn-01 (RFC 8737), a name and its wildcard with dns-01 through
# lego's exec provider and a small DNS server ([acme] dns_resolver),
# renew and revoke (by the certificate's key too); every certificate
# verifies against the CA, is in hkms ca issued with the account as
# requester and is audited with it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
. "$(dirname "$0")/acme.inc"
need curl python3 lego
hkms_setup
cd "$T"
acme_setup web
mkdir dns
hkms_bg python3 "$HKMS_SRC/tests/e2e/acme_dns.py" "$DNS_PORT" "$T/dns" > dns.out 2>&1
for i in $(seq 1 50); do grep -q ready dns.out && break; sleep 0.1; done
grep -q ready dns.out || fail "dns server did not start"

lg() {
	LEGO_CA_CERTIFICATES=$T/service.pem lego --accept-tos --email ops@acme.test \
		--server "$DIR" --path "$T/lego" "$@" >>"$T/lego.log" 2>&1
}
lg --domains one.acme.test --domains two.acme.test --http --http.port "127.0.0.1:$HTTP01" run ||
	{ cat lego.log; tail -30 serve.log; fail "lego http-01"; }
C=$T/lego/certificates
check_issued web "$C/one.acme.test.crt"
openssl x509 -in "$C/one.acme.test.crt" -noout -ext subjectAltName | grep -q 'DNS:two.acme.test' ||
	fail "the certificate does not name both names"
pass "lego registered and issued for two names with http-01"

lg --domains tls.acme.test --tls --tls.port "127.0.0.1:$TLSALPN" run ||
	{ cat lego.log; tail -30 serve.log; fail "lego tls-alpn-01"; }
check_issued web "$C/tls.acme.test.crt"
pass "lego issued with tls-alpn-01"

ACME_DNS_DIR=$T/dns EXEC_PATH=$HKMS_SRC/tests/e2e/acme-dns-hook EXEC_PROPAGATION_TIMEOUT=30 EXEC_SEQUENCE_INTERVAL=1 \
	EXEC_POLLING_INTERVAL=1 lg --domains dns.acme.test --domains '*.dns.acme.test' --dns exec \
	--dns.resolvers "127.0.0.1:$DNS_PORT" --dns.disable-cp run ||
	{ cat lego.log; tail -30 serve.log; fail "lego dns-01"; }
check_issued web "$C/dns.acme.test.crt"
openssl x509 -in "$C/dns.acme.test.crt" -noout -ext subjectAltName | grep -qF 'DNS:*.dns.acme.test' ||
	fail "no wildcard in the dns-01 certificate"
pass "lego issued a name and its wildcard with dns-01"

before=$(issued_count web)
first=$(openssl x509 -in "$C/one.acme.test.crt" -noout -serial)
lg --domains one.acme.test --domains two.acme.test --http --http.port "127.0.0.1:$HTTP01" renew --days 100000 --no-random-sleep ||
	{ cat lego.log; fail "lego renew"; }
[ "$(openssl x509 -in "$C/one.acme.test.crt" -noout -serial)" != "$first" ] || fail "renew kept the certificate"
check_issued web "$C/one.acme.test.crt"
[ "$(issued_count web)" = $((before + 1)) ] || fail "renew did not issue one certificate"
pass "lego renew"

revoked() {
	local serial=$1
	hkms --json ca issued --ca web | python3 -c 'import json,sys
s=sys.argv[1].upper().lstrip("0")
r=[x for x in json.load(sys.stdin) if x["serial"].upper().lstrip("0")==s][0]
assert r["status"]=="revoked", r' "$serial"
}
serial=$(openssl x509 -in "$C/one.acme.test.crt" -noout -serial | cut -d= -f2)
lg --domains one.acme.test revoke || { cat lego.log; fail "lego revoke"; }
revoked "$serial" || fail "lego revoke did not revoke in hkms"
pass "lego revoke (account key)"
