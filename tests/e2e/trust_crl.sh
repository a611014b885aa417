#!/bin/bash
# CRLs of an outside CA in the truststore (issue 14a): a CA made with
# `openssl ca` issues two certificates and revokes one; its CRL
# (`openssl ca -gencrl`, PEM and DER) imported with `hkms trust crl
# import` makes `trust verify` reject the revoked certificate, naming the
# CRL, and accept the other. Refused on import: an expired CRL, a CRL not
# yet valid, a CRL signed by another key under the CA's name, a tampered
# CRL, a CRL of a CA not in the truststore, an older CRL after a newer
# one. --revocation require|prefer|off without a CRL. The API routes
# /v1/truststore/crls are the same operations (tests/e2e/crl_resign.sh).
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup
cd "$T"

# a tiny openssl ca
mkca() {	# mkca DIR CN
	mkdir -p "$1/newcerts"
	: > "$1/index.txt"
	echo 1000 > "$1/serial"
	echo 01 > "$1/crlnumber"
	cat > "$1/ca.cnf" <<EOF
[ ca ]
default_ca = the_ca
[ the_ca ]
dir = $T/$1
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = \$dir/ca.pem
private_key = \$dir/ca.key
default_md = sha256
default_days = 30
default_crl_days = 7
policy = any
unique_subject = no
copy_extensions = none
x509_extensions = leaf
[ any ]
commonName = supplied
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ req ]
distinguished_name = dn
[ dn ]
[ v3_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
EOF
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc \
		-keyout "$1/ca.key" -subj "/CN=$2" -days 365 -config "$1/ca.cnf" \
		-extensions v3_ca -out "$1/ca.pem" 2>/dev/null || fail "ca $1"
}
issue() {	# issue DIR NAME: NAME.pem for NAME.example.com
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout "$2.key" \
		-subj "/CN=$2.example.com" -addext "subjectAltName=DNS:$2.example.com" \
		-out "$2.csr" 2>/dev/null || fail "csr $2"
	cat >> "$1/ca.cnf" <<EOF
[ san_$2 ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:$2.example.com
EOF
	openssl ca -batch -config "$1/ca.cnf" -extensions "san_$2" -in "$2.csr" -out "$2.pem" \
		-notext 2>/dev/null || fail "openssl ca issue $2"
}
gencrl() {	# gencrl DIR OUT [openssl ca args]
	local d=$1 o=$2; shift 2
	openssl ca -batch -config "$d/ca.cnf" -gencrl -out "$o" "$@" 2>/dev/null ||
		fail "openssl ca -gencrl $*"
}

mkca oca "Outside CA"
issue oca good
issue oca bad
hkms trust import outside --file oca/ca.pem >/dev/null || fail "trust import"

# no CRL yet: prefer (the default for other CAs) holds with a warning,
# require refuses, off checks nothing
hkms --json trust verify --chain bad.pem --host bad.example.com > v0.json ||
	fail "prefer without a CRL refused: $(cat v0.json)"
python3 - v0.json <<'PY' || fail "prefer without CRL: unknown and a warning expected"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ok"] and r["path"][0]["revocation"]["status"] == "unknown", r
assert r["revocation"]["other_cas"] == "prefer" and len(r["revocation"]["warnings"]) == 1, r
PY
expect_fail revocation_unknown hkms trust verify --chain bad.pem --host bad.example.com \
	--revocation require
hkms --json trust verify --chain bad.pem --revocation off > voff.json || fail "off"
[ "$(jget path.0.revocation.status < voff.json)" = not_checked ] || fail "off still checked"
pass "no CRL: prefer holds with a warning, require is revocation_unknown, off does not check"

# revoke bad, CRL 1 (PEM), import: bad rejected naming the CRL, good accepted
openssl ca -batch -config oca/ca.cnf -revoke bad.pem -crl_reason keyCompromise 2>/dev/null ||
	fail "openssl ca -revoke"
gencrl oca crl1.pem
hkms --json trust crl import --file crl1.pem > imp1.json || fail "crl import: $(cat imp1.json)"
id=$(jget id < imp1.json)
[ "$(jget crl.number < imp1.json)" = 1 ] || fail "crl number"
[ "$(jget signer.alias < imp1.json)" = outside ] || fail "signer alias"
out=$(hkms --json trust verify --chain bad.pem --host bad.example.com 2>err.txt) &&
	fail "revoked certificate verified"
grep -q '"code":"certificate_revoked"' err.txt || fail "not certificate_revoked: $(cat err.txt)"
grep -q "keyCompromise" err.txt || fail "reason not named: $(cat err.txt)"
grep -q "truststore crl $id (number 1)" err.txt || fail "the CRL is not named: $(cat err.txt)"
echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin)
e=r["error"]; assert not r["ok"] and e["code"]=="certificate_revoked" and e["depth"]==0
rv=e["revocation"]; assert rv["status"]=="revoked" and rv["source"]=="crl" and rv["reason"]=="keyCompromise", rv' ||
	fail "verdict: $out"
hkms --json trust verify --chain good.pem --host good.example.com --revocation require > vg.json ||
	fail "good certificate refused: $(cat vg.json)"
[ "$(jget path.0.revocation.status < vg.json)" = good ] || fail "good not good"
[ "$(jget path.0.revocation.crl < vg.json)" = "$id" ] || fail "good: crl not named"
# openssl agrees
openssl verify -crl_check -CAfile oca/ca.pem -CRLfile crl1.pem bad.pem >/dev/null 2>&1 &&
	fail "openssl accepts bad"
openssl verify -crl_check -CAfile oca/ca.pem -CRLfile crl1.pem good.pem >/dev/null ||
	fail "openssl refuses good"
pass "openssl ca CRL imported: revoked certificate refused (reason, CRL named), the other accepted"

# the same CRL again: unchanged; as DER too
hkms --json trust crl import --file crl1.pem > again.json || fail "same CRL again"
[ "$(jget unchanged < again.json)" = true ] || fail "same CRL not unchanged"
openssl crl -in crl1.pem -outform DER -out crl1.der
[ "$(hkms --json trust crl import --file crl1.der | jget unchanged)" = true ] || fail "DER CRL"
# a newer CRL replaces it; then the older is refused
gencrl oca crl2.pem
hkms --json trust crl import --file crl2.pem > imp2.json || fail "newer CRL"
[ "$(jget replaced < imp2.json)" = 1 ] || fail "newer CRL did not replace number 1"
expect_fail crl_not_newer hkms trust crl import --file crl1.pem
[ "$(hkms --json trust crl list | jget 0.number)" = 2 ] || fail "list: number 2"
pass "same CRL is unchanged (PEM and DER); newer replaces older; older refused"

# refused on import
gencrl oca expired.pem -crl_lastupdate 20200101000000Z -crl_nextupdate 20200201000000Z
expect_fail crl_expired hkms trust crl import --file expired.pem
gencrl oca future.pem -crl_lastupdate 20990101000000Z -crl_nextupdate 20990201000000Z
expect_fail crl_not_yet_valid hkms trust crl import --file future.pem
mkca fake "Outside CA"		# same name, another key
gencrl fake forged.pem
expect_fail crl_bad_signature hkms trust crl import --file forged.pem
mkca stranger "Stranger CA"
gencrl stranger stranger.pem
expect_fail crl_issuer_unknown hkms trust crl import --file stranger.pem
openssl crl -in crl2.pem -outform DER -out crl2.der
python3 - crl2.der tampered.der <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
d[-10] ^= 0x01	# inside the signature
open(sys.argv[2], "wb").write(d)
PY
expect_fail crl_bad_signature hkms trust crl import --file tampered.der
mkca rca "Remove CA"		# removeFromCRL belongs in delta CRLs only
hkms trust import rca --file rca/ca.pem >/dev/null || fail "trust import rca"
issue rca gone
openssl ca -batch -config rca/ca.cnf -revoke gone.pem -crl_reason removeFromCRL 2>/dev/null ||
	fail "revoke removeFromCRL"
gencrl rca remove.pem
expect_fail bad_crl hkms trust crl import --file remove.pem
printf 'not a crl\n' > junk.txt
expect_fail bad_crl hkms trust crl import --file junk.txt
expect_fail bad_crl hkms trust crl import --file oca/ca.pem
[ "$(hkms --json trust crl list | jget 0.number)" = 2 ] || fail "a refused import changed the stored CRL"
grep '"op":"trust.crl_import"' data/audit.log | grep -c '"result":"error"' | grep -qx 9 ||
	fail "refused imports not audited"
pass "refused: expired, not yet valid, forged signature, unknown issuer, tampered, removeFromCRL, garbage"

# an expired stored CRL tells nothing: unknown (prefer: warning, require: refused)
gencrl oca crl3.pem -crl_nextupdate "$(date -u -d '+3 seconds' +%Y%m%d%H%M%SZ)"
hkms trust crl import --file crl3.pem >/dev/null || fail "short CRL"
at=$(( $(date +%s) + 3600 ))
expect_fail revocation_unknown hkms trust verify --chain good.pem --at "$at" --revocation require
[ "$(hkms --json trust verify --chain good.pem --at "$at" | jget path.0.revocation.status)" = unknown ] ||
	fail "expired CRL taken as current"
pass "a stored CRL past its nextUpdate gives unknown"

# crash safety (test builds): a newer CRL's import killed at every atomic
# write step leaves the old CRL or the new one, never a broken record, and
# importing it again completes
if [ "${HKMS_TEST_HOOKS:-0}" = 1 ]; then
	crashes=0
	for step in after_write after_fsync after_rename audit_after_write audit_after_sync; do
		for n in 1 2 3 4 5 6; do
			gencrl oca c.pem
			new=$(( $(openssl crl -in c.pem -noout -crlnumber | cut -d= -f2) ))
			old=$(hkms --json trust crl list | jget 0.number) || fail "$step:$n: list before"
			HKMS_STORE_CRASH_AT=$step:$n "$HKMS_BIN" trust crl import --file c.pem 				>/dev/null 2>&1
			rc=$?
			[ $rc -eq 0 ] && break		# fewer arrivals than n
			[ $rc -eq 137 ] || fail "$step:$n: exit $rc"
			crashes=$((crashes + 1))
			now=$(hkms --json trust crl list | jget 0.number) ||
				fail "$step:$n: list after the crash"
			[ "$now" = "$old" ] || [ "$now" = "$new" ] ||
				fail "$step:$n: number $now is neither $old nor $new"
			hkms trust crl import --file c.pem >/dev/null || fail "$step:$n: import again"
			[ "$(hkms --json trust crl list | jget 0.number)" = "$new" ] ||
				fail "$step:$n: not the new CRL after the retry"
			hkms store check >/dev/null 2>&1 || fail "$step:$n: store check: $(hkms store check 2>&1)"
			hkms audit verify >/dev/null 2>&1 || fail "$step:$n: audit verify"
		done
	done
	[ $crashes -ge 6 ] || fail "only $crashes crash points reached"
	pass "an import killed at $crashes write steps leaves the old or the new CRL; a retry completes"
fi

# delete
hkms trust crl delete "$id" >/dev/null || fail "crl delete"
expect_fail not_found hkms trust crl delete "$id"
[ "$(hkms --json trust crl list)" = "[]" ] || fail "list after delete"
grep -q '"event":"crl_removed"' data/trust/changes.log || fail "journal: crl_removed"
grep -q '"event":"crl_replaced"' data/trust/changes.log || fail "journal: crl_replaced"
hkms store check >/dev/null || fail "store check"
hkms audit verify >/dev/null || fail "audit verify"
pass "crl delete; journal lines; store check and audit verify"
