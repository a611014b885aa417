#!/usr/bin/env bash
# ctest tpm_token: the private TPM test token (hsm/scripts/tpm-token.sh) end to end
# with pkcs11-tool: keygen, non-extractable private keys, sign + openssl verify,
# the RSA size limit from C_GetMechanismInfo, restart-tpm (orderly and abrupt),
# two tokens side by side, and a stop that leaves no process behind.
set -euo pipefail
# shellcheck source=tests/tpm/lib.sh
. "$(dirname "$0")/lib.sh"
tpm_skip_unless_available

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

# A PIN file that others can read is refused, and nothing is left running.
work=$(mktemp -d "${TMPDIR:-/tmp}/hkms-tpm-pins.XXXXXX")
trap 'rm -rf "$work"' EXIT
step "start refuses a PIN file with mode 0644"
printf '1234\n' >"$work/user.pin"
chmod 0644 "$work/user.pin"
if "$TPM_TOKEN_SH" start "$work/bad" --pin-file "$work/user.pin" 2>"$work/err"; then
	fail "start accepted a 0644 PIN file"
fi
grep -q 'mode 644' "$work/err" || fail "unexpected error: $(cat "$work/err")"
[ ! -e "$work/bad/pids" ] || fail "a refused start left $work/bad/pids"

step "start with PIN files"
printf 'user-1234\n' >"$work/user.pin"
printf 'so-5678' >"$work/so.pin"
chmod 0600 "$work/user.pin" "$work/so.pin"
t0=$(date +%s%N)
tpm_token_up --label hkms-test --pin-file "$work/user.pin" --so-pin-file "$work/so.pin"
# tpm_token_up replaced the EXIT trap; keep removing $work too.
trap 'tpm_token_down; rm -rf "$work"' EXIT
echo "start took $((($(date +%s%N) - t0) / 1000000)) ms"
for v in DBUS_SESSION_BUS_ADDRESS TPM2_PKCS11_TCTI TPM2_PKCS11_STORE TPM2_PKCS11_LOG_LEVEL \
	TPM2TOOLS_TCTI HKMS_TPM_MODULE HKMS_TPM_LABEL HKMS_TPM_PIN_FILE HKMS_TPM_SO_PIN_FILE; do
	[ -n "${!v:-}" ] || fail "env.sh does not set $v"
done
[ "$HKMS_TPM_LABEL" = hkms-test ] || fail "label $HKMS_TPM_LABEL"
[ "$HKMS_TPM_PIN_FILE" = "$work/user.pin" ] || fail "pin file $HKMS_TPM_PIN_FILE"
case $TPM2_PKCS11_TCTI in tabrmd:bus_type=session,bus_name=*) ;; *) fail "TCTI $TPM2_PKCS11_TCTI" ;; esac
case $DBUS_SESSION_BUS_ADDRESS in unix:path=$TPM_DIR/*) ;; *) fail "bus $DBUS_SESSION_BUS_ADDRESS" ;; esac
grep -qx "pin_file = $work/user.pin" "$TPM_DIR/hkms-token.conf" || fail "hkms-token.conf"
[ "$(wc -l <"$TPM_DIR/pids")" -eq 3 ] || fail "pids: $(cat "$TPM_DIR/pids")"

export TEST_PIN=user-1234
p11() { pkcs11-tool --module "$HKMS_TPM_MODULE" --token-label "$HKMS_TPM_LABEL" "$@"; }
p11u() { p11 --login --pin env:TEST_PIN "$@"; }

step "keygen EC P-256 and RSA-2048"
p11u --keypairgen --key-type EC:prime256v1 --id 01 --label ec256 >/dev/null
p11u --keypairgen --key-type rsa:2048 --id 02 --label rsa2048 >/dev/null

step "private keys are sensitive and never extractable"
p11u --list-objects --type privkey >"$work/objs"
cat "$work/objs"
# One "Access:" line per private key; each must carry both flags.
[ "$(grep -c 'Access:' "$work/objs")" -eq 2 ] || fail "expected 2 private keys"
if grep 'Access:' "$work/objs" | grep -v 'sensitive, always sensitive, never extractable'; then
	fail "a private key is not sensitive/never-extractable"
fi
{ grep -q 'label: *ec256' "$work/objs" && grep -q 'label: *rsa2048' "$work/objs"; } || fail "labels"

msg=$work/msg
printf 'hkms tpm token test %s\n' "$(date)" >"$msg"
for id in 01 02; do
	p11 --read-object --type pubkey --id "$id" -o "$work/pub.$id.der" >/dev/null
	openssl pkey -pubin -inform DER -in "$work/pub.$id.der" -out "$work/pub.$id.pem"
done
# sign_verify ID MECH [pkcs11-tool args]: sign in the token, verify with
# openssl and the public key read at keygen. Errors go to $work/sign.err.
sign_verify() {
	local id=$1 mech=$2
	shift 2
	{
		p11u --sign --id "$id" -m "$mech" "$@" -i "$msg" -o "$work/sig.$id" &&
			openssl dgst -sha256 -verify "$work/pub.$id.pem" -signature "$work/sig.$id" "$msg"
	} >"$work/sign.err" 2>&1
}
sign_all() {
	sign_verify 01 ECDSA-SHA256 --signature-format openssl && sign_verify 02 SHA256-RSA-PKCS
}

step "sign (ECDSA-SHA256, SHA256-RSA-PKCS) and verify with openssl"
sign_all || fail "sign/verify: $(cat "$work/sign.err")"

step "C_GetMechanismInfo: RSA max key size"
p11 -M >"$work/mechs"
grep 'RSA-PKCS-KEY-PAIR-GEN' "$work/mechs"
rsa_max=$(sed -n 's/.*RSA-PKCS-KEY-PAIR-GEN, keySize={[0-9]*,\([0-9]*\)}.*/\1/p' "$work/mechs")
[ "$rsa_max" = 3072 ] || fail "RSA max key size '$rsa_max', expected 3072 on tpm2-pkcs11"
if p11u --keypairgen --key-type rsa:4096 --id 09 --label rsa4096 >"$work/rsa4096" 2>&1; then
	fail "RSA-4096 keygen succeeded beyond the advertised maximum"
fi
grep -q 'CKR_ATTRIBUTE_VALUE_INVALID' "$work/rsa4096" || fail "RSA-4096: $(cat "$work/rsa4096")"

step "two tokens side by side"
"$TPM_TOKEN_SH" start "$TPM_WORK/second" --label second >/dev/null
first_port=$HKMS_TPM_SWTPM_PORT
(
	# shellcheck disable=SC1091
	. "$TPM_WORK/second/env.sh"
	[ "$HKMS_TPM_SWTPM_PORT" != "$first_port" ] || fail "second token on the same port"
	pkcs11-tool --module "$HKMS_TPM_MODULE" --list-token-slots 2>/dev/null | grep -q 'token label *: second' ||
		fail "second token not visible through its own env"
	pkcs11-tool --module "$HKMS_TPM_MODULE" --list-token-slots 2>/dev/null | grep -q 'hkms-test' &&
		fail "second env sees the first token"
	true
)
second_pids=$(awk '{print $2}' "$TPM_WORK/second/pids")
"$TPM_TOKEN_SH" stop "$TPM_WORK/second"
p11 --list-token-slots | grep -q 'token label *: hkms-test' || fail "first token hurt by the second's stop"

pid_of() { awk -v n="$1" '$1 == n {print $2}' "$TPM_DIR/pids"; }
dbus_before=$(pid_of dbus) swtpm_before=$(pid_of swtpm)

step "restart-tpm: signing fails while the TPM is down, works after"
all_pids=$(awk '{print $2}' "$TPM_DIR/pids")
"$TPM_TOKEN_SH" tpm-down "$TPM_DIR"
if sign_verify 01 ECDSA-SHA256 --signature-format openssl; then
	fail "signing worked with the TPM down"
fi
echo "while down: $(grep -m1 -o 'C_[A-Za-z]* failed.*\|CKR_[A-Z_]*' "$work/sign.err" || head -c 200 "$work/sign.err")"
"$TPM_TOKEN_SH" tpm-up "$TPM_DIR"
sign_all || fail "sign after tpm-up: $(cat "$work/sign.err")"
[ "$(pid_of dbus)" = "$dbus_before" ] || fail "the D-Bus daemon was restarted"
[ "$(pid_of swtpm)" != "$swtpm_before" ] || fail "swtpm was not restarted"
all_pids="$all_pids $(awk '{print $2}' "$TPM_DIR/pids")"

# Each power loss counts as one dictionary-attack failure; with swtpm's
# defaults (3 tries, 1000 s) the third would lock the keys (CKR_PIN_LOCKED).
step "restart-tpm --abrupt (power loss) 3 times: keys survive, no DA lockout"
for _ in 1 2 3; do
	"$TPM_TOKEN_SH" restart-tpm "$TPM_DIR" --abrupt
	all_pids="$all_pids $(awk '{print $2}' "$TPM_DIR/pids")"
done
sign_all || fail "sign after abrupt restarts: $(cat "$work/sign.err")"
[ "$(p11u --list-objects --type privkey | grep -c 'Access:')" -eq 2 ] || fail "keys lost"
"$TPM_TOKEN_SH" status "$TPM_DIR"

step "stop leaves no process behind, and is idempotent"
"$TPM_TOKEN_SH" stop "$TPM_DIR"
"$TPM_TOKEN_SH" stop "$TPM_DIR"
[ ! -e "$TPM_DIR/pids" ] || fail "pids still there"
for pid in $all_pids $second_pids; do
	tpm_pid_gone "$pid" || fail "process $pid ($(cat "/proc/$pid/comm")) still runs"
done
echo "PASS"
