#!/bin/bash
# Issue 11 attack (b): of two 3-thread library issuers on one data dir
# (tests/bench issue_bench count, group commit), one is killed with
# SIGKILL mid-run, 4 rounds at different instants, while the other one
# and a CLI `ca sign` loop (each CLI open runs the recovery) go on. The
# survivor finishes all its certificates (its live reservations are not
# taken for stale), the recovery of the next open drops the dead one's,
# and every certificate either process acknowledged is in the index once
# with its own ca.sign line; store check and audit verify pass.
. "$(dirname "$0")/lib.sh"
need python3 openssl
IB=${HKMS_ISSUE_BENCH:-${HKMS_BUILD:-}/tests/issue_bench}
[ -x "$IB" ] || skip "no issue_bench (build tests/bench)"
hkms_setup
N=${HKMS_ATTACK_BENCH_N:-120}

hkms ca create root --key-type ec:p256 --subject /CN=Kill-Root >/dev/null || fail "ca create"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/leaf.key" -subj /CN=leaf.kill.example \
	-addext subjectAltName=DNS:leaf.kill.example -out "$T/leaf.csr" 2>/dev/null

cli_sign() { while [ ! -e "$T/stop" ]; do
	"$HKMS_BIN" --json ca sign --ca root --profile tls-server --csr "$T/leaf.csr" \
		--out-file /dev/null > "$T/s.json" 2>> "$T/cli.err" &&
		python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["serial"])' \
			"$T/s.json" >> "$T/acks.cli"
	done; }

for round in 1 2 3 4; do
	rm -f "$T/stop"
	HKMS_BENCH_ACKS=$T/acks.victim.$round hkms_bg "$IB" count root "$T/leaf.csr" 100000 3
	V=$BG_PID
	HKMS_BENCH_ACKS=$T/acks.survivor.$round hkms_bg "$IB" count root "$T/leaf.csr" "$N" 3
	S=$BG_PID
	hkms_bg cli_sign; C=$BG_PID
	# kill after the victim acknowledged 5, 12, 20, 31 certificates
	want=$(( round * round + round * 4 ))
	for i in $(seq 1 400); do
		[ "$(cat "$T/acks.victim.$round" 2>/dev/null | wc -l)" -ge "$want" ] && break
		sleep 0.05
	done
	kill -KILL "$V"; wait "$V" 2>/dev/null
	HKMS_BG_PIDS=${HKMS_BG_PIDS/ $V/}
	wait "$S" || fail "round $round: the survivor failed: $(tail -3 "$T/cli.err")"
	HKMS_BG_PIDS=${HKMS_BG_PIDS/ $S/}
	touch "$T/stop"; wait "$C"
	HKMS_BG_PIDS=${HKMS_BG_PIDS/ $C/}
	[ "$(wc -l < "$T/acks.survivor.$round")" -eq "$N" ] ||
		fail "round $round: the survivor acknowledged $(wc -l < "$T/acks.survivor.$round") of $N"
	# a normal open: the dead issuer's reservations go
	hkms --json ca issued --ca root > "$T/issued.json" || fail "round $round: ca issued"
	[ -z "$(find "$T/data" -name '*.rsv')" ] ||
		fail "round $round: reservations left after recovery: $(find "$T/data" -name '*.rsv')"
	hkms store check > "$T/check.out" 2>&1 || fail "round $round: store check: $(tail -c 800 "$T/check.out")"
	hkms audit verify > "$T/verify.out" 2>&1 || fail "round $round: audit verify: $(cat "$T/verify.out")"
done
cat "$T"/acks.* > "$T/acks"
python3 - "$T/acks" "$T/issued.json" "$T/data/audit.log" <<'PY' || fail "acknowledged and stored differ"
import collections, json, sys
acked = [l.strip().upper() for l in open(sys.argv[1]) if l.strip()]
issued = [r["serial"].upper() for r in json.load(open(sys.argv[2]))]
ok = collections.Counter(); seqs = {}; aborted = set()
for line in open(sys.argv[3]):
    r = json.loads(line)
    d = r.get("detail") or {}
    if isinstance(d, dict) and d.get("aborts"):
        aborted.add(d["aborts"])
    if r["op"] == "ca.sign" and r["result"] == "ok" and d.get("serial"):
        ok[d["serial"].upper()] += 1; seqs[d["serial"].upper()] = r["seq"]
err = []
if len(set(acked)) != len(acked): err.append("a serial acknowledged twice")
if len(set(issued)) != len(issued): err.append("a serial indexed twice")
lost = [s for s in acked if s not in set(issued)]
if lost: err.append("%d acknowledged certificates lost, e.g. %s" % (len(lost), lost[0]))
if [s for s, n in ok.items() if n > 1]: err.append("a serial audited as issued twice")
if [s for s in acked if ok[s] != 1 or seqs[s] in aborted]: err.append("an acknowledged serial without its ca.sign line")
if [s for s in issued if ok[s] < 1]: err.append("a record without its audit line")
print("%d acknowledged, %d indexed, %d ca.sign ok lines" % (len(acked), len(issued), sum(ok.values())))
if err: print("FAIL:", *err, sep="\n  "); sys.exit(1)
PY
pass "one of two group-commit issuers killed mid-run (4 rounds): the other finishes, nothing acknowledged lost"
