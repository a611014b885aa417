#!/bin/bash
# No certificate, CSR or CRL is recorded unless the token really produced
# its signature: hkms runs against SoftHSM2 behind the fault shim, with
# C_Sign failing (before the token signs, and after it signed but reported
# an error); every signing verb must fail with a JSON error and leave the
# store as it was. A transient fault is retried once and recorded once.
. "$(dirname "$0")/../e2e/lib.sh"
: "${P11SHIM_LIB:?}"
need python3 openssl
hkms_setup
hkms key generate k --type ec:p256 >/dev/null || fail "generate"
hkms ca create root --key-type ec:p256 --subject /CN=Fault-Root >/dev/null || fail "ca create"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/leaf.key" -subj /CN=leaf.example -addext subjectAltName=DNS:leaf.example \
	-out "$T/leaf.csr" 2>/dev/null
printf 'client-pass-123' > "$T/pw"; chmod 600 "$T/pw"

# the same token, reached through the shim
sed "s#^module = .*#module = $P11SHIM_LIB#" "$HKMS_CONFIG" > "$T/shim.conf"
export P11SHIM_TARGET=$SOFTHSM_MODULE P11SHIM_CONTROL=$T/control
: > "$T/control"
shim() { "$HKMS_BIN" --config "$T/shim.conf" "$@"; }
# every record and published file; a CRL number used by a failed attempt
# is not reused (gaps are allowed, RFC 5280 5.2.3), so its counter may move
snapshot() { (cd "$T/data" && find certs cas issued revoked crl -type f 2>/dev/null |
	grep -v -e '\.tmp\.' -e '/number\.json$' | sort | xargs -r md5sum); }
control() { printf '%s\n' "$@" > "$T/control.new" && mv "$T/control.new" "$T/control"; }

shim key list >/dev/null || fail "hkms does not work through the shim in pass-through"

for phase in pre post; do
	control "P11SHIM_FAULTS=C_Sign:CKR_DEVICE_ERROR@always,phase=$phase"
	before=$(snapshot)
	for verb in \
		"csr create c-$phase --key k --subject /CN=x" \
		"cert self-sign s-$phase --key k --subject /CN=x.example --san DNS:x.example" \
		"ca sign --ca root --profile tls-server --csr $T/leaf.csr --out-file $T/leaf-$phase.pem" \
		"ca crl --ca root --out-file $T/crl-$phase.pem" \
		"ca issue-client --ca root --subject /CN=alice-$phase --out-file $T/alice-$phase.p12 --passphrase-file $T/pw"; do
		# shellcheck disable=SC2086
		out=$(shim $verb 2>&1 >/dev/null) && fail "'$verb' succeeded with C_Sign failing ($phase)"
		echo "$out" | grep -q '^{"error":{"code":' || fail "no JSON error for '$verb': $out"
	done
	after=$(snapshot)
	[ "$after" = "$before" ] || fail "something was recorded without a token signature ($phase): $(diff <(echo "$before") <(echo "$after"))"
	[ -e "$T/alice-$phase.p12" ] && fail "a PKCS#12 was written without a signed certificate"
	pass "C_Sign failing ($phase): every signing verb fails, nothing recorded"
done
grep -q '"op":"ca.sign".*"result":"error"' "$T/data/audit.log" ||
	grep -q '"result":"error"' "$T/data/audit.log" || fail "failures not audited"

# one transient fault: retried once, recorded once
control "P11SHIM_FAULTS=C_Sign:CKR_DEVICE_ERROR@n=1"
shim ca sign --ca root --profile tls-server --csr "$T/leaf.csr" --out-file "$T/leaf-ok.pem" >/dev/null ||
	fail "a transient C_Sign fault was not survived"
openssl verify -CAfile <(hkms cert export root) "$T/leaf-ok.pem" >/dev/null || fail "leaf does not verify"
s=$(openssl x509 -in "$T/leaf-ok.pem" -noout -serial | cut -d= -f2)
n=$(hkms --json ca issued --ca root | python3 -c 'import json,sys
print(sum(1 for r in json.load(sys.stdin) if r["serial"].upper()==sys.argv[1]))' "$s")
[ "$n" = 1 ] || fail "serial $s recorded $n times"
pass "a transient fault is retried once and the certificate recorded once"
control "P11SHIM_FAULTS="
