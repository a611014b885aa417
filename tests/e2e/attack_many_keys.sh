#!/bin/bash
# A shared token with more than 1024 private keys (other applications'):
# `key list` lists every one and `store check` compares every one, instead
# of the first 1024 the token returned (a key of ours beyond them was then
# reported missing). Slow: SoftHSM2 takes ~90 s for 1030 key pairs.
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup
: "${HKMS_P11ATTR:?}"
with_pin "$HKMS_P11ATTR" "$SOFTHSM_MODULE" hkms --mkkeys 1030 f >/dev/null ||
	fail "cannot make 1030 foreign keys"
hkms key generate mine --type ec:p256 >/dev/null || fail "generate"
hkms --json key list > "$T/list.json" || fail "key list"
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$T/list.json")
# 1030 foreign, ours and the audit key made by init
[ "$n" = 1032 ] || fail "key list shows $n of 1032 keys"
hkms --json store check > "$T/check.json" 2>&1 || fail "store check: $(head -c 600 "$T/check.json")"
python3 - "$T/check.json" <<'PY' || fail "store check keys: $(head -c 600 "$T/check.json")"
import json, sys
k = json.load(open(sys.argv[1]))["keys"]
assert k["token_keys"] == 1032 and k["recorded"] == 1 and len(k["foreign"]) == 1030 and k["audit_key_id"] and not k["warnings"], k
PY
pass "1032 private keys on the token: key list and store check see all of them"
exit 0
