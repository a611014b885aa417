#!/bin/bash
# The OCSP responder (RFC 6960) and the plain-HTTP public listener, with
# real openssl as the relying party: `openssl ocsp -url` gives good, then
# revoked with its reason and time after a revocation, unknown for a
# serial the CA never issued and unauthorized for a foreign issuer; the
# response verifies against the CA (signed by its token key), echoes the
# nonce, has thisUpdate and nextUpdate; the GET form answers the same; a
# burst of 1000 queries makes at most a handful of token signatures
# (/metrics, and C_Sign calls counted by the fault shim the server's
# token goes through); public_listen serves the CRL, the CA certificate and OCSP
# over plain HTTP and nothing else; a profile's {ca} URLs land in the
# certificate's AIA and CRLDP and the CRL fetched from there verifies.
# One URL for several CAs (an RSA intermediate under the EC root). With
# C_Sign failing in the token a fresh answer is tryLater and a cached one
# is still served. SIGHUP with new limits keeps the public listener. A
# sealed server answers 503 there too; after unseal, [ocsp] validity_s is
# nextUpdate - thisUpdate and a cached answer is signed again after half
# of it (served as it is, until its nextUpdate, while the token cannot
# sign).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
P11SHIM_LIB=${P11SHIM_LIB:-${HKMS_BUILD:-}/tests/libp11shim.so}
[ -f "$P11SHIM_LIB" ] || skip "no libp11shim.so (build target p11shim)"
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
cd "$T"

PP=$(free_port)
PUB=http://127.0.0.1:$PP
printf '\n[server]\npublic_listen = 127.0.0.1:%s\n' "$PP" >> data/hkms.conf
mkdir -p data/profiles
cat > data/profiles/web-ocsp.json <<JSON
{
  "description": "TLS server with revocation URLs pointing at this server",
  "key_usage": ["digitalSignature"],
  "extended_key_usage": ["serverAuth"],
  "crl_distribution_points": ["$PUB/crl/{ca}.crl"],
  "aia": { "ocsp": ["$PUB/ocsp"], "ca_issuers": ["$PUB/ca/{ca}.pem"] }
}
JSON

hkms ca create root --key-type ec:p256 --subject "/CN=OCSP Root" --out-file root.pem >/dev/null ||
	fail "ca root"
leaf() {	# leaf NAME: CSR + sign under root, $NAME.pem = leaf only
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
		-subj "/CN=$1.example" -addext "subjectAltName=DNS:$1.example" -out "$1.csr" \
		2>/dev/null || fail "csr $1"
	hkms --json ca sign --ca root --profile web-ocsp --csr "$1.csr" --out-file "$1.chain.pem" \
		> "$1.json" || fail "sign $1"
	openssl x509 -in "$1.chain.pem" -out "$1.pem" || fail "split $1"
}
leaf a
leaf b
sa=$(jget serial < a.json)
hkms ca crl --ca root >/dev/null || fail "first CRL"
hkms ca create inter --key-type rsa:2048 --subject "/CN=OCSP Inter" --parent root \
	--out-file inter.chain.pem >/dev/null || fail "ca inter"
openssl x509 -in inter.chain.pem -out inter.pem || fail "split inter"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout c.key \
	-subj "/CN=c.example" -addext "subjectAltName=DNS:c.example" -out c.csr 2>/dev/null
hkms --json ca sign --ca inter --profile web-ocsp --csr c.csr --out-file c.chain.pem > c.json ||
	fail "sign c"
openssl x509 -in c.chain.pem -out c.pem || fail "split c"

# the server's token through the shim, which counts every C_Sign
unset P11SHIM_FAULTS P11SHIM_DELAY P11SHIM_KILL_SESSIONS_AT P11SHIM_LOG P11SHIM_CONTROL
sed "s#^module = .*#module = $(realpath "$P11SHIM_LIB")#" "$HKMS_CONFIG" > shim.conf
grep -q libp11shim shim.conf || fail "no module line in the config"
export P11SHIM_TARGET=$SOFTHSM_MODULE P11SHIM_STATS=$T/shim-%p.json P11SHIM_CONTROL=$T/control
control() { printf '%s\n' "$@" > control.new && mv control.new control; }
control "P11SHIM_FAULTS="
HKMS_CONFIG=$T/shim.conf serve_start
service_ca
shim_signs() {	# C_Sign calls the server made so far (a fresh stats dump)
	local f=$T/shim-$SRV_PID.json d0 d i
	d0=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dumps"])' "$f" 2>/dev/null || echo -1)
	kill -USR2 "$SRV_PID"
	for i in $(seq 1 100); do
		d=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dumps"])' "$f" 2>/dev/null || echo -1)
		[ "$d" -gt "$d0" ] && break
		sleep 0.05
	done
	[ "$d" -gt "$d0" ] || fail "no shim stats dump"
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["functions"].get("C_Sign", {}).get("calls", 0))' "$f"
}
(umask 077; openssl pkcs12 -in data/admin-client.p12 -passin file:data/admin-client.pass \
	-nodes -out admin.pem 2>/dev/null) || fail "admin PKCS#12"
metric() {	# metric NAME: its value from /metrics (admin client)
	curl -s --cacert service.pem --cert admin.pem --max-time 10 "$URL/metrics" |
		awk -v n="$1" '$1 == n { print $2 }'
}
for i in $(seq 1 50); do
	curl -s -o /dev/null --max-time 2 "$PUB/ca/root.pem" && break
	sleep 0.1
done

# ---- AIA and CRLDP in the issued certificate, the CRL from that URL
openssl x509 -in a.pem -noout -text > a.txt
grep -q "OCSP - URI:$PUB/ocsp$" a.txt || fail "no OCSP URL in AIA: $(grep -A3 'Authority Information' a.txt)"
grep -q "CA Issuers - URI:$PUB/ca/root.pem$" a.txt || fail "no CA Issuers URL in AIA"
crlurl=$(grep -A4 "CRL Distribution Points" a.txt | sed -n 's/.*URI://p' | head -1)
[ "$crlurl" = "$PUB/crl/root.crl" ] || fail "CRLDP is '$crlurl'"
curl -sf --max-time 10 -o fetched.crl "$crlurl" || fail "CRL not served at $crlurl"
openssl crl -inform DER -in fetched.crl -CAfile root.pem -noout 2>&1 | grep -q "verify OK" ||
	fail "the CRL from the CRLDP URL does not verify"
curl -sf --max-time 10 -o fetched-ca.pem "$PUB/ca/root.pem" || fail "CA certificate not served"
cmp -s <(openssl x509 -in fetched-ca.pem -outform DER) <(openssl x509 -in root.pem -outform DER) ||
	fail "the served CA certificate is not the CA's"
pass "AIA (OCSP, CA Issuers) and CRLDP name this server; CRL and CA certificate fetched from them verify"

# ---- plain HTTP: the public routes only
for r in /v1/keys /v1/health /metrics /v1/cas /v1/cas/root/crl /v1/clients /nonexistent; do
	c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$PUB$r")
	[ "$c" = 404 ] || fail "public_listen answers $r with $c, not 404"
done
c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST "$PUB/v1/keys")
[ "$c" = 404 ] || fail "public_listen answers POST /v1/keys with $c"
c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X DELETE "$PUB/crl/root.crl")
[ "$c" = 404 ] || fail "public_listen answers DELETE /crl/root.crl with $c"
# and TLS is not spoken there, plain HTTP is not spoken on the API port
curl -sk -o /dev/null --max-time 5 "https://127.0.0.1:$PP/ca/root.pem" && fail "public_listen speaks TLS"
curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$PORT/ca/root.pem" && fail "the API port answers plain HTTP"
pass "public_listen: plain HTTP, CRL/CA/OCSP only, 404 for /v1/keys, /metrics and the rest"

# ---- good, with nonce, verified against the CA
ocsp() {	# ocsp OUT ARGS...: openssl ocsp against the public listener
	local out=$1; shift
	openssl ocsp -issuer root.pem -url "$PUB/ocsp" -CAfile root.pem -resp_text "$@" > "$out" 2>&1
}
ocsp good.txt -cert a.pem || { cat good.txt; fail "openssl ocsp (good)"; }
grep -q "^a.pem: good" good.txt || { cat good.txt; fail "not good"; }
grep -q "Response verify OK" good.txt || { cat good.txt; fail "response does not verify"; }
grep -q "OCSP Nonce" good.txt || fail "nonce not echoed"
grep -qi "nonce verify error\|no nonce in response" good.txt && fail "nonce check failed"
grep -q "This Update:" good.txt && grep -q "Next Update:" good.txt || fail "thisUpdate/nextUpdate missing"
grep -q "Responder Id: .*[0-9A-F]\{40\}" good.txt || grep -q "Responder Id:" good.txt || fail "no responder id"
# the response is signed by the CA key: verify with root.pem as the only
# trusted signer, no certificates in the response
openssl ocsp -issuer root.pem -cert a.pem -url "$PUB/ocsp" -VAfile root.pem -no_nonce \
	> vafile.txt 2>&1 || { cat vafile.txt; fail "-VAfile root.pem"; }
grep -q "Response verify OK" vafile.txt || fail "the response is not signed by the CA's key"
pass "good: nonce echoed, thisUpdate/nextUpdate, signed by the CA key (verifies with -VAfile)"

# the TLS listener answers OCSP too, without a client certificate
openssl ocsp -issuer root.pem -cert a.pem -no_nonce -reqout a.req >/dev/null 2>&1 || fail "reqout"
c=$(curl -s --cacert service.pem --max-time 10 -H 'Content-Type: application/ocsp-request' \
	--data-binary @a.req -o tls.resp -w '%{http_code}' "$URL/ocsp")
[ "$c" = 200 ] || fail "POST /ocsp over HTTPS: $c"
openssl ocsp -respin tls.resp -issuer root.pem -cert a.pem -CAfile root.pem -no_nonce 2>&1 |
	grep -q "^a.pem: good" || fail "HTTPS answer"
c=$(curl -s --max-time 10 -H 'Content-Type: application/json' --data-binary @a.req \
	-o /dev/null -w '%{http_code}' "$PUB/ocsp")
[ "$c" = 415 ] || fail "POST /ocsp as application/json: $c"
pass "POST /ocsp over HTTPS without a client certificate; wrong media type 415"

# ---- GET form (RFC 6960 A.1): URL-encoded base64, and '/' left raw
b64=$(base64 -w0 a.req)
enc=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$b64")
curl -sf --max-time 10 -o get1.resp "$PUB/ocsp/$enc" || fail "GET /ocsp/{enc}"
openssl ocsp -respin get1.resp -issuer root.pem -cert a.pem -CAfile root.pem -no_nonce 2>&1 |
	grep -q "^a.pem: good" || fail "GET answer (encoded)"
curl -sf --max-time 10 --path-as-is -o get2.resp "$PUB/ocsp/$b64" || fail "GET /ocsp/{raw b64}"
openssl ocsp -respin get2.resp -issuer root.pem -cert a.pem -CAfile root.pem -no_nonce 2>&1 |
	grep -q "^a.pem: good" || fail "GET answer (raw)"
curl -sf --max-time 10 -o get3.resp "$PUB/ocsp/not-base64!!" || fail "GET of garbage"
openssl ocsp -respin get3.resp -resp_text -noverify 2>&1 | grep -q "malformedrequest" ||
	fail "garbage is not malformedRequest"
pass "GET /ocsp/{base64}: URL-encoded and raw; garbage is malformedRequest"

# ---- bounds: 17 certificates, a 33-byte nonce, a body over max_body
args=(); for i in $(seq 1 17); do args+=(-serial "0x$i"); done
openssl ocsp -issuer root.pem "${args[@]}" -url "$PUB/ocsp" > many.txt 2>&1
grep -q "malformedrequest" many.txt || { cat many.txt; fail "17 certificates not malformedRequest"; }
nonce_req() {	# nonce_req OUT N: a request for a.pem with an N-byte nonce
python3 - "$1" "$2" <<'PY' || fail "nonce request"
import sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
a = x509.load_pem_x509_certificate(open("a.pem", "rb").read())
ca = x509.load_pem_x509_certificate(open("root.pem", "rb").read())
b = ocsp.OCSPRequestBuilder().add_certificate(a, ca, hashes.SHA1())
b = b.add_extension(x509.OCSPNonce(b"\x01" * int(sys.argv[2])), critical=False)
open(sys.argv[1], "wb").write(b.build().public_bytes(serialization.Encoding.DER))
PY
}
nonce_req big-nonce.req 33
nonce_req n32.req 32
curl -sf --max-time 10 -H 'Content-Type: application/ocsp-request' --data-binary @n32.req \
	-o n32.resp "$PUB/ocsp" || fail "POST 32-byte nonce"
openssl ocsp -respin n32.resp -resp_text -issuer root.pem -cert a.pem -CAfile root.pem \
	-no_nonce > n32.txt 2>&1
grep -q "^a.pem: good" n32.txt || { cat n32.txt; fail "a 32-byte nonce"; }
grep -q "0420$(printf '01%.0s' $(seq 1 32))" n32.txt || { cat n32.txt; fail "the 32-byte nonce is not echoed"; }
curl -sf --max-time 10 -H 'Content-Type: application/ocsp-request' --data-binary @big-nonce.req \
	-o big-nonce.resp "$PUB/ocsp" || fail "POST big nonce"
openssl ocsp -respin big-nonce.resp -resp_text -noverify 2>&1 | grep -q "malformedrequest" ||
	fail "a 33-byte nonce is not malformedRequest"
head -c 2000000 /dev/zero > huge.bin
c=$(curl -s --max-time 20 -H 'Content-Type: application/ocsp-request' --data-binary @huge.bin \
	-o /dev/null -w '%{http_code}' "$PUB/ocsp")
[ "$c" = 413 ] || fail "a 2 MB OCSP body: $c"
pass "a 32-byte nonce echoed; 17 certificates and a 33-byte nonce are malformedRequest; a body over max_body 413"

# ---- unknown serial, foreign issuer
ocsp unknown.txt -serial 0x0123456789ABCDEF01 || true
grep -q "^0x0123456789ABCDEF01: unknown" unknown.txt || { cat unknown.txt; fail "not unknown"; }
grep -q "Response verify OK" unknown.txt || fail "unknown answer does not verify"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key \
	-subj "/CN=Other CA" -days 10 -out other.pem 2>/dev/null || fail "other CA"
openssl ocsp -issuer other.pem -serial 0x05 -url "$PUB/ocsp" > foreign.txt 2>&1
grep -q "unauthorized" foreign.txt || { cat foreign.txt; fail "foreign issuer not unauthorized"; }
pass "unknown for a serial never issued; unauthorized for an issuer that is no hkms CA"

# ---- burst: 1000 queries, a handful of token signatures
openssl ocsp -issuer root.pem -cert b.pem -no_nonce -reqout b.req >/dev/null 2>&1 || fail "reqout b"
s0=$(metric hkms_ocsp_signatures_total)
h0=$(metric hkms_ocsp_cache_hits_total)
k0=$(shim_signs)
python3 - "$PP" b.req <<'PY' || fail "burst"
import http.client, sys, threading
port, req = int(sys.argv[1]), open(sys.argv[2], "rb").read()
first = []
def run(n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(n):
        c.request("POST", "/ocsp", body=req, headers={"Content-Type": "application/ocsp-request"})
        r = c.getresponse(); b = r.read()
        assert r.status == 200 and r.getheader("Content-Type") == "application/ocsp-response", r.status
        if not first: first.append(b)
        assert b == first[0], "a burst answer differs: signed again"
import time
t0 = time.monotonic()
ts = [threading.Thread(target=run, args=(125,)) for _ in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
print("burst: 1000 answers in %.2f s" % (time.monotonic() - t0))
PY
k1=$(shim_signs)	# before any HTTPS request: TLS handshakes sign too
s1=$(metric hkms_ocsp_signatures_total)
h1=$(metric hkms_ocsp_cache_hits_total)
sigs=$((s1 - s0)); hits=$((h1 - h0)); csign=$((k1 - k0))
echo "burst: 1000 queries (8 connections), $sigs OCSP signatures (metrics), $csign C_Sign (shim), $hits cache hits"
[ "$csign" -ge 1 ] || fail "the shim saw no C_Sign: the burst's answer was not signed in the token"
[ "$csign" -le 2 ] || fail "1000 queries made $csign C_Sign calls"
[ "$sigs" = "$csign" ] || fail "metrics say $sigs signatures, the shim $csign"
[ "$hits" -ge 998 ] || fail "only $hits cache hits"
metric 'hkms_ocsp_requests_total{status="good"}' | grep -q '^[0-9]' || fail "requests by status"
pass "1000 OCSP queries: $sigs token signature(s), $hits cache hits (metrics)"

# ---- revoke: revoked at once (the cache re-signs), with reason and time
hkms ca revoke --ca root --serial "$sa" --reason keyCompromise >/dev/null || fail revoke
ocsp revoked.txt -cert a.pem || true
grep -q "^a.pem: revoked" revoked.txt || { cat revoked.txt; fail "not revoked after revoke"; }
grep -q "Reason: keyCompromise" revoked.txt || { cat revoked.txt; fail "no reason"; }
grep -q "Revocation Time:" revoked.txt || fail "no revocation time"
grep -q "Response verify OK" revoked.txt || fail "revoked answer does not verify"
# the cached (no nonce) form too
openssl ocsp -issuer root.pem -cert a.pem -url "$PUB/ocsp" -CAfile root.pem -no_nonce \
	> revoked2.txt 2>&1
grep -q "^a.pem: revoked" revoked2.txt || fail "the cached answer still says good"
ocsp b.txt -cert b.pem
grep -q "^b.pem: good" b.txt || fail "b is no longer good"
pass "after revoke: revoked, keyCompromise, revocation time (nonce and cached forms); b still good"

# ---- one URL, several CAs: the RSA intermediate's leaf, and the
# intermediate itself at its parent
openssl ocsp -issuer inter.pem -cert c.pem -url "$PUB/ocsp" -CAfile root.pem \
	-verify_other inter.pem -resp_text > c.txt 2>&1
grep -q "^c.pem: good" c.txt || { cat c.txt; fail "leaf of inter"; }
grep -q "Response verify OK" c.txt || { cat c.txt; fail "inter's answer does not verify"; }
grep -q "sha256WithRSAEncryption" c.txt || fail "inter's answer is not signed by its RSA key"
grep -q "OCSP - URI:$PUB/ocsp" <(openssl x509 -in c.pem -noout -text) || fail "c's AIA"
grep -q "URI:$PUB/crl/inter.crl" <(openssl x509 -in c.pem -noout -text) || fail "c's CRLDP names inter"
ocsp ci.txt -cert inter.pem
grep -q "^inter.pem: good" ci.txt || { cat ci.txt; fail "inter at root"; }
pass "one /ocsp for two CAs: an RSA intermediate's leaf, the intermediate at its root"

# ---- the token refuses to sign: a fresh answer is tryLater, a cached
# one is still served
control "P11SHIM_FAULTS=C_Sign:CKR_DEVICE_ERROR@always"
ocsp fault.txt -cert b.pem
grep -qi "trylater" fault.txt || { cat fault.txt; tail -5 serve.log; fail "no tryLater while the token cannot sign"; }
curl -sf --max-time 10 -H 'Content-Type: application/ocsp-request' --data-binary @b.req \
	-o fault-cached.resp "$PUB/ocsp" || fail "cached POST"
openssl ocsp -respin fault-cached.resp -issuer root.pem -cert b.pem -CAfile root.pem -no_nonce 2>&1 |
	grep -q "^b.pem: good" || fail "the cached answer is not served while the token cannot sign"
control "P11SHIM_FAULTS="
ocsp back.txt -cert b.pem
grep -q "^b.pem: good" back.txt || { cat back.txt; fail "not back after the fault"; }
pass "C_Sign failing: fresh answers tryLater, the cached one served; back after"

# ---- SIGHUP with new limits: a new public listener on the same socket
printf '\n[limits]\ntimeout_s = 29\n' >> shim.conf
kill -HUP "$SRV_PID"
for i in $(seq 1 100); do grep -q 'limits changed' serve.log && break; sleep 0.1; done
grep -q 'limits changed' serve.log || fail "SIGHUP did not reload the limits"
curl -sf --max-time 10 -o /dev/null "$PUB/ca/root.pem" || fail "public listener gone after SIGHUP"
ocsp hup.txt -cert b.pem
grep -q "^b.pem: good" hup.txt || fail "OCSP after SIGHUP"
pass "SIGHUP with new limits: the public listener still serves"

# ---- several certificates in one request
ocsp multi.txt -cert a.pem -cert b.pem || true
grep -q "^a.pem: revoked" multi.txt && grep -q "^b.pem: good" multi.txt ||
	{ cat multi.txt; fail "two certificates in one request"; }
pass "one request for two certificates"

serve_stop
[ "$SRV_RC" = 0 ] || { tail -40 serve.log; fail "hkms serve exited $SRV_RC"; }
pass "server stopped cleanly"

# ---- sealed, then unsealed with [ocsp] validity_s = 60
printf '\n[ocsp]\nvalidity_s = 60\n' >> shim.conf
mv data/token/user.pin pin.saved
HKMS_CONFIG=$T/shim.conf serve_start
for i in $(seq 1 50); do curl -s -o /dev/null --max-time 2 "$PUB/ca/root.pem" && break; sleep 0.1; done
for r in /ca/root.pem /crl/root.crl "/ocsp/$enc"; do
	out=$(curl -s --max-time 10 -w ' %{http_code}' "$PUB$r")
	case "$out" in *'"code":"sealed"'*' 503') ;; *) fail "sealed public $r: $out" ;; esac
done
HKMS_CONFIG=$T/shim.conf hkms unseal < pin.saved > unseal.out || fail "unseal"
mv pin.saved data/token/user.pin
pass "sealed: the public listener answers 503 sealed; unsealed"
times() {	# times FILE: "thisUpdate nextUpdate producedAt" (unix) of a response
	python3 - "$1" <<'PY'
import datetime, sys
from cryptography.x509 import ocsp
r = ocsp.load_der_ocsp_response(open(sys.argv[1], "rb").read())
def unix(name):	# *_utc since cryptography 43; Debian 12 has 38 (naive UTC)
    v = getattr(r, name + "_utc", None)
    if v is None:
        v = getattr(r, name).replace(tzinfo=datetime.timezone.utc)
    return int(v.timestamp())
print(unix("this_update"), unix("next_update"), unix("produced_at"))
PY
}
post_b() { curl -sf --max-time 10 -H 'Content-Type: application/ocsp-request' --data-binary @b.req -o "$1" "$PUB/ocsp"; }
post_b r1.resp || fail "POST after unseal"
read -r t1 n1 p1 < <(times r1.resp) || fail "parse r1"
[ $((n1 - t1)) = 60 ] || fail "nextUpdate - thisUpdate = $((n1 - t1)), not validity_s 60"
post_b r2.resp; cmp -s r1.resp r2.resp || fail "not served from the cache"
# half of the validity later the cache signs again (wait for the clock,
# not for the server: at most 40 s)
for i in $(seq 1 400); do [ "$(date +%s)" -ge $((t1 + 31)) ] && break; sleep 0.1; done
# past half of it the token cannot sign: the cached answer, still before
# its nextUpdate, is served rather than tryLater
control "P11SHIM_FAULTS=C_Sign:CKR_DEVICE_ERROR@always"
post_b r3f.resp || fail "POST past half the validity, C_Sign failing"
cmp -s r1.resp r3f.resp || { openssl ocsp -respin r3f.resp -resp_text -noverify 2>&1 | head -3
	fail "a cached answer still valid is not served when the token cannot sign it again"; }
control "P11SHIM_FAULTS="
post_b r3.resp || fail "POST after half the validity"
read -r t3 n3 p3 < <(times r3.resp) || fail "parse r3"
[ "$t3" -ge $((t1 + 30)) ] || fail "not signed again after half the validity (thisUpdate $t1 -> $t3)"
[ $((n3 - t3)) = 60 ] || fail "refreshed validity $((n3 - t3))"
openssl ocsp -respin r3.resp -issuer root.pem -cert b.pem -CAfile root.pem -no_nonce 2>&1 |
	grep -q "^b.pem: good" || fail "refreshed answer"
pass "validity_s 60: nextUpdate = thisUpdate + 60; re-signed after half of it"
serve_stop
[ "$SRV_RC" = 0 ] || { tail -40 serve.log; fail "hkms serve exited $SRV_RC"; }
