#!/bin/bash
# T-X509-1 through the truststore: chains made by openssl itself (not by
# hkms), each verified with `hkms trust verify`; the verdict and reason
# must match `openssl verify` with the same options. Also: a PKCS#12
# collection of 3 certificates imports as one alias and each certificate
# verifies; exports read back with openssl. No token needed.
. "$(dirname "$0")/lib.sh"
need openssl python3

T=$(mktemp -d /tmp/hkms-trust.XXXXXX)
trap 'hkms_cleanup' EXIT
unset HKMS_CONFIG HKMS_DATA_DIR
printf '[store]\ndata_dir = %s/data\n' "$T" > "$T/hkms.conf"
# no token needed, so no `hkms init`: only init creates a data dir, make it
mkdir -m 700 "$T/data"
ht() { "$HKMS_BIN" --config "$T/hkms.conf" "$@"; }
P=$T/pki
mkdir -p "$P"
cd "$P" || fail "cd"

# --- a PKI made with openssl -------------------------------------------
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$1.key" 2>/dev/null || fail "genpkey $1"; }
# sign NAME ISSUER SUBJECT EXTENSIONS [DAYS] [DIGEST]
sign() {
	printf '%b\n' "$4" > "$1.ext"
	openssl req -new -key "$1.key" -subj "$3" -out "$1.csr" 2>/dev/null ||
		fail "req $1"
	openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" \
		-CAcreateserial -days "${5:-365}" -"${6:-sha256}" \
		-extfile "$1.ext" -out "$1.crt" 2>/dev/null || fail "x509 $1"
}
ca_ext() { echo "basicConstraints=critical,CA:TRUE${1:-}\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid"; }
leaf_ext() { echo "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=$1\nsubjectAltName=$2\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid"; }

key root
openssl req -x509 -new -key root.key -subj "/O=hkms e2e/CN=E2E Root" \
	-days 3650 -addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" -out root.crt \
	2>/dev/null || fail "root"
key inter; sign inter root "/O=hkms e2e/CN=E2E Intermediate" "$(ca_ext ,pathlen:0)" 1825
key leaf; sign leaf inter "/CN=www.example.com" "$(leaf_ext serverAuth DNS:www.example.com,IP:192.0.2.10)"
key client; sign client inter "/CN=client one" "$(leaf_ext clientAuth email:one@example.com)"
# path length: a sub-CA under the pathlen:0 intermediate, and a leaf below it
key sub; sign sub inter "/CN=E2E Sub CA" "$(ca_ext)"
key deep; sign deep sub "/CN=deep.example.com" "$(leaf_ext serverAuth DNS:deep.example.com)"
# name constraints: a CA limited to .example.com, and a leaf outside
key nc; sign nc root "/CN=E2E NC CA" "$(ca_ext)\nnameConstraints=critical,permitted;DNS:.example.com"
key ncok; sign ncok nc "/CN=ok.example.com" "$(leaf_ext serverAuth DNS:ok.example.com)"
key ncbad; sign ncbad nc "/CN=evil.example.org" "$(leaf_ext serverAuth DNS:evil.example.org)"
# weak: SHA-1 signature, RSA-1024 key
key sha1; sign sha1 inter "/CN=sha1.example.com" "$(leaf_ext serverAuth DNS:sha1.example.com)" 365 sha1
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1k.key 2>/dev/null
sign rsa1k inter "/CN=rsa1k.example.com" "$(leaf_ext serverAuth DNS:rsa1k.example.com)"
# expired: openssl ca can set dates in the past
key old
mkdir -p ca/new; : > ca/index.txt; echo 1000 > ca/serial
cat > ca.cnf <<EOF
[ca]
default_ca = d
[d]
dir = $P/ca
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir/new
default_md = sha256
policy = p
unique_subject = no
copy_extensions = none
[p]
commonName = supplied
[x]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:old.example.com
EOF
openssl req -new -key old.key -subj "/CN=old.example.com" -out old.csr 2>/dev/null
openssl ca -batch -config ca.cnf -cert inter.crt -keyfile inter.key \
	-startdate 20200101000000Z -enddate 20210101000000Z -extensions x \
	-in old.csr -out old.crt >/dev/null 2>&1 || fail "openssl ca (expired)"
# an unrelated root, to show that an untrusted root does not help
key other
openssl req -x509 -new -key other.key -subj "/CN=Other Root" -days 365 \
	-out other.crt 2>/dev/null
pass "openssl made the test PKI"

cat leaf.crt inter.crt > good.pem
cat client.crt inter.crt > client.pem
cat deep.crt sub.crt inter.crt > deep.pem
cat ncok.crt nc.crt > ncok.pem
cat ncbad.crt nc.crt > ncbad.pem
cat sha1.crt inter.crt > sha1.pem
cat rsa1k.crt inter.crt > rsa1k.pem
cat old.crt inter.crt > old.pem
cat leaf.crt inter.crt root.crt > withroot.pem

# --- before anything is trusted ------------------------------------------
out=$(ht --json trust verify --chain good.pem 2>&1) && fail "verified with an empty truststore"
echo "$out" | grep -q '"code": "unable_to_get_issuer"\|"code":"unable_to_get_issuer"' ||
	fail "empty store: $out"
ht trust import other --file other.crt >/dev/null || fail "import other"
expect_fail self_signed_in_chain ht trust verify --chain withroot.pem
pass "nothing verifies before its root is trusted (untrusted root in chain refused)"

ht trust import root --file root.crt >/dev/null || fail "import root"

# check NAME CHAINFILE EXPECT(ok|code) OPENSSL_ERR [hkms options...]
# OPENSSL_ERR: the "error N" number openssl verify must report (0 = ok).
check() {
	local name=$1 chain=$2 want=$3 oerr=$4; shift 4
	local oargs=(-auth_level 2) a out rc leaf extra
	# the same options for openssl verify
	set -- "$@"
	local i=1 args=("$@")
	while [ $i -le ${#args[@]} ]; do
		a=${args[$((i-1))]}
		case $a in
		--purpose) v=${args[$i]}; i=$((i+1))
			[ "$v" = server ] && oargs+=(-purpose sslserver)
			[ "$v" = client ] && oargs+=(-purpose sslclient) ;;
		--host) v=${args[$i]}; i=$((i+1))
			if [[ $v =~ ^[0-9.]+$ || $v == *:* ]]; then
				oargs+=(-verify_ip "$v")
			else
				oargs+=(-verify_hostname "$v")
			fi ;;
		--at) oargs+=(-attime "${args[$i]}"); i=$((i+1)) ;;
		esac
		i=$((i+1))
	done
	leaf=$T/one.pem extra=$T/rest.pem
	python3 - "$chain" "$leaf" "$extra" <<'PY'
import sys
t = open(sys.argv[1]).read()
blocks = [b + "-----END CERTIFICATE-----\n" for b in t.split("-----END CERTIFICATE-----") if "BEGIN" in b]
open(sys.argv[2], "w").write(blocks[0].lstrip())
open(sys.argv[3], "w").write("".join(b.lstrip() for b in blocks[1:]))
PY
	if [ -s "$extra" ]; then
		oout=$(openssl verify "${oargs[@]}" -CAfile root.crt -untrusted "$extra" "$leaf" 2>&1)
	else
		oout=$(openssl verify "${oargs[@]}" -CAfile root.crt "$leaf" 2>&1)
	fi
	orc=$?
	out=$(ht --json trust verify --chain "$chain" "$@" 2>"$T/err")
	rc=$?
	if [ "$want" = ok ]; then
		[ $rc -eq 0 ] || fail "$name: expected ok, got $(cat "$T/err")"
		[ $orc -eq 0 ] || fail "$name: openssl verify disagrees: $oout"
	else
		[ $rc -ne 0 ] || fail "$name: expected $want, got ok"
		grep -q "\"code\":\"$want\"" "$T/err" ||
			fail "$name: expected $want, got $(cat "$T/err")"
		[ "$(echo "$out" | jget error.code)" = "$want" ] ||
			fail "$name: result JSON lacks error.code $want: $out"
		[ $orc -ne 0 ] || fail "$name: openssl verify says ok"
		echo "$oout" | grep -q "error $oerr " ||
			fail "$name: openssl verify gives another error than $oerr: $oout"
		[ "$(echo "$out" | jget error.openssl)" = "$oerr" ] ||
			fail "$name: hkms saw X509 error $(echo "$out" | jget error.openssl), openssl $oerr"
	fi
	pass "$name: $want"
}

now=$(date +%s)
check "good chain" good.pem ok 0 --purpose server --host www.example.com
out=$(ht --json trust verify --chain good.pem --purpose server --host www.example.com)
[ "$(echo "$out" | jget path.2.alias)" = root ] || fail "path does not end at alias root: $out"
[ "$(echo "$out" | jget trusted_by)" = root ] || fail "trusted_by: $out"
check "good chain, IP host" good.pem ok 0 --purpose server --host 192.0.2.10
check "expired leaf (openssl ca -enddate 2021)" old.pem certificate_expired 10 --purpose server
check "valid leaf at a time 20 years ahead" good.pem certificate_expired 10 --at $((now + 20*365*86400))
check "leaf at a time before it existed" good.pem certificate_not_yet_valid 9 --at $((now - 10*86400))
check "wrong host name" good.pem hostname_mismatch 62 --purpose server --host evil.example.org
check "client certificate presented as server" client.pem invalid_purpose 26 --purpose server
check "client certificate as client" client.pem ok 0 --purpose client
check "server certificate presented as client" good.pem invalid_purpose 26 --purpose client
check "path length exceeded" deep.pem path_length_exceeded 25 --purpose server
check "name constraints, inside" ncok.pem ok 0 --purpose server
check "name constraints violated" ncbad.pem name_constraints_violation 47 --purpose server
check "missing intermediate" leaf.crt unable_to_get_issuer 20 --purpose server
check "SHA-1 signature" sha1.pem weak_signature 68 --purpose server
check "RSA-1024 leaf" rsa1k.pem weak_chain_key 66 --purpose server

# human output names the failed check too
ht trust verify --chain good.pem --host evil.example.org >"$T/h.out" 2>"$T/h.err" &&
	fail "human verify passed"
grep -q "FAILED: hostname_mismatch" "$T/h.out" || fail "human output: $(cat "$T/h.out")"
expect_fail bad_purpose ht trust verify --chain good.pem --purpose email
expect_fail usage ht trust verify --chain good.pem --at yesterday
pass "human output and argument errors"

# --- a PKCS#12 collection of 3 certificates --------------------------------
ht trust delete root >/dev/null && ht trust delete other >/dev/null || fail "delete root, other"
cat root.crt inter.crt nc.crt > three.pem
openssl pkcs12 -export -nokeys -in three.pem -out three.p12 -passout pass:colpw \
	2>/dev/null || fail "openssl pkcs12 -export"
printf 'colpw\n' > pw; chmod 600 pw
out=$(ht --json trust import corp --file three.p12 --password-file pw) || fail "import p12"
[ "$(echo "$out" | jget format)" = p12 ] || fail "format: $out"
[ "$(echo "$out" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["imported"]))')" = 3 ] ||
	fail "imported: $out"
[ "$(ht --json trust list | python3 -c 'import json,sys; l=json.load(sys.stdin); print(len(l), l[0]["alias"], l[0]["certificates"])')" = "1 corp 3" ] ||
	fail "list after p12: $(ht --json trust list)"
for c in root inter nc; do
	out=$(ht --json trust verify --chain $c.crt) || fail "collection member $c does not verify"
	[ "$(echo "$out" | jget trusted_by)" = corp ] || fail "$c trusted_by: $out"
	# each is addressable by its thumbprint
	tp=sha256:$(openssl x509 -in $c.crt -outform der | sha256sum | cut -d' ' -f1)
	ht --json trust show corp | grep -q "\"$tp\"" || fail "thumbprint of $c not shown"
done
check "leaf under the collection" good.pem ok 0 --purpose server --host www.example.com
pass "PKCS#12 collection: one alias, 3 certificates, each trusted"

# --- show and export, read back with openssl --------------------------------
out=$(ht --json trust show corp)
for k in status kind certificates.0.issuer certificates.0.subject certificates.0.serial \
	certificates.0.not_before certificates.0.not_after certificates.0.fingerprint_sha1 \
	certificates.0.fingerprint_sha256 certificates.0.is_ca; do
	echo "$out" | jget "$k" >/dev/null 2>&1 || fail "show lacks $k"
done
[ "$(echo "$out" | jget status)" = trusted ] || fail "status: $out"
ht trust export corp --out-file exp.pem || fail "export pem"
[ "$(grep -c 'BEGIN CERTIFICATE' exp.pem)" = 3 ] || fail "pem export"
cmp <(openssl x509 -in root.crt -outform der) <(openssl x509 -in exp.pem -outform der) ||
	fail "pem export differs"
ht trust export corp --format der --out-file exp.der && openssl x509 -inform der -in exp.der -noout ||
	fail "der export"
ht trust export corp --format p7b > exp.p7b && [ "$(openssl pkcs7 -in exp.p7b -print_certs | grep -c 'BEGIN CERT')" = 3 ] ||
	fail "p7b export"
ht trust export corp --format p12 --out-file exp.p12 &&
	[ "$(openssl pkcs12 -in exp.p12 -nokeys -passin pass: 2>/dev/null | grep -c 'BEGIN CERT')" = 3 ] ||
	fail "p12 export (no password)"
ht trust export corp --format p12 --password-file pw --out-file expw.p12 &&
	[ "$(openssl pkcs12 -in expw.p12 -nokeys -passin pass:colpw 2>/dev/null | grep -c 'BEGIN CERT')" = 3 ] ||
	fail "p12 export (password)"
# and what hkms exported imports again elsewhere
ht trust delete corp >/dev/null
ht trust import again --file exp.p7b >/dev/null || fail "re-import p7b"
pass "show fields; export pem/der/p7b/p12 read back by openssl"
exit 0
