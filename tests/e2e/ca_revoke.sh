#!/bin/bash
# Revocation and CRLs with real openssl: revoke with a reason (once; again
# is "already_revoked" and writes nothing), CRLs signed by the CA's token
# key with increasing CRL numbers, published atomically to <crl_dir>, and
# `openssl verify -crl_check` refusing the revoked leaf only. The issued
# index shows status and filters.
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup
cd "$T"

first() { openssl x509 -in "$1" -out "$2" || fail "split $1"; }
leaf() {	# leaf NAME CN: CSR + sign under inter, $NAME.pem = leaf only
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
		-subj "/CN=$2" -addext "subjectAltName=DNS:$2" -out "$1.csr" 2>/dev/null ||
		fail "csr $1"
	hkms --json ca sign --ca inter --profile tls-server --csr "$1.csr" \
		--out-file "$1.chain.pem" > "$1.json" || fail "sign $1"
	first "$1.chain.pem" "$1.pem"
}

hkms ca create root --key-type rsa:3072 --subject "/CN=CRL Root" --out-file root.pem >/dev/null ||
	fail root
hkms ca create inter --key-type ec:p384 --subject "/CN=CRL Inter" --parent root \
	--out-file inter.pem >/dev/null || fail inter
first inter.pem inter.only.pem
leaf a a.example.com
leaf b b.example.com
leaf c c.example.com
sa=$(jget serial < a.json); sb=$(jget serial < b.json); sc=$(jget serial < c.json)

hkms --json ca revoke --ca inter --serial "$sa" --reason keyCompromise > rev.json || fail revoke
[ "$(jget reason < rev.json)" = keyCompromise ] || fail "reason"
# serial given in lower case with colons: the same certificate
lc=$(echo "$sc" | tr 'A-F' 'a-f' | sed 's/../&:/g; s/:$//')
hkms ca revoke --ca inter --serial "$lc" --reason superseded >/dev/null || fail "revoke by colon serial"

# again: already_revoked, nothing written
snap() { (cd data && find revoked issued crl -type f -exec sha256sum {} + | sort); }
snap > before.txt
expect_fail already_revoked hkms ca revoke --ca inter --serial "$sa" --reason superseded
expect_fail already_revoked hkms ca revoke --ca inter --serial "$lc"
expect_fail not_found hkms ca revoke --ca inter --serial 0123456789ABCDEF
expect_fail invalid_argument hkms ca revoke --ca inter --serial "$sb" --reason nonsense
expect_fail invalid_argument hkms ca revoke --ca inter --serial "xyz"
snap > after.txt
cmp -s before.txt after.txt || fail "a refused revocation changed the store: $(diff before.txt after.txt)"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["reason"])' \
	"data/revoked/inter/$sa.json" | grep -qx keyCompromise || fail "first reason was overwritten"
pass "revoke once; again is already_revoked and writes nothing; unknown serial not_found"

# the issued index
[ "$(hkms --json ca issued --ca inter --status revoked | python3 -c 'import json,sys; print(sorted(r["serial"] for r in json.load(sys.stdin)))')" = \
  "$(python3 -c 'import sys; print(sorted(sys.argv[1:]))' "$sa" "$sc")" ] || fail "status revoked filter"
[ "$(hkms --json ca issued --ca inter --status valid | jget 0.serial)" = "$sb" ] || fail "status valid filter"
[ "$(hkms --json ca issued --ca inter --expiring-within 30 | jget 0 2>/dev/null)" = "" ] || fail "expiring-within 30"
[ "$(hkms --json ca issued --ca inter --expiring-within 400 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 3 ] ||
	fail "expiring-within 400"
hkms ca issued --ca inter | grep -q "^$sa  *revoked " || fail "human table"
hkms --json ca issued --ca inter --serial "$sa" > one.json || fail "issued --serial"
[ "$(jget status < one.json)" = revoked ] || fail "show status"
jget pem < one.json | openssl x509 -noout -serial | grep -q "=$sa" || fail "show pem"
[ "$(jget requester < one.json)" = "cli:$(id -un)" ] || fail "requester"
pass "issued index: status, filters, one record with its PEM"

# CRL 1
hkms --json ca crl --ca inter --days 3 --out-file crl1.pem > crl1.json || fail "crl"
[ "$(jget number < crl1.json)" = 1 ] || fail "crl number 1"
[ "$(jget entries < crl1.json)" = 2 ] || fail "crl entries"
openssl crl -in crl1.pem -noout -CAfile inter.only.pem 2>&1 | grep -q "verify OK" ||
	fail "openssl crl -verify"
openssl crl -in crl1.pem -noout -text > crl1.txt
grep -A1 "X509v3 CRL Number" crl1.txt | grep -q "^ *1$" || fail "CRL number in CRL"
grep -q "Key Compromise" crl1.txt || fail "reason keyCompromise in CRL"
grep -q "Superseded" crl1.txt || fail "reason superseded in CRL"
grep -q "Serial Number: $sa" crl1.txt || fail "revoked a not listed"
grep -q "Serial Number: $sb" crl1.txt && fail "b listed"
python3 - crl1.json <<'PY' || fail "next update not this + 3 days"
import json, sys, datetime
d = json.load(open(sys.argv[1]))
f = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")
assert (f(d["next_update"]) - f(d["this_update"])).total_seconds() == 3 * 86400
PY
# published: DER and PEM in the crl dir, the same CRL
[ -f data/crl/inter.crl ] && [ -f data/crl/inter.crl.pem ] || fail "not published"
cmp -s data/crl/inter.crl.pem crl1.pem || fail "published PEM differs"
cmp -s data/crl/inter.crl <(openssl crl -in crl1.pem -outform DER) || fail "published DER differs"
[ "$(stat -c %a data/crl/inter.crl)" = 644 ] || fail "CRL mode"
pass "CRL signed by the token key, numbered, reasons, published as DER and PEM"

# openssl verify with the CRL: revoked a refused, b fine
cat root.pem > trust.pem
out=$(openssl verify -crl_check -CAfile trust.pem -untrusted inter.only.pem -CRLfile crl1.pem a.pem 2>&1) &&
	fail "revoked leaf verified"
echo "$out" | grep -q "certificate revoked" || fail "not refused as revoked: $out"
openssl verify -crl_check -CAfile trust.pem -untrusted inter.only.pem -CRLfile crl1.pem b.pem >/dev/null ||
	fail "valid leaf refused with the CRL"
pass "openssl verify -crl_check: revoked leaf refused, valid leaf passes"

# CRL 2 after another revocation: number 2, three entries
hkms ca revoke --ca inter --serial "$sb" >/dev/null || fail "revoke b"
hkms --json ca crl --ca inter > crl2.json || fail "crl 2"
[ "$(jget number < crl2.json)" = 2 ] || fail "crl number 2"
[ "$(jget entries < crl2.json)" = 3 ] || fail "crl 2 entries"
jget pem < crl2.json > crl2.pem
out=$(openssl verify -crl_check -CAfile trust.pem -untrusted inter.only.pem -CRLfile crl2.pem b.pem 2>&1) &&
	fail "b verified after revocation"
grep -q "Serial Number: $sb" <(openssl crl -in crl2.pem -noout -text) || fail "b not in CRL 2"
grep -A2 "Serial Number: $sb" <(openssl crl -in crl2.pem -noout -text) | grep -q "Reason" &&
	fail "unspecified reason should carry no reasonCode"
# the root's (empty) CRL, signed with its RSA token key
hkms ca crl --ca root --out-file root.crl >/dev/null || fail "root crl"
openssl crl -in root.crl -noout -CAfile root.pem 2>&1 | grep -q "verify OK" || fail "root CRL verify"
openssl crl -in root.crl -noout -text | grep -q "No Revoked Certificates" || fail "root CRL not empty"
# revocations are records that stay
[ "$(ls data/revoked/inter/*.json | wc -l)" = 3 ] || fail "revocation records"
grep -c '"op":"ca.revoke"' data/audit.log | grep -qx 8 || fail "revocations (and refusals) audited"
hkms audit verify >/dev/null || fail "audit chain"
pass "CRL numbers increase; every revocation stays; root CRL; audit"
