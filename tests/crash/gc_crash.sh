#!/bin/bash
# T-FS-1/T-FS-2 for reservations and the group commit: a multi-threaded
# issuer (tests/bench issue_bench, 4 threads calling hkms_ops_ca_sign, so
# batches of several certificates share one audit write, one fdatasync,
# one signed head) is killed
#   - at random instants (SIGKILL, GC_CRASH_RANDOM times, default 20), and
#   - at each named crash point, at a few counts (HKMS_STORE_CRASH_AT):
#     gc_reserved (serial reserved, nothing signed), audit_partial (half of
#     a batch's lines written: a batch cut in half), audit_after_write and
#     audit_after_sync (lines written / durable, head not), gc_after_head
#     (head signed, no record renamed), gc_mid_records (half the batch's
#     records in place), gc_records_written (records in their reservation
#     files, lines not written).
# After each kill: `store check` (read-only) passes and lists what recovery
# would do (stale reservations), a normal open drops them, one more
# issuance works, store check and audit verify pass, no reservation is
# left, every acknowledged certificate is in the index and audited by its
# own ca.sign line, and no serial was issued twice.
. "$(dirname "$0")/../e2e/lib.sh"
need python3 openssl
IB=${HKMS_ISSUE_BENCH:-${HKMS_BUILD:-}/tests/issue_bench}
[ -x "$IB" ] || skip "no issue_bench (build tests/bench)"
hkms_setup
RANDOM_N=${GC_CRASH_RANDOM:-20}
ACK=$T/acked; : > "$ACK"
unset HKMS_STORE_CRASH_AT

hkms ca create root --key-type ec:p256 --subject /CN=GC-Crash-Root >/dev/null || fail "ca create"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/leaf.key" -subj /CN=leaf.gc.example \
	-addext subjectAltName=DNS:leaf.gc.example -out "$T/leaf.csr" 2>/dev/null

check() {	# what happened
	local what=$1
	hkms --json store check > "$T/ro.json" 2>&1 ||
		fail "$what: read-only store check: $(tail -c 800 "$T/ro.json")"
	# a normal open runs recovery: stale reservations go
	hkms --json ca issued --ca root > "$T/issued.json" || fail "$what: ca issued"
	[ -z "$(find "$T/data/issued" -name '*.rsv')" ] ||
		fail "$what: reservations left after recovery: $(find "$T/data/issued" -name '*.rsv')"
	# the log (maybe a batch cut before its head, or in half) takes a new line
	hkms --json ca sign --ca root --profile tls-server --csr "$T/leaf.csr" \
		--out-file /dev/null > "$T/one.json" 2>&1 || fail "$what: next issuance: $(cat "$T/one.json")"
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["serial"])' "$T/one.json" >> "$ACK"
	hkms store check > "$T/check.out" 2>&1 || fail "$what: store check: $(tail -c 800 "$T/check.out")"
	hkms audit verify > "$T/verify.out" 2>&1 || fail "$what: audit verify: $(cat "$T/verify.out")"
	hkms --json ca issued --ca root > "$T/issued.json" || fail "$what: ca issued"
	python3 - "$ACK" "$T/issued.json" "$T/data/audit.log" "$what" <<'PY' || exit 1
import json, sys
acked = [l.strip().upper() for l in open(sys.argv[1]) if l.strip()]
issued = {r["serial"].upper() for r in json.load(open(sys.argv[2]))}
ok, aborted = {}, set()
for line in open(sys.argv[3]):
    if not line.endswith("\n"):
        continue
    r = json.loads(line)
    if r["op"] != "ca.sign":
        continue
    d = r.get("detail") or {}
    if r["result"] == "ok" and d.get("serial"):
        s = d["serial"].upper()
        if s in ok:
            sys.exit(f"FAIL: {sys.argv[4]}: serial {s} audited as issued twice")
        ok[s] = r["seq"]
    if d.get("aborts"):
        aborted.add(d["aborts"])
lost = [s for s in acked if s not in issued]
if lost:
    sys.exit(f"FAIL: {sys.argv[4]}: {len(lost)} acknowledged certificates missing, e.g. {lost[0]}")
unaudited = [s for s in acked if s not in ok or ok[s] in aborted]
if unaudited:
    sys.exit(f"FAIL: {sys.argv[4]}: acknowledged certificate {unaudited[0]} has no ca.sign line")
extra = [s for s in issued if s not in ok]
if extra:
    sys.exit(f"FAIL: {sys.argv[4]}: record {extra[0]} has no audit line")
if len(set(acked)) != len(acked):
    sys.exit(f"FAIL: {sys.argv[4]}: a serial was acknowledged twice")
PY
}

issuer() {	# background issuer, 4 threads, until killed or crashed
	HKMS_BENCH_ACKS=$ACK "$IB" count root "$T/leaf.csr" 3000 4 \
		> /dev/null 2> "$T/issuer.err" &
	ISSUER=$!
}

# 1. random SIGKILLs, once the issuer is past its login (SoftHSM2 rewrites
# its token file at login; a kill there is the token's problem, not ours)
for i in $(seq 1 "$RANDOM_N"); do
	before=$(wc -l < "$ACK")
	issuer
	for _ in $(seq 1 200); do
		[ "$(wc -l < "$ACK")" -gt "$before" ] && break
		kill -0 $ISSUER 2>/dev/null || break
		sleep 0.02
	done
	sleep "0.0$((RANDOM % 10))$((RANDOM % 10))"
	kill -9 $ISSUER 2>/dev/null; wait $ISSUER 2>/dev/null
	check "random kill $i"
done
pass "$RANDOM_N random kills of a 4-thread issuer: acknowledged = durable and audited"

# 2. named crash points (test builds only)
if [ "${HKMS_TEST_HOOKS:-1}" = 0 ]; then
	skip "crash points need a test build (cmake -DHKMS_TEST_HOOKS=ON)"
fi
for step in gc_reserved gc_records_written audit_partial audit_after_write \
	audit_after_sync gc_after_head gc_mid_records; do
	for n in 1 7 23; do
		export HKMS_STORE_CRASH_AT=$step:$n
		issuer
		wait $ISSUER; rc=$?
		unset HKMS_STORE_CRASH_AT
		[ $rc = 137 ] || fail "$step:$n: issuer ended with $rc, not the crash: $(tail -c 400 "$T/issuer.err")"
		if [ $step = gc_reserved ] && [ $n = 1 ]; then
			hkms --json store check > "$T/ro.json" 2>&1 || fail "store check after $step"
			grep -q 'stale reservation' "$T/ro.json" ||
				fail "store check does not say recovery would drop the stale reservation: $(tail -c 600 "$T/ro.json")"
		fi
		check "$step:$n"
	done
done
pass "every group-commit crash point at 3 counts: store check, audit verify, acknowledged = durable and audited, no serial reused"
