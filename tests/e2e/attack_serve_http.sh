#!/bin/bash
# hkms serve against a malicious client speaking raw HTTP/1.x over TLS
# (tests/e2e/attack_serve_http.py): HTTP/1.0, pipelining, Transfer-Encoding
# with Content-Length, negative/huge chunk sizes and Content-Lengths;
# traversal, NUL, CR/LF and quotes in every kind of {name} and in record
# names; 5000 query parameters, a 200 kB query, out-of-range integers in
# the query; JSON bombs within max_body (deep nesting, 1e5-element arrays,
# huge numbers, duplicate keys, invalid UTF-8, NUL), integer overflow in
# days and serials. Each is refused with 4xx or the connection is cut; the
# server keeps serving.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
cd "$T"
hkms ca create root --key-type ec:p256 --subject "/CN=Attack Root" >/dev/null || fail "ca root"
serve_start
service_ca
(umask 077; openssl pkcs12 -in data/admin-client.p12 -passin file:data/admin-client.pass \
	-nodes -out admin.pem 2>/dev/null) || fail "admin PKCS#12"
PY=$(dirname "$0")/attack_serve_http.py
for c in framing paths json; do
	python3 "$PY" "$PORT" service.pem admin.pem admin.pem "$c" || fail "$c"
	hkms_alive "$SRV_PID" || fail "the server died in $c"
	pass "$c attacks refused, the server serves"
done
# nothing the attacks sent made a record
[ "$(hkms --json client list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] ||
	fail "a client was registered by the attacks: $(hkms client list)"
hkms --json cert list | grep -q '"ovf"\|X-Evil' && fail "a certificate was made by the attacks"
hkms store check >/dev/null || fail "store check after the attacks"
pass "no record made by the attacks; store check passes"
serve_stop
[ "$SRV_RC" = 0 ] || fail "exit $SRV_RC after the attacks"
