#!/bin/bash
# Profiles as objects and per-request extension switches (issue 13b):
# profile list shows the built-ins with their extensions; create checks
# strictly and refuses built-in and taken names; a certificate under the
# new profile has its extensions (openssl x509 -text); a profile granted
# to a client is in use (delete names the client, force deletes); the
# switches of ca sign and cert self-sign (basic constraints, AKI, key
# usage, EKU) change what openssl sees, only within the profile; the same
# over the API (POST/DELETE /v1/profiles, sign body fields).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need jq curl
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
hkms() { "$HKMS_BIN" "$@"; }
cd "$T"
[ -d data/profiles ] || fail "init made no profiles/"
hkms --json profile list > list.json || fail "profile list"
jq -e 'map(select(.builtin)) | length == 7' list.json >/dev/null || fail "not 7 built-ins: $(cat list.json)"
jq -e '.[] | select(.name == "tls-server") | .key_usage == ["digitalSignature","keyEncipherment"] and
	.extended_key_usage == ["serverAuth"] and .basic_constraints.ca == false and .aki' list.json >/dev/null ||
	fail "tls-server shown without its extensions: $(jq -c '.[0]' list.json)"
hkms profile list | grep -E '^tls-client  .*digitalSignature  *clientAuth' >/dev/null || fail "table: $(hkms profile list)"

# create from what show gives, changed
hkms --json profile show tls-client | jq '.profile | .description = "short client" | .default_days = 30 |
	.max_days = 90 | .key_usage = ["digitalSignature"]' > short.json
hkms --json profile create short --file short.json > c.json || fail "profile create: $(cat c.json)"
jq -e '.name == "short" and .builtin == false and .max_days == 90' c.json >/dev/null || fail "create: $(cat c.json)"
[ -f data/profiles/short.json ] || fail "no profiles/short.json"
out=$(hkms profile create short --file short.json 2>&1) && fail "created twice"
echo "$out" | jq -e '.error.code == "profile_exists"' >/dev/null || fail "twice: $out"
out=$(hkms profile create tls-server --file short.json 2>&1) && fail "replaced a built-in"
echo "$out" | jq -e '.error.code == "profile_exists"' >/dev/null || fail "built-in: $out"
jq '.key_usage = ["digitalSignature", "bogusUsage"]' short.json > bad.json
out=$(hkms profile create bad --file bad.json 2>&1) && fail "a bad profile was stored"
echo "$out" | jq -e '.error.code == "invalid_profile" and (.error.message | test("bogusUsage"))' >/dev/null || fail "bad: $out"
[ -e data/profiles/bad.json ] && fail "a refused profile was written"
hkms ca create ica --key-type ec:p256 --subject /CN=ICA >/dev/null || fail "ca create"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout m.key -subj /CN=m.example \
	-out m.csr 2>/dev/null
hkms ca sign --ca ica --profile short --csr m.csr --out-file m.pem >/dev/null || fail "sign under short"
openssl x509 -in m.pem -noout -text > m.txt
grep -A1 'X509v3 Extended Key Usage' m.txt | grep -q 'TLS Web Client Authentication' || fail "EKU of short: $(cat m.txt)"
grep -A1 'X509v3 Key Usage' m.txt | grep -qx ' *Digital Signature' || fail "KU of short"
out=$(hkms ca sign --ca ica --profile short --csr m.csr --days 200 2>&1) && fail "signed past max_days"
echo "$out" | jq -e '.error.code == "lifetime_exceeds_profile"' >/dev/null || fail "max_days: $out"
pass "profile list shows extensions; create is strict; a certificate under it has its extensions"

# in use: granted to a client
hkms client generate bot --ca ica --clearance user --allow-ca ica:short --out-file bot.p12 \
	--passphrase-file data/admin-client.pass >/dev/null || fail "client generate"
out=$(hkms profile delete short 2>&1) && fail "deleted a profile a client is granted"
echo "$out" | jq -e '.error.code == "in_use" and (.error.message | test("client:bot"))' >/dev/null || fail "in use: $out"
out=$(hkms profile delete tls-server 2>&1) && fail "deleted a built-in"
hkms --json profile delete short --force | jq -e '.deleted and .used_by == ["client:bot"]' >/dev/null || fail "force"
[ -e data/profiles/short.json ] && fail "short.json still there"
pass "a profile granted to a client is in use; delete names it; force deletes; built-ins stay"

# extension switches, seen by openssl
hkms cert self-sign sw1 --new-key ec:p256 --subject /CN=sw1.example --basic-constraints off --aki off \
	--key-usage digitalSignature --extended-key-usage none --out-file sw1.pem >/dev/null || fail "self-sign switches"
openssl x509 -in sw1.pem -noout -text > sw1.txt
grep -q 'X509v3 Basic Constraints' sw1.txt && fail "basic constraints still there"
grep -q 'X509v3 Authority Key Identifier' sw1.txt && fail "AKI still there"
grep -q 'X509v3 Extended Key Usage' sw1.txt && fail "EKU still there"
grep -A1 'X509v3 Key Usage' sw1.txt | grep -qx ' *Digital Signature' || fail "KU not narrowed: $(cat sw1.txt)"
grep -q 'X509v3 Subject Key Identifier' sw1.txt || fail "SKI went too"
hkms ca sign --ca ica --profile tls-server-client --csr m.csr --extended-key-usage clientAuth --aki on \
	--out-file m2.pem >/dev/null || fail "sign with switches"
openssl x509 -in m2.pem -noout -text > m2.txt
grep -A1 'X509v3 Extended Key Usage' m2.txt | grep -q 'TLS Web Client Authentication' || fail "EKU m2"
grep -A1 'X509v3 Extended Key Usage' m2.txt | grep -q 'Server Authentication' && fail "serverAuth not removed"
grep -q 'X509v3 Authority Key Identifier' m2.txt || fail "AKI on dropped it"
grep -q 'CA:FALSE' m2.txt || fail "basic constraints of m2"
openssl verify -CAfile <(hkms cert export ica) m2.pem >/dev/null || fail "m2 does not verify"
for bad in "--extended-key-usage codeSigning" "--key-usage keyCertSign" "--key-usage digitalSignature,keyAgreement"; do
	# shellcheck disable=SC2086
	out=$(hkms ca sign --ca ica --profile tls-server --csr m.csr $bad 2>&1) && fail "$bad: signed"
	echo "$out" | jq -e '.error.code == "extension_not_allowed"' >/dev/null || fail "$bad: $out"
done
out=$(hkms ca create sub --key-type ec:p256 --subject /CN=Sub --parent ica 2>&1) || fail "sub: $out"
jq -e 'select(.op == "ca.sign") | .detail.extensions | select(. != null) | .extended_key_usage == ["clientAuth"]' \
	data/audit.log | grep -q true || fail "the switches are not in the audit line"
pass "switches omit basic constraints, AKI, EKU and narrow KU/EKU as openssl sees; outside the profile refused; audited"

# the API
serve_start
service_ca
(umask 077; openssl pkcs12 -in data/admin-client.p12 -passin file:data/admin-client.pass \
	-nodes -out admin.pem 2>/dev/null) || fail "admin PKCS#12"
api() { curl -s --cacert "$T/service.pem" --cert admin.pem --max-time 10 -H 'Content-Type: application/json' "$@"; }
jq -n --slurpfile p short.json '{name: "short2", profile: $p[0]}' > body.json
code=$(api -o r1.json -w '%{http_code}' --data @body.json "$URL/v1/profiles")
[ "$code" = 201 ] && jq -e '.name == "short2"' r1.json >/dev/null || fail "POST /v1/profiles: $code $(cat r1.json)"
jq -n --rawfile csr m.csr '{csr: $csr, profile: "short2", basic_constraints: false, key_usage: [],
	extended_key_usage: ["clientAuth"]}' > sign.json
code=$(api -o r2.json -w '%{http_code}' --data @sign.json "$URL/v1/cas/ica/sign")
[ "$code" = 201 ] || fail "sign with switches over the API: $code $(cat r2.json)"
jq -r .pem r2.json | openssl x509 -noout -text > r2.txt
grep -q 'X509v3 Basic Constraints' r2.txt && fail "API: basic constraints still there"
grep -q 'X509v3 Key Usage' r2.txt && fail "API: key usage still there"
grep -A1 'X509v3 Extended Key Usage' r2.txt | grep -q 'Client Authentication' || fail "API: EKU"
code=$(api -o r3.json -w '%{http_code}' -X DELETE "$URL/v1/profiles/short2")
[ "$code" = 200 ] && jq -e '.deleted' r3.json >/dev/null || fail "DELETE /v1/profiles/short2: $code $(cat r3.json)"
code=$(api -o r4.json -w '%{http_code}' -X DELETE "$URL/v1/profiles/tls-server")
[ "$code" = 400 ] || fail "DELETE a built-in: $code $(cat r4.json)"
serve_stop
pass "POST/DELETE /v1/profiles and the sign body's switches over the API"
