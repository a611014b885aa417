#!/bin/bash
# Attacks on the certificate history (issue 13a): a key deleted and made
# again under the same name is another key, so a version for the old one
# is not restored (key_mismatch; the service certificate's go-back to
# self-signed skips it and makes a new one); a history dir that is a
# symlink is never written through; out-of-range and path-like version
# numbers and names are refused without a change.
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup
cd "$T"

serial() { hkms cert export "$1" | openssl x509 -noout -serial | sed 's/.*=//'; }

# ---- a key made again under the old name --------------------------------
hkms cert self-sign tmp --new-key ec:p256 --subject /CN=tmp >/dev/null || fail "self-sign"
hkms cert renew tmp --rekey >/dev/null || fail "rekey"
OLDK=$(hkms --json cert show tmp | python3 -c 'import json,sys; print(json.load(sys.stdin)["history"][0]["key"])')
hkms key delete "$OLDK" --force >/dev/null || fail "key delete $OLDK"
hkms key generate "$OLDK" --type ec:p256 >/dev/null || fail "key generate $OLDK again"
TS=$(serial tmp)
expect_fail key_mismatch hkms cert restore tmp
expect_fail key_mismatch hkms cert restore tmp --version 1
[ "$(serial tmp)" = "$TS" ] || fail "a restore onto another key changed the certificate"
hkms store check >/dev/null || fail "store check: $(hkms store check 2>&1)"
pass "a version whose key name now holds another key: key_mismatch, nothing changes"

# the service certificate: a restore onto a remade key would have the
# server present a certificate for another key
hkms service-cert apply-self-signed > /dev/null || fail "service-cert apply-self-signed (first)"
SVK=$(hkms --json cert show hkms-service | jget key)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
	-subj '/CN=Att CA' -days 30 -addext basicConstraints=critical,CA:TRUE 2>/dev/null
hkms service-cert create-csr --out-file svc.csr >/dev/null || fail "service-cert create-csr"
printf 'extendedKeyUsage = serverAuth\n' > server.ext
openssl x509 -req -in svc.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 20 \
	-copy_extensions copyall -extfile server.ext -out svc.pem 2>/dev/null || fail "openssl sign"
hkms service-cert apply --file svc.pem --ca-file ca.pem >/dev/null || fail "apply"
hkms service-cert apply-self-signed --rekey >/dev/null || fail "service-cert rekey"
[ "$(hkms --json cert show hkms-service | jget key)" != "$SVK" ] || fail "rekey kept the key name"
hkms key delete "$SVK" --force >/dev/null || fail "key delete $SVK"
hkms key generate "$SVK" --type ec:p256 >/dev/null || fail "key generate $SVK again"
SS=$(serial hkms-service)
expect_fail key_mismatch hkms cert restore hkms-service
expect_fail key_mismatch hkms cert restore hkms-service --version 1
[ "$(serial hkms-service)" = "$SS" ] || fail "a refused restore changed the service certificate"
pass "service certificate: no restore of a version whose key name was remade"

# ---- a symlinked history dir is not written through ---------------------
hkms cert self-sign sl --new-key ec:p256 --subject /CN=sl >/dev/null || fail "self-sign sl"
mkdir -p "$T/outside"
rm -rf "$T/data/certs/sl"
ln -s "$T/outside" "$T/data/certs/sl"
SS=$(serial sl)
hkms cert renew sl > renew-sl.out 2>&1; echo "renew through a symlinked history dir: $(cat renew-sl.out)" >&2
[ -z "$(ls -A "$T/outside")" ] || fail "a write went through the symlinked history dir: $(ls "$T/outside")"
if [ "$(serial sl)" != "$SS" ]; then
	# renewed: the version must not have gone through the link
	[ -L "$T/data/certs/sl" ] && [ -z "$(ls -A "$T/outside")" ] || fail "renew followed the link"
fi
hkms cert restore sl >/dev/null 2>&1
[ -z "$(ls -A "$T/outside")" ] || fail "restore wrote through the symlinked history dir"
rm -f "$T/data/certs/sl"
pass "a history dir that is a symlink is never written through"

# ---- version numbers and names ------------------------------------------
for v in 9223372036854775808 9223372036854775807 4294967297 -1 0 1e3 '1x'; do
	expect_fail usage hkms cert restore tmp --version "$v"
done
[ "$(serial tmp)" = "$TS" ] || fail "a bad version changed the certificate"
for n in ../tmp tmp/../tmp . .. 'tmp/1'; do
	out=$(hkms cert restore "$n" 2>&1) && fail "restore of name '$n' succeeded: $out"
	echo "$out" | grep -q '"code":"\(bad_name\|cert_not_found\|invalid_name\|invalid_field\)"' ||
		fail "restore '$n': $out"
done
pass "versions 2^63, 2^32+1, -1, 0, garbage and names with ../ are refused"

hkms store check >/dev/null || fail "store check at the end: $(hkms store check 2>&1)"
hkms audit verify >/dev/null || fail "audit verify"
pass "store check and audit verify pass"
