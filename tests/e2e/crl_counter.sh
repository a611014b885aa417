#!/bin/bash
# Monotonic CRL numbers (issue 10, item 7): a damaged counter record
# crl/<ca>/number makes `ca crl` fail with counter_damaged and `store check`
# report it (never a restart at 1); with the counter deleted (or rolled
# back) the next CRL is numbered above the last one published, as openssl
# reads it from the CRL.
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup
cd "$T"
num() { openssl crl -in "$1" -noout -crlnumber | sed 's/^crlNumber=//'; }
cnt=$T/data/crl/r/number.json

hkms ca create r --key-type ec:p256 --subject "/CN=Counter Root" >/dev/null || fail "ca create"
for i in 1 2 3; do
	hkms ca crl --ca r --out-file "c$i.pem" >/dev/null || fail "crl $i"
done
[ "$(num c3.pem)" = 0x03 ] || fail "third CRL number: $(num c3.pem)"
cp "$cnt" counter.good

# damaged: "value" a string, missing, negative
for bad in '"7"' 'null' '-1'; do
	python3 - "$cnt" "$bad" <<'PY' || fail "damage counter"
import json, sys
p, v = sys.argv[1], sys.argv[2]
j = json.load(open(p))
if v == "null":
    j.pop("value", None)
else:
    j["value"] = json.loads(v)
open(p, "w").write(json.dumps(j))
PY
	expect_fail counter_damaged hkms ca crl --ca r --out-file bad.pem
	[ ! -e bad.pem ] || fail "a CRL was written with a damaged counter ($bad)"
	out=$(hkms store check 2>&1) && fail "store check passed with a damaged counter ($bad)"
	echo "$out" | grep -q 'counter .crl/r/number. is damaged' ||
		fail "store check does not name the counter ($bad): $out"
done
[ "$(num "$T/data/crl/r.crl.pem")" = 0x03 ] || fail "published CRL changed"
pass "a damaged counter is an error for ca crl and store check; nothing published"

# deleted: the next number is above the last published one
rm -f "$cnt"
hkms store check >/dev/null || fail "store check without a counter"
hkms ca crl --ca r --out-file c4.pem >/dev/null || fail "crl after the counter was deleted"
[ "$(num c4.pem)" = 0x04 ] || fail "CRL number after deleting the counter: $(num c4.pem)"
# rolled back to an old value (a restored backup): still above
cp counter.good "$cnt"
hkms ca crl --ca r --out-file c5.pem >/dev/null || fail "crl after a rollback"
[ "$(num c5.pem)" = 0x05 ] || fail "CRL number after a counter rollback: $(num c5.pem)"
# the counter and the published files gone: the copy in crl/r/current
# (number 5) still carries it
rm -f "$cnt" "$T/data/crl/r.crl" "$T/data/crl/r.crl.pem"
hkms ca crl --ca r --out-file c6.pem >/dev/null || fail "crl 6"
[ "$(num c6.pem)" = 0x06 ] || fail "CRL number 6: $(num c6.pem)"
# a forged CRL file with a huge number, not signed by the CA, is ignored
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout f.key \
	-subj "/CN=Counter Root" -out f.pem -days 2 2>/dev/null || fail "forger cert"
mkdir -p fca/newcerts; : > fca/index.txt; echo 7fffffffffffff00 > fca/crlnumber
printf '[ca]\ndefault_ca=d\n[d]\ndatabase=fca/index.txt\ncrlnumber=fca/crlnumber\ndefault_md=sha256\ndefault_crl_days=1\n' > fca.cnf
openssl ca -config fca.cnf -gencrl -keyfile f.key -cert f.pem -out "$T/data/crl/r.crl.pem" \
	2>/dev/null || fail "forged crl"
rm -f "$cnt"
hkms ca crl --ca r --out-file c7.pem >/dev/null || fail "crl 7"
[ "$(num c7.pem)" = 0x07 ] || fail "CRL number after a forged CRL: $(num c7.pem)"
hkms store check >/dev/null || fail "store check at the end"
hkms audit verify >/dev/null || fail "audit verify"
pass "deleted or rolled-back counter: the next CRL number is above the last published (4, 5, 6, 7)"
