#!/bin/bash
# ca renew [--rekey] (issue 13b), checked by openssl: a renewed root keeps
# its key, subject and lifetime and a new serial; what it issued before
# still verifies under the new certificate. A rekeyed intermediate gets a
# new token key (the old one kept), the same name constraints, is issued
# by its parent (recorded in the parent's index), and signs new
# certificates that verify; the previous certificate stays in the record.
# cert renew --rekey works after the old key is gone. Over the API too
# (POST /v1/cas/{name}/renew). store check and audit verify pass.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need jq curl
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
hkms() { "$HKMS_BIN" "$@"; }
cd "$T"
spki() { openssl x509 -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum; }
hkms ca create root --key-type ec:p256 --subject "/CN=Renew Root/O=Example" --days 400 >/dev/null || fail "root"
hkms ca create sub --key-type ec:p256 --subject /CN=Sub --parent root --permit-dns .example.com >/dev/null || fail "sub"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout m.key -subj /CN=m.example.com \
	-addext subjectAltName=DNS:m.example.com -out m.csr 2>/dev/null
hkms ca sign --ca sub --profile tls-server --csr m.csr --out-file m1.pem >/dev/null || fail "sign m1"
hkms cert export root > root1.pem; hkms cert export sub > sub1.pem
hkms --json ca renew root > r.json || fail "ca renew root: $(cat r.json)"
hkms cert export root > root2.pem
[ "$(openssl x509 -in root1.pem -noout -serial)" != "$(openssl x509 -in root2.pem -noout -serial)" ] || fail "same serial"
[ "$(spki < root1.pem)" = "$(spki < root2.pem)" ] || fail "renew without --rekey changed the key"
[ "$(openssl x509 -in root1.pem -noout -subject)" = "$(openssl x509 -in root2.pem -noout -subject)" ] || fail "subject changed"
days=$(( ($(date -d "$(openssl x509 -in root2.pem -noout -enddate | cut -d= -f2)" +%s) - $(date +%s)) / 86400 ))
[ "$days" -ge 398 ] && [ "$days" -le 400 ] || fail "lifetime $days days, not the 400 it had"
openssl verify -CAfile root2.pem -untrusted sub1.pem m1.pem >/dev/null || fail "m1 no longer verifies under the renewed root"
jq -e '.renewed.rekey == false and .renewed.previous_key == "root"' r.json >/dev/null || fail "renewed: $(jq -c .renewed r.json)"
pass "ca renew: new serial, same key, subject and lifetime; earlier certificates verify under it"

hkms --json ca renew sub --rekey > s.json || fail "ca renew --rekey: $(cat s.json)"
nk=$(jq -r .key s.json)
[ "$nk" != sub ] && hkms --json key show "$nk" >/dev/null || fail "no new key: $nk"
hkms --json key show sub >/dev/null || fail "the old key was not kept"
hkms cert export sub > sub2.pem
[ "$(spki < sub1.pem)" != "$(spki < sub2.pem)" ] || fail "--rekey kept the key"
[ "$(spki < sub2.pem)" = "$(hkms --json key show "$nk" | jq -r .public_key_pem | openssl pkey -pubin -outform DER | sha256sum)" ] ||
	fail "the new certificate is not for the new key"
openssl x509 -in sub2.pem -noout -ext nameConstraints | grep -q 'DNS:.example.com' || fail "name constraints lost"
openssl verify -CAfile root2.pem sub2.pem >/dev/null || fail "the rekeyed sub does not verify under root"
hkms --json ca issued --ca root | jq -e --arg s "$(openssl x509 -in sub2.pem -noout -serial | cut -d= -f2)" \
	'map(.serial) | index($s) != null' >/dev/null || fail "the renewed sub is not in root's issued index"
hkms ca sign --ca sub --profile tls-server --csr m.csr --out-file m2.pem >/dev/null || fail "sign after rekey"
openssl verify -CAfile root2.pem -untrusted sub2.pem m2.pem >/dev/null || fail "m2 does not verify"
hkms --json ca show sub | jq -e '.previous | length == 1' >/dev/null 2>&1 ||
	jq -e '.previous | length == 1' data/cas/sub.json >/dev/null || fail "the previous certificate is not kept"
jq -r '.previous[0].pem' data/cas/sub.json | openssl x509 -noout -fingerprint -sha256 > prev.fp
openssl x509 -in sub1.pem -noout -fingerprint -sha256 | cmp -s - prev.fp || fail "previous is not the old certificate"
openssl verify -CAfile root2.pem -untrusted <(jq -r '.previous[0].pem' data/cas/sub.json) m1.pem >/dev/null ||
	fail "m1 does not verify with the kept previous certificate"
pass "ca renew --rekey: new key (old kept), same name constraints, in the parent's index; new and old chains verify"

# cert renew --rekey after the old key is gone
hkms key generate gone --type ec:p384 >/dev/null && hkms cert self-sign gc --key gone --subject /CN=gc.example >/dev/null ||
	fail "self-sign gc"
hkms key delete gone --force >/dev/null || fail "key delete"
hkms --json cert renew gc --rekey > gc.json || fail "cert renew --rekey without the old key: $(cat gc.json)"
hkms cert export gc | openssl x509 -noout -text | grep -q 'NIST CURVE: P-384' || fail "not the old key's type"
pass "cert renew --rekey works when the old key is gone"

# the API; the external case
serve_start
service_ca
(umask 077; openssl pkcs12 -in data/admin-client.p12 -passin file:data/admin-client.pass \
	-nodes -out admin.pem 2>/dev/null) || fail "admin PKCS#12"
code=$(curl -s --cacert service.pem --cert admin.pem -o a.json -w '%{http_code}' -H 'Content-Type: application/json' \
	--data '{"days": 30}' "$URL/v1/cas/sub/renew")
[ "$code" = 200 ] && jq -e '.renewed.rekey == false' a.json >/dev/null || fail "API renew: $code $(cat a.json)"
hkms cert export sub | openssl x509 -noout -checkend $((31 * 86400)) >/dev/null && fail "days 30 not applied"
serve_stop
hkms ca create ext --key-type ec:p256 --subject /CN=Ext --external >/dev/null || fail "ca create --external"
out=$(hkms ca renew ext 2>&1) && fail "renewed a pending external CA"
hkms store check >/dev/null || fail "store check after renewals"
hkms audit verify >/dev/null || fail "audit verify after renewals"
[ "$(jq -r 'select(.op == "ca.renew" and .result == "ok") | .object' data/audit.log | tr '\n' ' ')" = "root sub sub " ] ||
	fail "renewals not audited: $(jq -c 'select(.op == "ca.renew")' data/audit.log)"
pass "POST /v1/cas/{name}/renew; store check and audit verify pass; every renewal audited"
