#!/bin/bash
# hkms serve's limits ([limits]): a body over max_body is 413 too_large, a
# client that never finishes its headers is cut off after timeout_s, one
# that disconnects mid-body costs nothing, 1000 connections at once from
# one address are held to per_ip while others are served, connections
# over max_connections get 429 too_many_requests; RSS and open fds come
# back to where they were.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
hkms_setup
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cat >> "$HKMS_CONFIG" <<'CONF'
threads = 2

[limits]
timeout_s = 3
per_ip = 64
CONF
# under AddressSanitizer freed memory sits in its quarantine and would read
# as RSS growth: keep it small (no effect on a normal build)
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1:thread_local_quarantine_size_kb=64
serve_start
service_ca

# ---- body size ----
head -c 10485760 /dev/zero > "$T/10m"
out=$(curl -s -w ' %{http_code}' --cacert "$T/service.pem" --data-binary @"$T/10m" \
	-H 'Content-Type: application/json' "$URL/v1/health")
case "$out" in *'"code":"too_large"'*' 413') ;; *) fail "10 MB body: $out" ;; esac
head -c 1048577 /dev/zero > "$T/1m1"
# sent without waiting for the answer (no Expect): the 413 must not be
# lost to the reset of a close with the body unread, not once in 10
for i in $(seq 1 10); do
	out=$(curl -s -w ' %{http_code}' --cacert "$T/service.pem" -H 'Expect:' \
		--data-binary @"$T/1m1" "$URL/v1/health")
	case "$out" in *'"code":"too_large"'*' 413') ;; *) fail "1 MiB + 1 body (no Expect, try $i): $out" ;; esac
done
# chunked, no length announced: cut off once past the limit
out=$(head -c 2000000 /dev/zero | curl -s -w ' %{http_code}' --cacert "$T/service.pem" \
	-H 'Transfer-Encoding: chunked' --data-binary @- "$URL/v1/health")
case "$out" in *' 100'|*' 000'|*' 413') ;; *) fail "chunked 2 MB body: $out" ;; esac
grep -q '"status":413,.*"error":"too_large"' "$T/serve.log" || fail "the cut chunked body is not logged as 413"
out=$(curl -s -w ' %{http_code}' --cacert "$T/service.pem" --data-binary '{}' "$URL/v1/health")
case "$out" in *'"code":"method_not_allowed"'*' 405') ;; *) fail "small POST: $out" ;; esac
[ "$(code "$URL/v1/health")" = 200 ] || fail "health after the big bodies"
pass "bodies over max_body: 413 too_large (Content-Length, no Expect, chunked)"

# headers over connection_memory (64 KiB): refused by libmicrohttpd
big=$(head -c 70000 /dev/zero | tr '\0' a)
[ "$(code "$URL/v1/health" -H "X-Big: $big")" = 431 ] || fail "70 kB header not refused with 431"
[ "$(code "$URL/v1/health?$big")" = 414 ] || fail "70 kB URL not refused with 414"
[ "$(code "$URL/v1/health")" = 200 ] || fail "health after the big headers"
pass "headers over connection_memory: 431/414"

# ---- slow and broken clients ----
python3 - "$PORT" <<'PY' || fail "slow or broken client"
import socket, ssl, sys, time
port = int(sys.argv[1])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
def conn():
    s = socket.create_connection(("127.0.0.1", port))
    return ctx.wrap_socket(s)
# headers never finished: cut off after timeout_s (3 s)
s = conn(); s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n"); t0 = time.time()
s.settimeout(20)
try:
    d = s.recv(100)
except (ConnectionResetError, ssl.SSLError):
    d = b""
dt = time.time() - t0
if d or dt > 8: sys.exit("slow headers: got %r after %.1f s" % (d, dt))
print("slow headers cut off after %.1f s" % dt)
# TCP only, no TLS hello: cut off too
r = socket.create_connection(("127.0.0.1", port)); r.settimeout(20); t0 = time.time()
d = r.recv(10); dt = time.time() - t0
if d.startswith(b"\x15"): d = r.recv(10)	# a TLS alert, then EOF
if d or dt > 8: sys.exit("silent TCP client: %r after %.1f s" % (d, dt))
# disconnect mid-body
for i in range(20):
    s = conn(); s.sendall(b"POST /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + b"x" * 100); s.close()
PY
[ "$(code "$URL/v1/health")" = 200 ] || fail "health after the slow clients"
pass "a client that never finishes its headers is cut off after timeout_s; mid-body disconnects are harmless"

# ---- 1000 connections at once ----
pid=$SRV_PID
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
fds() { ls "/proc/$pid/fd" | wc -l; }
storm() {	# 1000 connections from 127.0.0.2 held open; health from 127.0.0.1
	python3 - "$PORT" "$URL" "$T/service.pem" <<'PY'
import socket, subprocess, sys, time
port, url, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3]
socks = []
for i in range(1000):
    s = socket.socket(); s.setblocking(False); s.bind(("127.0.0.2", 0))
    try: s.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    socks.append(s)
time.sleep(1)
t0 = time.time()
code = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
    "--cacert", ca, url + "/v1/health"], capture_output=True, text=True).stdout
dt = time.time() - t0
for s in socks: s.close()
if code != "200": sys.exit("health during the storm: %s" % code)
print("health during 1000 connections: %s in %.2f s" % (code, dt))
PY
}
sleep 4	# earlier connections timed out
fd0=$(fds); rss0=$(rss)
storm || fail "storm 1"
sleep 4
fd1=$(fds); rss1=$(rss)
for i in 2 3 4; do storm >/dev/null || fail "storm $i"; done
sleep 4
fd2=$(fds); rss2=$(rss)
echo "fds: $fd0 -> $fd1 -> $fd2; RSS kB: $rss0 -> $rss1 -> $rss2"
[ "$fd2" -le $((fd0 + 4)) ] || fail "fds grew: $fd0 -> $fd2"
[ "$rss2" -le $((rss1 + 4096)) ] || fail "RSS grew after the first storm: $rss1 -> $rss2 kB"
pass "1000 connections at once: others served, fds and RSS flat"
serve_stop

# ---- max_connections: 429 ----
cat >> "$HKMS_CONFIG" <<'CONF'
max_connections = 4
CONF
serve_start
out=$(python3 - "$PORT" "$T/service.pem" <<'PY'
import socket, ssl, subprocess, sys, time
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
held = [ctx.wrap_socket(socket.create_connection(("127.0.0.1", port))) for i in range(5)]
time.sleep(0.3)
r = subprocess.run(["curl", "-s", "-w", " %{http_code}", "--max-time", "10", "--cacert", ca,
    "https://127.0.0.1:%d/v1/health" % port], capture_output=True, text=True).stdout
for s in held: s.close()
print(r)
PY
)
case "$out" in *'"code":"too_many_requests"'*' 429') ;; *) fail "over max_connections: $out" ;; esac
sleep 0.5
[ "$(code "$URL/v1/health")" = 200 ] || fail "health after the held connections closed"
serve_stop
pass "over max_connections: 429 too_many_requests, then served again"
