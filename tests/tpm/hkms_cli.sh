#!/bin/bash
# hkms on a TPM 2.0 token (swtpm + tpm2-abrmd + tpm2-pkcs11) with the same
# assertions as on SoftHSM: keys sensitive and never extractable, the token's
# RSA-4096 limit refused up front from C_GetMechanismInfo, and CSRs,
# self-signed certificates, a CA that signs CSRs and its CRL all verified by
# openssl.
. "$(dirname "$0")/lib.sh"
tpm_skip_unless_available
: "${HKMS_BIN:?}" "${HKMS_P11ATTR:?}"
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }
tpm_token_up >/dev/null
W=$TPM_WORK
printf '[token]\nmodule = %s\nlabel = %s\npin_file = %s\n[store]\ndata_dir = %s/data\n' \
	"$HKMS_TPM_MODULE" "$HKMS_TPM_LABEL" "$HKMS_TPM_PIN_FILE" "$W" > "$W/hkms.conf"
export HKMS_CONFIG=$W/hkms.conf
mkdir -p -m 700 "$W/data"	# only `hkms init` would create it
hkms() { "$HKMS_BIN" "$@"; }
jget() { python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]
print(json.dumps(v) if isinstance(v,(bool,dict,list)) or v is None else v)' "$1"; }

for t in ec:p256 ec:p384 rsa:2048 rsa:3072; do
	n=k-${t/:/-}
	hkms --json key generate "$n" --type "$t" > "$W/$n.json" 2>"$W/err" ||
		fail "generate $t: $(cat "$W/err")"
	for a in sensitive never_extractable always_sensitive private token; do
		[ "$(jget $a < "$W/$n.json")" = true ] || fail "$n $a"
	done
	[ "$(jget extractable < "$W/$n.json")" = false ] || fail "$n extractable"
	HKMS_PIN=$(cat "$HKMS_TPM_PIN_FILE") "$HKMS_P11ATTR" "$HKMS_TPM_MODULE" \
		"$HKMS_TPM_LABEL" "$n" > "$W/attr" 2>/dev/null || fail "p11attr $n"
	grep -q '^CKA_SENSITIVE=1$' "$W/attr" || fail "$n CKA_SENSITIVE"
	grep -q '^CKA_NEVER_EXTRACTABLE=1$' "$W/attr" || fail "$n CKA_NEVER_EXTRACTABLE"
	grep -q '=READABLE' "$W/attr" && fail "$n private value readable"
	# what the fallback (docs/hsm.md) gave on this token, as it says it
	u=""
	for a in sign decrypt unwrap derive modifiable copyable; do
		v=$(jget $a < "$W/$n.json")
		case $v in true|false|null) ;; *) fail "$n $a not reported: $v" ;; esac
		u="$u $a=$v"
	done
	[ "$(jget sign < "$W/$n.json")" = true ] || fail "$n cannot sign"
	pass "$t key on the TPM: sensitive, never extractable;$u"
done
HKMS_PIN=$(cat "$HKMS_TPM_PIN_FILE") pkcs11-tool --module "$HKMS_TPM_MODULE" \
	--token-label "$HKMS_TPM_LABEL" --pin env:HKMS_PIN --list-objects \
	--type privkey 2>/dev/null > "$W/objs"
[ "$(grep -c 'sensitive, always sensitive, never extractable' "$W/objs")" -ge 4 ] ||
	fail "pkcs11-tool does not show the keys never extractable: $(cat "$W/objs")"
pass "pkcs11-tool agrees"

out=$(hkms key generate big --type rsa:4096 2>&1 >/dev/null) && fail "rsa:4096 accepted"
echo "$out" | grep -q '"code":"token_limit"' || fail "rsa:4096: $out"
echo "$out" | grep -q '3072' || fail "limit not named: $out"
pass "rsa:4096 refused up front: $out"

for k in k-ec-p256 k-rsa-2048; do
	hkms csr create "csr-$k" --key "$k" --subject "/CN=$k.tpm.example" \
		--san "DNS:$k.tpm.example" --out-file "$W/$k.csr" >/dev/null || fail "csr $k"
	openssl req -in "$W/$k.csr" -noout -verify 2>&1 | grep -q "verify OK" ||
		fail "openssl rejects the CSR of $k"
	hkms cert self-sign "self-$k" --key "$k" --subject "/CN=$k.tpm.example" \
		--san "DNS:$k.tpm.example" --out-file "$W/$k.pem" >/dev/null || fail "self-sign $k"
	openssl verify -CAfile "$W/$k.pem" "$W/$k.pem" >/dev/null || fail "openssl verify $k"
done
pass "CSRs and self-signed certificates signed in the TPM verify"

if hkms ca --help >/dev/null 2>&1; then
	hkms ca create tpm-root --key-type ec:p256 --subject /CN=TPM-Root >/dev/null ||
		fail "ca create"
	hkms cert export tpm-root --out-file "$W/root.pem" >/dev/null || fail "export root"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$W/leaf.key" -subj /CN=leaf.tpm.example \
		-addext subjectAltName=DNS:leaf.tpm.example -out "$W/leaf.csr" 2>/dev/null
	hkms ca sign --ca tpm-root --profile tls-server --csr "$W/leaf.csr" \
		--out-file "$W/leaf.pem" >/dev/null || fail "ca sign"
	openssl verify -CAfile "$W/root.pem" "$W/leaf.pem" >/dev/null || fail "leaf does not verify"
	serial=$(openssl x509 -in "$W/leaf.pem" -noout -serial | cut -d= -f2)
	hkms ca revoke --ca tpm-root --serial "$serial" --reason keyCompromise >/dev/null ||
		fail "revoke"
	hkms ca crl --ca tpm-root --out-file "$W/root.crl" >/dev/null || fail "crl"
	openssl crl -in "$W/root.crl" -noout -CAfile "$W/root.pem" 2>&1 | grep -q "verify OK" ||
		fail "CRL does not verify"
	openssl verify -crl_check -CAfile "$W/root.pem" -CRLfile "$W/root.crl" "$W/leaf.pem" 2>&1 |
		grep -q "certificate revoked" || fail "revoked leaf still verifies"
	pass "a CA with its key in the TPM signs a CSR and a CRL"
else
	fail "hkms has no 'ca' command"
fi
