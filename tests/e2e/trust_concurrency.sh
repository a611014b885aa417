#!/bin/bash
# Several processes share one truststore: two processes import 500 aliases
# each at once and delete half of them again, while `hkms trust watch`
# runs beside them. Pass: the store is consistent afterwards (exactly the
# expected aliases, every record whole, no temp files, journal gap-free),
# and the watcher saw every change exactly once, each within one second.
# TRUST_N overrides the 500 (e.g. for a quick run). No token needed.
. "$(dirname "$0")/lib.sh"
need openssl python3 xargs

N=${TRUST_N:-500}
T=$(mktemp -d /tmp/hkms-trust.XXXXXX)
trap 'hkms_cleanup' EXIT
unset HKMS_CONFIG HKMS_DATA_DIR
printf '[store]\ndata_dir = %s/data\n' "$T" > "$T/hkms.conf"
# no token needed, so no `hkms init`: only init creates a data dir, make it
mkdir -m 700 "$T/data"
ht() { "$HKMS_BIN" --config "$T/hkms.conf" "$@"; }
cd "$T" || fail "cd"
mkdir certs

# 2 x N distinct self-signed certificates, one key (openssl, in parallel)
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k.pem 2>/dev/null
for p in a b; do for i in $(seq 1 "$N"); do echo "$p-$i"; done; done |
	xargs -P 8 -I{} openssl req -x509 -key k.pem -subj "/CN={}" -days 30 \
		-out certs/{}.pem 2>/dev/null
[ "$(ls certs | wc -l)" = $((2 * N)) ] || fail "certificates not made"
pass "made $((2 * N)) certificates with openssl"

ht trust list >/dev/null || fail "list"
hkms_bg ht trust watch > watch.out 2> watch.err
WATCH=$BG_PID
sleep 0.5

# writer P: import P-1..P-N, deleting each even one right after its import
writer() {
	local p=$1 i rc=0
	for i in $(seq 1 "$N"); do
		"$HKMS_BIN" --config "$T/hkms.conf" trust import "$p-$i" \
			--file "certs/$p-$i.pem" >/dev/null 2>>"err.$p" || rc=1
		if [ $((i % 2)) -eq 0 ]; then
			"$HKMS_BIN" --config "$T/hkms.conf" trust delete "$p-$i" \
				>/dev/null 2>>"err.$p" || rc=1
		fi
	done
	return $rc
}
start=$(date +%s.%N)
hkms_bg writer a; WA=$BG_PID
hkms_bg writer b; WB=$BG_PID
wait $WA || fail "writer a: $(head -3 err.a)"
wait $WB || fail "writer b: $(head -3 err.b)"
end=$(date +%s.%N)
EXPECTED=$((2 * (N + N / 2)))
# give the watcher its second, then stop it
sleep 1.5
hkms_bg_stop $WATCH

python3 - "$N" "$T/data/trust" watch.out "$start" "$end" <<'PY' || fail "consistency check failed"
import json, os, sys, hashlib
n = int(sys.argv[1]); d = sys.argv[2]
expect = {f"{p}-{i}" for p in "ab" for i in range(1, n + 1) if i % 2}
files = os.listdir(d)
assert not [f for f in files if ".tmp." in f or f.endswith(".next")], "temp files left"
recs = {f[:-5] for f in files if f.endswith(".json")}
assert recs == expect, (len(recs), sorted(recs ^ expect)[:5])
for a in recs:
    m = json.load(open(f"{d}/{a}.json"))
    pem = open(f"{d}/{a}.pem", "rb").read()
    assert m["name"] == a and m["kind"] == "imported"
    assert hashlib.sha256(pem).hexdigest() == m["pem_sha256"], a
    assert pem.count(b"BEGIN CERTIFICATE") == 1
# the journal: gap-free, one line per change
j = [json.loads(l) for l in open(f"{d}/changes.log")]
assert [e["seq"] for e in j] == list(range(1, len(j) + 1)), "journal seq"
ops = [(e["event"], e["alias"]) for e in j]
want = sorted([("added", f"{p}-{i}") for p in "ab" for i in range(1, n + 1)] +
              [("removed", f"{p}-{i}") for p in "ab" for i in range(1, n + 1) if i % 2 == 0])
assert sorted(ops) == want, "journal content"
# the watcher: every change exactly once, in journal order, within 1 s
w = [json.loads(l) for l in open(sys.argv[3])]
assert [(e["event"], e["alias"]) for e in w] == ops, (len(w), len(ops))
lat = sorted(e["seen_ms"] - e["time_ms"] for e in w)
assert lat[-1] < 1000, lat[-1]
secs = float(sys.argv[5]) - float(sys.argv[4])
print(f"{len(ops)} changes by 2 processes in {secs:.1f} s "
      f"({len(ops)/secs:.0f}/s); store: {len(recs)} aliases as expected; "
      f"watch latency median {lat[len(lat)//2]} ms, p99 {lat[int(len(lat)*0.99)]} ms, "
      f"max {lat[-1]} ms")
PY
[ "$(ht --json trust list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = "$N" ] ||
	fail "trust list count"
ht trust verify --chain certs/a-1.pem >/dev/null || fail "a-1 does not verify"
expect_fail self_signed_certificate ht trust verify --chain certs/a-2.pem
pass "2 x $N imports with deletes: consistent store; watch saw all $EXPECTED changes within 1 s"
exit 0
