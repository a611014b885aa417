#!/bin/bash
# Two processes on one data dir: hkms serve under 8 keep-alive signers and
# a CLI `hkms ca sign` loop, for ATT_SOAK_S seconds (default 20). Every
# certificate acknowledged to either (a 201 for the client's own key, an
# exit 0 with a serial) has its record in `ca issued` and its own ca.sign
# ok line; no ok line without its record; no serial twice; audit verify
# and store check pass. Slow (label slow).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
python3 -c 'import cryptography' 2>/dev/null || skip "python3-cryptography is not installed"
hkms_setup
cd "$T"
PY=$HKMS_SRC/tests/e2e/attack_serve_workers.py
SECS=${ATT_SOAK_S:-20}

workers_client
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout cli.key \
	-subj /CN=cli.example.com -addext subjectAltName=DNS:cli.example.com -out cli.csr 2>/dev/null || fail "csr"
serve_start
service_ca

cli_loop() {
	local end=$((SECONDS + SECS))
	while [ $SECONDS -lt $end ]; do
		hkms --json ca sign --ca wca --profile tls-server --csr cli.csr \
			--out-file /dev/null > one.json 2>one.err || { echo "cli: $(cat one.err)"; return 1; }
		jget serial < one.json >> cli.acked || return 1
	done
}
: > cli.acked
cli_loop > cli.out 2>&1 &
CP=$!
ACKED=$T/srv.acked python3 "$PY" soak "$PORT" "$SECS" > soak.out 2>&1 || fail "soak: $(cat soak.out)"
wait "$CP" || fail "the CLI loop: $(cat cli.out)"
serve_stop
[ "$SRV_RC" = 0 ] || fail "exit status $SRV_RC"
hkms audit verify > verify.out 2>&1 || fail "audit verify: $(cat verify.out)"
hkms store check > check.out 2>&1 || fail "store check: $(cat check.out)"
hkms --json ca issued --ca wca > issued.json || fail "ca issued"
python3 - srv.acked cli.acked issued.json data/audit.log <<'PY' || exit 1
import json, sys
acked = [l.strip().upper().lstrip("0") for f in sys.argv[1:3] for l in open(f) if l.strip()]
issued = {r["serial"].upper().lstrip("0") for r in json.load(open(sys.argv[3]))}
ok = []
for line in open(sys.argv[4]):
    r = json.loads(line)
    if r["op"] == "ca.sign" and r["result"] == "ok":
        ok.append(str((r.get("detail") or {}).get("serial", "")).upper().lstrip("0"))
bad = [a for a in acked if a not in issued]
if bad:
    sys.exit("FAIL: acknowledged but no record: %s" % bad[:5])
bad = [a for a in acked if a not in ok]
if bad:
    sys.exit("FAIL: acknowledged but no ok line: %s" % bad[:5])
if len(set(ok)) != len(ok):
    sys.exit("FAIL: a serial audited twice")
bad = [s for s in ok if s not in issued]
if bad:
    sys.exit("FAIL: an ok line without its record: %s" % bad[:5])
if len(set(acked)) != len(acked):
    sys.exit("FAIL: a serial acknowledged twice")
print("%d acknowledged (%d over HTTPS), %d ok lines, %d records" %
      (len(acked), sum(1 for _ in open(sys.argv[1])), len(ok), len(issued)))
PY
pass "serve (8 signers) + CLI loop on one data dir for ${SECS}s: every acknowledged certificate has its record and its line; verify, check"
