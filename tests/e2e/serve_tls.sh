#!/bin/bash
# hkms serve's TLS comes from the token: a self-signed service certificate
# is made on first start (EC P-256 by default, RSA with [server]
# key_type), its key is the token key, TLS 1.3 and 1.2 (AEAD only) are
# served, TLS 1.1 is refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
hkms_setup

# the public key of the served certificate == the token key's
same_key() {
	local served token
	served=$(openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
		openssl x509 -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)
	hkms --json key show hkms-service | jget public_key_pem > "$T/token.pub" ||
		fail "key show hkms-service"
	token=$(openssl pkey -pubin -in "$T/token.pub" -outform DER | sha256sum)
	[ -n "$served" ] && [ "$served" = "$token" ] ||
		fail "served key $served is not the token key $token"
	# and the token holds it (pkcs11-tool reads the public key object)
	if command -v pkcs11-tool >/dev/null; then
		with_pin sh -c 'pkcs11-tool --module "$1" --token-label hkms -l \
			--pin env:HKMS_PIN --read-object --type pubkey \
			--label hkms-service -o "$2"' _ "$SOFTHSM_MODULE" "$T/p11.der" \
			>/dev/null 2>&1 || fail "pkcs11-tool cannot read the hkms-service public key"
		[ "$(openssl pkey -pubin -inform DER -in "$T/p11.der" -outform DER |
			sha256sum)" = "$served" ] || fail "pkcs11-tool's public key differs"
	fi
}

# s_client VERSION-FLAG [ARGS]: the negotiated protocol, or "none"
proto() {
	local out
	out=$(openssl s_client -connect "127.0.0.1:$PORT" "$@" </dev/null 2>&1)
	echo "$out" | grep -q '^-----BEGIN CERTIFICATE' || { echo none; return; }
	echo "$out" | sed -n 's/^ *Protocol *: *//p;s/^New, \(TLSv1\.[0-9]\),.*/\1/p' | head -1
}

handshakes() {	# KIND (ec|rsa)
	local p sig
	[ "$(proto -tls1_3)" = TLSv1.3 ] || fail "$1: no TLS 1.3 handshake"
	[ "$(proto -tls1_2)" = TLSv1.2 ] || fail "$1: no TLS 1.2 handshake"
	[ "$(proto -tls1_1)" = none ] || fail "$1: TLS 1.1 was accepted"
	[ "$(proto -tls1)" = none ] || fail "$1: TLS 1.0 was accepted"
	# TLS 1.2 without AEAD is refused
	[ "$(proto -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:AES128-SHA)" = none ] ||
		fail "$1: a CBC cipher suite was accepted"
	if [ "$1" = rsa ]; then
		# TLS 1.3 signs with RSA-PSS, TLS 1.2 with PKCS#1 v1.5 if asked
		sig=$(openssl s_client -connect "127.0.0.1:$PORT" -tls1_3 </dev/null 2>&1 |
			sed -n 's/^Peer signature type: //p')
		[ "$sig" = RSA-PSS ] || fail "rsa: TLS 1.3 signature type '$sig'"
		sig=$(openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 \
			-sigalgs RSA+SHA256 </dev/null 2>&1 | sed -n 's/^Peer signature type: //p')
		[ "$sig" = RSA ] || fail "rsa: TLS 1.2 PKCS#1 signature type '$sig'"
		[ "$(proto -tls1_2 -sigalgs RSA-PSS+SHA256)" = TLSv1.2 ] ||
			fail "rsa: no TLS 1.2 handshake with RSA-PSS"
	else
		sig=$(openssl s_client -connect "127.0.0.1:$PORT" -tls1_3 </dev/null 2>&1 |
			sed -n 's/^Peer signature type: //p')
		[ "$sig" = ECDSA ] || fail "ec: TLS 1.3 signature type '$sig'"
	fi
	# curl verifies the chain and the names (a DNS and an IP SAN)
	[ "$(code "https://localhost:$PORT/v1/health")" = 200 ] || fail "$1: curl localhost"
	[ "$(code "$URL/v1/health")" = 200 ] || fail "$1: curl 127.0.0.1"
	[ "$(code "$URL/v1/health" --tlsv1.2 --tls-max 1.2)" = 200 ] || fail "$1: curl TLS 1.2"
	curl -s --cacert "$T/service.pem" "$URL/v1/health" | grep -q '"status":"ok"' ||
		fail "$1: health body"
}

# ---- EC P-256 (the default) ----
serve_start
grep -q '"server.certificate"' "$T/serve.log" || fail "no certificate was made on first start"
service_ca
openssl x509 -in "$T/service.pem" -noout -text > "$T/cert.txt"
grep -q 'ASN1 OID: prime256v1' "$T/cert.txt" || fail "the default service key is not P-256"
for n in DNS:localhost 'IP Address:127.0.0.1' 'IP Address:0:0:0:0:0:0:0:1' "DNS:$(hostname)"; do
	grep -q "$n" "$T/cert.txt" || fail "SAN $n missing: $(grep -A1 'Alternative Name' "$T/cert.txt")"
done
fqdn=$(hostname -f 2>/dev/null || hostname)
grep -q "Subject: CN *= *$fqdn" "$T/cert.txt" || fail "CN is not the FQDN $fqdn: $(grep Subject: "$T/cert.txt")"
days=$(python3 - "$T/service.pem" <<'PY'
import subprocess, sys, datetime
o = subprocess.run(["openssl", "x509", "-in", sys.argv[1], "-noout", "-startdate", "-enddate"], capture_output=True, text=True).stdout
d = dict(l.split("=", 1) for l in o.split("\n") if "=" in l)
f = "%b %d %H:%M:%S %Y %Z"
a = datetime.datetime.strptime(" ".join(d["notBefore"].split()), f)
b = datetime.datetime.strptime(" ".join(d["notAfter"].split()), f)
print(round((b - a).total_seconds() / 86400))
PY
)
[ "$days" = 397 ] || fail "the service certificate lasts $days days, not 397"
same_key
handshakes ec
pass "EC P-256 service key: TLS 1.3 + 1.2, TLS <= 1.1 and CBC refused, key is the token's"

# the server asks for a client certificate (naming its client CAs: the
# service certificate while there is no hkms CA) but does not require one
# in the handshake; the handler refuses: none → 401, unknown → 403
openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
	sed -n '/^Acceptable client certificate CA names/,/^---/p' > "$T/canames"
grep -q "CN *= *$fqdn" "$T/canames" || fail "no client CA names asked: $(cat "$T/canames")"
out=$(curl -s --cacert "$T/service.pem" -w ' %{http_code}' "$URL/metrics")
case "$out" in *'"code":"client_certificate_required"'*' 401') ;; *) fail "no client cert: $out" ;; esac
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/rogue.key" \
	-out "$T/rogue.pem" -subj /CN=rogue -days 2 -addext extendedKeyUsage=clientAuth 2>/dev/null
thumb=$(openssl x509 -in "$T/rogue.pem" -outform DER | sha256sum | cut -d' ' -f1)
out=$(curl -s --cacert "$T/service.pem" --cert "$T/rogue.pem" --key "$T/rogue.key" \
	-w ' %{http_code}' "$URL/metrics")
case "$out" in *' 403') ;; *) fail "rogue client cert: $out" ;; esac
grep -q "\"route\":\"/metrics\",\"status\":403,.*\"client\":\"$thumb\"" "$T/serve.log" ||
	fail "the refusal is not logged with the client's thumbprint $thumb: $(grep metrics "$T/serve.log" | tail -2)"
grep -q '"event":"http.request","method":"GET","route":"/v1/health","status":200,"duration_ms":' "$T/serve.log" ||
	fail "no request log line for health"
# headers every response carries
curl -s -D "$T/h" -o /dev/null --cacert "$T/service.pem" "$URL/v1/health"
for h in 'Cache-Control: no-store' 'X-Content-Type-Options: nosniff' \
    'Strict-Transport-Security: max-age=' 'Content-Type: application/json'; do
	grep -qi "^$h" "$T/h" || fail "response header $h missing: $(cat "$T/h")"
done
pass "client certificates asked for, refused by the handler (401/403, thumbprint logged); security headers"

# the path reaches the routes as sent and each name is decoded once:
# %2541 is the name '%41' (refused), not 'A'; an encoded '/' matches nothing
out=$(curl -s --cacert "$T/service.pem" "$URL/ca/%2541.pem")
case "$out" in *'"code":"bad_name"'*"'%41'"*) ;; *) fail "double-encoded name: $out" ;; esac
out=$(curl -s --cacert "$T/service.pem" "$URL/ca/%41.pem")
case "$out" in *'"code":"ca_not_found"'*"'A'"*) ;; *) fail "encoded name: $out" ;; esac
[ "$(code "$URL/ca/a%2Fb.pem")" = 404 ] || fail "an encoded / in a name"
[ "$(code "$URL/v1/health?re%61dy")" = 200 ] || fail "an encoded query key"
pass "names in the path are decoded once, by the routes"

# a second start keeps the certificate
before=$(sha256sum < "$T/service.pem")
serve_stop
[ "$SRV_RC" = 0 ] || fail "serve exited $SRV_RC on SIGTERM"
serve_start
service_ca
[ "$(sha256sum < "$T/service.pem")" = "$before" ] || fail "a restart made a new certificate"
serve_stop
pass "restart serves the same certificate"

# ---- RSA 2048 ----
hkms cert delete hkms-service --force >/dev/null || fail "cert delete"
hkms key delete hkms-service >/dev/null || fail "key delete"
echo "key_type = rsa:2048" >> "$HKMS_CONFIG"
serve_start
service_ca
openssl x509 -in "$T/service.pem" -noout -text | grep -q 'Public-Key: (2048 bit)' ||
	fail "the service key is not RSA 2048"
openssl x509 -in "$T/service.pem" -noout -text | grep -q 'rsaEncryption' || fail "not RSA"
same_key
handshakes rsa
serve_stop
pass "RSA 2048 service key: TLS 1.3 (PSS) + 1.2 (PKCS#1 and PSS), key is the token's"

# what the server wrote keeps the data dir sound
hkms store check >/dev/null || fail "store check after serving: $(hkms store check 2>&1 | tail -3)"
hkms audit verify >/dev/null || fail "audit verify after serving"
grep -q '"cert.self_sign"' "$T/data/audit/"* 2>/dev/null || grep -rq 'cert.self_sign' "$T/data" --exclude-dir=token ||
	fail "the service certificate's creation is not audited"
pass "store check and audit verify pass; the certificate's creation is audited"
