#!/bin/bash
# A busy operator and the TOTP enrolment of the CLI (issue 16a): the seed
# is shown once, so `client totp|add|edit|generate --qr-svg F` with a
# taken F (a file, a symlink, a dangling symlink) is refused before
# anything changes: the old seed still works, no client is added or
# enrolled, no PKCS#12 is written. Without the check the registration
# was changed first and the command failed after, with a new seed nobody
# had been shown.
. "$(dirname "$0")/lib.sh"
need oathtool python3
hkms_setup
cd "$T"
hkms ca create root --key-type ec:p256 --subject "/CN=QR Root" --out-file root.pem >/dev/null || fail "ca root"
printf 'passphrase of u1' > u1.pass; chmod 600 u1.pass
hkms --json client generate u1 --ca root --clearance user --2fa --qr-svg u1.svg --out-file u1.p12 \
	--passphrase-file u1.pass > u1.json || fail "generate u1"
rec() { sha256sum "$T/data/clients/$1.json" 2>/dev/null | cut -d' ' -f1; }
[ -n "$(rec u1)" ] || fail "no record file data/clients/u1.json"
before=$(rec u1)
touch taken.svg; ln -s taken.svg link.svg; ln -s "$T/nowhere.svg" dangling.svg
for f in taken.svg link.svg dangling.svg; do
	out=$(hkms --json client totp u1 --qr-svg "$f" 2>&1) && fail "client totp over '$f' succeeded: $out"
	echo "$out" | grep -q file_exists || fail "client totp over '$f': $out"
	[ "$(rec u1)" = "$before" ] || fail "client totp over '$f' changed u1's registration (its new seed is lost)"
done
[ -e nowhere.svg ] && fail "a dangling symlink was followed"
[ -s taken.svg ] && fail "taken.svg was written"
pass "client totp --qr-svg onto a file, a symlink or a dangling symlink: file_exists, the registration unchanged"

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout c2.key -subj /CN=c2 -out c2.csr 2>/dev/null
hkms ca sign --ca root --csr c2.csr --profile tls-client --out-file c2.pem >/dev/null || fail "sign c2"
out=$(hkms --json client add c2 --cert c2.pem --clearance user --2fa --qr-svg taken.svg 2>&1) &&
	fail "client add --qr-svg onto a file succeeded: $out"
echo "$out" | grep -q file_exists || fail "client add: $out"
hkms client show c2 >/dev/null 2>&1 && fail "client add --qr-svg onto a file registered c2 (a seed nobody has)"
hkms client add c2 --cert c2.pem --clearance user >/dev/null || fail "add c2 without 2FA"
before=$(rec c2)
out=$(hkms --json client edit c2 --2fa --qr-svg taken.svg 2>&1) && fail "client edit --qr-svg onto a file succeeded"
echo "$out" | grep -q file_exists || fail "client edit: $out"
[ "$(rec c2)" = "$before" ] || fail "client edit --qr-svg onto a file enrolled c2"
out=$(hkms --json client generate g3 --ca root --clearance user --2fa --qr-svg taken.svg --out-file g3.p12 \
	--passphrase-file u1.pass 2>&1) && fail "client generate --qr-svg onto a file succeeded"
echo "$out" | grep -q file_exists || fail "client generate: $out"
hkms client show g3 >/dev/null 2>&1 && fail "client generate --qr-svg onto a file registered g3"
[ -e g3.p12 ] && fail "client generate --qr-svg onto a file wrote the PKCS#12"
pass "client add, edit, generate --qr-svg onto a taken path: refused before anything is registered or enrolled"

# a new path works, and the seed it prints opens nothing it should not:
# the file is 0600, the seed is not in the data dir in clear
hkms --json client totp u1 --qr-svg new.svg > t.json || fail "client totp to a new file"
[ "$(stat -c %a new.svg)" = 600 ] || fail "the QR file is not 0600"
S=$(python3 -c 'import json; print(json.load(open("t.json"))["totp"]["secret"])')
grep -rqF "$S" data && fail "the seed is in clear under the data dir"
pass "client totp to a new path: 0600 QR file, seed not under the data dir"
exit 0
