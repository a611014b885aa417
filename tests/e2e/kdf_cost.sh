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
[ $(( $(date +%s) - start )) -lt 5 ] || fail "refusals were not immediate"
pass "costly key derivations refused before they run"

hkms trust import normal --file "$T/normal.p12" --password-file "$T/pw" >/dev/null ||
	fail "a normal PKCS#12 is refused"
hkms key import normal --file "$T/normal.p12" --passphrase-file "$T/pw" >/dev/null ||
	fail "a normal PKCS#12 key is refused"
pass "normal files import"
