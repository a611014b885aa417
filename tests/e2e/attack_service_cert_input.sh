#!/bin/bash
# Oversized and mixed input to service-cert apply (issue 13a): a PEM
# bundle of 1000 certificates, a CA bundle with an unrelated CA beside the
# issuer (accepted: it chains; the unrelated one is not the chain), a
# certificate for another key, DER with trailing data, a directory and a
# FIFO as --file; each refusal changes nothing; the password of nothing
# leaks. Without a server (the record is what it serves).
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup
cd "$T"
printf '\n[server]\nhostname = appliance.example.test\n' >> "$HKMS_CONFIG"
fp() { hkms cert export hkms-service | openssl x509 -noout -fingerprint -sha256 | sed 's/.*=//'; }

hkms service-cert apply-self-signed >/dev/null || fail "first self-signed"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
	-subj '/CN=Input CA' -days 30 -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null || fail "openssl CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout u.key -out unrelated.pem \
	-subj '/CN=Unrelated CA' -days 30 -addext basicConstraints=critical,CA:TRUE 2>/dev/null
hkms service-cert create-csr --out-file s.csr >/dev/null || fail "create-csr"
printf 'extendedKeyUsage = serverAuth\n' > server.ext
openssl x509 -req -in s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 20 \
	-copy_extensions copyall -extfile server.ext -out s.pem 2>/dev/null || fail "sign"
F0=$(fp)

# 1000 certificates in one bundle
for i in $(seq 1 1000); do cat unrelated.pem; done > big.pem
cat s.pem >> big.pem
out=$(timeout 60 "$HKMS_BIN" service-cert apply --file big.pem --ca-file ca.pem 2>&1); rc=$?
[ $rc != 124 ] || fail "a 1000-certificate bundle took over 60 s"
[ $rc != 0 ] || echo "1000-cert bundle accepted: $out" >&2
[ $rc = 0 ] || [ "$(fp)" = "$F0" ] || fail "a refused bundle changed the certificate"
out=$(timeout 60 "$HKMS_BIN" service-cert apply --file s.pem --ca-file big.pem 2>&1); rc=$?
[ $rc != 124 ] || fail "a 1000-certificate CA bundle took over 60 s"
[ $rc = 0 ] || [ "$(fp)" = "$F0" ] || fail "a refused CA bundle changed the certificate"
hkms service-cert apply-self-signed >/dev/null 2>&1
F0=$(fp)
pass "bundles of 1000 certificates (file or CA file): bounded time, a refusal changes nothing"

# garbage
{ openssl x509 -in s.pem -outform DER; printf 'TRAILING'; } > trailing.der
mkdir adir
mkfifo afifo
for f in trailing.der adir afifo /dev/zero; do
	out=$(timeout 20 "$HKMS_BIN" service-cert apply --file "$f" --ca-file ca.pem 2>&1) &&
		fail "apply of $f succeeded: $out"
	[ $? != 124 ] || fail "apply of $f hung"
	[ "$(fp)" = "$F0" ] || fail "apply of $f changed the certificate"
done
pass "DER with trailing data, a directory, a FIFO, /dev/zero: refused, bounded, nothing changes"

# an unrelated CA in the CA bundle next to the issuer
cat unrelated.pem ca.pem > mixed.pem
hkms service-cert apply --file s.pem --ca-file mixed.pem >/dev/null || fail "apply with a mixed CA bundle: $(hkms service-cert apply --file s.pem --ca-file mixed.pem 2>&1)"
hkms cert export hkms-service > cur.pem
openssl verify -CAfile ca.pem cur.pem >/dev/null || fail "the applied certificate does not verify against its CA"
grep -c 'BEGIN CERTIFICATE' cur.pem > n.txt
hkms cert export hkms-service --chain > chain.pem 2>/dev/null || cp cur.pem chain.pem
grep -q "$(sed -n 2p unrelated.pem)" chain.pem && fail "the unrelated CA is in the served chain"
# only the unrelated CA: refused
hkms service-cert apply-self-signed >/dev/null
F1=$(fp)
expect_fail check_failed:chains_to_ca hkms service-cert apply --file s.pem --ca-file unrelated.pem
[ "$(fp)" = "$F1" ] || fail "a refused apply changed the certificate"
pass "a CA bundle with an unrelated CA: applied, the unrelated CA not in the chain; only the unrelated CA: chains_to_ca"
hkms store check >/dev/null || fail "store check: $(hkms store check 2>&1)"
hkms audit verify >/dev/null || fail "audit verify"
