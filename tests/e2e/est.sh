#!/bin/bash
# EST (RFC 7030) on hkms serve, with curl and openssl as the EST client:
# an operator enables EST on a CA (CLI and API) and makes one-time
# enrollment passwords; a first enrollment with HTTP Basic and a base64
# DER PKCS#10 (with and without line breaks) gets a base64 certs-only
# PKCS#7 whose certificate verifies against the CA; the password works
# once (and only once when two enrollments race with it), an expired one,
# a wrong one, another CA's and a CSR with another subject are refused;
# re-enrollment with the issued certificate (curl --cert/--key) is
# accepted and with another certificate refused; cacerts and csrattrs
# parse with openssl; every issuance is in `ca issued` and audited with
# the password's id or the client's thumbprint; metrics count them.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3 base64
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
cd "$T"

hkms ca create root --key-type ec:p256 --subject "/CN=EST Root" --out-file root.pem >/dev/null ||
	fail "ca root"
hkms ca create other --key-type ec:p256 --subject "/CN=EST Other" --out-file other.pem >/dev/null ||
	fail "ca other"
hkms est enable root --profile tls-client >/dev/null || fail "est enable"
hkms --json est status root | jget profile | grep -qx tls-client || fail "est status"
expect_fail invalid_profile hkms est enable root --profile ca
serve_start
service_ca
E=$URL/.well-known/est

# token CA SUBJECT [DAYS]: prints "id password"
token() {
	hkms --json est token create --ca "$1" --subject "$2" ${3:+--days "$3"} |
		python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["id"], o["password"])'
}
# csr NAME SUBJECT [base64 flags]: NAME.key and NAME.b64 (base64 DER PKCS#10)
csr() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc \
		-keyout "$1.key" -subj "$2" -outform DER -out "$1.der" 2>/dev/null || fail "openssl req $2"
	base64 ${3:-} "$1.der" > "$1.b64"
}
# enroll OUT CSR USER:PASS [CURL ARGS]: prints the status; body in OUT, headers in OUT.h
enroll() {
	local out=$1 c=$2 up=$3; shift 3
	curl -s --cacert service.pem --max-time 20 -u "$up" --data-binary "@$c.b64" \
		-H 'Content-Type: application/pkcs10' -D "$out.h" -o "$out" -w '%{http_code}' \
		"$@" "$E/root/simpleenroll"
}
p7certs() { base64 -d "$1" | openssl pkcs7 -inform DER -print_certs 2>/dev/null; }

# ---- first enrollment ----
read -r id1 pw1 < <(token root /CN=dev1) || fail "token create"
[ -n "$pw1" ] || fail "no password printed"
hkms --json est token list | grep -q "$pw1" && fail "the password is in the token list"
grep -rq -- "$pw1" data && fail "the password is stored in the data dir"
csr dev1 /CN=dev1
grep -q . dev1.b64 && [ "$(wc -l < dev1.b64)" -gt 1 ] || fail "the CSR has no line breaks"
st=$(enroll dev1.p7 dev1 "$id1:$pw1")
[ "$st" = 200 ] || fail "simpleenroll: $st $(cat dev1.p7)"
grep -qi '^content-type: application/pkcs7-mime' dev1.p7.h || fail "content type: $(cat dev1.p7.h)"
grep -qi '^content-transfer-encoding: base64' dev1.p7.h || fail "no Content-Transfer-Encoding"
p7certs dev1.p7 > dev1.pem
[ "$(grep -c 'BEGIN CERTIFICATE' dev1.pem)" = 1 ] || fail "the PKCS#7 does not hold one certificate"
openssl verify -CAfile root.pem -purpose sslclient dev1.pem >/dev/null || fail "enrolled certificate does not verify"
openssl x509 -in dev1.pem -noout -subject | grep -q 'CN *= *dev1' || fail "subject"
[ "$(openssl x509 -in dev1.pem -noout -pubkey | openssl sha256)" = \
  "$(openssl pkey -in dev1.key -pubout | openssl sha256)" ] || fail "not the CSR's key"
serial1=$(openssl x509 -in dev1.pem -noout -serial | cut -d= -f2)
hkms --json ca issued --ca root | grep -qi "$serial1" || fail "not in ca issued"
pass "first enrollment with a one-time password: base64 PKCS#7, verifies, in ca issued"

# the password works once
st=$(enroll again.out dev1 "$id1:$pw1")
[ "$st" = 401 ] || fail "second use: $st"
grep -qi '^www-authenticate: basic' again.out.h || fail "401 without WWW-Authenticate: Basic"
grep -q est_auth_failed again.out || fail "second use: $(cat again.out)"
hkms --json est token list | python3 -c 'import json,sys
t=[x for x in json.load(sys.stdin) if x["id"]==sys.argv[1]][0]
assert t["status"]=="used" and t["serial"].lower()==sys.argv[2].lower(), t' "$id1" "$serial1" ||
	fail "the used password does not say used with its serial"
pass "a second use of the password is refused (401, WWW-Authenticate)"

# no line breaks, no padding-tolerant decoding issues
read -r id2 pw2 < <(token root /CN=dev2)
csr dev2 /CN=dev2 -w0
st=$(enroll dev2.p7 dev2 "$id2:$pw2")
[ "$st" = 200 ] || fail "one-line base64: $st $(cat dev2.p7)"
p7certs dev2.p7 | openssl verify -CAfile root.pem >/dev/null || fail "dev2 does not verify"
pass "a base64 body without line breaks is accepted"

# refusals: wrong password, unknown CA, another CA's CA path, subject, no auth, body
read -r id3 pw3 < <(token root /CN=dev3)
csr dev3 /CN=dev3
[ "$(enroll x.out dev3 "$id3:wrong$pw3")" = 401 ] || fail "wrong password accepted"
[ "$(enroll x.out dev3 "est-000000000000:$pw3")" = 401 ] || fail "unknown id accepted"
st=$(curl -s --cacert service.pem -u "$id3:$pw3" --data-binary @dev3.b64 -H 'Content-Type: application/pkcs10' \
	-o x.out -w '%{http_code}' "$E/nosuchca/simpleenroll")
[ "$st" = 404 ] || fail "unknown CA: $st"
grep -q ca_not_found x.out || fail "unknown CA: $(cat x.out)"
st=$(curl -s --cacert service.pem -u "$id3:$pw3" --data-binary @dev3.b64 -H 'Content-Type: application/pkcs10' \
	-o x.out -w '%{http_code}' "$E/other/simpleenroll")
[ "$st" = 404 ] && grep -q est_not_enabled x.out || fail "CA without EST: $st $(cat x.out)"
csr wrongsubj /CN=somebody-else
st=$(enroll x.out wrongsubj "$id3:$pw3")
[ "$st" = 403 ] && grep -q est_subject_mismatch x.out || fail "subject mismatch: $st $(cat x.out)"
st=$(curl -s --cacert service.pem --data-binary @dev3.b64 -H 'Content-Type: application/pkcs10' \
	-D x.h -o x.out -w '%{http_code}' "$E/root/simpleenroll")
[ "$st" = 401 ] && grep -qi '^www-authenticate: basic' x.h || fail "no credentials: $st"
printf 'not base64 at all!' > junk.b64
[ "$(enroll x.out junk "$id3:$pw3")" = 400 ] || fail "junk body"
st=$(curl -s --cacert service.pem -u "$id3:$pw3" --data-binary @dev3.b64 -H 'Content-Type: application/json' \
	-o x.out -w '%{http_code}' "$E/root/simpleenroll")
[ "$st" = 415 ] || fail "wrong media type: $st"
# none of these consumed the password
[ "$(enroll dev3.p7 dev3 "$id3:$pw3")" = 200 ] || fail "the password was consumed by a refused request"
pass "wrong password, unknown id, unknown CA, CA without EST, other subject, no credentials, bad body refused"

# expired: the record's expiry moved into the past (as time passing would)
read -r id4 pw4 < <(token root /CN=dev4 1)
python3 - "data/secrets/est-tokens/$id4.json" <<'PY' || fail "cannot age the token"
import json, os, sys
p = sys.argv[1]; r = json.load(open(p)); r["expires"] = "2020-01-01T00:00:00Z"
open(p + ".t", "w").write(json.dumps(r)); os.rename(p + ".t", p)
PY
csr dev4 /CN=dev4
[ "$(enroll x.out dev4 "$id4:$pw4")" = 401 ] || fail "expired password accepted"
hkms --json est token list --ca root | grep -q '"expired"' || fail "list does not say expired"
pass "an expired password is refused"

# ---- re-enrollment ----
csr dev1b /CN=dev1
reenroll() {
	local out=$1 c=$2; shift 2
	curl -s --cacert service.pem --max-time 20 --data-binary "@$c.b64" \
		-H 'Content-Type: application/pkcs10' -o "$out" -w '%{http_code}' \
		"$@" "$E/root/simplereenroll"
}
st=$(reenroll re1.p7 dev1b --cert dev1.pem --key dev1.key)
[ "$st" = 200 ] || fail "simplereenroll with the issued certificate: $st $(cat re1.p7)"
p7certs re1.p7 > re1.pem
openssl verify -CAfile root.pem re1.pem >/dev/null || fail "re-enrolled certificate does not verify"
[ "$(openssl x509 -in re1.pem -noout -serial)" != "serial=$serial1" ] || fail "same serial"
thumb1=$(openssl x509 -in dev1.pem -outform DER | sha256sum | cut -d' ' -f1)
# another certificate of this CA (dev2) renewing dev1's subject
st=$(reenroll x.out dev1b --cert <(p7certs dev2.p7) --key dev2.key)
[ "$st" = 403 ] && grep -q est_reenroll_mismatch x.out || fail "reenroll with another certificate: $st $(cat x.out)"
# a certificate of another CA / self-signed, same subject
openssl req -x509 -new -key dev1.key -subj /CN=dev1 -days 1 -out self.pem 2>/dev/null
st=$(reenroll x.out dev1b --cert self.pem --key dev1.key)
[ "$st" = 403 ] && grep -q est_cert_refused x.out || fail "reenroll with a self-signed certificate: $st $(cat x.out)"
st=$(reenroll x.out dev1b)
[ "$st" = 401 ] || fail "reenroll without a certificate: $st"
st=$(reenroll x.out dev1b -u "$id3:$pw3")
[ "$st" = 401 ] || fail "reenroll with a password: $st"
# a revoked certificate no longer re-enrolls
hkms ca revoke --ca root --serial "$serial1" >/dev/null || fail "revoke"
st=$(reenroll x.out dev1b --cert dev1.pem --key dev1.key)
[ "$st" = 403 ] && grep -q est_cert_refused x.out || fail "reenroll with a revoked certificate: $st"
pass "re-enrollment with the issued certificate accepted; another, self-signed, revoked or none refused"

# ---- cacerts, csrattrs ----
curl -s --cacert service.pem -D ca.h -o ca.b64 "$E/root/cacerts" || fail "cacerts"
grep -qi '^content-type: application/pkcs7-mime' ca.h || fail "cacerts type"
p7certs ca.b64 > ca-chain.pem
openssl x509 -in ca-chain.pem -noout -subject | grep -q 'EST Root' || fail "cacerts subject"
cmp <(openssl x509 -in ca-chain.pem -outform DER) <(openssl x509 -in root.pem -outform DER) ||
	fail "cacerts is not the CA certificate"
st=$(curl -s --cacert service.pem -D at.h -o at.b64 -w '%{http_code}' "$E/root/csrattrs")
[ "$st" = 200 ] && grep -qi '^content-type: application/csrattrs' at.h || fail "csrattrs: $st"
base64 -d at.b64 | openssl asn1parse -inform DER | grep -q sha256 || fail "csrattrs has no digest"
[ "$(code "$E/other/cacerts")" = 404 ] || fail "cacerts of a CA without EST"
[ "$(code "$E/nosuchca/csrattrs")" = 404 ] || fail "csrattrs of no CA"
[ "$(code "$E/cacerts")" = 404 ] || fail "a default EST CA before one is set"
hkms est enable root --profile tls-client --default >/dev/null || fail "est enable --default"
curl -s --cacert service.pem "$E/cacerts" > def.b64
cmp <(p7certs def.b64 | openssl x509 -outform DER) <(openssl x509 -in root.pem -outform DER) ||
	fail "the path without a CA label is not the default CA's"
read -r idd pwd < <(token root /CN=dflt1)
csr dflt1 /CN=dflt1
st=$(curl -s --cacert service.pem -u "$idd:$pwd" --data-binary @dflt1.b64 -H 'Content-Type: application/pkcs10' \
	-o dflt1.p7 -w '%{http_code}' "$E/simpleenroll")
[ "$st" = 200 ] || fail "simpleenroll without a CA label: $st $(cat dflt1.p7)"
p7certs dflt1.p7 | openssl verify -CAfile root.pem >/dev/null || fail "dflt1 does not verify"
pass "cacerts parses with openssl pkcs7 -print_certs; csrattrs names the digest; 404 without EST; the default CA at /.well-known/est/"

# ---- concurrent use of one password: exactly one certificate ----
before=$(hkms --json ca issued --ca root | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
for round in 1 2 3; do
	read -r idc pwc < <(token root "/CN=race$round")
	csr "race$round" "/CN=race$round"
	pids=
	for k in 1 2 3 4; do
		( echo "$(enroll "race$round.$k.out" "race$round" "$idc:$pwc")" > "race$round.$k.st" ) &
		pids="$pids $!"
	done
	wait $pids
	ok=$(cat race$round.*.st | grep -c '^200$')
	no=$(cat race$round.*.st | grep -c '^401$')
	[ "$ok" = 1 ] && [ "$no" = 3 ] || fail "round $round: $(cat race$round.*.st | tr '\n' ' ')"
done
after=$(hkms --json ca issued --ca root | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ $((after - before)) = 3 ] || fail "concurrent uses issued $((after - before)) certificates for 3 passwords"
pass "four concurrent enrollments with one password: exactly one certificate (3 rounds)"

# ---- the operator's API (admin client) ----
(umask 077; printf 'cert-type = "P12"\ncert = "%s:%s"\ncacert = "%s"\nsilent\nmax-time = 20\n' \
	"$T/data/admin-client.p12" "$(cat "$T/data/admin-client.pass")" "$T/service.pem" > admin.curlrc)
api() { curl -K admin.curlrc -X "$1" -H 'Content-Type: application/json' ${3:+--data-binary "$3"} -w '\n%{http_code}' "$URL$2"; }
[ "$(api PUT /v1/cas/other/est '{"profile":"tls-client","days":30,"default":true}' | tail -1)" = 200 ] || fail "API enable"
api GET /v1/cas/root/est | sed '$d' | jget default | grep -qx false || fail "root is still the default EST CA"
cmp <(curl -s --cacert service.pem "$E/cacerts" | base64 -d | openssl pkcs7 -inform DER -print_certs 2>/dev/null |
	openssl x509 -outform DER) <(openssl x509 -in other.pem -outform DER) || fail "the default did not move to other"
api POST /v1/est/tokens '{"ca":"other","subject":"/CN=api1"}' > tok.out
[ "$(tail -1 tok.out)" = 201 ] || fail "API token create: $(cat tok.out)"
read -r ida pwa < <(sed '$d' tok.out | python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["id"], o["password"])')
csr api1 /CN=api1
st=$(curl -s --cacert service.pem -u "$ida:$pwa" --data-binary @api1.b64 -H 'Content-Type: application/pkcs10' \
	-o api1.p7 -w '%{http_code}' "$E/other/simpleenroll")
[ "$st" = 200 ] || fail "enroll on the API-enabled CA: $st"
p7certs api1.p7 | openssl verify -CAfile other.pem >/dev/null || fail "api1 does not verify"
api GET /v1/est | sed '$d' | grep -q '"other"' || fail "API status"
# a registered hkms client (the admin) enrolls with its certificate, no password
csr adm1 /CN=adm1
st=$(curl -K admin.curlrc --data-binary @adm1.b64 -H 'Content-Type: application/pkcs10' \
	-o adm1.p7 -w '%{http_code}' "$E/other/simpleenroll")
[ "$st" = 200 ] || fail "enroll with a registered client's certificate: $st $(cat adm1.p7)"
p7certs adm1.p7 | openssl verify -CAfile other.pem >/dev/null || fail "adm1 does not verify"
api GET "/v1/est/tokens?ca=other" | sed '$d' | grep -q "$ida" || fail "API token list"
[ "$(api DELETE "/v1/est/tokens/$ida" | tail -1)" = 200 ] || fail "API token delete"
[ "$(api DELETE "/v1/est/tokens/$ida" | tail -1)" = 404 ] || fail "API token delete twice"
[ "$(api DELETE /v1/cas/other/est | tail -1)" = 200 ] || fail "API disable"
[ "$(code "$E/other/cacerts")" = 404 ] || fail "disabled CA still serves EST"
anon=$(curl -s --cacert service.pem -o /dev/null -w '%{http_code}' -X PUT "$URL/v1/cas/root/est")
[ "$anon" = 401 ] || fail "API without a client certificate: $anon"
curl -K admin.curlrc "$URL/metrics" > metrics.txt
grep -q 'hkms_operations_total{op="est.enroll",result="ok"}' metrics.txt || fail "no est.enroll metric"
grep -q 'hkms_operations_total{op="est.enroll",result="error"}' metrics.txt || fail "no failed est.enroll metric"
grep -q 'route="/.well-known/est/{ca}/simpleenroll"' metrics.txt || fail "no request metric of the EST route"
n=$(sed -n 's/^hkms_est_enroll_duration_seconds_count //p' metrics.txt)
[ -n "$n" ] && [ "$n" -ge 20 ] || fail "EST latency histogram count: '$n'"
pass "API: enable, token create/list/delete, disable; metrics count enrollments by result, their latency"

# ---- audit ----
hkms --json audit show --limit 1000 > audit.json || fail "audit show"
python3 - audit.json "$id1" "$thumb1" "$id3" <<'PY' || fail "audit lines"
import json, sys
lines = json.load(open(sys.argv[1]))["lines"]
id1, thumb1, id3 = sys.argv[2:5]
sign = [l for l in lines if l["op"] == "ca.sign" and l.get("result") == "ok"]
assert any(l["actor"] == "est-token:" + id1 for l in sign), "no ca.sign by the token"
assert any(l["actor"] == "est-client:" + thumb1 for l in sign), "no ca.sign by the re-enrolling client"
enr = [l for l in lines if l["op"] == "est.enroll"]
assert any(l.get("result") == "ok" and (l.get("detail") or {}).get("token") == id1 for l in enr), "no est.enroll ok"
assert any(l.get("result") == "error" and (l.get("detail") or {}).get("token") == id3 for l in enr), "no refused est.enroll"
assert any(l["op"] == "est.reenroll" and l.get("result") == "ok" for l in lines), "no est.reenroll"
assert any(l["op"] == "est.token_create" for l in lines) and any(l["op"] == "est.enable" for l in lines)
PY
hkms audit verify >/dev/null || fail "audit verify"
pass "issuances audited as ca.sign with est-token:<id> / est-client:<sha256>; est.* lines; the log verifies"

serve_stop
[ "$SRV_RC" = 0 ] || fail "hkms serve exited $SRV_RC"
grep -q 'Sanitizer' "$T/serve.log" && fail "sanitizer report in the server log: $(grep -m3 Sanitizer "$T/serve.log")"
pass "the server stopped cleanly"
