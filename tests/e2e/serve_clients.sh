#!/bin/bash
# Clients and clearance over HTTPS: init's admin client manages clients
# (generate over the API, PKCS#12 once); a user client signs a CSR with the
# CA it is granted (the result verifies) and gets 403 on another CA, on
# key generation and on client management, but reads its own
# registration; an operator cannot add clients; no certificate is 401; a
# registration changed, deleted or revoked with the CLI is seen by the
# running server at the next request; refusals are audited with the
# thumbprint.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
cd "$T"

hkms ca create root --key-type ec:p256 --subject "/CN=Serve Root" --out-file root.pem >/dev/null ||
	fail "ca root"
hkms ca create other --key-type ec:p256 --subject "/CN=Serve Other" >/dev/null || fail "ca other"
serve_start
service_ca

# curlrc NAME P12 PASSFILE: a 0600 curl config presenting that client
# (the passphrase never on a command line)
curlrc() {
	(umask 077; printf 'cert-type = "P12"\ncert = "%s:%s"\ncacert = "%s"\nsilent\nmax-time = 20\n' \
		"$2" "$(cat "$3")" "$T/service.pem" > "$T/$1.curlrc")
}
# call NAME METHOD PATH [BODY]: prints the body, then the status on the last line
call() {
	local who=$1 m=$2 p=$3 b=${4:-}
	if [ -n "$b" ]; then
		curl -K "$T/$who.curlrc" -X "$m" -H 'Content-Type: application/json' \
			--data-binary "$b" -w '\n%{http_code}' "$URL$p"
	else
		curl -K "$T/$who.curlrc" -X "$m" -w '\n%{http_code}' "$URL$p"
	fi
}
status() { call "$@" | tail -1; }
ecode() { call "$@" | sed '$d' | python3 -c 'import json,sys; print(json.load(sys.stdin)["error"]["code"])'; }

curlrc admin "$T/data/admin-client.p12" "$T/data/admin-client.pass"
printf 'none\n' > none.pass
(umask 077; printf 'cacert = "%s"\nsilent\nmax-time = 20\n' "$T/service.pem" > "$T/anon.curlrc")

[ "$(status anon GET /v1/clients)" = 401 ] || fail "no certificate: not 401"
[ "$(ecode anon GET /v1/clients)" = client_certificate_required ] || fail "no certificate: code"
[ "$(status admin GET /v1/clients)" = 200 ] || fail "admin GET /v1/clients: $(call admin GET /v1/clients)"
pass "no certificate 401; init's admin client lists clients"

# the admin generates a user client over the API; the PKCS#12 comes once
call admin POST /v1/clients/generate '{"name":"u1","clearance":"user","ca":"root",
	"passphrase":"user one passphrase","permissions":[{"ca":"root","profiles":["tls-server"]}]}' > gen.out
[ "$(tail -1 gen.out)" = 201 ] || fail "generate: $(cat gen.out)"
sed '$d' gen.out | python3 -c 'import json,sys,base64
o=json.load(sys.stdin); open("u1.p12","wb").write(base64.b64decode(o["p12_base64"]))
assert o["registration"]["name"] == "u1" and o["registration"]["clearance"] == "user"'
printf 'user one passphrase' > u1.pass; chmod 600 u1.pass
openssl pkcs12 -in u1.p12 -passin file:u1.pass -clcerts -nokeys -out u1.pem 2>/dev/null ||
	fail "the API's PKCS#12 does not open with its passphrase"
openssl verify -CAfile root.pem -purpose sslclient u1.pem >/dev/null || fail "u1 is not a client of root"
curlrc u1 "$T/u1.p12" "$T/u1.pass"
u1thumb=$(openssl x509 -in u1.pem -outform DER | sha256sum | cut -d' ' -f1)
pass "POST /v1/clients/generate: registration and a PKCS#12 that opens and verifies"

# the user signs with its CA and profile; the result verifies
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout web.key \
	-subj /CN=www.example.com -out web.csr 2>/dev/null
body=$(python3 -c 'import json,sys; print(json.dumps({"csr": open("web.csr").read(),
	"profile": "tls-server", "san": ["DNS:www.example.com"]}))')
call u1 POST /v1/cas/root/sign "$body" > sign.out
case "$(tail -1 sign.out)" in 200|201) ;; *) fail "user sign: $(cat sign.out)" ;; esac
sed '$d' sign.out | python3 -c 'import json,sys; print(json.load(sys.stdin)["pem"])' > web-chain.pem
openssl verify -CAfile root.pem web-chain.pem >/dev/null || fail "the signed certificate does not verify"
[ "$(ecode u1 POST /v1/cas/other/sign "$body")" = ca_not_granted ] || fail "user signed with another CA"
body2=$(python3 -c 'import json,sys; print(json.dumps({"csr": open("web.csr").read(),
	"profile": "tls-client"}))')
[ "$(ecode u1 POST /v1/cas/root/sign "$body2")" = profile_not_granted ] || fail "user used a profile not granted"
[ "$(status u1 POST /v1/keys '{"name":"k1","type":"ec:p256"}')" = 403 ] || fail "user generated a key"
[ "$(status u1 GET /v1/clients)" = 403 ] || fail "user listed clients"
[ "$(status u1 GET /v1/clients/u1)" = 200 ] || fail "user cannot read its own registration"
[ "$(status u1 GET /v1/clients/admin)" = 403 ] || fail "user read another registration"
pass "user: signs with its CA and profile (verifies), 403 on another CA, profile, keys, clients; reads itself"

# an operator cannot add clients; an admin can
hkms client generate op1 --ca root --clearance operator --out-file op1.p12 --passphrase-file u1.pass \
	>/dev/null 2>op1.err || fail "generate op1: $(cat op1.err)"
curlrc op1 "$T/op1.p12" "$T/u1.pass"
cert=$(python3 -c 'import json; print(json.dumps(open("root.pem").read()))')
[ "$(status op1 GET /v1/keys)" = 200 ] || fail "operator cannot list keys"
[ "$(status op1 POST /v1/clients "{\"name\":\"x\",\"clearance\":\"user\",\"certificate\":$cert}")" = 403 ] ||
	fail "operator added a client"
openssl pkcs12 -in op1.p12 -passin file:u1.pass -clcerts -nokeys -out op1.pem 2>/dev/null
hkms client delete op1 >/dev/null
pem=$(python3 -c 'import json; print(json.dumps(open("op1.pem").read()))')
call admin POST /v1/clients "{\"name\":\"op2\",\"clearance\":\"operator\",\"certificate\":$pem}" > add.out; [ "$(tail -1 add.out)" = 201 ] ||
	fail "admin could not add a client: $(cat add.out)"
pass "operator: keys yes, clients no; admin adds a client by certificate"

# changes made with the CLI are seen by the running server
hkms client edit u1 --clearance operator >/dev/null || fail "edit u1"
[ "$(status u1 GET /v1/keys)" = 200 ] || fail "the edit was not seen by the server"
hkms client delete u1 >/dev/null || fail "delete u1"
[ "$(ecode u1 GET /v1/clients/u1)" = client_unknown ] || fail "a deleted client still authenticates"
serial=$(openssl x509 -in op1.pem -noout -serial | cut -d= -f2)
hkms ca revoke --ca root --serial "$serial" >/dev/null || fail "revoke op1"
[ "$(ecode op1 GET /v1/keys)" = client_cert_revoked ] || fail "a revoked client certificate still authenticates"
pass "edit, delete and revocation made with the CLI are seen at the next request"

grep '"op":"client.auth"' data/audit.log | grep -q "$u1thumb" || fail "the refusal of u1 is not audited"
grep '"op":"client.generate"' data/audit.log | grep -q '"actor":"client:' ||
	fail "the API's generate is not audited with the client's thumbprint"
serve_stop
hkms audit verify >/dev/null || fail "audit verify"
pass "refusals audited with the thumbprint, API changes with the client as actor; audit verifies"
