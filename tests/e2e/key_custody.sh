#!/bin/bash
# Key custody on a token shared with other applications (pkcs11-tool):
# `key delete` destroys exactly our pair and certificate object, never a
# foreign object sharing the CKA_ID or the label; imported keys cannot
# decrypt, unwrap or derive; a name is unique across processes; a crash
# between keygen and commit is reported by `store check` and a retry
# succeeds; long foreign labels/ids do not break `key list`; P-521 import
# works; keys are not modifiable/copyable.
. "$(dirname "$0")/lib.sh"
need pkcs11-tool python3 openssl
hkms_setup
: "${HKMS_P11ATTR:?}"

# pkcs11-tool with the PIN from the environment, never argv
p11() { with_pin pkcs11-tool --module "$SOFTHSM_MODULE" --token-label hkms \
	--pin env:HKMS_PIN "$@"; }
objs() { p11 --list-objects > "$T/objs" 2>&1 || fail "pkcs11-tool list"; }
# count objects of a type (Private Key|Public Key|Certificate) with label
count() { python3 - "$T/objs" "$1" "$2" <<'PY'
import sys, re
kind, label = sys.argv[2], sys.argv[3]
n, cur = 0, None
for line in open(sys.argv[1]):
    if re.match(r'^\S.*Object', line):
        cur = line
    m = re.match(r'^\s+label:\s+(.*)$', line)
    if m and cur and cur.startswith(kind) and m.group(1) == label:
        n += 1
print(n)
PY
}

# ---- 1. a foreign key pair sharing our CKA_ID survives `key delete` ----
hkms --json key generate mine --type ec:p256 > "$T/mine.json" || fail "generate"
id=$(jget id < "$T/mine.json")
case $id in 686b6d73????????????????) ;; *) fail "id $id lacks the hkms prefix" ;; esac
p11 --keypairgen --key-type EC:prime256v1 --id "$id" --label other-app >/dev/null 2>&1 ||
	fail "pkcs11-tool keypairgen with our id"
# a certificate object of ours (same id and label) and a foreign one (same id)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
	-subj /CN=c -days 1 -outform DER -out "$T/c.der" 2>/dev/null || fail "cert"
p11 --write-object "$T/c.der" --type cert --id "$id" --label mine >/dev/null 2>&1 ||
	fail "write our cert object"
p11 --write-object "$T/c.der" --type cert --id "$id" --label other-cert >/dev/null 2>&1 ||
	fail "write foreign cert object"
hkms key delete mine >/dev/null || fail "delete mine"
objs
[ "$(count 'Private Key' other-app)" = 1 ] || fail "foreign private key destroyed: $(cat "$T/objs")"
[ "$(count 'Public Key' other-app)" = 1 ] || fail "foreign public key destroyed"
[ "$(count Certificate other-cert)" = 1 ] || fail "foreign certificate object destroyed"
for k in 'Private Key' 'Public Key' Certificate; do
	[ "$(count "$k" mine)" = 0 ] || fail "our $k object survived the delete"
done
[ -e "$T/data/keys/mine.json" ] && fail "key record left after delete"
pass "delete: our pair and certificate object gone, foreign objects with our CKA_ID kept"

# ---- 2. a foreign key sharing our label: refused, nothing destroyed ----
hkms --json key generate twin --type ec:p256 > "$T/twin.json" || fail "generate twin"
tid=$(jget id < "$T/twin.json")
p11 --keypairgen --key-type EC:prime256v1 --id 0102 --label twin >/dev/null 2>&1 ||
	fail "pkcs11-tool keypairgen with our label"
expect_fail key_ambiguous hkms key delete twin
objs
[ "$(count 'Private Key' twin)" = 2 ] || fail "an ambiguous delete destroyed something"
hkms key delete "id:$tid" >/dev/null || fail "delete twin by id"
objs
[ "$(count 'Private Key' twin)" = 1 ] || fail "delete by id: wrong count"
p11 --list-objects --type privkey 2>/dev/null | grep -A3 "label: *twin$" | grep -q "ID: *0102" ||
	fail "the foreign twin is not the one left"
pass "delete: a name shared with a foreign key is key_ambiguous; by id only ours goes"

# ---- 3. imported keys are sign-only, and the token says so ----
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa.pem" 2>/dev/null
hkms --json key import imp --file "$T/rsa.pem" > "$T/imp.json" || fail "import"
hkms --json key show imp > "$T/imp.show" || fail "show imp"
for a in decrypt unwrap derive sign_recover modifiable copyable; do
	[ "$(jget $a < "$T/imp.show")" = false ] || fail "imported key: $a is $(jget $a < "$T/imp.show")"
done
[ "$(jget sign < "$T/imp.show")" = true ] || fail "imported key cannot sign"
with_pin "$HKMS_P11ATTR" "$SOFTHSM_MODULE" hkms imp > "$T/imp.attr" || fail "p11attr imp"
grep -q '^CKA_UNWRAP=0$' "$T/imp.attr" || fail "CKA_UNWRAP: $(cat "$T/imp.attr")"
grep -q '^C_UnwrapKey=rv:0x68$' "$T/imp.attr" ||
	fail "C_UnwrapKey not refused with CKR_KEY_FUNCTION_NOT_PERMITTED: $(cat "$T/imp.attr")"
grep -q '^C_DecryptInit=rv:0x68$' "$T/imp.attr" || fail "C_DecryptInit not refused"
grep -q SECRET_RECOVERED "$T/imp.attr" && fail "a secret was recovered with the imported key"
# the probe is real: a pkcs11-tool key (unwrap allowed) does recover it
p11 --keypairgen --key-type rsa:2048 --id 0a --label probe >/dev/null 2>&1 || fail "probe key"
with_pin "$HKMS_P11ATTR" "$SOFTHSM_MODULE" hkms probe | grep -q SECRET_RECOVERED ||
	fail "the unwrap probe does not work on an unrestricted key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ec.pem" 2>/dev/null
hkms key import impec --file "$T/ec.pem" >/dev/null || fail "import ec"
with_pin "$HKMS_P11ATTR" "$SOFTHSM_MODULE" hkms impec > "$T/impec.attr" || fail "p11attr impec"
grep -q '^C_DeriveKey=rv:0x68$' "$T/impec.attr" || fail "ECDH not refused: $(cat "$T/impec.attr")"
pass "imported RSA key: C_UnwrapKey/C_DecryptInit rv 0x68; imported EC key: C_DeriveKey rv 0x68"

# ---- 4. generated keys: not modifiable, not copyable (read back) ----
hkms --json key generate gen --type rsa:2048 > "$T/gen.json" || fail "generate gen"
for a in modifiable copyable decrypt unwrap derive; do
	[ "$(jget $a < "$T/gen.json")" = false ] || fail "generated key: $a is not false"
done
with_pin "$HKMS_P11ATTR" "$SOFTHSM_MODULE" hkms gen > "$T/gen.attr" || fail "p11attr gen"
grep -q '^CKA_MODIFIABLE=0$' "$T/gen.attr" || fail "token says CKA_MODIFIABLE is not 0"
grep -q '^CKA_COPYABLE=0$' "$T/gen.attr" || fail "token says CKA_COPYABLE is not 0"
pass "generated and imported keys: CKA_MODIFIABLE=0 CKA_COPYABLE=0"

# ---- 5. one name, four processes: exactly one key ----
for round in 1 2 3; do
	name=race$round
	for i in 1 2 3 4; do
		"$HKMS_BIN" key generate "$name" --type ec:p256 > "$T/r$i.out" 2> "$T/r$i.err" &
		pids[$i]=$!
	done
	ok=0 exists=0 other=
	for i in 1 2 3 4; do
		if wait "${pids[$i]}"; then ok=$((ok + 1))
		elif grep -q '"code":"key_exists"' "$T/r$i.err"; then exists=$((exists + 1))
		else other="$other racer $i: $(cat "$T/r$i.err")"; fi
	done
	[ -z "$other" ] || fail "round $round:$other"
	[ $ok = 1 ] && [ $exists = 3 ] || fail "round $round: $ok successes, $exists key_exists"
	objs
	[ "$(count 'Private Key' "$name")" = 1 ] ||
		fail "round $round: $(count 'Private Key' "$name") keys labelled $name"
done
hkms key show race1 >/dev/null || fail "race1 not usable"
pass "4 concurrent generates of one name x3: one success, three key_exists, one key each"

# ---- 6. crash between keygen and commit: reported, retry succeeds ----
rc=0
HKMS_TEST_CRASH_AT=key_before_commit "$HKMS_BIN" key generate orphan --type ec:p256 \
	>/dev/null 2>&1 || rc=$?
if [ $rc = 137 ]; then
	objs
	[ "$(count 'Private Key' orphan)" = 1 ] || fail "the crash left no token key"
	oid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' \
		"$T/data/keys/orphan.json")
	out=$(hkms --json store check 2>/dev/null) && fail "store check passes with an orphan key"
	echo "$out" | grep -q "keys/orphan: stale reservation.*$oid.*orphan key" ||
		fail "store check does not name the orphan: $out"
	hkms store check 2>/dev/null | grep -q "keys/orphan: stale reservation" ||
		fail "store check table does not show the orphan"
	hkms --json key generate orphan --type ec:p256 > "$T/orphan.json" ||
		fail "retry after the crash"
	[ "$(jget id < "$T/orphan.json")" != "$oid" ] || fail "retry reused the orphan"
	objs
	[ "$(count 'Private Key' orphan)" = 1 ] || fail "retry left $(count 'Private Key' orphan) keys"
	hkms store check >/dev/null 2>&1 || fail "store check after the retry: $(hkms --json store check 2>&1)"
	pass "crash before commit: store check names orphan $oid, the retry replaces it"
else
	echo "SKIP part: binary built without HKMS_TEST_HOOKS (exit $rc)"
fi

# ---- 7. foreign objects with a 255-byte CKA_ID and a 1000-byte label ----
longid=$(head -c 255 /dev/urandom | od -An -tx1 | tr -d ' \n')
longlab=$(head -c 1000 /dev/zero | tr '\0' L)
# (pkcs11-tool refuses ids over 100 bytes: p11attr makes this one)
with_pin "$HKMS_P11ATTR" "$SOFTHSM_MODULE" hkms --mkkey "$longid" "$longlab" |
	grep -q 'rv:0x0 id_len=255 label_len=1000' || fail "cannot make the long foreign key"
n_tok=$(p11 --list-objects --type privkey 2>/dev/null | grep -c '^Private Key Object')
hkms --json key list > "$T/list.json" || fail "key list with a long foreign label: $(hkms key list 2>&1)"
n_hkms=$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' < "$T/list.json")
[ "$n_hkms" = "$n_tok" ] || fail "key list shows $n_hkms of $n_tok keys"
python3 - "$T/list.json" <<'PY' || fail "long foreign key not shown truncated"
import json, sys
ks = json.load(open(sys.argv[1]))
t = [k for k in ks if k.get("truncated")]
assert len(t) == 1 and t[0]["name"].startswith("LLLL") and len(t[0]["name"]) < 200
assert any(k["name"] == "gen" for k in ks)
PY
hkms key list | grep -q '^gen ' || fail "table listing"
hkms store check >/dev/null 2>&1 || fail "store check with foreign keys: $(hkms --json store check 2>&1)"
pass "key list: all $n_tok keys, the 1000-byte label shown cut; foreign keys are no store error"

# ---- 8. P-521 import, and it signs ----
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out "$T/p521.pem" 2>/dev/null
hkms --json key import p521 --file "$T/p521.pem" > "$T/p521.json" || fail "P-521 import"
[ "$(jget type < "$T/p521.json")" = ec:p521 ] || fail "type $(jget type < "$T/p521.json")"
openssl pkey -in "$T/p521.pem" -pubout -outform DER | cmp -s - <(jget public_key_pem < "$T/p521.json" |
	openssl pkey -pubin -outform DER) || fail "imported P-521 public key differs"
hkms csr create c521 --key p521 --subject /CN=p521.example > "$T/c521.csr" || fail "csr with P-521"
openssl req -verify -in "$T/c521.csr" -noout 2>&1 | grep -q "verify OK" || fail "P-521 CSR does not verify"
openssl req -in "$T/c521.csr" -noout -pubkey | openssl pkey -pubin -outform DER |
	cmp -s - <(openssl pkey -in "$T/p521.pem" -pubout -outform DER) || fail "CSR key is not the imported one"
pass "P-521 key imported, CSR signed in the token verifies"
exit 0
