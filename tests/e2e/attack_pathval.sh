#!/bin/bash
# Strict path validation against hostile chains (tests/e2e/attack_pathval.py):
# a 100-deep chain, a cycle of cross-signed CAs (without and with a way
# out), a CA with 1000 permitted DNS subtrees over a leaf with 1000 SANs,
# a leaf with 5000 SANs, a duplicate SAN extension, an unknown critical
# extension on the leaf and on the intermediate. `hkms trust verify
# --profile rfc5280` gives the expected verdict for each within 10 s (no
# hang, no crash); `openssl verify` agrees where it can be asked. Then the
# chains users make: `openssl req -x509` + `openssl ca` defaults (the
# intermediate from section v3_ca has no key usage: rule ca_key_usage,
# which `openssl verify -x509_strict` refuses too) and the same with
# keyUsage added: ok, although the root of `openssl req -x509` has no key
# usage (the anchor is a name and a key, RFC 5280 6.1.1 (d); OpenSSL's
# strict mode refused it, so --profile rfc5280/webpki did).
. "$(dirname "$0")/lib.sh"
need openssl python3
python3 -c 'import cryptography.x509' 2>/dev/null || skip "no python3-cryptography"
T=$(mktemp -d /tmp/hkms-attack-pathval.XXXXXX)
trap hkms_cleanup EXIT
unset HKMS_CONFIG HKMS_DATA_DIR
printf '[store]\ndata_dir = %s/data\n' "$T" > "$T/hkms.conf"
mkdir -m 700 "$T/data"
ht() { "$HKMS_BIN" --config "$T/hkms.conf" "$@"; }
cd "$T"
python3 "$(dirname "$0")/attack_pathval.py" "$T/c" 2>/dev/null ||
	python3 "$OLDPWD/$(dirname "$0")/attack_pathval.py" "$T/c" || fail "chain generator"
ht trust import attack-root --file c/anchor.pem >/dev/null || fail "import root"
rule_of() {	# rule_of FILE: ok or error.rule of a verdict
	python3 -c '
import json, sys
try:
	v = json.load(open(sys.argv[1]))
except Exception:
	print("unparsable"); sys.exit()
print("ok" if v.get("ok") is True else (v.get("error") or {}).get("rule", "-"))' "$1"
}
bad=0
while IFS=$'\t' read -r name purpose host want; do
	args=(--chain "c/$name.pem" --purpose "$purpose" --profile rfc5280)
	[ "$host" != - ] && args+=(--host "$host")
	t0=$(date +%s%N)
	timeout 10 "$HKMS_BIN" --config "$T/hkms.conf" --json trust verify "${args[@]}" > out 2> err
	rc=$?
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	[ $rc -ge 124 ] && { echo "CRASH/HANG $name: rc $rc" >&2; bad=$((bad + 1)); continue; }
	got=$(rule_of out)
	[ "$got" = ok ] && [ $rc != 0 ] && got="ok-but-rc-$rc"
	if [ "$got" != "$want" ]; then
		echo "MISMATCH $name: want $want, got $got ($(head -c 300 err))" >&2
		bad=$((bad + 1))
	fi
	echo "# $name: $got in $ms ms"
done < c/cases.tsv
[ $bad = 0 ] || fail "$bad hostile chains gave the wrong verdict"
pass "hostile chains: every verdict as expected, none over 10 s"

# what a user makes with openssl's own defaults (Debian openssl.cnf)
mkdir -p ca/newcerts && touch ca/index.txt && echo 1000 > ca/serial
cat > ca.cnf <<'CNF'
[ca]
default_ca = d
[d]
dir = ./ca
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
default_md = sha256
policy = p
unique_subject = no
copy_extensions = copy
[p]
commonName = supplied
[v3_ca]
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always,issuer
basicConstraints = critical,CA:true
[v3_ca_ku]
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always,issuer
basicConstraints = critical,CA:true
keyUsage = critical,cRLSign,keyCertSign
[usr_cert]
basicConstraints = CA:FALSE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
CNF
openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -subj "/CN=OpenSSL Default Root" \
	-days 30 -out root.pem 2>/dev/null || fail "openssl req -x509"
ht trust import openssl-root --file root.pem >/dev/null || fail "import openssl root"
for ext in v3_ca v3_ca_ku; do
	openssl req -new -newkey rsa:2048 -nodes -keyout "$ext.key" -subj "/CN=Inter $ext" \
		-out "$ext.csr" 2>/dev/null || fail "csr $ext"
	openssl ca -batch -notext -config ca.cnf -cert root.pem -keyfile root.key -extensions "$ext" \
		-days 20 -in "$ext.csr" -out "$ext.pem" 2>/dev/null || fail "openssl ca $ext"
	openssl req -new -newkey rsa:2048 -nodes -keyout "leaf-$ext.key" -subj "/CN=leaf.example" \
		-addext "subjectAltName=DNS:leaf.example" -out "leaf-$ext.csr" 2>/dev/null || fail "leaf csr"
	openssl ca -batch -notext -config ca.cnf -cert "$ext.pem" -keyfile "$ext.key" \
		-extensions usr_cert -days 10 -in "leaf-$ext.csr" -out "leaf-$ext.pem" 2>/dev/null ||
		fail "openssl ca leaf $ext"
	cat "leaf-$ext.pem" "$ext.pem" > "chain-$ext.pem"
done
for p in rfc5280 webpki; do
	ht --json trust verify --chain chain-v3_ca.pem --purpose any --profile $p > out 2>/dev/null
	[ "$(rule_of out)" = ca_key_usage ] || fail "openssl ca v3_ca intermediate under $p: $(rule_of out)"
	grep -q '"depth": 1' out || fail "ca_key_usage not at the intermediate: $(cat out)"
done
openssl verify -x509_strict -CAfile root.pem -untrusted v3_ca.pem leaf-v3_ca.pem >/dev/null 2>&1 &&
	fail "openssl verify -x509_strict takes the v3_ca intermediate (the premise)"
ht --json trust verify --chain chain-v3_ca.pem --purpose any --profile openssl > out 2>/dev/null
[ "$(rule_of out)" = ok ] || fail "the v3_ca chain under --profile openssl: $(rule_of out)"
for pur in any server client; do
	for p in rfc5280 webpki openssl; do
		[ $p = webpki ] && [ $pur != server ] && continue
		args=(--chain chain-v3_ca_ku.pem --purpose $pur --profile $p)
		[ $pur = server ] && args+=(--host leaf.example)
		ht --json trust verify "${args[@]}" > out 2>/dev/null
		# usr_cert has no EKU, which the CA/B profile requires
		want=ok; [ $p = webpki ] && want=eku_required
		[ "$(rule_of out)" = $want ] ||
			fail "openssl ca chain with keyUsage, $pur $p: $(rule_of out), not $want"
	done
done
# the root of `openssl req -x509` has no key usage: as an anchor it is a
# name and a key, so it anchors under every profile
openssl verify -x509_strict -CAfile root.pem -untrusted v3_ca_ku.pem leaf-v3_ca_ku.pem \
	>/dev/null 2>&1 && fail "openssl verify -x509_strict takes the root without key usage (the premise)"
pass "openssl req -x509 root + openssl ca: an intermediate without keyUsage is ca_key_usage; with it ok (rfc5280, openssl; webpki eku_required for the EKU-less usr_cert) though the root has no keyUsage"
