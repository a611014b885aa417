#!/bin/bash
# Apply a certificate issued by a separate openssl CA for an hkms CSR: a
# --what-if run changes nothing, the real run stores it; a wrong CA, an
# expired certificate, a certificate for another key and one without
# serverAuth are each refused naming the failed check. Also: chains with an
# intermediate, DER input, and a private key + certificate bundle (PEM,
# encrypted PKCS#8, PKCS#12) whose key goes into the token.
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup

spki() { openssl pkey -pubin -outform DER | sha256sum; }
cert_spki() { openssl x509 -noout -pubkey | spki; }
state() {
	(cd "$T/data" && find certs -type f | sort | xargs -r sha256sum
	 sha256sum audit.log)
	hkms key list
}
# expect_check CHECK CMD...: refused with check_failed:CHECK, the JSON error
# lists every check and marks CHECK as failed
expect_check() {
	local check=$1; shift
	expect_fail "check_failed:$check" "$@"
	"$@" 2>&1 >/dev/null | tail -1 | python3 -c '
import json, sys
e = json.load(sys.stdin)["error"]
names = [c["name"] for c in e["checks"]]
assert names == ["validity", "key_matches", "extended_key_usage", "chains_to_ca"], names
bad = [c["name"] for c in e["checks"] if c["pass"] is False]
assert bad and bad[0] == sys.argv[1], bad
assert sys.argv[1] in e["message"], e["message"]
' "$check" || fail "error JSON for $check"
}

CA=$T/ca; mkdir -p "$CA/new"
# a root CA made by openssl, and a second unrelated one
mkca() {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$CA/$1.key" -out "$CA/$1.pem" \
		-subj "/CN=$1" -days 365 -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null || fail "make CA $1"
}
mkca root; mkca other-root
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:web.example\n' > "$CA/server.ext"
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' > "$CA/client.ext"
# issue CSR OUT CA EXT
issue() {
	openssl x509 -req -in "$1" -CA "$CA/$3.pem" -CAkey "$CA/$3.key" -CAcreateserial \
		-days 30 -sha256 -extfile "$CA/$4" -out "$2" 2>/dev/null || fail "issue $2"
}

hkms csr create web --new-key ec:p256 --subject /CN=web.example/O=Acme \
	--san DNS:web.example > "$T/web.csr" || fail "csr"
issue "$T/web.csr" "$T/web.pem" root server.ext

# --what-if: every check passes, nothing changes (store, keys, audit log)
before=$(state)
hkms --json cert import web --file "$T/web.pem" --ca-file "$CA/root.pem" --what-if \
	> "$T/whatif.json" || fail "what-if"
python3 - "$T/whatif.json" <<'EOF' || fail "what-if result"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ok"] is True and r["what_if"] is True and r["key"] == "web", r
assert [(c["name"], c["pass"]) for c in r["checks"]] == [("validity", True),
    ("key_matches", True), ("extended_key_usage", True), ("chains_to_ca", True)], r
assert "certificate" not in r
EOF
[ "$(state)" = "$before" ] || fail "--what-if changed something"
[ "$(hkms --json cert show web | jget type)" = csr ] || fail "what-if replaced the CSR"
pass "--what-if: all checks pass, nothing changed"

# refusals, each naming its check; nothing changes
issue "$T/web.csr" "$T/web-client.pem" root client.ext
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/foreign.key" \
	-subj /CN=web.example -out "$T/foreign.csr" 2>/dev/null || fail "foreign csr"
issue "$T/foreign.csr" "$T/foreign.pem" root server.ext
hkms csr create other --new-key ec:p256 --subject /CN=other > "$T/other.csr" || fail "other csr"
issue "$T/other.csr" "$T/other.pem" root server.ext
# expired: openssl ca can set the dates (x509 -req in 3.0 cannot)
cat > "$CA/ca.cnf" <<EOF
[ ca ]
default_ca = d
[ d ]
database = $CA/index.txt
new_certs_dir = $CA/new
serial = $CA/serial
default_md = sha256
policy = p
unique_subject = no
[ p ]
commonName = supplied
EOF
: > "$CA/index.txt"; echo 1000 > "$CA/serial"
openssl ca -batch -config "$CA/ca.cnf" -cert "$CA/root.pem" -keyfile "$CA/root.key" \
	-in "$T/web.csr" -out "$T/expired.pem" -notext -extfile "$CA/server.ext" \
	-startdate 20200101000000Z -enddate 20200201000000Z >/dev/null 2>&1 || fail "expired cert"
openssl x509 -in "$T/expired.pem" -noout -checkend 0 >/dev/null && fail "test cert not expired"

before=$(state)
expect_check chains_to_ca hkms cert import web --file "$T/web.pem" --ca-file "$CA/other-root.pem"
expect_check validity hkms cert import web --file "$T/expired.pem" --ca-file "$CA/root.pem"
expect_check key_matches hkms cert import web --file "$T/other.pem" --ca-file "$CA/root.pem" --key web
expect_check key_matches hkms cert import web --file "$T/foreign.pem" --ca-file "$CA/root.pem"
expect_check extended_key_usage hkms cert import web --file "$T/web-client.pem" --ca-file "$CA/root.pem"
# the same refusals with --what-if
expect_check chains_to_ca hkms cert import web --file "$T/web.pem" --ca-file "$CA/other-root.pem" --what-if
expect_check extended_key_usage hkms cert import web --file "$T/web-client.pem" --ca-file "$CA/root.pem" --what-if
(cd "$T/data" && find certs -type f | sort | xargs -r sha256sum) > "$T/after"
[ "$(echo "$before" | grep -v audit.log | grep -v '^NAME')" = \
	"$(state | grep -v audit.log | grep -v '^NAME')" ] || fail "a refused import changed the store"
grep '"op":"cert.import"' "$T/data/audit.log" | grep -q '"result":"error"' ||
	fail "refused imports not audited"
# the profile decides the required EKU
hkms cert import web --file "$T/web-client.pem" --ca-file "$CA/root.pem" --profile tls-client \
	--what-if >/dev/null || fail "clientAuth with --profile tls-client"
hkms cert import web --file "$T/web-client.pem" --ca-file "$CA/root.pem" --profile any \
	--what-if >/dev/null || fail "--profile any"
expect_check extended_key_usage hkms cert import web --file "$T/web.pem" --ca-file "$CA/root.pem" \
	--profile tls-server-client --what-if
pass "wrong CA, expired, other key, foreign key, no serverAuth: refused naming the check"

# apply for real: the CSR record becomes the certificate
hkms --json cert import web --file "$T/web.pem" --ca-file "$CA/root.pem" > "$T/applied.json" ||
	fail "import"
[ "$(jget ok < "$T/applied.json")" = true ] || fail "ok"
[ "$(jget certificate.type < "$T/applied.json")" = certificate ] || fail "type"
hkms --json cert show web > "$T/web.json" || fail "show"
[ "$(jget issuer < "$T/web.json")" = CN=root ] || fail "issuer"
[ "$(jget self_signed < "$T/web.json")" = false ] || fail "self_signed"
[ "$(jget key < "$T/web.json")" = web ] || fail "key"
[ "$(jget source < "$T/web.json")" = imported ] || fail "source"
[ "$(hkms cert export web | cert_spki)" = "$(hkms --json key show web | jget public_key_pem | spki)" ] ||
	fail "stored certificate is not for the token key"
cmp -s <(hkms cert export web) "$T/web.pem" || fail "stored PEM differs"
expect_fail cert_exists hkms cert import web --file "$T/web.pem" --ca-file "$CA/root.pem"
expect_fail not_self_signed hkms cert renew web
pass "applied: record replaced the CSR, key and issuer right"

# without --key and without a CSR record: the matching token key is found;
# DER input; no --ca-file = chain check skipped
hkms cert import other-cert --file "$T/other.pem" --ca-file "$CA/root.pem" >/dev/null ||
	fail "import with key lookup"
[ "$(hkms --json cert show other-cert | jget key)" = other ] || fail "found key"
openssl x509 -in "$T/other.pem" -outform DER -out "$T/other.der"
hkms --json cert import other-der --file "$T/other.der" > "$T/der.json" || fail "DER import"
python3 - "$T/der.json" <<'EOF' || fail "skipped chain check"
import json, sys
c = {x["name"]: x for x in json.load(open(sys.argv[1]))["checks"]}
assert c["chains_to_ca"]["pass"] is None and "skipped" in c["chains_to_ca"]["reason"], c
EOF
pass "key found by public key, DER input, chain check skipped without a CA"

# an intermediate: in the certificate file, or in the CA file
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > "$CA/int.ext"
openssl req -new -newkey rsa:2048 -nodes -keyout "$CA/int.key" -subj /CN=intermediate \
	-out "$CA/int.csr" 2>/dev/null
issue "$CA/int.csr" "$CA/int.pem" root int.ext
hkms csr create chained --new-key ec:p384 --subject /CN=web.example > "$T/chained.csr" || fail "csr"
issue "$T/chained.csr" "$T/chained.pem" int server.ext
cat "$T/chained.pem" "$CA/int.pem" > "$T/fullchain.pem"
cat "$CA/int.pem" "$CA/root.pem" > "$T/cachain.pem"
expect_check chains_to_ca hkms cert import chained --file "$T/chained.pem" --ca-file "$CA/root.pem" --what-if
hkms cert import chained --file "$T/chained.pem" --ca-file "$T/cachain.pem" --what-if >/dev/null ||
	fail "intermediate in the CA file"
hkms cert import chained --file "$T/fullchain.pem" --ca-file "$CA/root.pem" >/dev/null ||
	fail "intermediate in the certificate file"
[ "$(hkms --json cert show chained | jget chain_length)" = 2 ] || fail "chain kept"
[ "$(hkms cert export chained --format p7b | openssl pkcs7 -print_certs -noout | grep -c '^subject=')" = 2 ] ||
	fail "p7b export has the chain"
pass "chains with an intermediate"

# a private key with its certificate: the key goes into the token
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/b.key" 2>/dev/null
openssl req -x509 -key "$T/b.key" -subj /CN=bundle.example -days 30 \
	-addext extendedKeyUsage=serverAuth -out "$T/b.crt" 2>/dev/null
cat "$T/b.key" "$T/b.crt" > "$T/bundle.pem"
hkms --json cert import b1 --file "$T/bundle.pem" > "$T/b1.json" || fail "bundle import"
[ "$(jget key_imported < "$T/b1.json")" = true ] || fail "key_imported"
hkms --json key show b1 > "$T/b1key.json" || fail "bundle key not in the token"
[ "$(jget sensitive < "$T/b1key.json")" = true ] && [ "$(jget extractable < "$T/b1key.json")" = false ] ||
	fail "imported key is not sensitive/non-extractable"
[ "$(jget public_key_pem < "$T/b1key.json" | spki)" = "$(cert_spki < "$T/b.crt")" ] || fail "bundle key"
[ "$(hkms --json cert show b1 | jget key)" = b1 ] || fail "bundle record key"
# the same key again: it is already in the token, nothing is imported
hkms --json cert import b1-again --file "$T/bundle.pem" > "$T/again.json" || fail "again"
[ "$(jget key_imported < "$T/again.json")" = false ] && [ "$(jget key < "$T/again.json")" = b1 ] ||
	fail "second import of the same key"
# encrypted PKCS#8 and PKCS#12, with a passphrase file; --key names the key
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/r.key" 2>/dev/null
openssl req -x509 -key "$T/r.key" -subj /CN=rsa.example -days 30 \
	-addext extendedKeyUsage=serverAuth -out "$T/r.crt" 2>/dev/null
printf 'bundle-pass\n' > "$T/pass"; chmod 600 "$T/pass"
openssl pkcs8 -topk8 -in "$T/r.key" -passout pass:bundle-pass -out "$T/r.p8" 2>/dev/null
cat "$T/r.p8" "$T/r.crt" > "$T/r-enc.pem"
expect_fail password_required hkms cert import r1 --file "$T/r-enc.pem"
printf 'wrong\n' > "$T/wrong"; chmod 600 "$T/wrong"
expect_fail bad_password hkms cert import r1 --file "$T/r-enc.pem" --passphrase-file "$T/wrong"
hkms cert import r1 --file "$T/r-enc.pem" --passphrase-file "$T/pass" --key r1key >/dev/null ||
	fail "encrypted PKCS#8 bundle"
[ "$(hkms --json key show r1key | jget type)" = rsa:2048 ] || fail "r1key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$T/p.key" 2>/dev/null
openssl req -x509 -key "$T/p.key" -subj /CN=p12.example -days 30 \
	-addext extendedKeyUsage=serverAuth -out "$T/p.crt" 2>/dev/null
openssl pkcs12 -export -inkey "$T/p.key" -in "$T/p.crt" -passout pass:bundle-pass \
	-out "$T/p.p12" 2>/dev/null || fail "make p12"
before=$(state)
expect_fail bad_password hkms cert import p1 --file "$T/p.p12" --passphrase-file "$T/wrong"
expect_fail bad_password hkms cert import p1 --file "$T/p.p12" --passphrase-file "$T/wrong" --what-if
[ "$(echo "$before" | grep -v audit.log)" = "$(state | grep -v audit.log)" ] || fail "wrong p12 pass changed state"
hkms cert import p1 --file "$T/p.p12" --passphrase-file "$T/pass" --what-if >/dev/null || fail "p12 what-if"
expect_fail key_not_found hkms key show p1
hkms cert import p1 --file "$T/p.p12" --passphrase-file "$T/pass" >/dev/null || fail "p12 import"
[ "$(hkms --json key show p1 | jget public_key_pem | spki)" = "$(cert_spki < "$T/p.crt")" ] || fail "p12 key"
# a bundle whose certificate fails a check: the key stays out of the token
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/c.key" 2>/dev/null
openssl req -x509 -key "$T/c.key" -subj /CN=c -days 30 -addext extendedKeyUsage=clientAuth \
	-out "$T/c.crt" 2>/dev/null
cat "$T/c.key" "$T/c.crt" > "$T/c.pem"
expect_check extended_key_usage hkms cert import c1 --file "$T/c.pem"
expect_fail key_not_found hkms key show c1
pass "key + certificate bundles (PEM, encrypted PKCS#8, PKCS#12) go into the token"

grep '"op":"cert.import"' "$T/data/audit.log" | grep -q '"result":"ok"' || fail "import not audited"
hkms audit verify >/dev/null || fail "audit chain"
pass "audited"
