#!/bin/bash
# CSRs signed in the token: openssl req -verify accepts every one (RSA-2048,
# P-256, P-384 with each digest), the subject, SANs and key are what was
# asked for, the record is kept, and `csr verify` tells good from bad.
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup

spki() { openssl pkey -pubin -outform DER | sha256sum; }
certs_state() { (cd "$T/data" && find certs -type f | sort | xargs -r sha256sum); }

for spec in rsa:2048:krsa ec:p256:kp256 ec:p384:kp384; do
	type=${spec%:*}; key=${spec##*:}
	hkms key generate "$key" --type "$type" >/dev/null || fail "generate $type"
	hkms --json key show "$key" | jget public_key_pem > "$T/$key.pub"
	for dg in sha256 sha384 sha512; do
		n=$key-$dg
		hkms csr create "$n" --key "$key" --digest "$dg" \
			--subject "/CN=$n.example/O=Acme/OU=Ops/C=de/ST=Bayern/L=Munich/emailAddress=ops@example.com" \
			--san "DNS:$n.example,DNS:www.$n.example,IP:10.0.0.1,IP:::1,email:x@example.com,URI:https://example.com/x" \
			> "$T/$n.csr" || fail "csr create $n"
		openssl req -verify -in "$T/$n.csr" -noout 2>&1 |
			grep -q "verify OK" || fail "openssl req -verify rejects $n"
		openssl req -in "$T/$n.csr" -noout -text > "$T/$n.txt"
		case $dg in
		sha256) sig=SHA256 ;; sha384) sig=SHA384 ;; *) sig=SHA512 ;;
		esac
		grep -qi "Signature Algorithm: .*$sig" "$T/$n.txt" ||
			fail "$n not signed with $dg: $(grep 'Signature Alg' "$T/$n.txt")"
		grep -q "CN = $n.example, O = Acme, OU = Ops, C = DE, ST = Bayern, L = Munich, emailAddress = ops@example.com" \
			"$T/$n.txt" || fail "subject of $n: $(grep Subject: "$T/$n.txt")"
		grep -q "DNS:$n.example, DNS:www.$n.example, IP Address:10.0.0.1, IP Address:0:0:0:0:0:0:0:1, email:x@example.com, URI:https://example.com/x" \
			"$T/$n.txt" || fail "SANs of $n: $(grep -A1 'Alternative' "$T/$n.txt")"
		# the CSR's key is the token key
		[ "$(openssl req -in "$T/$n.csr" -noout -pubkey | spki)" = "$(spki < "$T/$key.pub")" ] ||
			fail "public key of CSR $n is not token key $key"
		# csr verify agrees
		hkms --json csr verify --file "$T/$n.csr" > "$T/$n.v" || fail "csr verify $n"
		[ "$(jget ok < "$T/$n.v")" = true ] || fail "csr verify $n not ok"
	done
	pass "$type: CSRs with sha256/384/512 verify, subject/SANs/key as asked"
done

# the record: type csr, key, subject, san, digest; cert show and list see it
hkms --json cert show kp256-sha384 > "$T/show.json" || fail "cert show csr"
[ "$(jget type < "$T/show.json")" = csr ] || fail "type"
[ "$(jget key < "$T/show.json")" = kp256 ] || fail "key"
[ "$(jget common_name < "$T/show.json")" = kp256-sha384.example ] || fail "cn"
[ "$(jget digest_algorithm < "$T/show.json")" = SHA384 ] || fail "digest"
[ "$(jget san.0 < "$T/show.json")" = DNS:kp256-sha384.example ] || fail "san"
case "$(jget key_uri < "$T/show.json")" in pkcs11:*object=kp256*) ;;
*) fail "key_uri $(jget key_uri < "$T/show.json")" ;; esac
meta=$T/data/certs/kp256-sha384.json
python3 - "$meta" <<'EOF' || fail "record meta"
import json, sys
m = json.load(open(sys.argv[1]))
assert m["type"] == "csr" and m["key"] == "kp256" and m["digest_algorithm"] == "SHA384", m
assert m["common_name"] == "kp256-sha384.example", m
rdns = m["subject"].split(",")
assert {"CN=kp256-sha384.example", "O=Acme", "OU=Ops", "C=DE", "ST=Bayern", "L=Munich"} <= set(rdns), m
assert m["san"][0] == "DNS:kp256-sha384.example", m
assert m["key_type"] == "EC" and m["key_bits"] == 256, m
assert m["created"], m
EOF
hkms cert list | grep -q '^kp384-sha512 *csr' || fail "list shows CSRs"
cmp -s <(hkms cert export kp256-sha384) "$T/kp256-sha384.csr" || fail "export pem"
hkms cert export kp256-sha384 --format der | openssl req -inform DER -noout -verify 2>&1 |
	grep -q "verify OK" || fail "export der"
expect_fail bad_format hkms cert export kp256-sha384 --format p12
pass "CSR record: meta, show, list, export"

# --new-key, --out-file, default digest per key; JSON output
hkms --json csr create nk --new-key ec:p384 --subject /CN=nk.example \
	--out-file "$T/nk.csr" > "$T/nk.json" || fail "csr --new-key"
openssl req -verify -in "$T/nk.csr" -noout -text 2>&1 | grep -q "ecdsa-with-SHA384" ||
	fail "P-384 auto digest is not sha384"
[ "$(jget key < "$T/nk.json")" = nk ] || fail "new key name"
hkms key show nk >/dev/null || fail "new key not in the token"
hkms csr create nk2 --new-key rsa:2048 --key nk2key --subject /CN=x >/dev/null ||
	fail "--new-key with --key name"
hkms key show nk2key >/dev/null || fail "--key names the new key"
pass "--new-key, --out-file, auto digest"

# refusals leave nothing behind
before=$(certs_state); keys=$(hkms key list | wc -l)
expect_fail weak_digest hkms csr create w1 --key kp256 --subject /CN=x --digest sha1
expect_fail weak_digest hkms csr create w2 --key kp256 --subject /CN=x --digest md5
expect_fail weak_key hkms csr create w3 --new-key rsa:1024 --subject /CN=x
expect_fail invalid_subject hkms csr create w4 --new-key ec:p256 --subject /XX=x
expect_fail invalid_san hkms csr create w5 --new-key ec:p256 --subject /CN=x --san DNS:-bad-
expect_fail cert_exists hkms csr create kp256-sha256 --key kp256 --subject /CN=x
expect_fail key_not_found hkms csr create w6 --key nosuch --subject /CN=x
expect_fail bad_name hkms csr create ../w7 --key kp256 --subject /CN=x
expect_fail usage hkms csr create w8 --subject /CN=x
expect_fail usage hkms csr create w9 --key kp256
[ "$(certs_state)" = "$before" ] || fail "a refused request changed the store"
[ "$(hkms key list | wc -l)" = "$keys" ] || fail "a refused --new-key left a key"
pass "bad requests refused, store and token unchanged"

# csr verify: a bad signature, garbage, truncated, oversized
python3 - "$T/kp256-sha256.csr" "$T/badsig.csr" <<'EOF'
import base64, sys
lines = open(sys.argv[1]).read().split("\n")
der = bytearray(base64.b64decode("".join(lines[1:-2])))
der[-5] ^= 0x01           # inside the signature
b64 = base64.encodebytes(bytes(der)).decode().replace("\n", "")
out = "-----BEGIN CERTIFICATE REQUEST-----\n"
out += "\n".join(b64[i:i+64] for i in range(0, len(b64), 64))
out += "\n-----END CERTIFICATE REQUEST-----\n"
open(sys.argv[2], "w").write(out)
EOF
# (openssl 3.0 req -verify exits 0 either way; read what it says)
openssl req -verify -in "$T/badsig.csr" -noout 2>&1 | grep -q "verify OK" &&
	fail "openssl accepts the tampered CSR"
expect_fail bad_csr_signature hkms csr verify --file "$T/badsig.csr"
head -c 300 "$T/kp256-sha256.csr" > "$T/trunc.csr"
expect_fail bad_csr hkms csr verify --file "$T/trunc.csr"
head -c 2000 /dev/urandom > "$T/garbage.csr"
expect_fail bad_csr hkms csr verify --file "$T/garbage.csr"
head -c $((1024 * 1024 + 10)) /dev/zero > "$T/big.csr"
expect_fail too_large hkms csr verify --file "$T/big.csr"
pass "csr verify refuses a bad signature, garbage, truncated and oversized input"

grep -q '"op":"csr.create"' "$T/data/audit.log" || fail "no audit record"
grep '"op":"csr.create"' "$T/data/audit.log" | grep -q '"result":"error"' ||
	fail "failed requests not audited"
hkms audit verify >/dev/null || fail "audit chain"
pass "audited"
