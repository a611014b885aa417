#!/bin/bash
# The OCSP responder and [server] public_listen against a malicious relying
# party (tests/e2e/attack_ocsp_public.py): every truncation of a request,
# 2000-deep and indefinite nesting, 17/180/10000 CertIDs, 1000-byte,
# negative and zero serials, unknown and signature OIDs as the hash, hashes
# of a foreign CA, ours mixed with a foreign one, 0/33/5000/9000-byte and
# double nonces; GET with double, lower-case, truncated and NUL escapes and
# 200 kB paths; on the plain listener every kind of API route, traversal in
# {ca}, absolute-form targets, HTTP/1.0 and pipelining. Each gets the
# answer RFC 6960 asks (200 with malformedRequest/unauthorized/unknown, or
# 404 for what the plain listener does not serve); the server keeps
# serving. A nonce flood (each request a token signature) leaves the
# HTTPS API answering: a CRL signature through the API under the flood
# stays under 5 s. Slow clients holding every plain connection do not
# block the HTTPS API. A `ca revoke` racing cached answers: none good after
# it returned.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
python3 -c 'import cryptography.x509.ocsp' 2>/dev/null || skip "no python3-cryptography"
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
cd "$T"
PP=$(free_port)
printf '\n[server]\npublic_listen = 127.0.0.1:%s\n[limits]\nmax_connections = 16\nper_ip = 64\ntimeout_s = 5\n' \
	"$PP" >> data/hkms.conf
hkms ca create root --key-type ec:p256 --subject "/CN=Attack OCSP Root" --out-file root.pem \
	>/dev/null || fail "ca root"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout a.key \
	-subj "/CN=a.example" -addext "subjectAltName=DNS:a.example" -out a.csr 2>/dev/null ||
	fail "csr"
hkms ca sign --ca root --profile tls-server --csr a.csr --out-file a.chain.pem >/dev/null ||
	fail "sign"
openssl x509 -in a.chain.pem -out a.pem || fail "split"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout f.key \
	-subj "/CN=Foreign CA" -days 30 -out foreign.pem 2>/dev/null || fail "foreign CA"
serve_start
service_ca
(umask 077; openssl pkcs12 -in data/admin-client.p12 -passin file:data/admin-client.pass \
	-nodes -out admin.pem 2>/dev/null) || fail "admin PKCS#12"
for i in $(seq 1 50); do
	curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PP/ca/root.pem" && break
	sleep 0.1
done
PY=$(dirname "$0")/attack_ocsp_public.py
for c in malformed get plain; do
	python3 "$PY" "$PP" a.pem root.pem foreign.pem "$c" || fail "$c"
	hkms_alive "$SRV_PID" || fail "the server died in $c"
	pass "$c attacks answered as RFC 6960 asks, the server serves"
done

# the API under a nonce flood: a CRL signature (token) through HTTPS
crl_ms() {	# the time of POST /v1/cas/root/crl in ms
	curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --cacert service.pem --cert admin.pem \
		--max-time 30 -X POST -H 'Content-Type: application/json' -d '{}' \
		"$URL/v1/cas/root/crl" | awk '$1 == 201 { printf "%d\n", $2 * 1000 }'
}
before=$(for i in 1 2 3 4 5; do crl_ms; done | sort -n | tail -1)
[ -n "$before" ] || fail "POST /v1/cas/root/crl does not answer 201"
python3 "$PY" "$PP" a.pem root.pem foreign.pem flood 8 8 > flood.txt 2>&1 &
FL=$!
sleep 1
during=$(for i in 1 2 3 4 5; do crl_ms; done | sort -n)
wait "$FL" || { cat flood.txt; fail "flood"; }
[ "$(echo "$during" | wc -l)" = 5 ] || fail "the API failed during the flood: '$during'"
worst=$(echo "$during" | tail -1)
echo "# $(cat flood.txt); API CRL signature worst of 5: ${before} ms before, ${worst} ms during"
[ "$worst" -lt 5000 ] || fail "the API took $worst ms under the nonce flood"
pass "nonce flood: API CRL signature ${worst} ms worst during (${before} ms before)"

# a revocation racing cached answers: after `ca revoke` returns, every
# answer is revoked (the cache looks the status up on each hit)
sa=$(openssl x509 -in a.pem -noout -serial | cut -d= -f2)
python3 "$PY" "$PP" a.pem root.pem foreign.pem race 60 "$T/revoked.at" > race.txt 2>&1 &
RC=$!
# revoke once the racers have their first (good, cached) answer
for i in $(seq 1 600); do
	[ -e "$T/revoked.at.first" ] && break
	kill -0 "$RC" 2>/dev/null || break
	sleep 0.05
done
[ -e "$T/revoked.at.first" ] || { cat race.txt; fail "no OCSP answer before the revocation"; }
hkms ca revoke --ca root --serial "$sa" --reason keyCompromise >/dev/null || fail "revoke"
python3 -c 'import time; print(time.time())' > revoked.at.tmp && mv revoked.at.tmp revoked.at
wait "$RC" || { cat race.txt; fail "a good answer after the revocation returned"; }
echo "# $(cat race.txt)"
pass "revocation racing cached answers: none good after the revoke returned"
# slow clients on every plain connection (half a request line each):
# the HTTPS API still answers; after timeout_s they are gone
python3 - "$PP" > slow.txt 2>&1 <<'PY' &
import socket, sys, time
ss = []
for i in range(60):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
        s.sendall(b"GET /ca/ro")
        ss.append(s)
    except OSError:
        pass
print("held", len(ss))
time.sleep(4)
PY
SL=$!
sleep 1
c=$(code "$URL/v1/cas" --cert admin.pem)
[ "$c" = 200 ] || fail "the HTTPS API answers $c while slow clients hold the plain listener"
wait "$SL"
for i in $(seq 1 100); do
	curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PP/ca/root.pem" && break
	sleep 0.1
done
curl -sf -o /dev/null --max-time 5 "http://127.0.0.1:$PP/ca/root.pem" ||
	fail "the plain listener did not recover after the slow clients"
pass "slow clients on the plain listener ($(cat slow.txt)): the HTTPS API answers, the plain one recovers"
serve_stop
[ "$SRV_RC" = 0 ] || fail "exit $SRV_RC after the attacks"
