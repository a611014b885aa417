#!/bin/bash
# Bad input for certificates and CSRs: garbage, truncated and oversized
# PEM/DER, a CSR with a bad signature, a PKCS#12 with a wrong passphrase,
# an RSA-1024 key, SHA-1. Each is a JSON error with a stable code and a
# non-zero exit, and nothing is written: no record, no key.
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup

state() {
	(cd "$T/data" && find certs -type f | sort | xargs -r sha256sum)
	hkms key list
}

hkms key generate k --type ec:p256 >/dev/null || fail "generate"
hkms cert self-sign good --key k --subject /CN=good --out-file "$T/good.pem" >/dev/null ||
	fail "self-sign"
openssl x509 -in "$T/good.pem" -outform DER -out "$T/good.der"
hkms csr create goodcsr --key k --subject /CN=good > "$T/good.csr" || fail "csr"
before=$(state)

# certificate input
head -c 4096 /dev/urandom > "$T/garbage"
printf 'this is not a certificate\n' > "$T/text"
: > "$T/empty"
head -c 400 "$T/good.pem" > "$T/trunc.pem"
head -c 200 "$T/good.der" > "$T/trunc.der"
{ cat "$T/good.pem"; echo "trailing junk"; } > "$T/junk.pem"
{ cat "$T/good.der"; printf 'xx'; } > "$T/junk.der"
python3 -c 'import sys; sys.stdout.write("-----BEGIN CERTIFICATE-----\n" + ("A" * 76 + "\n") * 14000 + "-----END CERTIFICATE-----\n")' > "$T/big.pem"
{ cat "$T/good.der"; head -c $((1024 * 1024)) /dev/zero; } > "$T/big.der"
[ "$(stat -c %s "$T/big.pem")" -gt 1048576 ] || fail "big.pem is not big"
for f in garbage text empty trunc.pem trunc.der junk.pem junk.der; do
	expect_fail bad_certificate hkms cert import x --file "$T/$f"
	expect_fail bad_certificate hkms cert import x --file "$T/$f" --what-if
	expect_fail bad_certificate hkms cert import x --file "$T/good.pem" --ca-file "$T/$f"
done
for f in big.pem big.der; do
	expect_fail too_large hkms cert import x --file "$T/$f"
	expect_fail too_large hkms cert import x --file "$T/good.pem" --ca-file "$T/$f"
done
hkms cert import x --file "$T/good.pem" --ca-file "$T/garbage" 2>&1 >/dev/null |
	grep -q '"message":"CA file: ' || fail "the error does not say it was the CA file"
expect_fail bad_certificate hkms cert import x --file "$T/good.csr"
expect_fail not_found hkms cert import x --file "$T/nonexistent"
pass "garbage, truncated, trailing junk, oversized certificates refused"

# key bundles: RSA-1024, wrong PKCS#12 passphrase, key only
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$T/weak.key" 2>/dev/null
openssl req -x509 -key "$T/weak.key" -subj /CN=weak -days 30 -sha256 \
	-addext extendedKeyUsage=serverAuth -out "$T/weak.crt" 2>/dev/null || fail "weak cert"
cat "$T/weak.key" "$T/weak.crt" > "$T/weak.pem"
expect_fail weak_key hkms cert import weak --file "$T/weak.pem"
expect_fail weak_key hkms cert import weak --file "$T/weak.pem" --what-if
openssl pkcs12 -export -inkey "$T/weak.key" -in "$T/weak.crt" -passout pass:pw \
	-out "$T/weak.p12" 2>/dev/null || fail "weak p12"
printf 'pw\n' > "$T/pw"; chmod 600 "$T/pw"
expect_fail weak_key hkms cert import weak --file "$T/weak.p12" --passphrase-file "$T/pw"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ok.key" 2>/dev/null
openssl req -x509 -key "$T/ok.key" -subj /CN=ok -days 30 -addext extendedKeyUsage=serverAuth \
	-out "$T/ok.crt" 2>/dev/null
openssl pkcs12 -export -inkey "$T/ok.key" -in "$T/ok.crt" -passout pass:pw -out "$T/ok.p12" 2>/dev/null
printf 'not-pw\n' > "$T/badpw"; chmod 600 "$T/badpw"
expect_fail bad_password hkms cert import p --file "$T/ok.p12" --passphrase-file "$T/badpw"
expect_fail password_required hkms cert import p --file "$T/ok.p12"
chmod 644 "$T/pw"
expect_fail secret_file_mode hkms cert import p --file "$T/ok.p12" --passphrase-file "$T/pw"
expect_fail private_key_not_certificate hkms cert import p --file "$T/ok.key"
head -c 150 "$T/ok.p12" > "$T/trunc.p12"
expect_fail bad_certificate hkms cert import p --file "$T/trunc.p12" --passphrase-file "$T/badpw"
pass "RSA-1024 key, wrong/missing PKCS#12 passphrase, key without certificate refused"

# a SHA-1 signed certificate does not chain (security level 2)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.pem" -subj /CN=ca \
	-days 30 2>/dev/null
hkms csr create s1 --key k --subject /CN=s1 > "$T/s1.csr"
printf 'extendedKeyUsage=serverAuth\n' > "$T/srv.ext"
openssl x509 -req -in "$T/s1.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
	-days 30 -sha1 -extfile "$T/srv.ext" -out "$T/sha1.pem" 2>/dev/null || fail "sha1 cert"
expect_fail check_failed:chains_to_ca hkms cert import s1 --file "$T/sha1.pem" --ca-file "$T/ca.pem"
hkms cert delete s1 >/dev/null
pass "SHA-1 signed certificate refused"

# SHA-1 / MD5 digests and weak keys when hkms signs
expect_fail weak_digest hkms csr create w --key k --subject /CN=w --digest sha1
expect_fail weak_digest hkms cert self-sign w --key k --subject /CN=w --digest sha1
expect_fail weak_digest hkms cert self-sign w --key k --subject /CN=w --digest md5
expect_fail weak_key hkms cert self-sign w --new-key rsa:1024 --subject /CN=w
expect_fail weak_key hkms csr create w --new-key rsa:1024 --subject /CN=w
pass "SHA-1/MD5 and RSA-1024 refused when signing"

# a CSR with a bad signature, garbage, truncated, oversized
python3 - "$T/good.csr" "$T/badsig.csr" <<'EOF'
import base64, sys
lines = open(sys.argv[1]).read().split("\n")
der = bytearray(base64.b64decode("".join(lines[1:-2])))
der[-3] ^= 0x40
b64 = base64.b64encode(bytes(der)).decode()
open(sys.argv[2], "w").write("-----BEGIN CERTIFICATE REQUEST-----\n" +
    "\n".join(b64[i:i+64] for i in range(0, len(b64), 64)) +
    "\n-----END CERTIFICATE REQUEST-----\n")
EOF
expect_fail bad_csr_signature hkms csr verify --file "$T/badsig.csr"
head -c 250 "$T/good.csr" > "$T/trunc.csr"
expect_fail bad_csr hkms csr verify --file "$T/trunc.csr"
expect_fail bad_csr hkms csr verify --file "$T/garbage"
expect_fail bad_csr hkms csr verify --file "$T/good.pem"
head -c $((1024 * 1024 + 1)) /dev/zero > "$T/big.csr"
expect_fail too_large hkms csr verify --file "$T/big.csr"
hkms csr verify --file "$T/good.csr" >/dev/null || fail "good CSR refused"
pass "CSR verify: bad signature, truncated, garbage, certificate, oversized"

# names and missing records
expect_fail bad_name hkms cert show ../etc
expect_fail bad_name hkms cert self-sign 'a/b' --key k --subject /CN=x
expect_fail cert_not_found hkms cert show nosuch
expect_fail cert_not_found hkms cert delete nosuch
expect_fail usage hkms cert import x
expect_fail usage hkms cert frobnicate
expect_fail usage hkms cert renew good --days -3
expect_fail not_self_signed hkms cert renew goodcsr
pass "bad names, missing records, usage errors"

[ "$(state)" = "$before" ] || fail "bad input changed the store or the token: $(diff <(echo "$before") <(state))"
pass "nothing was written by any refused request"
hkms audit verify >/dev/null || fail "audit chain"
