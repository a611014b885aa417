#!/bin/bash
# Attacks on EST (issue 17b) as a malicious client and a hostile local
# user: HTTP Basic edge cases (no colon, empty id, empty password, a huge
# header, not base64, NUL), bodies that are garbage base64, PEM instead of
# base64 DER, DER with trailing data, 1 MB; a re-enrollment with a
# certificate of another CA that has the same names; a symlink planted
# for a password record (never read, never written through); the
# password never in the data dir, log or audit. Each refusal leaves the
# password usable and the server alive.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3 base64
hkms_setup
cd "$T"

hkms ca create root --key-type ec:p256 --subject "/CN=EST Root" --out-file root.pem >/dev/null || fail "ca root"
hkms est enable root --profile tls-client >/dev/null || fail "est enable"
serve_start
service_ca
E=$URL/.well-known/est

token() {
	hkms --json est token create --ca "$1" --subject "$2" |
		python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["id"], o["password"])'
}
csr() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc \
		-keyout "$1.key" -subj "$2" ${3:+-addext "$3"} -outform DER -out "$1.der" 2>/dev/null || fail "openssl req $2"
	base64 "$1.der" > "$1.b64"
}
# post OUT BODYFILE [CURL ARGS]: the status of a simpleenroll
post() {
	local out=$1 b=$2; shift 2
	curl -s --cacert service.pem --max-time 20 --data-binary "@$b" \
		-H 'Content-Type: application/pkcs10' -o "$out" -w '%{http_code}' "$@" "$E/root/simpleenroll"
}
alive() { hkms_alive "$SRV_PID" || { cat serve.log >&2; fail "the server died: $1"; }; }
issued() { hkms --json ca issued --ca root | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

read -r id pw < <(token root /CN=dev1) || fail "token"
csr dev1 /CN=dev1
N0=$(issued)

# ---- Basic edge cases: 401, the password stays usable ----
b64() { printf '%s' "$1" | base64 -w0; }
for h in "Basic $(b64 "$id$pw")" "Basic $(b64 ":$pw")" "Basic $(b64 "$id:")" \
	"Basic $(b64 "$id:${pw}x")" "Basic $(b64 "est-000000000000:$pw")" "Basic ****" "Basic" "Basic " \
	"Bearer $(b64 "$id:$pw")" "Basic $(b64 "../../secrets/est-tokens/$id:$pw")" \
	"Basic $(printf '%s:%s\0x' "$id" "$pw" | base64 -w0)" "Basic $(head -c 3000 /dev/zero | tr '\0' A)"; do
	st=$(post x.out dev1.b64 -H "Authorization: $h")
	case $st in 401|400) ;; *) fail "Authorization '${h:0:60}': $st $(cat x.out)" ;; esac
	alive "$h"
done
# a header of 100 kB: refused by the server, which stays up
st=$(post x.out dev1.b64 -H "Authorization: Basic $(head -c 100000 /dev/zero | tr '\0' A)")
case $st in 401|400|413|431) ;; *) fail "a 100 kB header: $st" ;; esac
alive "100 kB header"
[ "$(issued)" = "$N0" ] || fail "a refused Basic issued a certificate"
pass "Basic without colon, empty id or password, wrong password, unknown id, ../ id, NUL, not base64, 3 kB and 100 kB: refused, nothing issued"

# ---- bodies ----
head -c 5000 /dev/urandom | base64 > garbage.b64
printf '!!!!not base64@@@@' > notb64.b64
openssl req -in dev1.der -inform DER -out dev1.pempem 2>/dev/null
{ cat dev1.der; printf 'TRAILING'; } | base64 > trailing.b64
head -c 1048576 /dev/zero | base64 > huge.b64
printf '' > empty.b64
printf 'MA==' > tiny.b64
for b in garbage.b64 notb64.b64 dev1.pempem trailing.b64 huge.b64 empty.b64 tiny.b64; do
	st=$(post x.out "$b" -u "$id:$pw")
	case $st in 400|413) ;; *) fail "body $b: $st $(head -c 200 x.out)" ;; esac
	alive "body $b"
done
[ "$(issued)" = "$N0" ] || fail "a refused body issued a certificate"
pass "garbage base64, not base64, PEM, DER with trailing data, 1 MB, empty, '0' DER: 400/413, nothing issued"

# ---- the password still works once after all that ----
st=$(post dev1.p7 dev1.b64 -u "$id:$pw")
[ "$st" = 200 ] || fail "the password did not survive the refusals: $st $(cat dev1.p7)"
base64 -d dev1.p7 | openssl pkcs7 -inform DER -print_certs 2>/dev/null > dev1.pem
openssl verify -CAfile root.pem dev1.pem >/dev/null || fail "enrolled certificate"
st=$(post x.out dev1.b64 -u "$id:$pw")
[ "$st" = 401 ] || fail "second use: $st"
pass "after the refusals the password enrolls once, then 401"

# ---- re-enroll with another CA's certificate of the same names ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout fake.key -out fake.pem \
	-subj '/CN=EST Root' -days 30 -addext basicConstraints=critical,CA:TRUE 2>/dev/null
openssl req -new -key dev1.key -subj /CN=dev1 -out f.csr 2>/dev/null
sn=$(openssl x509 -in dev1.pem -noout -serial | cut -d= -f2)
openssl x509 -req -in f.csr -CA fake.pem -CAkey fake.key -set_serial "0x$sn" -days 5 -out forged.pem 2>/dev/null ||
	fail "forge"
csr dev1b /CN=dev1
st=$(curl -s --cacert service.pem --max-time 20 --cert forged.pem --key dev1.key --data-binary @dev1b.b64 \
	-H 'Content-Type: application/pkcs10' -o x.out -w '%{http_code}' "$E/root/simplereenroll")
case $st in 401|403) ;; *) fail "re-enroll with another CA's certificate (same subject, issuer, serial): $st $(cat x.out)" ;; esac
st=$(curl -s --cacert service.pem --max-time 20 --cert dev1.pem --key dev1.key --data-binary @dev1b.b64 \
	-H 'Content-Type: application/pkcs10' -o x.out -w '%{http_code}' "$E/root/simplereenroll")
[ "$st" = 200 ] || fail "re-enroll with the real certificate: $st $(cat x.out)"
pass "re-enroll: a forged certificate (same subject, issuer name and serial, another CA key) refused; the real one works"

# ---- a planted symlink for a password record ----
read -r id2 pw2 < <(token root /CN=dev2) || fail "token 2"
csr dev2 /CN=dev2
D=$T/data/secrets/est-tokens
cp "$D/$id2.json" "$T/copy.json"
rm -f "$D/$id2.json"
ln -s "$T/copy.json" "$D/$id2.json"
before=$(sha256sum < "$T/copy.json")
st=$(post x.out dev2.b64 -u "$id2:$pw2")
[ "$st" != 200 ] || fail "an enrollment through a symlinked password record succeeded"
[ "$(sha256sum < "$T/copy.json")" = "$before" ] || fail "the symlink target was written"
alive "symlinked record"
rm -f "$D/$id2.json"
pass "a symlinked password record is neither used nor written through ($st)"

# ---- no password in files, log, audit ----
for p in "$pw" "$pw2"; do
	grep -rqF -- "$p" "$T/data" && fail "a password is in the data dir"
	grep -qF -- "$p" serve.log && fail "a password is in the server log"
	hkms audit show 2>/dev/null | grep -qF -- "$p" && fail "a password is in the audit"
done
pass "no enrollment password in the data dir, the server log or the audit"
hkms audit verify >/dev/null || fail "audit verify"

# ---- a password is for its subject, not for any name ----
# a password made for /CN=dev3 must not get a certificate for names the
# operator did not give it (the tls-client profile copies CSR SANs)
read -r id3 pw3 < <(token root /CN=dev3) || fail "token 3"
csr dev3 /CN=dev3 "subjectAltName=DNS:bank.example.com,IP:10.0.0.1"
st=$(post x.out dev3.b64 -u "$id3:$pw3")
[ "$st" = 403 ] || fail "a password for /CN=dev3 enrolled SANs nobody granted: $st $(base64 -d x.out 2>/dev/null | openssl pkcs7 -inform DER -print_certs -text 2>/dev/null | grep -A1 'Alternative Name')"
grep -q est_subject_mismatch x.out || fail "SANs refused with: $(cat x.out)"
csr dev3n /CN=dev3
st=$(post x.out dev3n.b64 -u "$id3:$pw3")
[ "$st" = 200 ] || fail "the refused SANs used up the password: $st $(cat x.out)"
# with --san the operator grants names; the CSR must carry exactly them
pw4=$(hkms --json est token create --ca root --subject /CN=dev4 --san 'DNS:dev4.example.test' | tee t4.json | jget password)
id4=$(jget id < t4.json)
hkms --json est token list | grep -q 'dev4.example.test' || fail "the token list does not show the granted SANs"
csr dev4x /CN=dev4 "subjectAltName=DNS:dev4.example.test,DNS:other.example.test"
st=$(post x.out dev4x.b64 -u "$id4:$pw4")
[ "$st" = 403 ] || fail "a CSR with more SANs than granted: $st"
csr dev4 /CN=dev4 "subjectAltName=DNS:dev4.example.test"
st=$(post dev4.p7 dev4.b64 -u "$id4:$pw4")
[ "$st" = 200 ] || fail "the granted SAN: $st $(cat dev4.p7)"
base64 -d dev4.p7 | openssl pkcs7 -inform DER -print_certs 2>/dev/null | openssl x509 -noout -ext subjectAltName |
	grep -q 'DNS:dev4.example.test' || fail "the certificate lacks the granted SAN"
expect_fail invalid_san hkms est token create --ca root --subject /CN=dev5 --san 'bogus'
pass "an enrollment password grants its subject and only the SANs given with --san (none by default)"
