#!/bin/bash
# Issue 11 attack (a): several processes mutate one data dir at once while
# a multi-threaded library issuer (tests/bench issue_bench count, 2
# threads, group commit) runs twice in parallel:
#   - 2 issue_bench processes x 2 threads, N certificates each,
#   - a CLI `ca sign` loop,
#   - a CLI key loop: generate, import, delete (and a name two loops race
#     for: exactly one of them gets it),
#   - a CLI store check + audit verify loop (no false alarm on a healthy
#     store under load),
# for HKMS_ATTACK_SECONDS (default 15). Then `store check` and
# `audit verify` pass, no reservation is left, every acknowledged serial
# (bench acks + CLI exits 0) is in the index exactly once and audited by
# exactly one ca.sign ok line, and each key operation that exited 0 has
# its audit line.
. "$(dirname "$0")/lib.sh"
need python3 openssl
IB=${HKMS_ISSUE_BENCH:-${HKMS_BUILD:-}/tests/issue_bench}
[ -x "$IB" ] || skip "no issue_bench (build tests/bench)"
hkms_setup
SECS=${HKMS_ATTACK_SECONDS:-15}
N=${HKMS_ATTACK_BENCH_N:-150}

hkms ca create root --key-type ec:p256 --subject /CN=Par-Root >/dev/null || fail "ca create"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/leaf.key" -subj /CN=leaf.par.example \
	-addext subjectAltName=DNS:leaf.par.example -out "$T/leaf.csr" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$T/imp.pem" 2>/dev/null || fail "openssl genpkey"

END=$(( $(date +%s) + SECS ))
running() { [ "$(date +%s)" -lt "$END" ]; }

cli_sign() { local i=0 me=$BASHPID; while running; do i=$((i+1))
	if "$HKMS_BIN" --json ca sign --ca root --profile tls-server \
	    --csr "$T/leaf.csr" --out-file /dev/null > "$T/s.$me" 2>> "$T/serr.$me"; then
		python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["serial"])' \
			"$T/s.$me" >> "$T/acks.cli.$me"
	fi; done; }
# key loop L: generate, import, delete; and the contested name "race<i>"
cli_keys() { local i=0 l=$1; while running; do i=$((i+1))
	"$HKMS_BIN" key generate "g$l-$i" --type ec:p256 >/dev/null 2>>"$T/kerr.$l" &&
		echo "key.generate g$l-$i" >> "$T/kacks.$l"
	"$HKMS_BIN" key import "i$l-$i" --file "$T/imp.pem" >/dev/null 2>>"$T/kerr.$l" &&
		echo "key.import i$l-$i" >> "$T/kacks.$l"
	"$HKMS_BIN" key delete "g$l-$i" >/dev/null 2>>"$T/kerr.$l" &&
		echo "key.delete g$l-$i" >> "$T/kacks.$l"
	"$HKMS_BIN" key generate "race$i" --type ec:p256 >/dev/null 2>>"$T/kerr.$l" &&
		echo "key.generate race$i" >> "$T/kacks.$l"
	done; }

# the busy operator: store check and audit verify while all that runs;
# a failure on a healthy store is a false alarm
# store check and audit verify under load: a verdict against a healthy
# store is a false alarm; a clean token error (SoftHSM2 re-reading its
# files while others write, see audit_concurrency.sh) is not a verdict
checker() { while running; do
	"$HKMS_BIN" store check > /dev/null 2>> "$T/checks"
	"$HKMS_BIN" audit verify > /dev/null 2>> "$T/checks"
	done
	grep -E '"code":"(store_inconsistent|audit_chain|verification_failed)"' "$T/checks" > "$T/alarms"; }

HKMS_BENCH_ACKS=$T/acks.b1 hkms_bg "$IB" count root "$T/leaf.csr" "$N" 2
B1=$BG_PID
HKMS_BENCH_ACKS=$T/acks.b2 hkms_bg "$IB" count root "$T/leaf.csr" "$N" 2
B2=$BG_PID
hkms_bg cli_sign; P1=$BG_PID
hkms_bg cli_keys a; P2=$BG_PID
hkms_bg cli_keys b; P3=$BG_PID
hkms_bg checker; P4=$BG_PID
wait "$B1" || fail "issue_bench 1 failed"
wait "$B2" || fail "issue_bench 2 failed"
for p in $P1 $P2 $P3 $P4; do wait "$p"; done
HKMS_BG_PIDS=

[ ! -s "$T/alarms" ] || fail "store check / audit verify failed on a healthy store under load: $(sort "$T/alarms" | uniq -c | head -5)"
[ -z "$(find "$T/data" -name '*.rsv')" ] ||
	fail "reservations left by finished processes: $(find "$T/data" -name '*.rsv')"
hkms store check > "$T/check.out" 2>&1 || fail "store check: $(tail -c 1500 "$T/check.out")"
hkms audit verify > "$T/verify.out" 2>&1 || fail "audit verify: $(cat "$T/verify.out")"
hkms --json ca issued --ca root > "$T/issued.json" || fail "ca issued"
hkms --json key list > "$T/keys.json" || fail "key list"
cat "$T"/acks.* > "$T/acks"
cat "$T"/kacks.* 2>/dev/null > "$T/kacks"
python3 - "$T/acks" "$T/issued.json" "$T/data/audit.log" "$T/kacks"  "$T/keys.json" <<'PY' || fail "acknowledged and stored differ (above)"
import collections, json, sys
acked = [l.strip().upper() for l in open(sys.argv[1]) if l.strip()]
issued = [r["serial"].upper() for r in json.load(open(sys.argv[2]))]
ok = collections.Counter(); aborted = set(); okseq = {}
kops = collections.Counter()
for line in open(sys.argv[3]):
    r = json.loads(line)
    d = r.get("detail") or {}
    if isinstance(d, dict) and d.get("aborts"):
        aborted.add(d["aborts"])
    if r["result"] == "ok" and r["op"] == "ca.sign" and d.get("serial"):
        ok[d["serial"].upper()] += 1
        okseq[d["serial"].upper()] = r["seq"]
    if r["result"] == "ok" and r["op"].startswith("key."):
        kops[(r["op"], r["object"])] += 1
err = []
if len(set(acked)) != len(acked):
    err.append("a serial was acknowledged twice")
if len(set(issued)) != len(issued):
    err.append("a serial is in the index twice")
lost = [s for s in acked if s not in set(issued)]
if lost:
    err.append("%d acknowledged serials missing from the index, e.g. %s" % (len(lost), lost[0]))
twice = [s for s, n in ok.items() if n > 1]
if twice:
    err.append("serial %s audited as issued %d times" % (twice[0], ok[twice[0]]))
unaud = [s for s in acked if s not in ok or okseq[s] in aborted]
if unaud:
    err.append("acknowledged serial %s has no ca.sign line" % unaud[0])
norec = [s for s in issued if s not in ok]
if norec:
    err.append("record %s has no audit line" % norec[0])
kacked = [tuple(l.split()) for l in open(sys.argv[4]) if l.strip()]
for op, name in kacked:
    if kops[(op, name)] < 1:
        err.append("%s %s exited 0 without its audit line" % (op, name))
races = collections.Counter(name for op, name in kacked if name.startswith("race"))
dup = [k for k, v in races.items() if v > 1]
if dup:
    err.append("two processes both created key %s" % dup[0])
labels = collections.Counter(k["name"] for k in json.load(open(sys.argv[5])))
dupl = [k for k, v in labels.items() if v > 1]
if dupl:
    err.append("two token keys labelled %s" % dupl[0])
print("acknowledged serials %d, index %d, key ops %d" % (len(acked), len(issued), len(kacked)))
if err:
    print("FAIL:", *err, sep="\n  ")
    sys.exit(1)
PY
[ "$(wc -l < "$T/acks.b1")" -eq "$N" ] || fail "bench 1 acknowledged $(wc -l < "$T/acks.b1") of $N"
[ "$(wc -l < "$T/acks.b2")" -eq "$N" ] || fail "bench 2 acknowledged $(wc -l < "$T/acks.b2") of $N"
pass "parallel issuers, CLI signers and key loops on one data dir: all acknowledged work stored once and audited"
