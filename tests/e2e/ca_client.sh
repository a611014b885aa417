#!/bin/bash
# issue-client: a software key made in memory, the certificate signed by
# the CA's token key, both with the CA chain in a PKCS#12 (PBES2 AES-256,
# SHA-256 MAC) written once, 0600. The key is nowhere else: the data dir
# only gains the issued record, which holds no key.
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup
cd "$T"

hkms ca create root --key-type ec:p384 --subject "/CN=Client Root" --out-file root.pem >/dev/null ||
	fail root
hkms ca create inter --key-type rsa:3072 --subject "/CN=Client Inter" --parent root \
	--out-file inter.pem >/dev/null || fail inter
openssl x509 -in inter.pem -out inter.only.pem
printf 'correct horse battery staple\n' > pass; chmod 600 pass

files() { (cd data && find . -type f ! -name audit.log ! -name audit.head ! -path './token/*' | sort); }
files > before.txt
hkms --json ca issue-client --ca inter --subject "/CN=alice/O=clients" \
	--out-file alice.p12 --passphrase-file pass > alice.json || fail "issue-client"
[ "$(stat -c %a alice.p12)" = 600 ] || fail "p12 mode $(stat -c %a alice.p12)"
serial=$(jget serial < alice.json)

# opens with the passphrase; one key, leaf + intermediate + root
openssl pkcs12 -info -in alice.p12 -passin file:pass -noenc > info.txt 2>info.err ||
	fail "pkcs12 -info: $(cat info.err)"
[ "$(grep -c 'BEGIN PRIVATE KEY' info.txt)" = 1 ] || fail "not exactly one key"
[ "$(grep -c 'BEGIN CERTIFICATE' info.txt)" = 3 ] || fail "not leaf + 2 CA certificates"
grep -q "PBES2, PBKDF2, AES-256-CBC" info.err || fail "bags not AES-256/PBKDF2: $(cat info.err)"
grep -q "MAC: sha256" info.err || fail "MAC not sha256: $(cat info.err)"
openssl pkcs12 -in alice.p12 -passin pass:wrong -noout 2>/dev/null && fail "opened with a wrong passphrase"
openssl pkcs12 -in alice.p12 -passin file:pass -clcerts -nokeys -out alice.pem 2>/dev/null
openssl pkcs12 -in alice.p12 -passin file:pass -nocerts -noenc -out alice.key 2>/dev/null
cmp -s <(openssl x509 -in alice.pem -noout -pubkey) <(openssl pkey -in alice.key -pubout) ||
	fail "key does not match the certificate"
openssl pkey -in alice.key -noout -text | grep -q "ASN1 OID: prime256v1" || fail "default key not ec:p256"
pass "PKCS#12 opens with the passphrase: one key, certificate and chain, AES-256"

# the certificate: clientAuth, verifies to the root for a client, 5 years clamped to the CA
openssl verify -CAfile root.pem -untrusted inter.only.pem -purpose sslclient alice.pem >/dev/null ||
	fail "client certificate does not verify to the root"
openssl x509 -in alice.pem -noout -text | grep -A1 "Extended Key Usage" | grep -q "TLS Web Client Authentication" ||
	fail "no clientAuth"
[ "$(openssl x509 -in alice.pem -noout -enddate)" = "$(openssl x509 -in inter.only.pem -noout -enddate)" ] ||
	fail "5-year default not clamped to the CA's not-after"
openssl x509 -in alice.pem -noout -serial | grep -q "=$serial" || fail "serial"
pass "client certificate: clientAuth, verifies to the root, lifetime clamped to the CA"

# the key is nowhere in the data dir: only the issued record is new, and
# no file holds the key's bytes
files > after.txt
[ "$(comm -13 before.txt after.txt)" = "./issued/inter/$serial.json" ] ||
	fail "new files: $(comm -13 before.txt after.txt)"
openssl pkey -in alice.key -outform DER -out alice.key.der
openssl pkey -in alice.key -noout -text > alice.key.txt
python3 - data alice.key.der alice.key alice.key.txt <<'PY' || fail "key material found in the data dir"
import os, re, sys, base64
root, der = sys.argv[1], open(sys.argv[2], "rb").read()
body = "".join(l for l in open(sys.argv[3]).read().splitlines() if "-----" not in l)
# the private scalar from `openssl pkey -text`: the hex block after "priv:"
txt = open(sys.argv[4]).read()
m = re.search(r"priv:\n((?:\s+[0-9a-f:]+\n)+)", txt)
priv = bytes.fromhex(re.sub(r"[\s:]", "", m.group(1)))
assert len(priv) >= 30, len(priv)
needles = [der, priv, priv.hex().encode(), priv.hex().upper().encode(),
           base64.b64encode(priv)[:40], body[48:88].encode()]
for d, _, fs in os.walk(root):
    for f in fs:
        p = os.path.join(d, f)
        data = open(p, "rb").read()
        for n in needles:
            assert n not in data, f"{p} holds key bytes"
PY
grep -q PRIVATE "data/issued/inter/$serial.json" && fail "issued record mentions a private key"
[ "$(hkms --json ca issued --ca inter --serial "$serial" | jget source)" = issue-client ] ||
	fail "not in the issued index"
grep '"op":"ca.issue_client"' data/audit.log | grep -q '"result":"ok"' || fail "not audited"
grep -q "correct horse" data/audit.log && fail "passphrase in the audit log"
pass "the key is in the PKCS#12 only; the data dir gained just the issued record"

# rsa key type, explicit days
hkms --json ca issue-client --ca inter --subject /CN=bob --key-type rsa:3072 --days 30 \
	--out-file bob.p12 --passphrase-file pass > bob.json || fail "rsa client"
openssl pkcs12 -in bob.p12 -passin file:pass -nocerts -noenc 2>/dev/null |
	openssl pkey -noout -text 2>/dev/null | grep -q "Private-Key: (3072 bit" || fail "rsa:3072 key"

# refusals: nothing issued, nothing written
n0=$(hkms --json ca issued --ca inter | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
expect_fail file_exists hkms ca issue-client --ca inter --subject /CN=carol --out-file alice.p12 \
	--passphrase-file pass
printf 'short\n' > short; chmod 600 short
expect_fail weak_passphrase hkms ca issue-client --ca inter --subject /CN=carol \
	--out-file carol.p12 --passphrase-file short
chmod 644 pass
hkms ca issue-client --ca inter --subject /CN=carol --out-file carol.p12 \
	--passphrase-file pass 2>/dev/null >&2 && fail "world-readable passphrase file accepted"
chmod 600 pass
expect_fail lifetime_exceeds_ca hkms ca issue-client --ca inter --subject /CN=carol \
	--out-file carol.p12 --passphrase-file pass --days 9000
expect_fail weak_key hkms ca issue-client --ca inter --subject /CN=carol \
	--out-file carol.p12 --passphrase-file pass --key-type rsa:1024
expect_fail invalid_subject hkms ca issue-client --ca inter --subject "CN=carol" \
	--out-file carol.p12 --passphrase-file pass
[ -e carol.p12 ] && fail "refused request wrote a PKCS#12"
[ "$(hkms --json ca issued --ca inter | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = "$n0" ] ||
	fail "refused requests changed the issued index"
openssl pkcs12 -in alice.p12 -passin file:pass -noout 2>/dev/null || fail "existing p12 damaged"
hkms audit verify >/dev/null || fail "audit chain"
pass "refusals (existing file, weak passphrase, lifetime, weak key, bad subject) write nothing"

# the operation returns the PKCS#12; the CLI writes it: never through a
# symlink (even a dangling one), and a file it cannot write means the
# certificate is revoked (its key is lost)
python3 - alice.json <<'PY' || fail "result shape"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["common_name"] == "alice" and r["type"] == "certificate", r
assert r["key_type"] == "EC" and r["key_bits"] == 256 and r["client_key_type"] == "ec:p256", r
assert r["source"] == "issue-client" and r["out_file"] == "alice.p12", r
assert r["pkcs12_bytes"] == __import__("os").path.getsize("alice.p12"), r
assert "cn" not in r and "subject_key" not in r, r
PY
n0=$(hkms --json ca issued --ca inter | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
echo keep > target.txt
ln -s target.txt link.p12
ln -s nowhere.p12 dangling.p12
expect_fail file_exists hkms ca issue-client --ca inter --subject /CN=dave --out-file link.p12 \
	--passphrase-file pass
expect_fail file_exists hkms ca issue-client --ca inter --subject /CN=dave --out-file dangling.p12 \
	--passphrase-file pass
[ "$(cat target.txt)" = keep ] && [ ! -e nowhere.p12 ] || fail "written through a symlink"
[ "$(hkms --json ca issued --ca inter | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = "$n0" ] ||
	fail "a refused destination issued a certificate"
hkms --json ca issue-client --ca inter --subject /CN=erin --out-file nodir/erin.p12 \
	--passphrase-file pass > erin.json 2> erin.err && fail "unwritable destination accepted"
grep -q "revoked" erin.err || fail "undeliverable PKCS#12 not revoked: $(cat erin.err)"
hkms --json ca issued --ca inter > after-erin.json || fail "issued"
python3 - after-erin.json <<'PY' || fail "undeliverable certificate not revoked in the index"
import json, sys
erin = [r for r in json.load(open(sys.argv[1])) if r["common_name"] == "erin"]
assert len(erin) == 1 and erin[0]["status"] == "revoked" and erin[0]["reason"] == "cessationOfOperation", erin
PY
ls nodir 2>/dev/null && fail "left a file behind"
ls | grep -q '\.tmp-' && fail "left a temporary file"
pass "PKCS#12 bytes from the op; CLI writes a new file, never via a symlink; undeliverable -> revoked"
