#!/bin/bash
# The authorization matrix over the real server: every route of
# docs/api.yaml x {no certificate, self-signed, unknown CA, expired,
# revoked, no clientAuth, unregistered, user of CA A, user of CA B only,
# operator, admin} gets the status the docs say. serve_authz.py reads the
# clearance of each route (x-hkms-clearance, x-hkms-op) and the operation
# table of docs/api.md ("Authorization"), so tests and docs cannot drift.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
python3 -c 'import yaml' 2>/dev/null || skip "python3-yaml is not installed"
# the expired identity: the server runs 3 days ahead (HKMS_TEST_CLIENT_AUTH_AT)
[ "${HKMS_TEST_HOOKS:-0}" = 1 ] || skip "needs a build with HKMS_TEST_HOOKS"
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
cd "$T"
mkdir -m 700 id

hkms ca create ca-a --key-type ec:p256 --subject "/CN=Authz A" --out-file ca-a.pem >/dev/null ||
	fail "ca create ca-a"
hkms ca create ca-b --key-type ec:p256 --subject "/CN=Authz B" --out-file ca-b.pem >/dev/null ||
	fail "ca create ca-b"
printf 'matrix passphrase' > id/pass; chmod 600 id/pass
cp data/admin-client.p12 id/admin.p12; cp data/admin-client.pass id/admin.pass

gen() {	# gen NAME ARGS...: a registered client from ca-a
	local n=$1; shift
	hkms client generate "$n" --ca ca-a --out-file "id/$n.p12" --passphrase-file id/pass \
		"$@" >/dev/null 2>"id/$n.err" || fail "client generate $n: $(cat "id/$n.err")"
	cp id/pass "id/$n.pass"
}
gen operator --clearance operator
gen user_a --clearance user --allow-ca ca-a
gen user_b --clearance user --allow-ca ca-b
# valid for one day, everything else for years: the server runs 3 days
# ahead (HKMS_TEST_CLIENT_AUTH_AT, test builds), so it is expired there
gen expired --clearance admin --days 1
gen revoked --clearance admin
openssl pkcs12 -in id/revoked.p12 -passin file:id/pass -clcerts -nokeys 2>/dev/null |
	openssl x509 -noout -serial | cut -d= -f2 > id/revoked.serial
hkms ca revoke --ca ca-a --serial "$(cat id/revoked.serial)" >/dev/null || fail "revoke"
# an hkms client certificate nobody registered
hkms ca issue-client --ca ca-a --subject /CN=unregistered --out-file id/unregistered.p12 \
	--passphrase-file id/pass >/dev/null || fail "issue-client"
cp id/pass id/unregistered.pass
# from an hkms CA, but serverAuth only (client add refuses to register it)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout id/noeku.key \
	-subj /CN=noeku -out id/noeku.csr 2>/dev/null
hkms ca sign --ca ca-a --profile tls-server --csr id/noeku.csr --san DNS:noeku.example \
	--out-file id/noeku.pem >/dev/null || fail "ca sign noeku"
# self-signed, and from a CA hkms does not know; both with clientAuth
printf 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n' > id/ext.cnf
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout id/selfsigned.key \
	-subj /CN=selfsigned -days 30 -addext extendedKeyUsage=clientAuth -out id/selfsigned.pem 2>/dev/null ||
	fail "self-signed"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout id/uca.key \
	-subj "/CN=Unknown CA" -days 30 -out id/uca.pem 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout id/unknownca.key \
	-subj /CN=unknownca -out id/unknownca.csr 2>/dev/null
openssl x509 -req -in id/unknownca.csr -CA id/uca.pem -CAkey id/uca.key -days 30 \
	-extfile id/ext.cnf -out id/unknownca.pem 2>/dev/null || fail "unknown CA leaf"
# every PKCS#12 to PEM for the driver: certificate, then the key encrypted
# with the same passphrase (from the file, never argv)
for n in admin operator user_a user_b expired revoked unregistered; do
	openssl pkcs12 -in "id/$n.p12" -passin "file:id/$n.pass" -clcerts -nokeys \
		-out "id/$n.pem" 2>/dev/null || fail "p12 $n"
	# (a second file: openssl reads one file's second line for -passout)
	cp "id/$n.pass" "id/$n.pass2"
	openssl pkcs12 -in "id/$n.p12" -passin "file:id/$n.pass" -nocerts \
		-passout "file:id/$n.pass2" -out "id/$n.key" 2>/dev/null || fail "p12 key $n"
done
chmod 600 id/*

# fixtures the routes can act on
hkms key generate kx --type ec:p256 >/dev/null || fail "key kx"
hkms cert self-sign cx --key kx --subject /CN=cx >/dev/null || fail "cert cx"
hkms trust import tx --file ca-b.pem >/dev/null || fail "trust tx"
# throw-away objects, one per identity, for the destructive routes: a
# refused identity's must still be there afterwards, an allowed one's gone
for i in none selfsigned unknownca expired revoked noeku unregistered user-a user-b operator admin; do
	hkms key generate "del-$i" --type ec:p256 >/dev/null &&
	hkms cert self-sign "del-$i" --key kx --subject "/CN=del-$i" >/dev/null &&
	hkms cert self-sign "ren-$i" --key kx --subject "/CN=ren-$i" >/dev/null &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout /dev/null \
		-subj "/CN=trust del-$i" -days 30 -out "id/del-$i.trust.pem" 2>/dev/null &&
	hkms trust import "del-$i" --file "id/del-$i.trust.pem" >/dev/null &&
	hkms client generate "del-$i" --ca ca-a --clearance user --out-file "id/del-$i.p12" \
		--passphrase-file id/pass >/dev/null || fail "throw-away objects of $i"
done
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout web.key \
	-subj /CN=www.example.com -out web.csr 2>/dev/null
openssl pkcs12 -in id/user_a.p12 -passin file:id/pass -clcerts -nokeys 2>/dev/null |
	openssl x509 -noout -serial | cut -d= -f2 > serial_a

HKMS_TEST_CLIENT_AUTH_AT=$(( $(date +%s) + 3 * 86400 )) serve_start
service_ca
URL=$URL python3 "$(dirname "$0")/serve_authz.py" "$HKMS_SRC" "$T" || fail "authorization matrix"
grep '"op":"client.auth"' data/audit.log | grep -q '"result":"error"' ||
	fail "refused identities are not audited"
serve_stop
[ "$SRV_RC" = 0 ] || fail "hkms serve exit $SRV_RC: $(tail -5 "$T/serve.log")"
hkms audit verify >/dev/null || fail "audit verify"
hkms store check >/dev/null || fail "store check"
pass "authorization matrix as docs/api.yaml and docs/api.md say; audit and store verify"
