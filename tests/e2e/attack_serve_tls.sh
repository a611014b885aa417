#!/bin/bash
# hkms serve against a malicious TLS client and a registration changed
# under a live connection: client-initiated renegotiation (TLS 1.2), a
# client chain of 60 certificates, a 60 kB certificate, a certificate of
# the client CA with an unknown critical extension, a registered
# thumbprint whose chain does not verify, the registered certificate with
# another key, SNI games; planted files in clients/; a keep-alive
# connection whose client is deleted, edited (require_2fa) or revoked
# between two requests gets 403 on the next one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
cd "$T"
hkms ca create root --key-type ec:p256 --subject "/CN=Attack Root" --out-file root.pem >/dev/null ||
	fail "ca root"
serve_start
service_ca
(umask 077; openssl pkcs12 -in data/admin-client.p12 -passin file:data/admin-client.pass \
	-nodes -out admin.pem 2>/dev/null) || fail "admin PKCS#12"
st() { curl -s -o /dev/null -w '%{http_code}' --cacert service.pem --max-time 20 "$@"; }
[ "$(st --cert admin.pem "$URL/v1/clients")" = 200 ] || fail "admin"

# client-initiated renegotiation: the connection is closed, nothing
# answered after it
out=$( (sleep 1; echo R; sleep 2; printf 'GET /v1/clients HTTP/1.1\r\nHost: x\r\n\r\n'; sleep 2) |
	timeout 20 openssl s_client -tls1_2 -cert admin.pem -key admin.pem -CAfile service.pem \
	-connect "127.0.0.1:$PORT" 2>&1)
echo "$out" | grep -q RENEGOTIATING || fail "renegotiation not tried: $out"
echo "$out" | grep -q 'HTTP/1.1 200' && fail "a request was answered after a client renegotiation"
[ "$(st --cert admin.pem "$URL/v1/clients")" = 200 ] || fail "after the renegotiation"
pass "a client-initiated renegotiation is refused (connection closed); the server serves"

# the registered admin certificate presented with another key (gnutls-cli
# does not check that they match): the server's CertificateVerify check
# fails the handshake, nothing is answered; the right key is 200
if command -v gnutls-cli >/dev/null; then
	openssl x509 -in admin.pem -out admincert.pem
	openssl pkey -in admin.pem -out adminkey.pem
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key 2>/dev/null
	gcli() {	# gcli KEY PRIORITY
		(sleep 1; printf 'GET /v1/clients HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'; sleep 2) |
			timeout 20 gnutls-cli --priority "$2" --no-ca-verification \
			--x509certfile admincert.pem --x509keyfile "$1" -p "$PORT" 127.0.0.1 2>&1
	}
	for pr in NORMAL NORMAL:-VERS-TLS1.3; do
		gcli adminkey.pem "$pr" | grep -q '^HTTP/1.1 200' || fail "gnutls-cli $pr with the right key"
		gcli other.key "$pr" | grep -q '^HTTP/1.1' && fail "$pr: the registered certificate with another key was answered"
	done
	pass "the registered certificate with another key: handshake fails (TLS 1.3 and 1.2), nothing answered"
fi

# a chain of 60 certificates (leaf, 59 intermediates of a foreign root)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout c0.key \
	-subj /CN=c0 -days 30 -out c0.pem 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n' > ca.ext
for i in $(seq 1 59); do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout c$i.key \
		-subj /CN=c$i -out c$i.csr 2>/dev/null
	openssl x509 -req -in c$i.csr -CA c$((i-1)).pem -CAkey c$((i-1)).key -days 30 \
		-extfile ca.ext -set_serial $i -out c$i.pem 2>/dev/null || fail "chain $i"
done
for i in $(seq 58 -1 0); do cat c$i.pem; done > chain.pem
out=$(printf 'GET /v1/clients HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
	timeout 20 openssl s_client -quiet -cert c59.pem -key c59.key -cert_chain chain.pem \
	-CAfile service.pem -connect "127.0.0.1:$PORT" 2>&1)
case "$out" in *'HTTP/1.1 200'*) fail "a 60-certificate foreign chain was served" ;; esac
[ "$(st --cert admin.pem "$URL/v1/clients")" = 200 ] || fail "after the long chain"
why=$(echo "$out" | grep -o 'HTTP/1.1 [0-9]*\|alert [a-z ]*\|unexpected eof' | head -1)
[ -n "$why" ] || fail "a 60-certificate chain: neither an answer nor an alert: $out"
pass "a 60-certificate chain: refused ($why); the server serves"

# a 60 kB certificate
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout big.key -subj /CN=big \
	-days 30 -addext "nsComment=$(head -c 60000 /dev/zero | tr '\0' A)" -out big.pem 2>/dev/null ||
	fail "big cert"
c=$(st --cert big.pem --key big.key "$URL/v1/clients")
case "$c" in 403|000) ;; *) fail "a 60 kB certificate: $c" ;; esac
[ "$(st --cert admin.pem "$URL/v1/clients")" = 200 ] || fail "after the big certificate"
pass "a 60 kB certificate: $c; the server serves"

# the client CA's key signs a clientAuth certificate with an unknown
# critical extension (through the pkcs11 engine): add and handshake refuse it
ENG=$(openssl version -e | sed 's/.*"\(.*\)"/\1/')/pkcs11.so
if [ -e "$ENG" ]; then
	PIN=$(cat data/token/user.pin)
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout crit.key \
		-subj /CN=crit -out crit.csr 2>/dev/null
	printf 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n1.2.3.4.5.6.7=critical,ASN1:UTF8String:unknown\n' > crit.ext
	(umask 077; printf 'pkcs11:object=root;type=private;pin-value=%s' "$PIN" > keyuri)
	openssl x509 -req -in crit.csr -CA root.pem -engine pkcs11 -CAkeyform engine \
		-CAkey "$(cat keyuri)" -days 30 -extfile crit.ext -set_serial 0x77 \
		-out crit.pem >/dev/null 2>&1 || fail "engine signing"
	openssl verify -CAfile root.pem -ignore_critical crit.pem >/dev/null || fail "crit.pem is not of root"
	expect_fail client_cert_invalid hkms client add crit --cert crit.pem --clearance admin
	c=$(st --cert crit.pem --key crit.key "$URL/v1/clients")
	[ "$c" = 403 ] || fail "an unknown critical extension: $c"
	# the same certificate's thumbprint written into a registration by
	# hand: the chain still has to verify
	hkms client generate u1 --ca root --clearance user --allow-ca root --out-file u1.p12 \
		--passphrase-file data/admin-client.pass >/dev/null || fail "generate u1"
	tp=$(openssl x509 -in crit.pem -outform DER | sha256sum | cut -d' ' -f1)
	python3 - "$T/data/clients/u1.json" "$tp" <<'PY'
import json, sys
p, tp = sys.argv[1:]
o = json.load(open(p)); o["thumbprints"].append(tp); o["clearance"] = "admin"
json.dump(o, open(p, "w"), indent=2)
PY
	c=$(st --cert crit.pem --key crit.key "$URL/v1/clients")
	[ "$c" = 403 ] || fail "a registered thumbprint whose chain does not verify: $c"
	grep -q "$tp" data/audit.log || fail "the refusal is not audited with the thumbprint"
	hkms client delete u1 >/dev/null
	pass "a root-signed certificate with an unknown critical extension: add refused, 403 even with its thumbprint registered; audited"
else
	echo "(no pkcs11 engine: the critical-extension case is skipped)"
fi

# SNI: none, another name, a 255-byte name: same certificate, same answer
for sni in "" evil.example.com "$(head -c 250 /dev/zero | tr '\0' a).com"; do
	if [ -n "$sni" ]; then sa=(-servername "$sni"); else sa=(-noservername); fi
	out=$(printf 'GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
		timeout 20 openssl s_client -quiet "${sa[@]}" \
		-CAfile service.pem -connect "127.0.0.1:$PORT" 2>&1)
	case "$out" in *'HTTP/1.1 200'*) ;; *) fail "SNI '${sni:0:20}': $out" ;; esac
done
pass "SNI absent, foreign or 255 bytes: the service certificate, health 200"

# keep-alive: the registration changes between two requests on one connection
PY=$(dirname "$0")/attack_serve_http.py
ka() {	# ka NAME COMMAND STATUS
	hkms client generate "$1" --ca root --clearance user --allow-ca root --out-file "$1.p12" \
		--passphrase-file data/admin-client.pass >/dev/null || fail "generate $1"
	(umask 077; openssl pkcs12 -in "$1.p12" -passin file:data/admin-client.pass -nodes \
		-out "$1.pem" 2>/dev/null)
	python3 "$PY" "$PORT" service.pem "$1.pem" "$1.pem" keepalive "$2" "$3" ||
		fail "keep-alive: $2"
}
ka k1 "$HKMS_BIN client delete k1" 403
ka k2 "$HKMS_BIN client edit k2 --require-2fa" 403
ka k3 "$HKMS_BIN client edit k3 --allow-ca root" 200
serial=$(openssl pkcs12 -in k3.p12 -passin file:data/admin-client.pass -clcerts -nokeys 2>/dev/null |
	openssl x509 -noout -serial | cut -d= -f2)
python3 "$PY" "$PORT" service.pem k3.pem k3.pem keepalive \
	"$HKMS_BIN ca revoke --ca root --serial $serial --reason keyCompromise" 403 ||
	fail "keep-alive: revoked"
pass "keep-alive: the request after a delete, a require_2fa edit or a revocation on the same connection is 403"
# things planted in clients/: each is ignored by the thumbprint index (its
# name never authenticates), the other clients keep working
E=$T/data/clients/evil.json
plant() {	# plant LABEL: admin still 200, no hang
	local c
	c=$(st --cert admin.pem "$URL/v1/cas")
	[ "$c" = 200 ] || fail "$1 in clients/: admin gets $c"
	rm -f "$E"
}
cp data/clients/admin.json evil.src
ln -s "$T/evil.src" "$E"; plant "a symlink"
mkfifo -m 600 "$E"; plant "a FIFO"
printf 'garbage{' > "$E"; chmod 600 "$E"; plant "garbage"
head -c 6000000 /dev/zero | tr '\0' ' ' > "$E"; chmod 600 "$E"; plant "a 6 MB file"
cp data/clients/admin.json "$E"; chmod 666 "$E"; plant "a world-writable copy"
if [ "$(id -u)" = 0 ]; then
	cp data/clients/admin.json "$E"; chown 65534 "$E"; plant "a foreign-owned copy"
fi
grep -q '"client.index"' serve.log || fail "the ignored registrations are not logged"
pass "a symlink, FIFO, garbage, 6 MB, world-writable or foreign-owned file in clients/: ignored, other clients served"
hkms_alive "$SRV_PID" || fail "the server died"
serve_stop
