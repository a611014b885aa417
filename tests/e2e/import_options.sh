#!/bin/bash
# Import as users expect (issue 13b): --key-file beside --file (plain PEM,
# encrypted PKCS#8 with --passphrase-file) puts the key into the token,
# non-extractable, and the certificate on it; --trust adds the certificate
# to the truststore in the same operation (and a taken alias refuses the
# whole import before anything is written); thumbprints (sha256:<hex>)
# address certificates and truststore entries where names do, over the
# CLI and the API.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need jq curl pkcs11-tool
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
hkms() { "$HKMS_BIN" "$@"; }
cd "$T"
spki() { openssl pkey -pubin -outform DER | sha256sum; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout a.key -subj /CN=a.example \
	-days 30 -addext extendedKeyUsage=serverAuth -out a.pem 2>/dev/null
openssl req -x509 -newkey rsa:2048 -keyout b.key -passout pass:s3cret-b -subj /CN=b.example \
	-days 30 -addext extendedKeyUsage=serverAuth -addext subjectAltName=DNS:b.example -out b.pem 2>/dev/null
(umask 077; printf 's3cret-b' > b.pass)

# --key-file, plain PEM key
hkms --json cert import a --file a.pem --key-file a.key > a.json || fail "import --key-file: $(cat a.json)"
jq -e '.ok and .key_imported' a.json >/dev/null || fail "a: $(cat a.json)"
[ "$(hkms --json key show a | jq -r .public_key_pem | spki)" = "$(openssl x509 -in a.pem -noout -pubkey | spki)" ] ||
	fail "the token key a is not the key of a.pem"
hkms --json key show a | jq -e '.sensitive == true and .extractable == false' >/dev/null ||
	fail "the imported key is extractable: $(hkms --json key show a | jq -c '{sensitive, extractable}')"
# the key signs in the token: a CSR made with it verifies under a.pem's key
hkms csr create a-csr --key a --subject /CN=a.example --out-file a.csr >/dev/null || fail "csr with the imported key"
[ "$(openssl req -in a.csr -noout -pubkey | spki)" = "$(openssl x509 -in a.pem -noout -pubkey | spki)" ] ||
	fail "the CSR is not on the imported key"
openssl req -in a.csr -noout -verify 2>/dev/null || fail "the token's signature with the imported key does not verify"
# encrypted PKCS#8 with --passphrase-file, and --trust
hkms --json cert import b --file b.pem --key-file b.key --passphrase-file b.pass --trust > b.json ||
	fail "import --key-file --trust: $(cat b.json)"
jq -e '.ok and .key_imported and .trusted.alias == "b"' b.json >/dev/null || fail "b: $(cat b.json)"
hkms trust export b | openssl x509 -noout -fingerprint -sha256 > t.fp
openssl x509 -in b.pem -noout -fingerprint -sha256 | cmp -s - t.fp || fail "the truststore holds another certificate"
hkms trust verify --chain b.pem --purpose server --host b.example >/dev/null || fail "b.pem does not verify against the truststore"
pass "--key-file (PEM, encrypted PKCS#8) puts the key into the token non-extractable; --trust adds the certificate"

# a taken alias: nothing is written, not the key either
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout c.key -subj /CN=c.example \
	-days 30 -addext extendedKeyUsage=serverAuth -out c.pem 2>/dev/null
hkms trust import c --file c.pem > /dev/null || fail "trust import c"
keys=$(hkms --json key list | jq length)
out=$(hkms cert import c --file c.pem --key-file c.key --trust 2>&1) && fail "imported over a taken trust alias"
echo "$out" | jq -e '.error.code == "alias_exists"' >/dev/null || fail "taken alias: $out"
hkms cert show c >/dev/null 2>&1 && fail "the certificate was written although the trust alias is taken"
[ "$(hkms --json key list | jq length)" = "$keys" ] || fail "a key was made although the import was refused"
cat a.key a.pem > both.pem; out=$(hkms cert import d --file both.pem --key-file a.key 2>&1) && fail "accepted two keys"
echo "$out" | jq -e '.error.code == "usage"' >/dev/null || fail "two keys: $out"
pass "a taken trust alias refuses the whole import; a key in both files is refused"

# thumbprints address certificates and truststore entries (CLI)
ta=$(hkms --json cert show a | jq -r .thumbprint)
[ "$ta" = "sha256:$(openssl x509 -in a.pem -outform DER | sha256sum | cut -d' ' -f1)" ] || fail "thumbprint of a"
TA=SHA256:$(echo "${ta#sha256:}" | tr a-f A-F)
[ "$(hkms --json cert show "$TA" | jq -r .name)" = a ] || fail "cert show by thumbprint"
hkms cert export "$ta" --format der --out-file a.der >/dev/null || fail "cert export by thumbprint"
cmp -s a.der <(openssl x509 -in a.pem -outform DER) || fail "export by thumbprint gave another certificate"
tb=$(openssl x509 -in b.pem -outform DER | sha256sum | cut -d' ' -f1)
[ "$(hkms --json trust show "sha256:$tb" | jq -r .alias)" = b ] || fail "trust show by thumbprint"
hkms trust export "sha256:$tb" | openssl x509 -noout -fingerprint -sha256 | cmp -s - t.fp || fail "trust export by thumbprint"
out=$(hkms cert show sha256:$(printf '%064d' 0) 2>&1) && fail "an unknown thumbprint was found"
echo "$out" | jq -e '.error.code == "cert_not_found"' >/dev/null || fail "unknown thumbprint: $out"
hkms cert self-sign a2 --key a --subject /CN=a2.example >/dev/null || fail "self-sign a2"
hkms cert rename "$(hkms --json cert show a2 | jq -r .thumbprint)" a3 >/dev/null || fail "rename by thumbprint"
hkms cert show a3 >/dev/null || fail "a3 after the rename"
pass "thumbprints address certificates (show, export, rename) and truststore entries (show, export) in the CLI"

# and over the API
serve_start
service_ca
(umask 077; openssl pkcs12 -in data/admin-client.p12 -passin file:data/admin-client.pass \
	-nodes -out admin.pem 2>/dev/null) || fail "admin PKCS#12"
api() { curl -s --cacert "$T/service.pem" --cert admin.pem --max-time 10 "$@"; }
api "$URL/v1/certificates/$ta" > r1.json; jq -e '.name == "a"' r1.json >/dev/null || fail "GET certificate by thumbprint: $(cat r1.json)"
api "$URL/v1/truststore/sha256:$tb" > r2.json; jq -e '.alias == "b"' r2.json >/dev/null || fail "GET truststore by thumbprint: $(cat r2.json)"
code=$(api -o r3.json -w '%{http_code}' -X DELETE "$URL/v1/truststore/sha256:$tb")
[ "$code" = 200 ] || [ "$code" = 204 ] || fail "DELETE truststore by thumbprint: $code $(cat r3.json)"
hkms trust show b >/dev/null 2>&1 && fail "b is still trusted"
jq -n --rawfile c c.pem --rawfile k c.key '{name: "c2", certificate: $c, private_key: $k}' > body.json
code=$(api -o r4.json -w '%{http_code}' -H 'Content-Type: application/json' --data @body.json "$URL/v1/certificates/import")
[ "$code" = 201 ] && jq -e '.ok and .key_imported' r4.json >/dev/null || fail "API import with private_key: $code $(cat r4.json)"
serve_stop
pass "the API addresses by thumbprint and imports with private_key"
