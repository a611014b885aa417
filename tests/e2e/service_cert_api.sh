#!/bin/bash
# The appliance's own certificate over the API (issue 13 items 1 and 2),
# as init's admin client: GET /v1/service/certificate; POST .../csr with
# the defaults and with fields; an openssl CA signs it (x509 -req
# -copy_extensions copyall); .../apply with what_if leaves s_client's
# certificate alone; apply answers once the next connection gets the new
# certificate (no wait, no restart) and it verifies against the CA; wrong
# CA, expired, another key, no serverAuth are 422 with the check's code
# and nothing changes; .../self-signed brings the old self-signed one back
# (same serial), rekey serves a new public key; status / trust; restore
# via /v1/certificates/hkms-service/restore; an operator gets 403 on every
# service route.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
cd "$T"
printf '\n[server]\nhostname = appliance.example.test\n' >> "$HKMS_CONFIG"
serve_start

# the service certificate changes under the test: curl does not verify
# it (s_client checks what is served, against the CA where it matters)
curlrc() {
	(umask 077; printf 'cert-type = "P12"\ncert = "%s:%s"\ninsecure\nsilent\nmax-time = 30\n' \
		"$2" "$(cat "$3")" > "$T/$1.curlrc")
}
call() {	# WHO METHOD PATH [BODY]: the body, then the status on the last line
	local who=$1 m=$2 p=$3 b=${4:-}
	if [ -n "$b" ]; then
		curl -K "$T/$who.curlrc" -X "$m" -H 'Content-Type: application/json' \
			--data-binary "$b" -w '\n%{http_code}' "$URL$p"
	else
		curl -K "$T/$who.curlrc" -X "$m" -w '\n%{http_code}' "$URL$p"
	fi
}
body() { sed '$d' "$1"; }
st() { tail -1 "$1"; }
field() { body "$1" | jget "$2"; }
ecode() { body "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["error"]["code"])'; }
served() {
	openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//'
}
served_pub() {
	openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
		openssl x509 -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64
}
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//'; }
json_str() { python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1"; }
b64() { base64 -w0 "$1"; }

curlrc admin "$T/data/admin-client.p12" "$T/data/admin-client.pass"

# ---- fresh start ----
call admin GET /v1/service/certificate > get.out
[ "$(st get.out)" = 200 ] || fail "GET /v1/service/certificate: $(cat get.out)"
field get.out pem > s1.pem
[ "$(field get.out self_signed)" = true ] || fail "not self-signed at first start"
[ "$(served)" = "$(fp s1.pem)" ] || fail "GET is not what the server presents"
S1_SERIAL=$(field get.out serial)
pass "GET /v1/service/certificate: the self-signed first-start certificate that is served"

# ---- CSR: defaults, then fields ----
call admin POST /v1/service/certificate/csr '{}' > csr.out
[ "$(st csr.out)" = 200 ] || fail "csr: $(cat csr.out)"
field csr.out pem > svc.csr
openssl req -in svc.csr -noout -text > csr.txt
grep -q 'Subject: CN = appliance.example.test$' csr.txt || fail "CSR CN: $(grep Subject: csr.txt)"
grep -q 'DNS:appliance, DNS:appliance.example.test' csr.txt || fail "CSR SANs: $(grep -A1 'Alternative' csr.txt)"
call admin POST /v1/service/certificate/csr '{"common_name":"appliance.example.test","organization":"Acme",
	"country":"DE","alternative_names":["appliance.example.test","127.0.0.1"]}' > csr2.out
[ "$(st csr2.out)" = 200 ] || fail "csr with fields: $(cat csr2.out)"
field csr2.out pem > svc2.csr
openssl req -in svc2.csr -noout -text > csr2.txt
grep -q 'Subject: CN = appliance.example.test, O = Acme, C = DE' csr2.txt || fail "CSR fields: $(grep Subject: csr2.txt)"
grep -q 'DNS:appliance.example.test, IP Address:127.0.0.1' csr2.txt || fail "CSR alternative names"
call admin POST /v1/service/certificate/csr '{"bogus":1}' > csr3.out
[ "$(st csr3.out)" = 400 ] && [ "$(ecode csr3.out)" = unknown_field ] || fail "unknown field: $(cat csr3.out)"
pass "POST .../csr: appliance defaults in openssl req -text; fields honoured; unknown fields 400"

# ---- an openssl CA ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
	-subj '/CN=Appliance Test CA' -days 30 -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null || fail "openssl CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca2.key -out ca2.pem \
	-subj '/CN=Other CA' -days 30 2>/dev/null
printf 'extendedKeyUsage = serverAuth\n' > server.ext
printf 'extendedKeyUsage = clientAuth\n' > client.ext
openssl x509 -req -in svc2.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 20 \
	-copy_extensions copyall -extfile server.ext -out issued.pem 2>/dev/null || fail "sign"
openssl x509 -in issued.pem -outform DER -out issued.der
apply_body() {	# CERTFILE CAFILE WHAT_IF: certificate as base64 DER or PEM text
	case "$1" in
	*.der) printf '{"certificate":"%s","ca":%s,"what_if":%s}' "$(b64 "$1")" "$(json_str "$2")" "$3" ;;
	*) printf '{"certificate":%s,"ca":%s,"what_if":%s}' "$(json_str "$1")" "$(json_str "$2")" "$3" ;;
	esac
}

# ---- what-if ----
call admin POST /v1/service/certificate/apply "$(apply_body issued.pem ca.pem true)" > wi.out
[ "$(st wi.out)" = 200 ] && [ "$(field wi.out ok)" = true ] && [ "$(field wi.out what_if)" = true ] ||
	fail "what-if: $(cat wi.out)"
[ "$(served)" = "$(fp s1.pem)" ] || fail "what-if changed what s_client sees"
pass "apply what_if: checks pass, s_client still sees the self-signed certificate"

# ---- apply: the very next connection ----
call admin POST /v1/service/certificate/apply "$(apply_body issued.der ca.pem false)" > ap.out
[ "$(st ap.out)" = 200 ] && [ "$(field ap.out served)" = true ] || fail "apply: $(cat ap.out)"
[ "$(served)" = "$(fp issued.pem)" ] || fail "the next connection after apply is not served the new certificate"
curl -s --max-time 10 --cacert ca.pem -o /dev/null -w '%{http_code}' "$URL/v1/health" | grep -q 200 ||
	fail "curl --cacert CA (host 127.0.0.1) does not verify the applied certificate"
openssl s_client -connect "127.0.0.1:$PORT" -CAfile ca.pem -verify_return_error </dev/null 2>&1 |
	grep -q 'Verify return code: 0 (ok)' || fail "s_client does not verify against the CA"
pass "apply: the next connection presents the CA-issued certificate; curl and s_client verify it against the CA"

# ---- refusals ----
mkdir -p caddb/new; : > caddb/index.txt; echo 1000 > caddb/serial
cat > ca.cnf <<EOF
[ca]
default_ca = d
[d]
database = $T/caddb/index.txt
new_certs_dir = $T/caddb/new
serial = $T/caddb/serial
certificate = $T/ca.pem
private_key = $T/ca.key
default_md = sha256
policy = p
copy_extensions = copyall
unique_subject = no
[p]
commonName = supplied
[srv]
extendedKeyUsage = serverAuth
EOF
openssl ca -batch -config ca.cnf -extensions srv -in svc2.csr -out expired.pem -notext \
	-startdate 20200101000000Z -enddate 20200201000000Z 2>/dev/null || fail "openssl ca"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key \
	-subj '/CN=appliance.example.test' -out other.csr 2>/dev/null
openssl x509 -req -in other.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 20 \
	-extfile server.ext -out other.pem 2>/dev/null
openssl x509 -req -in svc2.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 20 \
	-copy_extensions copyall -extfile client.ext -out client.pem 2>/dev/null
refused() {	# CODE CERT CA
	call admin POST /v1/service/certificate/apply "$(apply_body "$2" "$3" false)" > rf.out
	[ "$(st rf.out)" = 422 ] && [ "$(ecode rf.out)" = "$1" ] || fail "apply $2 / $3: $(cat rf.out)"
	body rf.out | python3 -c 'import json,sys; e=json.load(sys.stdin)["error"]; assert any(c["pass"] is False for c in e["checks"]), e' ||
		fail "the refusal carries no failed check: $(cat rf.out)"
	[ "$(served)" = "$(fp issued.pem)" ] || fail "a refused apply ($1) changed the served certificate"
}
refused check_failed:chains_to_ca issued.pem ca2.pem
refused check_failed:validity expired.pem ca.pem
refused check_failed:key_matches other.pem ca.pem
refused check_failed:extended_key_usage client.pem ca.pem
call admin POST /v1/service/certificate/apply "{\"certificate\":$(json_str issued.pem)}" > nca.out
[ "$(st nca.out)" = 400 ] || fail "apply without ca: $(cat nca.out)"
pass "wrong CA, expired, another key, no serverAuth: 422 check_failed:<check>, the server keeps its certificate"

# ---- self-signed: the old one, then rekey ----
call admin POST /v1/service/certificate/self-signed '{}' > ss.out
[ "$(st ss.out)" = 200 ] && [ "$(field ss.out action)" = restored ] || fail "self-signed: $(cat ss.out)"
[ "$(served)" = "$(fp s1.pem)" ] || fail "self-signed: s_client does not see the first certificate"
openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null | openssl x509 -out back.pem
[ "$(openssl x509 -in back.pem -noout -serial | sed 's/.*=//')" = "$S1_SERIAL" ] || fail "self-signed: another serial"
OLDPUB=$(served_pub)
call admin POST /v1/service/certificate/self-signed '{"rekey":true}' > rk.out
[ "$(st rk.out)" = 200 ] && [ "$(field rk.out action)" = rekeyed ] || fail "rekey: $(cat rk.out)"
[ "$(served_pub)" != "$OLDPUB" ] || fail "rekey: s_client sees the old public key"
pass "self-signed: the old certificate is back (serial $S1_SERIAL); rekey: s_client sees a new public key"

# ---- status, trust ----
call admin GET /v1/service/certificate/status > s.out
[ "$(field s.out trust)" = untrusted ] && [ "$(field s.out trust_reason)" = not_pinned ] || fail "status: $(cat s.out)"
call admin POST /v1/service/certificate/trust '' > t.out
[ "$(st t.out)" = 200 ] && [ "$(field t.out trust)" = trusted ] || fail "trust: $(cat t.out)"
call admin POST /v1/certificates/hkms-service/restore '{}' > r.out
[ "$(st r.out)" = 200 ] || fail "restore: $(cat r.out)"
call admin GET /v1/service/certificate/status > s2.out
[ "$(field s2.out trust)" = untrusted ] && [ "$(field s2.out trust_reason)" = changed ] || fail "status after restore: $(cat s2.out)"
[ "$(served)" = "$(fp s1.pem)" ] || fail "restore: not served at once"
call admin GET /v1/service/certificate > get2.out
body get2.out | python3 -c 'import json,sys; h=json.load(sys.stdin)["history"]
assert len(h) >= 4 and {"apply","rekey","restore"} <= {v["reason"] for v in h}, h' || fail "history: $(cat get2.out)"
pass "status untrusted -> trust -> trusted -> restore -> untrusted (changed); history in GET"

# ---- an operator may not ----
hkms client generate op1 --ca hkms-clients --clearance operator --out-file op1.p12 \
	--passphrase-file "$T/data/admin-client.pass" >/dev/null || fail "client generate operator"
curlrc op op1.p12 "$T/data/admin-client.pass"
for r in "GET /v1/service/certificate" "GET /v1/service/certificate/status" \
	"POST /v1/service/certificate/csr" "POST /v1/service/certificate/apply" \
	"POST /v1/service/certificate/self-signed" "POST /v1/service/certificate/trust" \
	"POST /v1/certificates/hkms-service/restore"; do
	set -- $r
	b='{}'
	[ "$2" = /v1/service/certificate/apply ] && b=$(apply_body issued.pem ca.pem true)
	if [ "$1" = GET ]; then call op GET "$2" > op.out; else call op "$1" "$2" "$b" > op.out; fi
	[ "$(st op.out)" = 403 ] || fail "operator $r: $(cat op.out)"
done
pass "an operator gets 403 on every service certificate route and on restoring hkms-service"

# ---- import replace over the API ----
hkms cert self-sign web --new-key ec:p256 --subject /CN=web.example.test >/dev/null || fail "self-sign web"
hkms csr create web-csr --key web --subject /CN=web.example.test --out-file web.csr >/dev/null
openssl x509 -req -in web.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 20 \
	-extfile server.ext -out web-ca.pem 2>/dev/null
imp() { printf '{"name":"web","certificate":%s,"ca":%s,"what_if":%s%s}' "$(json_str web-ca.pem)" \
	"$(json_str ca.pem)" "$1" "$2"; }
call admin POST /v1/certificates/import "$(imp false '')" > i0.out
[ "$(st i0.out)" = 409 ] && [ "$(ecode i0.out)" = cert_exists ] || fail "import onto a name: $(cat i0.out)"
call admin POST /v1/certificates/import "$(imp true ',"replace":true')" > i1.out
[ "$(st i1.out)" = 200 ] && [ "$(field i1.out ok)" = true ] || fail "replace what_if: $(cat i1.out)"
call admin POST /v1/certificates/import "$(imp false ',"replace":true')" > i2.out
[ "$(st i2.out)" = 201 ] || fail "replace: $(cat i2.out)"
call admin GET /v1/certificates/web > w.out
body w.out | python3 -c 'import json,sys; o=json.load(sys.stdin)
assert "Appliance Test CA" in o["issuer"] and [v["reason"] for v in o["history"]] == ["import"], o' ||
	fail "after replace: $(cat w.out)"
call admin POST /v1/certificates/web/restore '{"version":1}' > wr.out
[ "$(st wr.out)" = 200 ] && [ "$(field wr.out restored_version)" = 1 ] || fail "restore web: $(cat wr.out)"
call admin POST /v1/certificates/web/restore '{"version":7}' > wr2.out
[ "$(st wr2.out)" = 404 ] && [ "$(ecode wr2.out)" = history_not_found ] || fail "restore v7: $(cat wr2.out)"
pass "POST /v1/certificates/import replace (what_if, then 201, history), restore {version}, 404 history_not_found"
