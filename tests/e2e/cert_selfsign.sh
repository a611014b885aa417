#!/bin/bash
# Self-signed certificates for token keys: openssl verify accepts them, the
# tls-server profile's extensions are exactly what openssl x509 -text shows,
# the certificate's key is the token key; show, list --expiring-within,
# export in every format, rename, delete (--force), renew and --rekey.
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup

spki() { openssl pkey -pubin -outform DER | sha256sum; }
cert_spki() { openssl x509 -noout -pubkey | spki; }
# the extension names of a certificate, one per line, sorted
exts() { openssl x509 -noout -text | sed -n '/X509v3 extensions:/,/Signature Algorithm/p' |
	grep -E '^ {12}[A-Za-z]' | sed 's/^ *//; s/: *$//' | sort; }

for spec in rsa:2048:krsa ec:p256:kp256 ec:p384:kp384; do
	type=${spec%:*}; key=${spec##*:}
	hkms key generate "$key" --type "$type" >/dev/null || fail "generate $type"
	hkms --json key show "$key" | jget public_key_pem > "$T/$key.pub"
	hkms cert self-sign "ss-$key" --key "$key" --subject "/CN=ss-$key.example/O=Acme" \
		--san "DNS:ss-$key.example,IP:192.0.2.1" --out-file "$T/$key.pem" >/dev/null ||
		fail "self-sign $key"
	openssl verify -CAfile "$T/$key.pem" "$T/$key.pem" >/dev/null 2>&1 ||
		fail "openssl verify rejects ss-$key"
	openssl x509 -in "$T/$key.pem" -noout -text > "$T/$key.txt"
	[ "$(exts < "$T/$key.pem")" = "$(printf '%s\n' 'X509v3 Authority Key Identifier' \
		'X509v3 Basic Constraints: critical' 'X509v3 Extended Key Usage' \
		'X509v3 Key Usage: critical' 'X509v3 Subject Alternative Name' \
		'X509v3 Subject Key Identifier')" ] || fail "extensions of ss-$key: $(exts < "$T/$key.pem")"
	grep -A1 'Basic Constraints: critical' "$T/$key.txt" | grep -q 'CA:FALSE$' || fail "CA:FALSE"
	ku=$(grep -A1 'Key Usage: critical' "$T/$key.txt" | tail -1 | sed 's/^ *//')
	case $type in
	rsa:*) [ "$ku" = "Digital Signature, Key Encipherment" ] || fail "RSA key usage: $ku" ;;
	*) [ "$ku" = "Digital Signature" ] || fail "EC key usage: $ku" ;;
	esac
	[ "$(grep -A1 'Extended Key Usage' "$T/$key.txt" | tail -1 | sed 's/^ *//')" = \
		"TLS Web Server Authentication" ] || fail "EKU"
	ski=$(grep -A1 'Subject Key Identifier' "$T/$key.txt" | tail -1 | sed 's/^ *//')
	aki=$(grep -A1 'Authority Key Identifier' "$T/$key.txt" | tail -1 | sed 's/^ *//; s/^keyid://')
	[ -n "$ski" ] && [ "$ski" = "$aki" ] || fail "SKI $ski / AKI $aki"
	[ "$(cert_spki < "$T/$key.pem")" = "$(spki < "$T/$key.pub")" ] ||
		fail "certificate key of ss-$key is not the token key"
	pass "$type: self-signed cert verifies, exact tls-server extensions, token key"
done

# show: every field of a certificate screen
hkms --json cert show ss-kp256 > "$T/show.json" || fail "show"
python3 - "$T/show.json" "$T/data/certs/ss-kp256.pem" <<'EOF' || fail "show fields"
import json, sys
s = json.load(open(sys.argv[1]))
need = ["name", "common_name", "san", "subject", "country", "state", "city",
        "organization", "organizational_unit", "email", "type", "path",
        "digest_algorithm", "key_type", "key_bits", "not_before",
        "not_after", "lifetime_days", "days_left", "fingerprint_sha1",
        "fingerprint_sha256", "issuer", "serial", "self_signed", "status",
        "key", "key_uri", "used_by", "pem"]
missing = [k for k in need if k not in s]
assert not missing, missing
# the old names of the three shapes are gone
old = [k for k in ("cn", "dn", "digest", "key_length", "subject_key") if k in s]
assert not old, old
assert s["name"] == "ss-kp256" and s["type"] == "certificate", s
assert s["common_name"] == "ss-kp256.example" and s["organization"] == "Acme"
assert s["san"] == ["DNS:ss-kp256.example", "IP:192.0.2.1"], s["san"]
assert s["subject"] == "CN=ss-kp256.example,O=Acme" or s["subject"] == "O=Acme,CN=ss-kp256.example", s["subject"]
assert s["issuer"] == s["subject"], s["issuer"]
assert s["key_type"] == "EC" and s["key_bits"] == 256
assert s["status"] == "valid" and s["days_left"] in (396, 397), s["days_left"]
assert s["digest_algorithm"] == "SHA256" and s["self_signed"] is True
assert s["lifetime_days"] == 397, s["lifetime_days"]
assert s["path"] == sys.argv[2], s["path"]
assert s["key"] == "kp256" and s["key_uri"].startswith("pkcs11:") and "object=kp256" in s["key_uri"]
assert s["used_by"] == [] and s["pem"].startswith("-----BEGIN CERTIFICATE-----")
assert open(sys.argv[2]).read() == s["pem"]
assert s["fingerprint_sha256"].count(":") == 31 and s["fingerprint_sha1"].count(":") == 19
EOF
[ "$(jget fingerprint_sha256 < "$T/show.json")" = \
	"$(openssl x509 -in "$T/kp256.pem" -noout -fingerprint -sha256 | cut -d= -f2)" ] ||
	fail "sha256 thumbprint differs from openssl's"
hkms cert show ss-kp256 | grep -q '^key_uri  *pkcs11:' || fail "human show"
pass "cert show has every field, thumbprints match openssl"

# profiles, digests, lifetime
hkms cert self-sign cl --key kp256 --subject /CN=client --profile tls-client \
	--days 30 --digest sha384 --out-file "$T/cl.pem" >/dev/null || fail "tls-client"
openssl x509 -in "$T/cl.pem" -noout -text | grep -q 'TLS Web Client Authentication' || fail "clientAuth"
openssl x509 -in "$T/cl.pem" -noout -text | grep -q 'ecdsa-with-SHA384' || fail "sha384"
[ "$(hkms --json cert show cl | jget lifetime_days)" = 30 ] || fail "--days 30"
expect_fail invalid_profile hkms cert self-sign c1 --key kp256 --subject /CN=x --profile ca
expect_fail unknown_profile hkms cert self-sign c2 --key kp256 --subject /CN=x --profile nosuch
expect_fail weak_digest hkms cert self-sign c3 --key kp256 --subject /CN=x --digest sha1
expect_fail cert_exists hkms cert self-sign cl --key kp256 --subject /CN=x
hkms cert self-sign nk --new-key ec:p256 --subject /CN=nk --out-file "$T/nk.pem" >/dev/null ||
	fail "self-sign --new-key"
openssl verify -CAfile "$T/nk.pem" "$T/nk.pem" >/dev/null 2>&1 || fail "verify nk"
pass "profiles, digest, days, --new-key; CA profile and sha1 refused"

# list and --expiring-within
hkms cert self-sign short --key kp384 --subject /CN=short --days 5 >/dev/null || fail "short"
hkms --json cert list > "$T/list.json" || fail "list"
python3 - "$T/list.json" <<'EOF' || fail "list content"
import json, sys
rows = {r["name"]: r for r in json.load(open(sys.argv[1]))}
assert set(rows) == {"ss-krsa", "ss-kp256", "ss-kp384", "cl", "nk", "short"}, rows
r = rows["short"]
assert r["type"] == "certificate" and r["common_name"] == "short" and r["key"] == "kp384", r
assert "pem" not in r and "cn" not in r and r["subject"] == "CN=short", r
assert r["days_left"] in (4, 5) and r["not_after"].endswith("Z"), r
assert rows["cl"]["days_left"] in (29, 30)
EOF
[ "$(hkms --json cert list --expiring-within 10 | python3 -c 'import json,sys; print(" ".join(r["name"] for r in json.load(sys.stdin)))')" = short ] ||
	fail "--expiring-within 10"
[ "$(hkms --json cert list --expiring-within 31 | python3 -c 'import json,sys; print(" ".join(r["name"] for r in json.load(sys.stdin)))')" = "cl short" ] ||
	fail "--expiring-within 31"
hkms cert list | grep -Eq '^short +certificate +valid +short ' || fail "human list"
expect_fail usage hkms cert list --expiring-within soon
pass "list and --expiring-within"

# export: pem, der, p7b, p12 (certificates only, no key bag)
cmp -s <(hkms cert export ss-kp256) "$T/kp256.pem" || fail "export pem"
hkms cert export ss-kp256 --format der --out-file "$T/e.der" || fail "export der"
[ "$(openssl x509 -inform DER -in "$T/e.der" -noout -fingerprint -sha256)" = \
	"$(openssl x509 -in "$T/kp256.pem" -noout -fingerprint -sha256)" ] || fail "der differs"
hkms cert export ss-kp256 --format p7b > "$T/e.p7b" || fail "export p7b"
openssl pkcs7 -in "$T/e.p7b" -print_certs -noout | grep -q 'subject=CN = ss-kp256.example' ||
	fail "p7b"
hkms cert export ss-kp256 --format p12 --out-file "$T/e.p12" || fail "export p12"
openssl pkcs12 -in "$T/e.p12" -nokeys -passin pass: -out "$T/p12.pem" 2>/dev/null || fail "p12 parse"
[ "$(openssl x509 -in "$T/p12.pem" -noout -fingerprint -sha256)" = \
	"$(openssl x509 -in "$T/kp256.pem" -noout -fingerprint -sha256)" ] || fail "p12 cert"
openssl pkcs12 -in "$T/e.p12" -info -noout -passin pass: > "$T/p12.info" 2>&1 || fail "p12 info"
grep -q 'Certificate bag' "$T/p12.info" || fail "no certificate bag"
grep -Eqi 'key ?bag' "$T/p12.info" && fail "p12 holds a key bag: $(cat "$T/p12.info")"
openssl pkcs12 -in "$T/e.p12" -nocerts -nodes -passin pass: 2>/dev/null | grep -q 'PRIVATE KEY' &&
	fail "p12 holds a private key"
printf 'p12-secret\n' > "$T/p12.pass"; chmod 600 "$T/p12.pass"
hkms cert export ss-kp256 --format p12 --passphrase-file "$T/p12.pass" > "$T/enc.p12" || fail "p12 pass"
openssl pkcs12 -in "$T/enc.p12" -nokeys -passin pass:p12-secret 2>/dev/null | grep -q 'BEGIN CERTIFICATE' ||
	fail "encrypted p12"
expect_fail bad_format hkms cert export ss-kp256 --format jks
expect_fail cert_not_found hkms cert export nosuch
pass "export pem, der, p7b, p12 (no key bag, optional passphrase)"

# rename
hkms cert rename short short2 >/dev/null || fail "rename"
expect_fail cert_not_found hkms cert show short
[ "$(hkms --json cert show short2 | jget common_name)" = short ] || fail "renamed record"
expect_fail cert_exists hkms cert rename short2 cl
expect_fail cert_not_found hkms cert rename nosuch x
expect_fail bad_name hkms cert rename short2 ../x
pass "rename"

# delete; in use -> refused unless --force; the key stays
python3 - "$T/data/certs/cl.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1])); m["used_by"] = ["service"]
json.dump(m, open(sys.argv[1], "w"))
EOF
[ "$(hkms --json cert show cl | jget used_by.0)" = service ] || fail "used_by shown"
expect_fail in_use hkms cert delete cl
expect_fail in_use hkms cert rename cl cl2
hkms cert show cl >/dev/null || fail "refused delete removed it"
hkms cert delete cl --force >/dev/null || fail "delete --force"
expect_fail cert_not_found hkms cert show cl
hkms cert delete short2 >/dev/null || fail "delete"
expect_fail cert_not_found hkms cert delete short2
hkms key show kp384 >/dev/null || fail "delete removed the key"
pass "delete, in_use refusal, --force; keys stay"

# renew keeps the key, --rekey makes a new one of the same type
old_serial=$(hkms --json cert show ss-kp256 | jget serial)
hkms --json cert renew ss-kp256 --days 60 > "$T/renew.json" || fail "renew"
[ "$(jget serial < "$T/renew.json")" != "$old_serial" ] || fail "renew kept the serial"
[ "$(jget lifetime_days < "$T/renew.json")" = 60 ] || fail "renew --days"
[ "$(jget key < "$T/renew.json")" = kp256 ] || fail "renew key"
hkms cert export ss-kp256 > "$T/renewed.pem"
[ "$(cert_spki < "$T/renewed.pem")" = "$(cert_spki < "$T/kp256.pem")" ] || fail "renew changed the key"
openssl verify -CAfile "$T/renewed.pem" "$T/renewed.pem" >/dev/null 2>&1 || fail "renewed verify"
[ "$(openssl x509 -in "$T/renewed.pem" -noout -subject)" = "$(openssl x509 -in "$T/kp256.pem" -noout -subject)" ] ||
	fail "renew changed the subject"
openssl x509 -in "$T/renewed.pem" -noout -ext subjectAltName | grep -q 'DNS:ss-kp256.example, IP Address:192.0.2.1' ||
	fail "renew lost the SANs"
hkms --json cert renew ss-krsa --rekey > "$T/rekey.json" || fail "rekey"
newkey=$(jget key < "$T/rekey.json")
[ "$newkey" != krsa ] || fail "rekey kept the key name"
hkms cert export ss-krsa > "$T/rekeyed.pem"
[ "$(cert_spki < "$T/rekeyed.pem")" != "$(cert_spki < "$T/krsa.pem")" ] || fail "rekey kept the key"
[ "$(hkms --json key show "$newkey" | jget type)" = rsa:2048 ] || fail "rekey type"
[ "$(cert_spki < "$T/rekeyed.pem")" = "$(hkms --json key show "$newkey" | jget public_key_pem | spki)" ] ||
	fail "rekeyed certificate is not for the new token key"
[ "$(jget lifetime_days < "$T/rekey.json")" = 397 ] || fail "rekey kept the lifetime"
openssl verify -CAfile "$T/rekeyed.pem" "$T/rekeyed.pem" >/dev/null 2>&1 || fail "rekeyed verify"
hkms key show krsa >/dev/null || fail "old key removed"
expect_fail cert_not_found hkms cert renew nosuch
pass "renew keeps the key; --rekey makes a new key of the same type"

for op in cert.self_sign cert.rename cert.delete cert.renew; do
	grep -q "\"op\":\"$op\"" "$T/data/audit.log" || fail "no $op audit record"
done
hkms audit verify >/dev/null || fail "audit chain"
pass "audited"
