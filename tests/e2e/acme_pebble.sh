#!/bin/bash
# pebble (Debian) as the conformance anchor: the same certbot and lego
# runs (http-01 for two names, tls-alpn-01, dns-01 for a name and its
# wildcard; tests/e2e/acme.inc run_certbot, lego_http, lego_tls, lego_dns)
# pass against pebble and against hkms, with the same options; the
# certificates of each verify against that server's CA. docs/acme.md,
# "Differences from pebble", says where hkms differs on purpose.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
. "$(dirname "$0")/acme.inc"
need curl python3 certbot lego pebble
hkms_setup
cd "$T"
acme_setup web
dns_start

# pebble on its own ports, validating on the same challenge ports
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=pebble -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
	-keyout pebble.key -out pebble.pem 2>/dev/null || fail "pebble certificate"
PP=$(free_port) PM=$(free_port)
cat > pebble.json <<CONF
{"pebble": {"listenAddress": "127.0.0.1:$PP", "managementListenAddress": "127.0.0.1:$PM",
 "certificate": "$T/pebble.pem", "privateKey": "$T/pebble.key",
 "httpPort": $HTTP01, "tlsPort": $TLSALPN, "ocspResponderURL": "",
 "externalAccountBindingRequired": false}}
CONF
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 hkms_bg pebble -config pebble.json \
	-dnsserver "127.0.0.1:$DNS_PORT" > pebble.log 2>&1
PDIR=https://127.0.0.1:$PP/dir
for i in $(seq 1 100); do curl -sf --cacert pebble.pem -o /dev/null "$PDIR" && break; sleep 0.1; done
curl -sf --cacert pebble.pem -o /dev/null "$PDIR" || { cat pebble.log; fail "pebble did not start"; }

for srv in pebble hkms; do
	if [ $srv = pebble ]; then d=$PDIR b=$T/pebble.pem; else d=$DIR b=$T/service.pem; fi
	run_certbot "$d" "$b" "$T/$srv-certbot" || { tail -40 "$T/$srv-certbot.log"; fail "certbot against $srv"; }
	lego_http "$d" "$b" "$T/$srv-lego" || { tail -20 "$T/$srv-lego.log"; fail "lego http-01 against $srv"; }
	lego_tls "$d" "$b" "$T/$srv-lego" || { tail -20 "$T/$srv-lego.log"; fail "lego tls-alpn-01 against $srv"; }
	lego_dns "$d" "$b" "$T/$srv-lego" || { tail -20 "$T/$srv-lego.log"; fail "lego dns-01 against $srv"; }
	pass "certbot http-01, lego http-01, tls-alpn-01 and dns-01 against $srv"
done

# each server's certificates verify against its own CA
curl -sf --cacert pebble.pem "https://127.0.0.1:$PM/roots/0" > pebble-root.pem || fail "pebble root"
for f in pebble-certbot/etc/live/pair/cert.pem pebble-lego/certificates/tls.acme.test.crt; do
	openssl verify -CAfile pebble-root.pem -untrusted "$(dirname "$f")/$( [ "${f#*live}" != "$f" ] && echo chain.pem || echo tls.acme.test.issuer.crt)" "$f" >/dev/null ||
		fail "$f does not verify against pebble's root"
done
for f in hkms-certbot/etc/live/pair/cert.pem hkms-lego/certificates/one.acme.test.crt \
	hkms-lego/certificates/tls.acme.test.crt hkms-lego/certificates/dns.acme.test.crt; do
	check_issued web "$f"
done
pass "pebble's certificates verify against pebble, hkms's against the hkms CA (in ca issued, audited)"
