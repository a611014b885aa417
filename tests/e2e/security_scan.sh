#!/bin/bash
# Security checks as tests: after a run through the main verbs, no file in
# the data dir, no log and no CLI output holds a PIN, a passphrase or a
# private key; weak algorithms are refused; modes are as documented
# (docs/store.md).
. "$(dirname "$0")/lib.sh"
need python3 openssl
hkms_setup
OUT=$T/outputs; mkdir -p "$OUT"
run() { # run NAME CMD...: keep stdout and stderr of every command
	local n=$1; shift
	"$@" > "$OUT/$n.out" 2> "$OUT/$n.err"
}

PIN=$(cat "$T/data/token/user.pin")
SOPIN=$(cat "$T/data/token/so.pin")
PASS="correct horse battery staple 42"
printf '%s' "$PASS" > "$T/pass"; chmod 600 "$T/pass"

# a software key and certificate to import (encrypted PKCS#8)
openssl req -x509 -newkey rsa:2048 -keyout "$T/imp.key" -out "$T/imp.crt" \
	-subj /CN=imported.example -days 30 -passout "file:$T/pass" \
	-addext extendedKeyUsage=serverAuth 2>/dev/null || fail "openssl"
openssl pkey -in "$T/imp.key" -passin "file:$T/pass" -outform DER -out "$T/imp.der" ||
	fail "openssl pkey"

run gen hkms key generate web --type ec:p256 || fail "generate"
run gen2 hkms --json key generate web-rsa --type rsa:2048 || fail "generate rsa"
run csr hkms csr create web-csr --key web --subject /CN=web.example --san DNS:web.example || fail "csr"
run self hkms cert self-sign web-cert --key web --subject /CN=web.example --san DNS:web.example || fail "self-sign"
run show hkms --json cert show web-cert || fail "show"
run imp hkms cert import imported --file "$T/imp.key" --passphrase-file "$T/pass" || true
cat "$T/imp.crt" >> "$T/imp.key"
run imp2 hkms cert import imported --file "$T/imp.key" --passphrase-file "$T/pass" ||
	fail "import key+cert: $(cat "$OUT/imp2.err")"
run p12 hkms cert export web-cert --format p12 --out-file "$T/web.p12" || fail "export p12"
run keys hkms --json key list || fail "list"
run audit hkms audit verify || fail "audit verify"
# failures print errors; they must not echo secrets either
run bad1 env HKMS_PIN="$PIN-x" "$HKMS_BIN" key list || true
grep -q pin_incorrect "$OUT/bad1.err" || fail "wrong PIN not reported"

# 1. no secret anywhere outside the token's own files
scan() { # scan WHAT PATTERN
	if grep -rlaF -- "$2" "$T/data" "$OUT" 2>/dev/null |
		grep -v -e "^$T/data/token/" ; then
		fail "$1 found in the files above"
	fi
}
scan "user PIN" "$PIN"
scan "SO PIN" "$SOPIN"
scan "passphrase" "$PASS"
scan "private key PEM" "PRIVATE KEY"
# a slice of the imported key's private DER (its software copy is gone)
python3 - "$T/imp.der" "$T/data" "$OUT" <<'PY' || fail "imported private key bytes found on disk"
import os, sys
der = open(sys.argv[1], "rb").read()
probe = der[-120:-88]                       # 32 bytes deep inside the key
for root in sys.argv[2:]:
    for d, _, files in os.walk(root):
        if d.startswith(os.path.join(sys.argv[2], "token")):
            continue                         # SoftHSM's own encrypted store
        for f in files:
            if probe in open(os.path.join(d, f), "rb").read():
                print("found in", os.path.join(d, f)); sys.exit(1)
PY
openssl pkcs12 -in "$T/web.p12" -nokeys -passin pass: -info 2>&1 | grep -qi "shrouded keybag" &&
	fail "exported PKCS#12 holds a key"
pass "no PIN, passphrase or private key in the data dir or any output"

# 2. the imported key is in the token, sensitive and not extractable
hkms --json key show imported > "$T/impkey.json" || fail "imported key missing"
[ "$(jget sensitive < "$T/impkey.json")" = true ] || fail "imported key not sensitive"
[ "$(jget extractable < "$T/impkey.json")" = false ] || fail "imported key extractable"
pass "imported key is sensitive and not extractable"

# 3. weak algorithms refused, nothing written
before=$(ls -R "$T/data" | md5sum)
expect_fail weak_key hkms key generate weak --type rsa:1024
expect_fail unknown_key_type hkms key generate weak --type ec:p192
expect_fail weak_digest hkms csr create weak --key web --subject /CN=x --digest sha1
expect_fail weak_digest hkms csr create weak --key web --subject /CN=x --digest md5
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$T/rsa1024.pem" 2>/dev/null
expect_fail weak_key hkms key import weak --file "$T/rsa1024.pem"
openssl ecparam -name prime192v1 -genkey -noout -out "$T/p192.pem" 2>/dev/null
expect_fail weak_key hkms key import weak --file "$T/p192.pem"
[ "$(ls -R "$T/data" | md5sum)" = "$before" ] || fail "a refused request wrote files"
pass "RSA-1024, P-192, SHA-1 and MD5 refused, nothing written"

# 4. modes: data dir 0700, PIN files 0600, nothing group/world writable,
# audit log 0600
[ "$(stat -c %a "$T/data")" = 700 ] || fail "data dir mode $(stat -c %a "$T/data")"
for f in token/user.pin token/so.pin audit.log audit.head; do
	[ "$(stat -c %a "$T/data/$f")" = 600 ] || fail "$f mode $(stat -c %a "$T/data/$f")"
done
ww=$(find "$T/data" -perm /022 ! -type l)
[ -z "$ww" ] || fail "group/world-writable: $ww"
bad=$(find "$T/data" -type f ! -perm 600 ! -perm 644)
[ -z "$bad" ] || fail "files neither 0600 nor 0644: $bad"
pass "modes as documented"
