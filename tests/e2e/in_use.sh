#!/bin/bash
# In use means in use (issue 13b): computed, so right after any process
# changes things. The service certificate, a certificate whose thumbprint
# the config names as an admin, and one a registered client presents are
# in use: show and list say who, delete and rename are refused naming the
# user, force deletes. ca delete is refused while the CA has unexpired,
# unrevoked issued certificates (and child CAs), allowed once they are
# revoked, or with force; over the CLI and DELETE /v1/cas/{name}.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need jq curl
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
hkms() { "$HKMS_BIN" "$@"; }
cd "$T"
hkms key generate k --type ec:p256 >/dev/null || fail "key generate"
hkms cert self-sign hkms-service --key k --subject /CN=svc.example >/dev/null || fail "self-sign service"
hkms cert self-sign plain --key k --subject /CN=plain.example >/dev/null || fail "self-sign plain"
[ "$(hkms --json cert show hkms-service | jq -c '[.in_use, .used_by]')" = '[true,["service"]]' ] ||
	fail "the service certificate is not in use by the service: $(hkms --json cert show hkms-service)"
[ "$(hkms --json cert show plain | jq -c '[.in_use, .used_by]')" = '[false,[]]' ] || fail "plain is in use"
hkms cert list | grep -E '^hkms-service .* service *$' >/dev/null || fail "cert list has no USED_BY service: $(hkms cert list)"
out=$(hkms cert delete hkms-service 2>&1) && fail "deleted the service certificate without force"
echo "$out" | jq -e '.error.code == "in_use" and (.error.message | test("used by service"))' >/dev/null ||
	fail "refusal does not name the service: $out"
out=$(hkms cert rename hkms-service other 2>&1) && fail "renamed the service certificate"
echo "$out" | jq -e '.error.code == "in_use"' >/dev/null || fail "rename: $out"

# config: plain's thumbprint as an admin, written by another process (sed)
tp=$(hkms --json cert show plain | jq -r .thumbprint)
[ "$tp" = "sha256:$(hkms cert export plain | openssl x509 -outform DER | sha256sum | cut -d' ' -f1)" ] ||
	fail "thumbprint is not the SHA-256 of the DER"
sed -i "s/^\[server\]$/[server]\nadmin_thumbprints = $tp/" "$HKMS_CONFIG"
hkms --json cert show plain | jq -e '.used_by == ["config:server.admin_thumbprints"]' >/dev/null ||
	fail "config reference not seen: $(hkms --json cert show plain | jq -c .used_by)"
out=$(hkms cert delete plain 2>&1) && fail "deleted a certificate the config names"
echo "$out" | grep -q 'config:server.admin_thumbprints' || fail "refusal does not name the config: $out"
sed -i "/^admin_thumbprints = /d" "$HKMS_CONFIG"
hkms --json cert show plain | jq -e '.in_use == false' >/dev/null || fail "still in use after the config changed"
hkms cert delete plain >/dev/null || fail "delete once nothing uses it"
hkms --json cert delete hkms-service --force >/dev/null || fail "force did not delete"
hkms cert show hkms-service 2>/dev/null && fail "force left it"
jq -e 'select(.op == "cert.delete" and .object == "hkms-service" and .detail.force) | .detail.used_by == ["service"]' \
	"$T/data/audit.log" | grep -q true || fail "the forced delete's audit line names no user"
pass "service and config references are in use; show/list name them; delete/rename refused, force deletes (audited)"

# ---- ca delete -------------------------------------------------------
hkms ca create root --key-type ec:p256 --subject /CN=Root >/dev/null || fail "ca create root"
hkms ca create sub --key-type ec:p256 --subject /CN=Sub --parent root >/dev/null || fail "ca create sub"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout m.key -subj /CN=m.example \
	-out m.csr 2>/dev/null
hkms --json ca sign --ca sub --profile tls-server --csr m.csr --out-file m.pem > m.json || fail "ca sign"
hkms cert export root > root.pem; hkms cert export sub > sub.pem
openssl verify -CAfile root.pem -untrusted sub.pem m.pem >/dev/null || fail "m.pem does not verify"
out=$(hkms ca delete root 2>&1) && fail "deleted a CA with a child CA"
echo "$out" | jq -e '.error.code == "in_use" and (.error.message | test("ca:sub"))' >/dev/null || fail "root: $out"
out=$(hkms ca delete sub 2>&1) && fail "deleted a CA with a live issued certificate"
echo "$out" | jq -e '.error.message | test("issued:1 unexpired, unrevoked")' >/dev/null || fail "sub: $out"
hkms ca revoke --ca sub --serial "$(jq -r .serial m.json)" --reason superseded >/dev/null || fail "revoke"
hkms --json ca delete sub > del.json || fail "ca delete after the revocation: $(cat del.json)"
jq -e '.deleted == true and .key_kept == "sub" and .used_by == []' del.json >/dev/null || fail "delete result: $(cat del.json)"
hkms ca show sub 2>/dev/null && fail "sub still there"
hkms --json key show sub | jq -e '.used_by == []' >/dev/null || fail "the kept key is still used: $(hkms --json key show sub)"
hkms --json ca issued --ca sub >/dev/null 2>&1 || true
[ -n "$(ls "$T/data/revoked/sub")" ] || fail "the revocation records went with the CA"
hkms --json ca delete root --force | jq -e '.deleted' >/dev/null || fail "force: root"
hkms store check >/dev/null || fail "store check after ca delete"
hkms audit verify >/dev/null || fail "audit verify after ca delete"
[ "$(jq -r 'select(.op == "ca.delete" and .result == "ok") | .object' "$T/data/audit.log" | sort | tr '\n' ' ')" = "root sub " ] || fail "ca delete not audited"
pass "ca delete: refused naming the child CA and the live certificate, allowed after revocation and with force; revocations and the key stay"

# ---- over the API: DELETE /v1/cas/{name} (admin) --------------------
serve_start
service_ca
(umask 077; openssl pkcs12 -in data/admin-client.p12 -passin file:data/admin-client.pass \
	-nodes -out admin.pem 2>/dev/null) || fail "admin PKCS#12"
admin_curl() { curl -s --cacert "$T/service.pem" --cert admin.pem --max-time 10 "$@"; }
hkms ca create api-ca --key-type ec:p256 --subject /CN=Api >/dev/null || fail "ca create api-ca"
hkms ca sign --ca api-ca --profile tls-server --csr m.csr --out-file m2.pem >/dev/null || fail "sign api-ca"
code=$(admin_curl -o resp.json -w '%{http_code}' -X DELETE "$URL/v1/cas/api-ca")
[ "$code" = 409 ] && jq -e '.error.code == "in_use"' resp.json >/dev/null || fail "API delete in use: $code $(cat resp.json)"
code=$(admin_curl -o resp.json -w '%{http_code}' -X DELETE "$URL/v1/cas/api-ca?force=true")
[ "$code" = 200 ] && jq -e '.deleted == true' resp.json >/dev/null || fail "API force delete: $code $(cat resp.json)"
serve_stop
pass "DELETE /v1/cas/{name}: 409 in_use, then 200 with force"
