#!/bin/bash
# Issue 11 attack (d): the disk fills up while 4 threads of one process
# issue through the group commit (tests/bench issue_bench count), in a
# private 16 MiB tmpfs (unshare -rm; skipped where that is not allowed).
# Each refused issuance fails with no_space (nothing else), no
# reservation or temp file is left, every acknowledged certificate is in
# the index once with its own audit line; after space is freed the next
# issuance works and store check and audit verify pass.
. "$(dirname "$0")/lib.sh"
need python3 openssl unshare
IB=${HKMS_ISSUE_BENCH:-${HKMS_BUILD:-}/tests/issue_bench}
[ -x "$IB" ] || skip "no issue_bench (build tests/bench)"
unshare -rm true 2>/dev/null || skip "no user and mount namespaces"
T=$(mktemp -d /tmp/hkms-e2e.XXXXXX)
trap 'rm -rf "$T"' EXIT
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/leaf.key" -subj /CN=leaf.full.example \
	-addext subjectAltName=DNS:leaf.full.example -out "$T/leaf.csr" 2>/dev/null
mkdir "$T/small"
unset HKMS_PIN HKMS_SO_PIN SOFTHSM2_CONF
# everything inside the namespace: the mount goes away with it
unshare -rm bash -s "$HKMS_BIN" "$IB" "$T" <<'EOS'
set -u
H=$1 IB=$2 T=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
mount -t tmpfs -o size=16m tmpfs "$T/small" || exit 77
D=$T/small/data
export HKMS_DATA_DIR=$D HKMS_CONFIG=$D/hkms.conf SOFTHSM2_CONF=$D/token/softhsm2.conf
"$H" init --data-dir "$D" >/dev/null || fail "init"
"$H" ca create root --key-type ec:p256 --subject /CN=Full-Root >/dev/null || fail "ca create"
HKMS_BENCH_ACKS=$T/acks "$IB" count root "$T/leaf.csr" 3000 4 > "$T/bench.out" 2> "$T/bench.err" &
B=$!
# fill the disk once the issuer is under way
for i in $(seq 1 100); do [ -s "$T/acks" ] && break; sleep 0.05; done
dd if=/dev/zero of="$T/small/fill" bs=4k 2>/dev/null
wait $B
cat "$T/bench.out"
grep -q '"failed":[1-9]' "$T/bench.out" || fail "the disk never filled: $(cat "$T/bench.out")"
bad=$(grep -v ': no_space: ' "$T/bench.err" | head -3)
[ -z "$bad" ] || fail "failures other than no_space on a full disk: $bad"
[ -z "$(find "$D" -name '*.rsv')" ] || fail "reservations left: $(find "$D" -name '*.rsv')"
[ -z "$(find "$D" -name '*.tmp.*')" ] || fail "temp files left: $(find "$D" -name '*.tmp.*')"
rm -f "$T/small/fill"
"$H" --json ca sign --ca root --profile tls-server --csr "$T/leaf.csr" --out-file /dev/null > "$T/one.json" ||
	fail "issuance after freeing space"
python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["serial"])' "$T/one.json" >> "$T/acks"
"$H" store check > "$T/check.out" 2>&1 || fail "store check: $(tail -c 800 "$T/check.out")"
"$H" audit verify > "$T/verify.out" 2>&1 || fail "audit verify: $(cat "$T/verify.out")"
"$H" --json ca issued --ca root > "$T/issued.json" || fail "ca issued"
python3 - "$T/acks" "$T/issued.json" "$D/audit.log" <<'PY' || exit 1
import collections, json, sys
acked = [l.strip().upper() for l in open(sys.argv[1]) if l.strip()]
issued = [r["serial"].upper() for r in json.load(open(sys.argv[2]))]
ok = collections.Counter()
aborted = set(); seqs = {}
for line in open(sys.argv[3]):
    r = json.loads(line)
    d = r.get("detail") or {}
    if isinstance(d, dict) and d.get("aborts"):
        aborted.add(d["aborts"])
    if r["op"] == "ca.sign" and r["result"] == "ok" and d.get("serial"):
        ok[d["serial"].upper()] += 1; seqs[d["serial"].upper()] = r["seq"]
err = []
if len(set(issued)) != len(issued): err.append("a serial is indexed twice")
lost = [s for s in acked if s not in set(issued)]
if lost: err.append("%d acknowledged certificates lost, e.g. %s" % (len(lost), lost[0]))
if [s for s in acked if ok[s] != 1 or seqs[s] in aborted]: err.append("an acknowledged serial has not exactly one ca.sign line")
if [s for s in issued if ok[s] < 1]: err.append("a record without its audit line")
print("full disk under group commit: %d acknowledged, %d indexed" % (len(acked), len(issued)))
if err: print("FAIL:", *err, sep="\n  "); sys.exit(1)
PY
EOS
rc=$?
[ $rc -eq 77 ] && skip "no tmpfs mount in the namespace"
[ $rc -eq 0 ] || fail "disk full under group commit (above)"
pass "disk full under the group commit: no_space only, nothing acknowledged lost, nothing left behind"
