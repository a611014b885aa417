#!/bin/bash
# The token goes away under load (SoftHSM's token directory moved away)
# and comes back: requests on open connections get 503 with the token's
# error while it is gone, new handshakes cannot be signed, and the server
# serves again when it is back, without a restart (same process, new
# handshakes signed by the token again).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
hkms_setup
TOK=$T/data/token/tokens

serve_start
service_ca
[ "$(code "$URL/v1/health")" = 200 ] || fail "health before"

# a keep-alive client polling health every 50 ms; it reconnects when its
# connection breaks and counts what it saw
# It says when it has seen its first 200 ($T/ready) and its first 200
# after a failure ($T/recovered): the test waits for those, not for a
# guessed time (a loaded machine starts python slower than a second).
python3 - "$PORT" "$T/service.pem" "$T/flag" "$T" > "$T/load.out" 2>&1 <<'PY' &
import http.client, ssl, sys, time, os, json, collections
port, ca, flag, tdir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca); ctx.check_hostname = False
seen = collections.Counter(); seq = []; c = None
while not os.path.exists(flag):
    try:
        if c is None:
            c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
        c.request("GET", "/v1/health")
        r = c.getresponse(); body = r.read()
        k = str(r.status)
        if r.status == 503:
            e = json.loads(body).get("token", {}).get("error", {}).get("code", "?")
            k += ":" + e
        if r.getheader("Connection", "").lower() == "close":
            c.close(); c = None
    except Exception as ex:
        k = "conn:" + type(ex).__name__; c = None
    seen[k] += 1
    if not seq or seq[-1] != k: seq.append(k)
    if k == "200" and len(seq) == 1:
        open(os.path.join(tdir, "ready"), "w").close()
    if k == "200" and len(seq) > 1:
        open(os.path.join(tdir, "recovered"), "w").close()
    time.sleep(0.05)
print(json.dumps({"seen": seen, "seq": seq}))
PY
load=$!
for i in $(seq 1 300); do [ -e "$T/ready" ] && break; sleep 0.1; done
[ -e "$T/ready" ] || fail "the load client saw no 200: $(cat "$T/load.out")"
mv "$TOK" "$TOK.away"
sleep 3
out=$(curl -s --cacert "$T/service.pem" --max-time 10 -w ' %{http_code}' "$URL/v1/health")
mv "$TOK.away" "$TOK"
echo "new connection while the token was away: $out"
for i in $(seq 1 600); do [ -e "$T/recovered" ] && break; sleep 0.1; done
touch "$T/flag"
wait $load || fail "load client: $(cat "$T/load.out")"
cat "$T/load.out"
python3 - "$T/load.out" <<'PY' || fail "the load did not see the outage and the recovery"
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
seq = r["seq"]
bad = [k for k in seq if not k.startswith("200")]
assert seq[0] == "200", "did not start healthy: %s" % seq
assert bad, "no failure seen while the token was away: %s" % seq
assert any(k.startswith("503") for k in seq), "no 503 while the token was away: %s" % seq
assert seq[-1] == "200", "did not recover: %s" % seq
PY
hkms_alive "$SRV_PID" || fail "the server died"
[ "$(code "$URL/v1/health")" = 200 ] || fail "a new connection after the token came back"
grep -q '"token_unavailable"\|"token_error"\|token_' "$T/serve.log" || fail "the outage is not logged"
m=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/service.pem" "$URL/metrics")
serve_stop
[ "$SRV_RC" = 0 ] || fail "exit $SRV_RC"
pass "token away under load: 503 on open connections, back to 200 without a restart"

# the token is away when the server starts: it starts anyway (health 503
# over a temporary certificate) and serves the token's certificate once
# the token is back
mv "$TOK" "$TOK.away"
serve_start
out=$(curl -sk --max-time 10 -w ' %{http_code}' "$URL/v1/health")
case "$out" in *' 503') ;; *) fail "health with the token away at start: $out" ;; esac
[ "$(code "$URL/v1/health")" = 000 ] || fail "the service certificate verified without the token"
mv "$TOK.away" "$TOK"
for i in $(seq 1 60); do
	[ "$(code "$URL/v1/health")" = 200 ] && break
	sleep 0.5
done
[ "$(code "$URL/v1/health")" = 200 ] || fail "not back 30 s after the token returned: $(tail -3 "$T/serve.log")"
serve_stop
pass "token away at start: started with 503, served once the token was back"
