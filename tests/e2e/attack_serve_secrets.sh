#!/bin/bash
# A busy operator's server: no passphrase or PKCS#12 byte in the server's
# log (at level debug), the audit log or /metrics after a client generate
# over the API, and none left in the server's memory (a core of the live
# process, gcore) once answered; a SIGHUP storm while signing; a client
# deleted while it signs in a loop; the service certificate renewed (new
# key) under a live keep-alive connection; fd count and RSS flat over 10000
# keep-alive requests and 100 fresh TLS handshakes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
cd "$T"
printf '\n[log]\nlevel = debug\n' >> data/hkms.conf
hkms ca create root --key-type ec:p256 --subject "/CN=Busy Root" --out-file root.pem >/dev/null ||
	fail "ca root"
serve_start
service_ca
(umask 077; openssl pkcs12 -in data/admin-client.p12 -passin file:data/admin-client.pass \
	-nodes -out admin.pem 2>/dev/null) || fail "admin PKCS#12"
A=(--cacert service.pem --cert admin.pem -s --max-time 30 -H 'Content-Type: application/json')

# a client generated over the API: its passphrase and PKCS#12 nowhere
PASS=Zq7-unique-passphrase-Kx9-$$
printf '{"name":"u1","clearance":"user","ca":"root","passphrase":"%s","permissions":[{"ca":"root"}]}' \
	"$PASS" > gen.json
curl "${A[@]}" --data-binary @gen.json -o gen.out -w '%{http_code}' "$URL/v1/clients/generate" |
	grep -qx 201 || fail "generate: $(cat gen.out)"
python3 - <<'PY' || fail "no PKCS#12 in the answer"
import json, base64
o = json.load(open("gen.out")); b = o["p12_base64"]; raw = base64.b64decode(b)
open("u1.p12", "wb").write(raw)
# needles: base64 pieces of the PKCS#12 and its DER bytes as hex
open("needles", "w").write("\n".join([b[100:160], b[len(b)//2:len(b)//2+60], b[-80:-20]]) + "\n")
open("needles.bin", "wb").write(raw[len(raw)//2:len(raw)//2+48])
PY
printf '%s' "$PASS" > u1.pass
openssl pkcs12 -in u1.p12 -passin file:u1.pass -nodes -out u1.pem 2>/dev/null || fail "the PKCS#12 does not open"
curl "${A[@]}" "$URL/metrics" > metrics.txt
for f in serve.log data/audit.log metrics.txt; do
	grep -qF "$PASS" "$f" && fail "the passphrase is in $f"
	grep -qFf needles "$f" && fail "PKCS#12 base64 is in $f"
	grep -qaFf needles.bin "$f" && fail "PKCS#12 bytes are in $f"
done
grep -q '"client.generate\|client\.generate' data/audit.log || fail "the generate is not audited"
pass "passphrase and PKCS#12 in neither the debug log, the audit log nor /metrics"
# never a core of an ASan process: its shadow mappings make a core of
# tens of GB, which fills the disk under every other test
if ldd "$HKMS_BIN" | grep -q libasan; then
	echo "skip: no gcore of an ASan build (its core is tens of GB)"
elif command -v gcore >/dev/null; then
	sleep 1
	gcore -o core "$SRV_PID" >/dev/null 2>&1 || fail "gcore"
	core=$(ls core.* | head -1)
	grep -qaF "$PASS" "$core" && fail "the passphrase is still in the server's memory"
	grep -qaFf needles "$core" && fail "the PKCS#12 (base64) is still in the server's memory"
	rm -f core.*
	pass "neither the passphrase nor the PKCS#12 left in the server's memory after the answer (gcore)"
fi

# SIGHUP storm while signing: every signature answered, all on disk
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout w.key \
	-subj /CN=w.example.com -out w.csr 2>/dev/null
python3 -c 'import json; print(json.dumps({"csr": open("w.csr").read(), "profile": "tls-server", "san": ["DNS:w.example.com"]}))' > sign.json
before=$(hkms --json ca issued --ca root | python3 -c "import json,sys; o=json.load(sys.stdin); print(len(o if isinstance(o, list) else o[\"issued\"]))")
( for i in $(seq 1 40); do kill -HUP "$SRV_PID" 2>/dev/null; sleep 0.05; done ) &
storm=$!
ok=0
for i in $(seq 1 40); do
	c=$(curl "${A[@]}" --data-binary @sign.json -o /dev/null -w '%{http_code}' "$URL/v1/cas/root/sign")
	case "$c" in 200|201) ok=$((ok+1)) ;; *) fail "sign $i during the SIGHUP storm: $c" ;; esac
done
wait $storm
after=$(hkms --json ca issued --ca root | python3 -c "import json,sys; o=json.load(sys.stdin); print(len(o if isinstance(o, list) else o[\"issued\"]))")
[ $((after - before)) = "$ok" ] || fail "issued $((after - before)), answered $ok"
hkms_alive "$SRV_PID" || fail "the server died in the SIGHUP storm"
hkms store check >/dev/null || fail "store check after the storm"
hkms audit verify >/dev/null || fail "audit verify after the storm"
pass "40 SIGHUPs during 40 signatures: all answered, all on disk, store check and audit verify pass"

# a client deleted while it signs in a loop: 2xx before, 403 after, never 5xx
( sleep 1; "$HKMS_BIN" client delete u1 >/dev/null ) &
del=$!
seen403=0
for i in $(seq 1 60); do
	c=$(curl --cacert service.pem --cert u1.pem -s --max-time 30 -H 'Content-Type: application/json' \
		--data-binary @sign.json -o /dev/null -w '%{http_code}' "$URL/v1/cas/root/sign")
	case "$c" in
	200|201) [ $seen403 = 0 ] || fail "signed again after a 403" ;;
	403) seen403=1 ;;
	*) fail "sign $i while deleted: $c" ;;
	esac
	[ $seen403 = 1 ] && [ $i -ge 30 ] && break
done
wait $del
[ $seen403 = 1 ] || fail "never refused after the delete"
pass "a client deleted while signing in a loop: signed, then 403 for good, no 5xx"

# the service certificate renewed with a new key under a live connection
old=$(openssl x509 -in service.pem -noout -fingerprint -sha256)
python3 - "$PORT" <<'PY' &
import socket, ssl, sys, time, subprocess
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE; ctx.load_cert_chain("admin.pem")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20))
def get():
    s.sendall(b"GET /v1/clients HTTP/1.1\r\nHost: x\r\n\r\n")
    d = b""
    while b"\r\n\r\n" not in d: d += s.recv(65536)
    head, body = d.split(b"\r\n\r\n", 1)
    n = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0]
    while len(body) < n: body += s.recv(65536)
    return head.split(b" ", 2)[1]
assert get() == b"200"
open("ka.ready", "w").close()
while not __import__("os").path.exists("ka.go"): time.sleep(0.1)
r = get()
open("ka.result", "w").write(r.decode())
PY
ka=$!
for i in $(seq 1 50); do [ -e ka.ready ] && break; sleep 0.1; done
hkms cert renew hkms-service --rekey >/dev/null || fail "renew the service certificate"
kill -HUP "$SRV_PID"
for i in $(seq 1 50); do
	new=$(openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256)
	[ "$new" != "$old" ] && break; sleep 0.1
done
[ "$new" != "$old" ] || fail "the renewed certificate is not served"
touch ka.go; wait $ka || fail "the live connection"
[ "$(cat ka.result)" = 200 ] || fail "the live connection after the renewal: $(cat ka.result)"
service_ca
[ "$(code "$URL/v1/health")" = 200 ] || fail "health with the renewed certificate"
pass "the service certificate renewed (new key) and SIGHUP: new connections get it, the live one keeps working"

# fd and RSS flat: 10000 keep-alive requests, 100 fresh TLS handshakes
ldd "$HKMS_BIN" | grep -q libasan && export HKMS_FLAT_FDS_ONLY=1
out=$(python3 "$(dirname "$0")/attack_serve_http.py" "$PORT" service.pem admin.pem admin.pem flat \
	"$SRV_PID" 10000) || fail "flat: $out"
pass "$out"
serve_stop
[ "$SRV_RC" = 0 ] || fail "exit $SRV_RC"
