#!/bin/bash
# Issue 11 attack (b): `key generate` killed at every step — each atomic
# write (the reservation, the ready record, the audit head: after_write,
# after_fsync, after_rename at 1..3), each audit step (audit_partial,
# audit_after_write, audit_after_sync) and between the token key and its
# record (key_before_commit). After each kill: the read-only store check
# fails at most on that key's interrupted creation, a second `key
# generate` of the name either cleans up and makes the key or finds the
# committed one (key_exists), and then: store check and audit verify
# pass, exactly one token key has the name, no token key is left without
# a record (no orphan), and a key made by the second try has its line.
. "$(dirname "$0")/lib.sh"
need python3
[ "${HKMS_TEST_HOOKS:-0}" = 1 ] || skip "needs a build with HKMS_TEST_HOOKS"
hkms_setup

i=0
for step in after_write:1 after_write:2 after_write:3 after_fsync:1 after_fsync:2 \
    after_fsync:3 after_rename:1 after_rename:2 after_rename:3 audit_partial \
    audit_after_write audit_after_sync test:key_before_commit; do
	i=$((i + 1)); n=kc$i
	if [ "${step%%:*}" = test ]; then
		HKMS_TEST_CRASH_AT=${step#test:} "$HKMS_BIN" key generate "$n" --type ec:p256 >/dev/null 2>&1
	else
		HKMS_STORE_CRASH_AT=$step "$HKMS_BIN" key generate "$n" --type ec:p256 >/dev/null 2>&1
	fi
	rc=$?
	[ $rc -eq 137 ] || fail "$step: the crash point was not reached (exit $rc)"
	hkms --json store check > "$T/ro.json" 2>/dev/null || python3 - "$T/ro.json" "$n" <<'PY' || fail "$step: store check: $(cat "$T/ro.json")"
import json, re, sys
r = json.load(open(sys.argv[1]))
bad = [e for e in r["errors"] if not re.match(r"keys/%s: (stale reservation|no key)" % re.escape(sys.argv[2]), e)]
if bad:
    print(bad); sys.exit(1)
PY
	out=$("$HKMS_BIN" key generate "$n" --type ec:p256 2>&1 >/dev/null); rc2=$?
	if [ $rc2 -ne 0 ]; then
		echo "$out" | grep -q '"code":"key_exists"' || fail "$step: second key generate: $out"
	fi
	hkms --json store check > "$T/check.json" 2>&1 || fail "$step: store check after the retry: $(cat "$T/check.json")"
	hkms audit verify > "$T/verify.out" 2>&1 || fail "$step: audit verify: $(cat "$T/verify.out")"
	hkms --json key list > "$T/keys.json" || fail "$step: key list"
	python3 - "$T/keys.json" "$T/data" "$n" "$rc2" "$step" <<'PY' || exit 1
import json, os, sys
keys, data, n, rc2, step = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
mine = [k for k in keys if k["name"] == n]
if len(mine) != 1:
    sys.exit("FAIL: %s: %d token keys named %s" % (step, len(mine), n))
rec = json.load(open(os.path.join(data, "keys", n + ".json")))
if rec.get("state") != "ready" or rec.get("id") != mine[0]["id"]:
    sys.exit("FAIL: %s: the record of %s is not the ready record of its key: %s" % (step, n, rec))
recorded = {f[:-5] for f in os.listdir(os.path.join(data, "keys")) if f.endswith(".json")}
orphans = [k["name"] for k in keys if k["name"] != "hkms-audit" and k["name"] not in recorded]
if orphans:
    sys.exit("FAIL: %s: token keys without a record: %s" % (step, orphans))
if rc2 == "0":
    ok = [json.loads(l) for l in open(os.path.join(data, "audit.log"))]
    if not any(r["op"] == "key.generate" and r["result"] == "ok" and
               (r.get("detail") or {}).get("id") == rec["id"] for r in ok):
        sys.exit("FAIL: %s: the retried key %s has no key.generate line" % (step, n))
PY
done
pass "key generate killed at each of $i steps: recovered by the next request, one key per name, no orphan, audit verifies"
