#!/bin/bash
# Bad input for key management: each a clear JSON error and a non-zero exit,
# and a wrong PIN is tried once only.
. "$(dirname "$0")/lib.sh"
hkms_setup

expect_fail unknown_key_type hkms key generate a --type dsa:2048
expect_fail weak_key hkms key generate a --type rsa:1024
expect_fail usage hkms key generate a
expect_fail usage hkms key frobnicate
hkms key generate dup --type ec:p256 >/dev/null || fail "generate"
expect_fail key_exists hkms key generate dup --type ec:p256
expect_fail bad_name hkms key generate '../x' --type ec:p256
expect_fail key_not_found hkms key show nosuchkey
pass "bad key requests refused"

# missing token
sed "s/^label = hkms/label = nosuchtoken/" "$HKMS_CONFIG" > "$T/other.conf"
expect_fail token_not_found hkms --config "$T/other.conf" key list
# missing module
sed "s#^module = .*#module = /nonexistent/libp11.so#" "$HKMS_CONFIG" > "$T/nomod.conf"
expect_fail module_load hkms --config "$T/nomod.conf" key list
pass "missing token / module"

# unreadable and too-open PIN files
sed "s#^pin_file = .*#pin_file = $T/nopin#" "$HKMS_CONFIG" > "$T/nopin.conf"
expect_fail secret_file_unreadable hkms --config "$T/nopin.conf" key list
cp "$T/data/token/user.pin" "$T/open.pin"; chmod 644 "$T/open.pin"
sed "s#^pin_file = .*#pin_file = $T/open.pin#" "$HKMS_CONFIG" > "$T/open.conf"
expect_fail secret_file_mode hkms --config "$T/open.conf" key list
pass "PIN file errors"

# wrong PIN: one attempt, clear error, and the PIN is not echoed
out=$(HKMS_PIN=wrong-pin-123 "$HKMS_BIN" key list 2>&1 >/dev/null) && fail "wrong PIN accepted"
echo "$out" | grep -q '"code":"pin_incorrect"' || fail "wrong PIN error: $out"
echo "$out" | grep -q 'wrong-pin-123' && fail "PIN echoed in the error"
hkms key list >/dev/null || fail "right PIN after a wrong one"
pass "wrong PIN: clear error, token still usable"

# config errors
printf '[token]\nmodul = x\n' > "$T/typo.conf"
expect_fail config_unknown_key hkms --config "$T/typo.conf" key list
expect_fail config_missing hkms --config "$T/none.conf" key list
pass "config errors"

# the PIN never shows up in argv-visible places or outputs
grep -rq "$(cat "$T/data/token/user.pin")" "$T/data/audit.log" && fail "PIN in audit"
exit 0
