#!/bin/bash
# A PKCS#12 or encrypted key that asks for an absurd number of key-derivation
# iterations is refused at once (too_costly), before any derivation; normal
# files (OpenSSL's defaults) still import. Regression for the stall found by
# fuzz_pkcs12 (a 2^31-iteration MAC).
. "$(dirname "$0")/lib.sh"
hkms_setup
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/k.pem" -out "$T/c.pem" -subj /CN=kdf.example -days 5 2>/dev/null
printf 'test-pass' > "$T/pw"; chmod 600 "$T/pw"
openssl pkcs12 -export -in "$T/c.pem" -inkey "$T/k.pem" -passout file:"$T/pw" \
	-iter 2000000 -out "$T/mac-hi.p12" || fail "openssl pkcs12"
openssl pkcs12 -export -in "$T/c.pem" -inkey "$T/k.pem" -passout file:"$T/pw" \
	-out "$T/normal.p12" || fail "openssl pkcs12"
openssl pkcs8 -topk8 -in "$T/k.pem" -v2 aes-256-cbc -iter 5000000 \
	-passout file:"$T/pw" -out "$T/enc-hi.pem" || fail "openssl pkcs8"

start=$(date +%s)
expect_fail too_costly hkms trust import hi --file "$T/mac-hi.p12" --password-file "$T/pw"
expect_fail too_costly hkms key import hi --file "$T/enc-hi.pem" --passphrase-file "$T/pw"
expect_fail too_costly hkms trust import huge \
	--file "$HKMS_SRC/tests/fuzz/corpus/pkcs12/crash-p12-mac-iter-2g" --password-file "$T/pw"
# 20 encrypted safes of 10^6 iterations each (8 KB): each within the
# cap, together 15 s of derivations (two per safe); more than 4 refused
expect_fail too_costly hkms trust import many \
	--file "$HKMS_SRC/tests/fuzz/corpus/pkcs12/slow-p12-20-encrypted-safes" --password-file "$T/pw"
expect_fail too_costly hkms key import many \
	--file "$HKMS_SRC/tests/fuzz/corpus/pkcs12/slow-p12-20-encrypted-safes" --passphrase-file "$T/pw"
[ $(( $(date +%s) - start )) -lt 5 ] || fail "refusals were not immediate"
pass "costly key derivations refused before they run"

hkms trust import normal --file "$T/normal.p12" --password-file "$T/pw" >/dev/null ||
	fail "a normal PKCS#12 is refused"
hkms key import normal --file "$T/normal.p12" --passphrase-file "$T/pw" >/dev/null ||
	fail "a normal PKCS#12 key is refused"
pass "normal files import"

# scrypt (PBES2): N, r, p and the memory 128*N*r are capped before any
# derivation; p=16000 alone would run OpenSSL for about 20 minutes
openssl pkcs8 -topk8 -scrypt -in "$T/k.pem" -passout file:"$T/pw" \
	-out "$T/scrypt.pem" || fail "openssl pkcs8 -scrypt"
sp() { python3 "$HKMS_SRC/tests/tools/scrypt_params.py" "$T/scrypt.pem" "$T/$1" "$2" "$3" "$4" ||
	fail "scrypt_params $1"; }
sp p-huge.pem 16384 8 16000
sp p-17.pem 16384 8 17
sp n-huge.pem 2097152 1 1
sp r-huge.pem 2 1048576 1
sp mem-huge.pem 262144 8 1
sp n-odd.pem 10000 8 1
start=$(date +%s)
for f in p-huge p-17 n-huge r-huge mem-huge n-odd; do
	timeout 10 "$HKMS_BIN" key import "sc-$f" --file "$T/$f.pem" --passphrase-file "$T/pw" \
		>/dev/null 2>"$T/err"
	rc=$?
	[ $rc -ne 124 ] || fail "scrypt $f: key import still running after 10 s"
	[ $rc -ne 0 ] || fail "scrypt $f: imported"
	grep -q '"code":"too_costly"' "$T/err" || fail "scrypt $f: $(cat "$T/err")"
done
expect_fail too_costly hkms key import sc-crash \
	--file "$HKMS_SRC/tests/fuzz/corpus/pkcs12/crash-pkcs8-scrypt-p-16000.der" --passphrase-file "$T/pw"
[ $(( $(date +%s) - start )) -lt 5 ] || fail "scrypt refusals were not immediate"
pass "costly scrypt parameters (huge N, r, p, memory) refused at once"

out=$(hkms --json key import sc-normal --file "$T/scrypt.pem" --passphrase-file "$T/pw") ||
	fail "an openssl pkcs8 -scrypt key is refused"
sp max.pem 32768 8 16
timeout 20 "$HKMS_BIN" key import sc-max --file "$T/max.pem" --passphrase-file "$T/pw" \
	>/dev/null 2>"$T/err" && fail "a key with rewritten scrypt parameters decrypted"
grep -q '"code":"bad_password"' "$T/err" || fail "scrypt at the limits: $(cat "$T/err")"
pass "openssl's default scrypt (N=16384 r=8 p=1) imports; the largest accepted is derived"
