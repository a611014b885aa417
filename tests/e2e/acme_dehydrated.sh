#!/bin/bash
# ACME with dehydrated (curl + openssl, http-01 through a webroot served
# on the challenge port): register, issue for two names, renew (--force),
# revoke; each certificate verifies against the CA, is in hkms ca issued
# with the account as requester and is audited with it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
. "$(dirname "$0")/acme.inc"
need curl python3 dehydrated
hkms_setup
cd "$T"
acme_setup web
mkdir -p dh/wellknown
# the webroot dehydrated writes its tokens into, served on HTTP01
hkms_bg python3 -m http.server --bind 127.0.0.1 --directory "$T/dh" "$HTTP01" > web.log 2>&1
for i in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$HTTP01/" && break; sleep 0.1; done
mkdir -p dh/.well-known && ln -s ../wellknown dh/.well-known/acme-challenge
cat > dh/config <<CONF
CA="$DIR"
BASEDIR="$T/dh"
WELLKNOWN="$T/dh/wellknown"
CHALLENGETYPE="http-01"
KEY_ALGO="prime256v1"
CURL_OPTS="--cacert $T/service.pem"
CONTACT_EMAIL=""
CONF
dh() { dehydrated -f "$T/dh/config" "$@" >>"$T/dehydrated.log" 2>&1; }
dh --register --accept-terms || { cat dehydrated.log; fail "dehydrated register"; }
pass "dehydrated registered"
dh -c -d one.acme.test -d two.acme.test || { cat dehydrated.log; tail -20 serve.log; fail "dehydrated issue"; }
CRT=$T/dh/certs/one.acme.test/cert.pem
check_issued web "$CRT"
openssl x509 -in "$CRT" -noout -ext subjectAltName | grep -q 'DNS:two.acme.test' || fail "two names"
pass "dehydrated issued for two names with http-01"
first=$(openssl x509 -in "$CRT" -noout -serial)
dh -c --force -d one.acme.test -d two.acme.test || { cat dehydrated.log; fail "dehydrated renew"; }
[ "$(openssl x509 -in "$CRT" -noout -serial)" != "$first" ] || fail "renew kept the certificate"
check_issued web "$CRT"
pass "dehydrated renew"
serial=$(openssl x509 -in "$CRT" -noout -serial | cut -d= -f2)
dh -r "$CRT" || { cat dehydrated.log; fail "dehydrated revoke"; }
hkms --json ca issued --ca web | python3 -c 'import json,sys
s=sys.argv[1].upper().lstrip("0")
r=[x for x in json.load(sys.stdin) if x["serial"].upper().lstrip("0")==s][0]
assert r["status"]=="revoked", r' "$serial" || fail "not revoked in hkms"
pass "dehydrated revoke"
