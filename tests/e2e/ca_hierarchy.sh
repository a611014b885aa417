#!/bin/bash
# CA hierarchy with real openssl: EC and RSA roots, intermediates signed in
# the token, leaves that verify through them, the CSR's own CA:TRUE and
# keyCertSign ignored, path length and name constraints enforced (by hkms
# at issue time, and by openssl verify for a sub-CA made by hand with the
# intermediate's token key through the pkcs11 engine), an intermediate
# signed by an external (openssl) CA via CSR + apply, and the cert verbs
# reading CAs.
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup
cd "$T"

csr() {	# csr NAME SUBJECT [openssl req args...]
	local n=$1 s=$2; shift 2
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$n.key" -subj "$s" -out "$n.csr" "$@" 2>/dev/null ||
		fail "openssl req $n"
}
first() { openssl x509 -in "$1" -out "$2" || fail "split $1"; }

for kt in ec:p384 rsa:3072; do
	t=${kt%%:*}
	hkms ca create root-$t --key-type $kt --subject "/CN=Root $t/O=hkms test" \
		--out-file root-$t.pem >/dev/null || fail "create root $kt"
	hkms ca create inter-$t --key-type $kt --subject "/CN=Inter $t" \
		--parent root-$t --out-file inter-$t.pem >/dev/null ||
		fail "create intermediate $kt"
	first root-$t.pem root-$t.only.pem
	[ "$(grep -c BEGIN inter-$t.pem)" = 2 ] || fail "intermediate chain"
	openssl x509 -in inter-$t.pem -noout -text > inter-$t.txt
	grep -A1 "Basic Constraints: critical" inter-$t.txt | grep -q "CA:TRUE, pathlen:0" ||
		fail "intermediate $t: no critical CA:TRUE pathlen:0"
	openssl x509 -in root-$t.pem -noout -text | grep -A1 "Basic Constraints: critical" |
		grep -q "CA:TRUE" || fail "root $t not CA"
	# the CA is a certificate record the cert verbs read
	hkms --json cert show inter-$t > show.json || fail "cert show CA"
	[ "$(jget type < show.json)" = ca ] || fail "cert show type"
	[ "$(jget is_ca < show.json)" = true ] || fail "cert show is_ca"
	hkms cert export root-$t --format der --out-file root-$t.der || fail "cert export CA"
	cmp <(openssl x509 -in root-$t.only.pem -outform DER) root-$t.der || fail "export differs"

	# a CSR asking for CA:TRUE and keyCertSign gets a leaf with neither
	csr leaf-$t "/CN=host.example.com" \
		-addext "subjectAltName=DNS:host.example.com,IP:192.0.2.7" \
		-addext "basicConstraints=critical,CA:TRUE,pathlen:3" \
		-addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
		-addext "nameConstraints=critical,permitted;DNS:evil.test"
	hkms ca sign --ca inter-$t --profile tls-server --csr leaf-$t.csr \
		--out-file leaf-$t.chain.pem >/dev/null || fail "sign $t"
	[ "$(grep -c BEGIN leaf-$t.chain.pem)" = 3 ] || fail "chain: leaf, intermediate, root"
	first leaf-$t.chain.pem leaf-$t.pem
	openssl verify -CAfile root-$t.only.pem -untrusted inter-$t.pem \
		-purpose sslserver leaf-$t.pem >/dev/null || fail "openssl verify $t leaf"
	openssl x509 -in leaf-$t.pem -noout -text > leaf-$t.txt
	grep -q "CA:FALSE" leaf-$t.txt || fail "leaf $t not CA:FALSE"
	grep -q "CA:TRUE" leaf-$t.txt && fail "leaf $t got CA:TRUE from the CSR"
	grep -q "Certificate Sign" leaf-$t.txt && fail "leaf $t got keyCertSign"
	grep -q "Name Constraints" leaf-$t.txt && fail "leaf $t got name constraints"
	grep -q "IP Address:192.0.2.7" leaf-$t.txt || fail "leaf $t lost its SANs"
	pass "$kt root -> intermediate -> leaf verifies; CSR's CA:TRUE/keyCertSign ignored"
done

# the intermediate's serial is in the root's issued index
s=$(hkms --json ca show inter-ec | jget serial)
hkms --json ca issued --ca root-ec | grep -q "\"$s\"" || fail "sub-CA not in parent index"

# PKCS#7 output
hkms ca sign --ca inter-ec --profile tls-server --csr leaf-ec.csr --format p7b \
	--out-file leaf.p7b >/dev/null || fail "p7b"
[ "$(openssl pkcs7 -in leaf.p7b -print_certs | grep -c BEGIN)" = 3 ] || fail "p7b has not 3 certs"
pass "PKCS#7 output holds leaf and chain"

# path length: pathlen 0 cannot make a sub-CA
expect_fail path_len_exceeded hkms ca create sub --key-type ec:p256 \
	--subject /CN=Sub --parent inter-ec
hkms --json key list | grep -q '"name": "sub"' && fail "key of refused sub-CA left"
hkms ca create mid --key-type ec:p256 --subject /CN=Mid --parent root-ec \
	--path-len 1 >/dev/null || fail "pathlen 1 intermediate"
expect_fail path_len_exceeded hkms ca create deep --key-type ec:p256 \
	--subject /CN=Deep --parent mid --path-len 1
hkms ca create deep --key-type ec:p256 --subject /CN=Deep --parent mid \
	--out-file deep.pem >/dev/null || fail "sub-CA under pathlen 1"
openssl x509 -in deep.pem -noout -text | grep -q "CA:TRUE, pathlen:0" ||
	fail "sub-CA under pathlen 1 must get pathlen 0"
pass "path length enforced by hkms"

# a sub-CA made by hand under the pathlen:0 intermediate (signed with its
# token key via the pkcs11 engine), and a leaf under it: openssl refuses
ENGINE=/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so
if [ -e "$ENGINE" ]; then
	cat > eng.cnf <<EOC
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $ENGINE
MODULE_PATH = $SOFTHSM_MODULE
init = 0
EOC
	first inter-ec.pem inter-ec.only.pem
	csr rogue "/CN=Rogue Sub"
	printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > ca.ext
	OPENSSL_CONF=$T/eng.cnf with_pin openssl x509 -req -in rogue.csr -engine pkcs11 \
		-CAkeyform engine -CAkey "pkcs11:token=hkms;object=inter-ec;type=private" \
		-CA inter-ec.only.pem -passin env:HKMS_PIN -extfile ca.ext -days 30 \
		-out rogue.pem >/dev/null 2>&1 || fail "hand-made sub-CA"
	csr rleaf "/CN=x.example.com"
	printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:x.example.com\n' > leaf.ext
	openssl x509 -req -in rleaf.csr -CA rogue.pem -CAkey rogue.key -extfile leaf.ext \
		-days 10 -out rleaf.pem 2>/dev/null || fail "leaf under rogue sub-CA"
	out=$(openssl verify -CAfile root-ec.only.pem -untrusted <(cat inter-ec.only.pem rogue.pem) \
		rleaf.pem 2>&1) && fail "openssl accepted a path past pathlen:0"
	echo "$out" | grep -q "path length constraint exceeded" ||
		fail "unexpected verify error: $out"
	pass "hand-made sub-CA under pathlen:0: openssl verify refuses its leaf"
else
	echo "note: no pkcs11 engine, hand-made sub-CA check skipped"
fi

# name constraints: hkms refuses names outside them at issue time
hkms ca create nc --key-type ec:p256 --subject /CN=NC --parent root-ec \
	--permit-dns .example.com --permit-ip 10.0.0.0/8 --exclude-dns bad.example.com \
	--out-file nc.pem >/dev/null || fail "create constrained CA"
openssl x509 -in nc.pem -noout -text | grep -q "Name Constraints: critical" ||
	fail "name constraints not critical"
csr ok "/CN=a.example.com" -addext "subjectAltName=DNS:a.example.com,IP:10.9.8.7"
hkms ca sign --ca nc --profile tls-server --csr ok.csr --out-file ok.pem >/dev/null ||
	fail "in-constraints leaf refused"
first ok.pem ok.only.pem
openssl verify -CAfile root-ec.only.pem -untrusted nc.pem ok.only.pem >/dev/null ||
	fail "constrained leaf does not verify"
n0=$(hkms --json ca issued --ca nc | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
for spec in "/CN=evil.com|DNS:evil.com" "/CN=a.example.com|DNS:a.example.com,IP:192.168.1.1" \
    "/CN=bad.example.com|DNS:bad.example.com" "/CN=evil.org|" ; do
	s=${spec%%|*}; san=${spec#*|}
	if [ -n "$san" ]; then csr bad "$s" -addext "subjectAltName=$san"; else csr bad "$s"; fi
	expect_fail policy_violation hkms ca sign --ca nc --profile tls-server --csr bad.csr
done
hkms ca sign --ca nc --profile tls-server --csr ok.csr --san DNS:evil.com 2>err.json &&
	fail "override SAN outside constraints accepted"
grep -q "outside the name constraints" err.json || fail "message: $(cat err.json)"
n1=$(hkms --json ca issued --ca nc | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n0" = "$n1" ] || fail "refused requests changed the issued index"
pass "name constraints checked at issue time (dns, ip, excluded, CN)"

# externally signed intermediate: key + CSR in hkms, signed by an openssl CA
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout ext-root.key \
	-subj "/CN=External Root" -days 3650 -out ext-root.pem \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	2>/dev/null || fail "external root"
hkms ca create ext --key-type ec:p256 --subject "/CN=Ext Inter/O=hkms" --external \
	--path-len 0 --out-file ext.csr >/dev/null || fail "external create"
grep -q "BEGIN CERTIFICATE REQUEST" ext.csr || fail "no CSR written"
openssl req -in ext.csr -noout -verify 2>&1 | grep -q "verify OK" || fail "CSR self-signature"
openssl req -in ext.csr -noout -text | grep -q "CA:TRUE" || fail "CSR does not ask for CA:TRUE"
[ "$(hkms --json ca show ext | jget type)" = ca-pending ] || fail "pending type"
hkms --json cert list | grep -q '"ext"' || fail "cert list misses the pending CA"
expect_fail ca_pending hkms ca sign --ca ext --profile tls-server --csr ok.csr
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' > ext-ca.ext
openssl x509 -req -in ext.csr -CA ext-root.pem -CAkey ext-root.key -extfile ext-ca.ext \
	-days 365 -out ext.pem 2>/dev/null || fail "external CA signs"
# wrong key, not a CA, wrong parent: refused, record unchanged
openssl x509 -req -in rleaf.csr -CA ext-root.pem -CAkey ext-root.key -extfile ext-ca.ext \
	-days 365 -out wrongkey.pem 2>/dev/null
expect_fail key_mismatch hkms ca apply ext --file wrongkey.pem --ca-file ext-root.pem
openssl x509 -req -in ext.csr -CA ext-root.pem -CAkey ext-root.key -extfile leaf.ext \
	-days 365 -out notca.pem 2>/dev/null
expect_fail not_a_ca hkms ca apply ext --file notca.pem --ca-file ext-root.pem
expect_fail chain_invalid hkms ca apply ext --file ext.pem --ca-file root-ec.only.pem
[ "$(hkms --json ca show ext | jget type)" = ca-pending ] || fail "refused apply changed the CA"
hkms ca apply ext --file ext.pem --ca-file ext-root.pem >/dev/null || fail "apply"
[ "$(hkms --json ca show ext | jget type)" = ca ] || fail "not active after apply"
expect_fail not_pending hkms ca apply ext --file ext.pem --ca-file ext-root.pem
hkms ca sign --ca ext --profile tls-server --csr ok.csr --out-file ext-leaf.pem >/dev/null ||
	fail "sign under external CA"
[ "$(grep -c BEGIN ext-leaf.pem)" = 3 ] || fail "external chain not leaf+inter+root"
first ext-leaf.pem ext-leaf.only.pem
openssl verify -CAfile ext-root.pem -untrusted ext.pem ext-leaf.only.pem >/dev/null ||
	fail "leaf under external intermediate does not verify"
pass "externally signed intermediate: CSR, checks on apply, then it signs"

hkms ca list | grep -q '^inter-rsa ' || fail "ca list"
expect_fail ca_exists hkms ca create root-ec --key-type ec:p256 --subject /CN=x
expect_fail ca_not_found hkms ca sign --ca nope --profile tls-server --csr ok.csr
hkms audit verify >/dev/null || fail "audit chain"
pass "list, duplicates, audit chain"
