#!/bin/bash
# Bad input to the truststore: garbage, truncated and oversized files, a
# PKCS#12 with a wrong or missing password, aliases with '/' or '..', a
# private key offered as a certificate, duplicates. Each gives a JSON error
# on stderr and a non-zero exit, and nothing is written. No token needed.
. "$(dirname "$0")/lib.sh"
need openssl

T=$(mktemp -d /tmp/hkms-trust.XXXXXX)
trap 'hkms_cleanup' EXIT
unset HKMS_CONFIG HKMS_DATA_DIR
printf '[store]\ndata_dir = %s/data\n' "$T" > "$T/hkms.conf"
# no token needed, so no `hkms init`: only init creates a data dir, make it
mkdir -m 700 "$T/data"
ht() { "$HKMS_BIN" --config "$T/hkms.conf" "$@"; }
cd "$T" || fail "cd"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout k.pem -out c.pem -subj /CN=errors.test -days 30 2>/dev/null ||
	fail "openssl req"
openssl pkcs12 -export -in c.pem -inkey k.pem -out c.p12 -passout pass:right \
	2>/dev/null || fail "pkcs12"
printf 'wrong\n' > wrong.pw; printf 'right\n' > right.pw
chmod 600 wrong.pw right.pw
head -c 3000 /dev/urandom > garbage.bin
head -c 400 c.pem > truncated.pem
{ cat c.pem; echo "trailing junk"; } > junk.pem
head -c $((1024 * 1024 + 10)) /dev/zero > big.bin
: > empty.pem
openssl req -new -key k.pem -subj /CN=csr -out req.pem 2>/dev/null
openssl pkey -in k.pem -outform der -out k.der 2>/dev/null
openssl pkcs8 -topk8 -in k.pem -passout pass:x -out kenc.pem 2>/dev/null

# nothing_written: no record (and no journal entry) appeared
nothing_written() {
	local n
	n=$(ls "$T/data/trust" 2>/dev/null | grep -c '\.json$')
	[ "$n" = "${1:-0}" ] || fail "records written after bad input: $(ls "$T/data/trust")"
}

expect_fail bad_certificate ht trust import a --file garbage.bin
expect_fail bad_certificate ht trust import a --file truncated.pem
expect_fail bad_certificate ht trust import a --file junk.pem
expect_fail bad_certificate ht trust import a --file empty.pem
expect_fail bad_certificate ht trust import a --file req.pem
expect_fail too_large ht trust import a --file big.bin
expect_fail not_found ht trust import a --file /nonexistent.pem
nothing_written
pass "garbage, truncated, trailing junk, empty, CSR, 1 MiB+ and missing files refused"

expect_fail bad_password ht trust import a --file c.p12 --password-file wrong.pw
expect_fail password_required ht trust import a --file c.p12
chmod 644 wrong.pw
expect_fail secret_file_mode ht trust import a --file c.p12 --password-file wrong.pw
nothing_written
pass "PKCS#12 with a wrong or missing password refused"

expect_fail private_key_not_certificate ht trust import a --file k.pem
expect_fail private_key_not_certificate ht trust import a --file k.der
expect_fail private_key_not_certificate ht trust import a --file kenc.pem
expect_fail private_key_not_certificate ht trust pin a --file k.pem
nothing_written
pass "a private key offered as a certificate is refused"

for bad in 'a/b' '../x' '..' 'a..b' '.hidden' '-x' "$(printf 'x%.0s' {1..65})"; do
	expect_fail bad_alias ht trust import --file c.pem -- "$bad"
	expect_fail bad_alias ht trust pin --file c.pem -- "$bad"
done
[ -e "$T/data/x.json" ] && fail "path traversal wrote outside the truststore"
nothing_written
pass "aliases with '/', '..', leading '.'/'-' or over 64 characters refused"

# a PKCS#12 with a key: certificates imported, key ignored and reported
out=$(ht --json trust import p12 --file c.p12 --password-file right.pw) || fail "p12 import"
[ "$(echo "$out" | jget private_key_ignored)" = true ] || fail "key not reported: $out"
grep -q "PRIVATE KEY" "$T/data/trust/p12.pem" && fail "a private key reached the truststore"
nothing_written 1
# duplicates: same alias, same certificate under another alias
expect_fail alias_exists ht trust import p12 --file c.pem
expect_fail already_trusted ht trust import dup --file c.pem
nothing_written 1
[ "$(grep -c '"event"' "$T/data/trust/changes.log")" = 1 ] || fail "journal has more than the one import"
expect_fail not_found ht trust show nosuch
expect_fail not_found ht trust delete nosuch
expect_fail not_found ht trust export nosuch
expect_fail bad_format ht trust export p12 --format zip
expect_fail usage ht trust import x
expect_fail usage ht trust frobnicate
pass "duplicates reported, not stored; unknown aliases and formats refused"

# every failed change is audited (the audit log exists and verifies)
grep -q '"op":"trust.import"' "$T/data/audit.log" || fail "no trust.import audit record"
grep -q '"result":"error"' "$T/data/audit.log" || fail "failures not audited"
if ht audit verify >/dev/null 2>"$T/a.err"; then
	pass "audit log records trust changes and verifies"
else
	echo "note: hkms audit verify: $(cat "$T/a.err")"
fi
exit 0
