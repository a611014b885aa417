#!/bin/bash
# A key that does not read back as the one made is an error, never a key
# record with an empty id: under SoftHSM2's file store a process rewriting
# token.object can make a new object's attributes read as absent
# (CKR_ATTRIBUTE_TYPE_INVALID), once seen in e2e audit_concurrency as
# `key '' is left in the token` and a keys/<name> record with id "". The
# shim makes every C_GetAttributeValue say so: key generate must fail with
# a JSON error, leave no record and no object of that name in the token.
. "$(dirname "$0")/../e2e/lib.sh"
: "${P11SHIM_LIB:?}"
need pkcs11-tool
hkms_setup
sed "s#^module = .*#module = $P11SHIM_LIB#" "$HKMS_CONFIG" > "$T/shim.conf"
chmod 600 "$T/shim.conf"
export P11SHIM_TARGET=$SOFTHSM_MODULE
shim() { "$HKMS_BIN" --config "$T/shim.conf" "$@"; }
shim key list >/dev/null || fail "hkms does not work through the shim in pass-through"

out=$(P11SHIM_FAULTS="C_GetAttributeValue:CKR_ATTRIBUTE_TYPE_INVALID@always" \
	shim key generate rb --type ec:p256 2>&1 >/dev/null) && fail "key generate acknowledged"
echo "$out" | grep -q '"error":{"code":"' || fail "no JSON error: $out"
echo "$out" | grep -q "key '' is left" && fail "a nameless key left: $out"
[ ! -e "$T/data/keys/rb.json" ] || fail "record written: $(cat "$T/data/keys/rb.json")"
with_pin pkcs11-tool --module "$SOFTHSM_MODULE" --token-label hkms --login \
	--pin env:HKMS_PIN --list-objects 2>/dev/null | grep -q "label: *rb$" &&
	fail "key rb left in the token"
hkms store check >/dev/null || fail "store check after the failed generate"
hkms key generate rb --type ec:p256 >/dev/null || fail "the name is not free again"
pass "a key that does not read back is destroyed, nothing recorded"
