#!/bin/bash
# hkms serve's handler workers: a request is handled on a worker of its
# own, not on the libmicrohttpd I/O thread of its connection. With one I/O
# thread ([server] io_threads = 1, so every connection shares it) and two
# workers, a sign held in its handler (test hook HKMS_TEST_HANDLER_LATCH)
# for longer than timeout_s does not stop another connection's
# /v1/health from being answered, and is answered 201 once released (its
# suspended connection was not timed out). With one worker and a queue
# of none (hook HKMS_TEST_QUEUE_MAX=0), the next request is answered 503
# server_busy at once. SIGTERM while a request is held: the queued
# one is answered 503 server_busy, the held one completely once released,
# the server exits 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
[ "${HKMS_TEST_HOOKS:-0}" = 1 ] || skip "needs a build with HKMS_TEST_HOOKS"
hkms_setup
cd "$T"

workers_client
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout web.key \
	-subj /CN=www.example.com -out web.csr 2>/dev/null || fail "csr"
cp "$HKMS_CONFIG" base.conf

# conf THREADS: the config with that many workers, one I/O thread
conf() {
	cp base.conf "$HKMS_CONFIG"
	printf '\n[server]\nthreads = %s\nio_threads = 1\n[limits]\ntimeout_s = 2\n' "$1" >> "$HKMS_CONFIG"
}
export HKMS_TEST_HANDLER_LATCH=$T/latch HKMS_TEST_HANDLER_LATCH_ROUTE='/v1/cas/{name}/sign'

# the client: held.py MODE PORT [PID]
cat > held.py <<'PY'
import http.client, json, os, signal, socket, ssl, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
T = os.getcwd()
latch = os.environ["HKMS_TEST_HANDLER_LATCH"]

def ctx(cert):
    c = ssl.create_default_context(cafile=T + "/service.pem")
    c.check_hostname = False
    if cert:
        c.load_cert_chain(T + "/u1.pem", T + "/u1.key")
    return c

def conn(cert=False):
    return http.client.HTTPSConnection("127.0.0.1", port, context=ctx(cert), timeout=60)

def wait_file(p, what):
    for _ in range(400):		# bounded: 20 s
        if os.path.exists(p):
            return
        time.sleep(0.05)
    sys.exit("FAIL: %s never happened" % what)

def send_sign(c):
    body = json.dumps({"csr": open(T + "/web.csr").read(), "profile": "tls-server",
                       "san": ["DNS:www.example.com"]})
    c.request("POST", "/v1/cas/wca/sign", body=body, headers={"Content-Type": "application/json"})

def health(timeout):
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx(False), timeout=timeout)
    c.request("GET", "/v1/health")
    r = c.getresponse()
    return r.status, r.getheader("Retry-After"), r.read()

a = conn(True)
send_sign(a)
wait_file(latch + ".held", "the sign request reaching its handler")
if mode == "hol":
    # another connection on the same (only) I/O thread: answered while
    # the sign is held; the old server left it behind the sign (30 s)
    try:
        st, _, b = health(10)
    except Exception as e:
        sys.exit("FAIL: /v1/health not answered while a sign is held: %r" % e)
    if st != 200:
        sys.exit("FAIL: /v1/health while a sign is held: %d %r" % (st, b))
    # held past timeout_s (2 s): a suspended connection is not timed out
    time.sleep(3)
elif mode == "busy":
    # the only worker is held, no queue: refused at once
    st, ra, body = health(10)
    if st != 503 or json.loads(body)["error"]["code"] != "server_busy" or ra is None:
        sys.exit("FAIL: with every worker busy and no queue: %d %r, Retry-After %r" % (st, body, ra))
elif mode == "term":
    # one worker (held); b is queued (or comes after SIGTERM): 503
    b = conn(False)
    b.request("GET", "/v1/health")
    os.kill(int(sys.argv[3]), signal.SIGTERM)
    r = b.getresponse()
    body = r.read()
    if r.status != 503 or json.loads(body)["error"]["code"] != "server_busy":
        sys.exit("FAIL: the queued request at SIGTERM: %d %r" % (r.status, body))
open(latch, "w").close()
try:
    r = a.getresponse()
    body = r.read()
except (http.client.RemoteDisconnected, ConnectionResetError) as e:
    if mode != "term":
        sys.exit("FAIL: the held sign was not answered: %r" % e)
    print("held: clean close")
else:
    if r.status != 201 or b"BEGIN CERTIFICATE" not in body:
        sys.exit("FAIL: the held sign: %d %r" % (r.status, body[:300]))
    print("held: 201")
if mode == "busy":
    st, _, body = health(10)
    if st != 200:
        sys.exit("FAIL: /v1/health after the sign: %d %r" % (st, body))
print("ok")
PY

# ---- head-of-line: a held sign does not hold up another connection ----
conf 2
serve_start
service_ca
rm -f latch latch.held
python3 held.py hol "$PORT" > hol.out 2>&1 || fail "head-of-line: $(cat hol.out)"
grep -q '"route":"/v1/cas/{name}/sign","status":201' serve.log ||
	fail "the held sign is not logged as 201: $(grep http.request serve.log | tail -3)"
serve_stop
[ "$SRV_RC" = 0 ] || fail "exit status $SRV_RC"
pass "1 I/O thread, 2 workers: /v1/health answered while a sign is held past timeout_s; the sign then 201"

# ---- a full queue: 503 server_busy ----
conf 1
HKMS_TEST_QUEUE_MAX=0 serve_start
rm -f latch latch.held
python3 held.py busy "$PORT" > busy.out 2>&1 || fail "full queue: $(cat busy.out)"
grep -q '"status":503,.*"error":"server_busy"' serve.log || fail "the refusal is not logged"
serve_stop
[ "$SRV_RC" = 0 ] || fail "exit status $SRV_RC"
pass "the only worker held, no queue: the next request is 503 server_busy with Retry-After; then served"

# ---- SIGTERM while a request is held in its handler ----
conf 1
serve_start
rm -f latch latch.held
python3 held.py term "$PORT" "$SRV_PID" > term.out 2>&1 || fail "SIGTERM while held: $(cat term.out)"
for i in $(seq 1 300); do hkms_alive "$SRV_PID" || break; sleep 0.1; done
hkms_alive "$SRV_PID" && fail "the server did not stop after SIGTERM"
wait "$SRV_PID"; rc=$?
hkms_bg_stop "$SRV_PID"
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM with a held request: $(tail -5 serve.log)"
grep -q '"server.stop"' serve.log || fail "no stop log line"
grep -qi 'AddressSanitizer\|LeakSanitizer\|panic' serve.log && fail "sanitizer or MHD panic: $(grep -i -m3 'sanitizer\|panic' serve.log)"
pass "SIGTERM with a held request: queued one 503 server_busy, held one $(grep held: term.out | cut -d' ' -f2-), exit 0"
