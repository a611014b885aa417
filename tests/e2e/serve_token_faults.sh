#!/bin/bash
# The token goes down under a signing load and comes back, twice: once
# through the fault shim (every PKCS#11 call CKR_DEVICE_REMOVED, as an
# unplugged HSM answers) and once with SoftHSM's token directory moved
# away. Requests get 503 token_unavailable while it is down, the same
# server process signs again once it is back (no restart), and no
# issuance is lost or duplicated: every acknowledged serial is in the
# index exactly once and audited, every record has its audit line.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
P11SHIM_LIB=${P11SHIM_LIB:-${HKMS_BUILD:-}/tests/libp11shim.so}
[ -f "$P11SHIM_LIB" ] || skip "no libp11shim.so (build target p11shim)"
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
cd "$T"
TOK=$T/data/token/tokens
hkms ca create root --key-type ec:p256 --subject "/CN=Fault Root" --out-file root.pem >/dev/null ||
	fail "ca root"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout web.key \
	-subj /CN=www.example.com -out web.csr 2>/dev/null
cp data/admin-client.pass a.pass; cp a.pass a.pass2
openssl pkcs12 -in data/admin-client.p12 -passin file:a.pass -clcerts -nokeys -out a.pem 2>/dev/null &&
openssl pkcs12 -in data/admin-client.p12 -passin file:a.pass -nocerts -passout file:a.pass2 \
	-out a.key 2>/dev/null || fail "admin PKCS#12"

# the same token through the shim, steered by a control file
unset P11SHIM_FAULTS P11SHIM_DELAY P11SHIM_KILL_SESSIONS_AT P11SHIM_STATS P11SHIM_LOG
sed "s#^module = .*#module = $(realpath "$P11SHIM_LIB")#" "$HKMS_CONFIG" > shim.conf
grep -q libp11shim shim.conf || fail "no module line in the config"
export P11SHIM_TARGET=$SOFTHSM_MODULE P11SHIM_CONTROL=$T/control
control() { printf '%s\n' "$@" > control.new && mv control.new control; }
control "P11SHIM_FAULTS="
export HKMS_CONFIG=$T/shim.conf
serve_start
service_ca

# 3 keep-alive clients signing in a loop; one line per answer in events:
# "201 SERIAL", "503 CODE", "429 -", "conn ERROR" (then it reconnects)
python3 - "$PORT" "$T" > load.out 2> load.err <<'PY' &
import http.client, json, os, ssl, sys, threading, time
port, t = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=t + "/service.pem")
ctx.load_cert_chain(t + "/a.pem", t + "/a.key", password=open(t + "/a.pass").read().encode())
body = json.dumps({"csr": open(t + "/web.csr").read(), "profile": "tls-server",
                   "san": ["DNS:www.example.com"]}).encode()
lock = threading.Lock(); ev = open(t + "/events", "a")
def note(s):
    with lock:
        ev.write(s + "\n"); ev.flush()
def run():
    c = None
    while not os.path.exists(t + "/stop"):
        try:
            if c is None:
                c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=20)
            c.request("POST", "/v1/cas/root/sign", body=body,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse(); raw = r.read()
        except (OSError, http.client.HTTPException) as e:
            note("conn " + type(e).__name__); c = None; time.sleep(0.05); continue
        if r.status == 201:
            note("201 " + json.loads(raw)["serial"])
        else:
            try: e = json.loads(raw)["error"]; code = e["code"] + " " + e["message"][:100]
            except Exception: code = "?"
            note("%d %s" % (r.status, code))
            time.sleep(0.02)
        if (r.getheader("Connection") or "").lower() == "close":
            c.close(); c = None
ts = [threading.Thread(target=run) for _ in range(3)]
[x.start() for x in ts]; [x.join() for x in ts]
PY
LOAD=$!
HKMS_BG_PIDS="$HKMS_BG_PIDS $LOAD"
: > events

count() { grep -c "^$1" events; }
wait_for() {	# wait_for PREFIX N WHAT: N more lines starting with PREFIX
	local want=$(( $(count "$1") + $2 )) i
	for i in $(seq 1 600); do
		[ "$(count "$1")" -ge $want ] && return 0
		hkms_alive "$LOAD" || fail "the load stopped: $(cat load.err)"
		sleep 0.05
	done
	fail "$3: $(sort events | cut -c1-20 | uniq -c | sort -rn | head)"
}

wait_for 201 10 "no signing before the faults"
for how in shim dir; do
	ok0=$(count 201)
	if [ $how = shim ]; then
		control "P11SHIM_FAULTS=*:CKR_DEVICE_REMOVED@always"
	else
		mv "$TOK" "$TOK.away"
	fi
	wait_for 503 10 "no 503 while the token is down ($how)"
	if [ $how = shim ]; then control "P11SHIM_FAULTS="; else mv "$TOK.away" "$TOK"; fi
	wait_for 201 10 "no signing after the token came back ($how)"
	pass "token down ($how): 503 under load, signing again without a restart"
done
touch stop
for i in $(seq 1 400); do hkms_alive "$LOAD" || break; sleep 0.05; done
hkms_bg_stop "$LOAD"
[ -s load.err ] && fail "load: $(cat load.err)"
hkms_alive "$SRV_PID" || fail "the server died"
bad=$(grep -v -e '^201 ' -e '^503 token_unavailable ' -e '^429 ' -e '^conn ' events | sort | uniq -c)
[ -z "$bad" ] || fail "answers other than 201, 503 token_unavailable, 429: $bad"
echo "answers: $(cut -d' ' -f1 events | sort | uniq -c | tr '\n' ' ')"
serve_stop
[ "$SRV_RC" = 0 ] || fail "exit $SRV_RC"

export HKMS_CONFIG=$T/data/hkms.conf
hkms --json ca issued --ca root > issued.json || fail "ca issued"
python3 - events issued.json data/audit.log <<'PY' || fail "issuances lost or duplicated"
import collections, json, sys
acks = [l.split()[1] for l in open(sys.argv[1]) if l.startswith("201 ")]
idx = collections.Counter(c["serial"] for c in json.load(open(sys.argv[2])))
aud = collections.Counter()
for line in open(sys.argv[3]):
    r = json.loads(line)
    if r.get("op") == "ca.sign" and r.get("result") == "ok":
        aud[r["detail"]["serial"]] += 1
assert len(set(acks)) == len(acks), "a serial acknowledged twice"
assert all(idx[s] == 1 for s in acks), "acknowledged but not indexed once"
assert all(aud[s] == 1 for s in acks), "acknowledged but not audited once"
assert all(aud[s] >= 1 for s in idx), "indexed but not audited"
assert all(n == 1 for n in idx.values()), "a serial indexed twice"
print("%d acknowledged, %d indexed, all audited" % (len(acks), len(idx)))
PY
hkms store check >/dev/null || fail "store check"
hkms audit verify >/dev/null || fail "audit verify"
pass "no issuance lost or duplicated across both outages; store and audit verify"
