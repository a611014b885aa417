#!/bin/bash
# Issue 11 attack (busy operator): `store check` next to a `key delete`.
# The delete writes its audit line, destroys the token key, then removes
# the record; a check in between saw a record without its key and failed
# on a healthy store ("no key ... in the token", found by
# attack_parallel.sh). Made deterministic with the pause hook between the
# destruction and the record's removal:
#   - a check while the delete is paused there passes (a warning names
#     the delete in flight); the delete then finishes;
#   - a delete killed there: the check passes with the warning, deleting
#     the name again removes the record, and the check is clean;
#   - a key destroyed behind hkms's back (pkcs11-tool, no key.delete
#     line) is still an error.
. "$(dirname "$0")/lib.sh"
need python3 pkcs11-tool
[ "${HKMS_TEST_HOOKS:-0}" = 1 ] || skip "needs a build with HKMS_TEST_HOOKS"
hkms_setup
token_has() { hkms --json key list | python3 -c 'import json,sys
sys.exit(0 if any(k["name"] == sys.argv[1] for k in json.load(sys.stdin)) else 1)' "$1"; }

hkms key generate k1 --type ec:p256 >/dev/null || fail "key generate k1"
HKMS_TEST_PAUSE_AT=key_delete_before_unrecord HKMS_TEST_PAUSE_SECS=30 hkms_bg \
	"$HKMS_BIN" key delete k1
D=$BG_PID
for i in $(seq 1 100); do token_has k1 || break; sleep 0.1; done
token_has k1 && fail "the paused delete did not destroy the key"
[ -e "$T/data/keys/k1.json" ] || fail "the record went before the pause"
hkms --json store check > "$T/check.json" 2>&1 ||
	fail "store check fails next to a key delete in flight: $(cat "$T/check.json")"
grep -q 'keys/k1: its key is gone after the key delete of audit line' "$T/check.json" ||
	fail "the delete in flight is not named: $(cat "$T/check.json")"
hkms_bg_stop "$D"	# the delete is killed at the pause: an interrupted delete
[ -e "$T/data/keys/k1.json" ] || fail "the record went although the delete was killed"
hkms --json store check > "$T/check.json" 2>&1 ||
	fail "store check after an interrupted key delete: $(cat "$T/check.json")"
hkms key delete k1 >/dev/null || fail "deleting the interrupted delete's key again"
[ -e "$T/data/keys/k1.json" ] && fail "the record is still there"
hkms --json store check > "$T/check.json" 2>&1 || fail "store check: $(cat "$T/check.json")"
grep -q 'keys/k1' "$T/check.json" && fail "store check still names k1: $(cat "$T/check.json")"
pass "store check next to a key delete in flight, and after an interrupted one, passes"

# a paused delete that goes on: the record goes, nothing is left
hkms key generate k2 --type ec:p256 >/dev/null || fail "key generate k2"
HKMS_TEST_PAUSE_AT=key_delete_before_unrecord HKMS_TEST_PAUSE_SECS=2 \
	"$HKMS_BIN" key delete k2 >/dev/null || fail "a paused key delete failed"
[ -e "$T/data/keys/k2.json" ] && fail "the finished delete left its record"
hkms store check >/dev/null 2>&1 || fail "store check after the finished delete"

# a key destroyed outside hkms is still an error
hkms key generate k3 --type ec:p256 >/dev/null || fail "key generate k3"
ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T/data/keys/k3.json")
with_pin sh -c 'pkcs11-tool --module "$0" --token-label hkms --login --pin env:HKMS_PIN \
	--delete-object --type privkey --id "$1"' "$SOFTHSM_MODULE" "$ID" >/dev/null 2>&1 ||
	fail "pkcs11-tool delete"
hkms --json store check > "$T/check.json" 2>&1 && fail "store check passed with k3's key destroyed behind hkms's back"
grep -q "keys/k3: no key 'k3' with id $ID in the token" "$T/check.json" ||
	fail "the lost key is not named: $(cat "$T/check.json")"
pass "a key destroyed behind hkms's back is still an error"
