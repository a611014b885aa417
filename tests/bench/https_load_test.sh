#!/bin/bash
# https_load counts what it is answered: against a small local HTTP server
# that answers every third POST 500 and the others 200 with a body that has
# (or, for every fifth, lacks) the expected string, the ok and error counts
# match the server's own count, -n bounds the requests, the concurrency is
# reached, the percentiles are ordered, and (with valgrind) no definite leak.
set -eu
hl=${HKMS_HTTPS_LOAD:-$(cd "$(dirname "$0")/../.." && pwd)/build/tests/https_load}
[ -x "$hl" ] || { echo "SKIP: https_load not built"; exit 77; }
T=$(mktemp -d /tmp/hkms-hl.XXXXXX)
SRV=""
trap 'if [ -n "$SRV" ]; then kill "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null || true; fi; rm -rf "$T"' EXIT
cat > "$T/srv.py" <<'PY'
import http.server, sys, threading
n = 0; peak = 0; cur = 0; lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        global n, peak, cur
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            n += 1; k = n; cur += 1; peak = max(peak, cur)
        import time; time.sleep(0.01)
        with lock:
            cur -= 1
        code = 500 if k % 3 == 0 else 200
        out = b"no" if k % 5 == 0 else b'{"ok":"MARK"}' + body[:0]
        self.send_response(code)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def do_GET(self):
        out = ("%d %d" % (n, peak)).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(out))); self.end_headers()
        self.wfile.write(out)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 "$T/srv.py" > "$T/port" &
SRV=$!
for i in $(seq 1 50); do [ -s "$T/port" ] && break; sleep 0.1; done
port=$(cat "$T/port"); [ -n "$port" ] || { echo "FAIL: no test server"; exit 1; }
echo '{"x":1}' > "$T/body"
wrap=""
# valgrind for leaks, except on an ASan build (ASan checks leaks itself and
# cannot run under valgrind)
if command -v valgrind >/dev/null && ! ldd "$hl" 2>/dev/null | grep -q libasan; then
	wrap="valgrind -q --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite"
fi
out=$($wrap "$hl" --url "http://127.0.0.1:$port/" --body "$T/body" -c 4 -n 60 -d 20 --expect MARK) ||
	{ echo "FAIL: https_load (or valgrind) failed: $out"; exit 1; }
r=$(curl -s --max-time 10 "http://127.0.0.1:$port/"); served=${r% *}; peak=${r#* }
python3 - "$out" "$served" "$peak" <<'PY'
import json, sys
o = json.loads(sys.argv[1]); served, peak = int(sys.argv[2]), int(sys.argv[3])
bad = sum(1 for k in range(1, served + 1) if k % 3 == 0 or k % 5 == 0)
assert served == 60 and o["requests"] == 60, (served, o)
assert o["ok"] == served - bad and o["errors"] == bad, (o, bad)
assert peak == 4, ("concurrency", peak)
assert 0 < o["p50_ms"] <= o["p99_ms"] <= o["p999_ms"] <= o["max_ms"], o
assert o["first_error"].startswith("HTTP "), o
print("ok - https_load: %d requests, %d ok, %d errors, peak concurrency %d" % (served, o["ok"], o["errors"], peak))
PY
