#!/bin/bash
# Revocation in a running server (issue 14a): with [crl] resign_before,
# `hkms serve` re-signs a CRL that is about to expire (the next number, a
# new nextUpdate, published, audited as ca.crl) and leaves a fresh one
# alone; the API shows a revoked certificate as revoked
# (GET /v1/certificates/{name}) and verifies with revocation
# (POST /v1/truststore/verify); /v1/truststore/crls imports, lists and
# deletes CRLs; a client certificate revoked with the CLI is refused at the
# next request, without a restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
cd "$T"

hkms ca create short --key-type ec:p256 --subject "/CN=Short CRL CA" --out-file short.pem \
	>/dev/null || fail "ca short"
hkms ca create long --key-type ec:p256 --subject "/CN=Long CRL CA" --out-file long.pem \
	>/dev/null || fail "ca long"
hkms ca create quiet --key-type ec:p256 --subject "/CN=No CRL CA" >/dev/null || fail "ca quiet"
hkms ca crl --ca short --days 1 >/dev/null || fail "crl short"
hkms ca crl --ca long --days 30 >/dev/null || fail "crl long"
crlnum() { openssl crl -in "data/crl/$1.crl.pem" -noout -crlnumber | cut -d= -f2; }
[ "$(crlnum short)" = 0x01 ] && [ "$(crlnum long)" = 0x01 ] || fail "first CRL numbers"
for bad in "resign_before = 2x" "resign_before = -1d" "check_interval = 0" "resign_days = 4000"; do
	{ cat "$HKMS_CONFIG"; printf '\n[crl]\n%s\n' "$bad"; } > bad.conf
	HKMS_CONFIG=$T/bad.conf expect_fail config_bad_value hkms ca list
done
printf '\n[crl]\nresign_before = 2d\ncheck_interval = 1s\n' >> "$HKMS_CONFIG"
serve_start
service_ca

curlrc() {
	(umask 077; printf 'cert-type = "P12"\ncert = "%s:%s"\ncacert = "%s"\nsilent\nmax-time = 20\n' \
		"$2" "$(cat "$3")" "$T/service.pem" > "$T/$1.curlrc")
}
call() {	# call NAME METHOD PATH [BODY]: body, then the status on the last line
	local who=$1 m=$2 p=$3 b=${4:-}
	if [ -n "$b" ]; then
		curl -K "$T/$who.curlrc" -X "$m" -H 'Content-Type: application/json' \
			--data-binary "$b" -w '\n%{http_code}' "$URL$p"
	else
		curl -K "$T/$who.curlrc" -X "$m" -w '\n%{http_code}' "$URL$p"
	fi
}
ecode() { call "$@" | sed '$d' | python3 -c 'import json,sys; print(json.load(sys.stdin)["error"]["code"])'; }
curlrc admin "$T/data/admin-client.p12" "$T/data/admin-client.pass"

# the timer: short (1 day left, below 2d) is re-signed, long is not
for i in $(seq 1 100); do [ "$(crlnum short)" = 0x02 ] && break; sleep 0.1; done
[ "$(crlnum short)" = 0x02 ] || fail "the server did not re-sign the short CRL: $(tail -5 serve.log)"
openssl crl -in data/crl/short.crl.pem -noout -CAfile short.pem 2>&1 | grep -q "verify OK" ||
	fail "re-signed CRL does not verify"
# its lifetime: that of the old CRL (1 day), raised to resign_before + 1
# day (3 days), or it would be due again at once
python3 - <<'PY' || fail "re-signed CRL: lifetime not 3 days"
import subprocess, datetime
t = subprocess.run(["openssl", "crl", "-in", "data/crl/short.crl.pem", "-noout", "-lastupdate",
    "-nextupdate"], capture_output=True, text=True).stdout.splitlines()
f = lambda s: datetime.datetime.strptime(s.split("=", 1)[1], "%b %d %H:%M:%S %Y GMT")
assert (f(t[1]) - f(t[0])).total_seconds() == 3 * 86400, t
PY
sleep 2	# two more timer rounds: a fresh CRL is left alone
[ "$(crlnum short)" = 0x02 ] || fail "the fresh CRL was re-signed again"
[ "$(crlnum long)" = 0x01 ] || fail "the 30-day CRL was re-signed"
[ ! -e data/crl/quiet.crl ] || fail "a CA without a CRL got one"
grep '"op":"ca.crl"' data/audit.log | grep '"object":"short"' | grep -q '"actor":"serve"' ||
	fail "the re-signing is not audited"
pass "the server re-signs the CRL that expires within resign_before, once; audited"

# a revoked certificate through the API
hkms csr create web --new-key ec:p256 --subject /CN=web.example.com --san DNS:web.example.com \
	--out-file web.csr >/dev/null || fail "csr"
hkms --json ca sign --ca long --profile tls-server --csr web.csr --out-file web.chain.pem \
	> web.json || fail "sign"
hkms cert import web --file web.chain.pem >/dev/null || fail "cert import"
hkms trust import long --file long.pem >/dev/null || fail "trust import"
hkms ca revoke --ca long --serial "$(jget serial < web.json)" --reason superseded >/dev/null ||
	fail "revoke"
call admin GET /v1/certificates/web | sed '$d' | python3 -c 'import json,sys; o=json.load(sys.stdin)
assert o["status"] == "revoked" and o["reason"] == "superseded" and o["revoked_by"] == "long", o' ||
	fail "GET /v1/certificates/web is not revoked"
chain=$(python3 -c 'import json; print(json.dumps(open("web.chain.pem").read()))')
call admin POST /v1/truststore/verify "{\"chain\":$chain}" > v.out
[ "$(tail -1 v.out)" = 422 ] || fail "API verify of a revoked chain: $(cat v.out)"
sed '$d' v.out | python3 -c 'import json,sys; o=json.load(sys.stdin)
assert o["error"]["code"] == "certificate_revoked", o
assert o["verdict"]["error"]["revocation"]["ca"] == "long", o' || fail "API verdict: $(cat v.out)"
call admin POST /v1/truststore/verify "{\"chain\":$chain,\"revocation\":\"off\"}" | tail -1 |
	grep -qx 200 || fail "API verify revocation off"
pass "API: the certificate shows revoked; verify refuses it (422 certificate_revoked), off holds"

# /v1/truststore/crls: an outside CA's CRL (made with openssl)
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout o.key \
	-subj "/CN=Outside" -days 30 -addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" -out o.pem 2>/dev/null || fail "outside CA"
hkms trust import outside --file o.pem >/dev/null || fail "trust import outside"
mkdir -p oca/newcerts; : > oca/index.txt; echo 01 > oca/crlnumber
printf '[ca]\ndefault_ca=c\n[c]\ndatabase=%s/oca/index.txt\ncrlnumber=%s/oca/crlnumber\ndefault_md=sha256\ndefault_crl_days=7\n' \
	"$T" "$T" > oca/ca.cnf
openssl ca -batch -config oca/ca.cnf -gencrl -keyfile o.key -cert o.pem -out o.crl 2>/dev/null ||
	fail "gencrl"
crl=$(python3 -c 'import json; print(json.dumps(open("o.crl").read()))')
call admin POST /v1/truststore/crls "{\"crl\":$crl}" > imp.out
[ "$(tail -1 imp.out)" = 201 ] || fail "POST /v1/truststore/crls: $(cat imp.out)"
id=$(sed '$d' imp.out | jget id)
call admin GET /v1/truststore/crls | sed '$d' | python3 -c 'import json,sys,os
l = json.load(sys.stdin); assert [c["id"] for c in l] == [sys.argv[1]] and l[0]["status"] == "current", l' \
	"$id" || fail "GET /v1/truststore/crls"
[ "$(ecode admin POST /v1/truststore/crls '{"crl":"bm90IGEgY3Js"}')" = bad_crl ] || fail "bad_crl over the API"
call admin DELETE "/v1/truststore/crls/$id" | tail -1 | grep -qx 200 || fail "DELETE crl"
[ "$(ecode admin DELETE "/v1/truststore/crls/$id")" = not_found ] || fail "DELETE again"
pass "/v1/truststore/crls: import (201), list, bad_crl, delete, not_found"

# a client certificate revoked with the CLI: refused at the next request
hkms client generate op1 --ca long --clearance operator --out-file op1.p12 \
	--passphrase-file data/admin-client.pass >/dev/null || fail "client op1"
curlrc op1 "$T/op1.p12" "$T/data/admin-client.pass"
call op1 GET /v1/keys | tail -1 | grep -qx 200 || fail "op1 not admitted"
openssl pkcs12 -in op1.p12 -passin file:data/admin-client.pass -clcerts -nokeys -out op1.pem \
	2>/dev/null || fail "op1 p12"
hkms ca revoke --ca long --serial "$(openssl x509 -in op1.pem -noout -serial | cut -d= -f2)" \
	>/dev/null || fail "revoke op1"
[ "$(ecode op1 GET /v1/keys)" = client_cert_revoked ] || fail "a revoked client still authenticates"
pass "a client certificate revoked with the CLI is refused by the running server"
serve_stop
hkms audit verify >/dev/null || fail "audit verify"
