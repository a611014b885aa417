#!/bin/bash
# EST records a hostile local user plants or takes over: a password record
# or an EST setting owned by another user, a symlinked state/est entry, a
# symlinked secrets/est-tokens dir; none is used (the enrollment fails),
# none is written through. And the timing of an unknown id against a
# wrong password for a real one (the answer must not tell ids apart).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3 base64
[ "$(id -u)" = 0 ] || skip "needs root to chown"
hkms_setup
cd "$T"
hkms ca create root --key-type ec:p256 --subject "/CN=EST Root" --out-file root.pem >/dev/null || fail "ca root"
hkms est enable root --profile tls-client >/dev/null || fail "est enable"
serve_start
service_ca
E=$URL/.well-known/est
token() {
	hkms --json est token create --ca root --subject "$1" |
		python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["id"], o["password"])'
}
csr() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc \
		-keyout "$1.key" -subj "$2" -outform DER -out "$1.der" 2>/dev/null || fail "openssl req"
	base64 "$1.der" > "$1.b64"
}
post() {
	curl -s --cacert service.pem --max-time 20 --data-binary "@$2" \
		-H 'Content-Type: application/pkcs10' -o "$1" -w '%{http_code}' "${@:3}" "$E/root/simpleenroll"
}
D=$T/data/secrets/est-tokens

# a record owned by another user
read -r id pw < <(token /CN=o1)
csr o1 /CN=o1
chown nobody "$D/$id.json"
st=$(post x.out o1.b64 -u "$id:$pw")
[ "$st" != 200 ] || fail "a password record owned by nobody was used"
[ "$(stat -c %U "$D/$id.json")" = nobody ] || fail "the foreign record was replaced"
chown root "$D/$id.json"
st=$(post x.out o1.b64 -u "$id:$pw")
[ "$st" = 200 ] || fail "after the owner is back: $st $(cat x.out)"
pass "a password record owned by another user is not used; with its owner back it works"

# a symlinked state/est setting
cp "$T/data/state/est/root.json" "$T/est-copy.json"
rm "$T/data/state/est/root.json"
ln -s "$T/est-copy.json" "$T/data/state/est/root.json"
read -r id2 pw2 < <(token /CN=o2) && fail "a token was made on a symlinked EST setting"
before=$(sha256sum < "$T/est-copy.json")
hkms est enable root --profile tls-client >/dev/null 2>&1
[ "$(sha256sum < "$T/est-copy.json")" = "$before" ] || fail "est enable wrote through the symlink"
st=$(curl -s --cacert service.pem -o /dev/null -w '%{http_code}' "$E/root/cacerts")
[ "$st" != 200 ] || fail "cacerts served from a symlinked setting"
rm "$T/data/state/est/root.json"
hkms est enable root --profile tls-client >/dev/null || fail "re-enable"
pass "a symlinked state/est setting is neither read nor written through"

# timing: unknown id vs wrong password (PBKDF2 either way)
read -r id3 pw3 < <(token /CN=o3)
csr o3 /CN=o3
t() {
	local i s=0 a
	for i in 1 2 3 4 5 6 7 8; do
		a=$(curl -s --cacert service.pem --max-time 20 --data-binary @o3.b64 -H 'Content-Type: application/pkcs10' \
			-u "$1" -o /dev/null -w '%{time_total}' "$E/root/simpleenroll")
		s=$(python3 -c "print($s + $a)")
	done
	python3 -c "print(int($s / 8 * 1000000))"
}
t "$id3:wrong" >/dev/null
wrong=$(t "$id3:wrong-password-xx")
unknown=$(t "est-0123456789ab:wrong-password-xx")
echo "timing (8 each, mean µs): wrong password $wrong, unknown id $unknown" >&2
python3 -c "import sys; w,u=$wrong,$unknown; sys.exit(0 if max(w,u) < 3*min(w,u) + 20000 else 1)" ||
	fail "unknown id ($unknown µs) and wrong password ($wrong µs) are told apart by time"
pass "unknown id and wrong password take comparable time ($unknown / $wrong µs)"
