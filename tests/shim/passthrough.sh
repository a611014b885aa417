#!/bin/bash
# shim_passthrough: with no faults configured the shim must be invisible.
# pkcs11-tool's self test, key generation and signing work through it, the
# results match the real module, and the stats file saw every call.
. "$(dirname "$0")/lib.sh"

export P11SHIM_STATS=$STATS
cd "$WORK" || die "no work dir"

p11 --test > test.out 2>&1
expect "pkcs11-tool --test through the shim" "$?" 0
check "pkcs11-tool --test found no errors" grep -q "No errors" test.out
check "stats written" test -s "$STATS"
expect "stats written at C_Finalize, then at exit" \
	"$(sval .reason)" exit
check "calls were seen" test "$(sval .calls_total)" -gt 10
expect "one C_Login" "$(sval .login_attempts)" 1
expect "one C_Initialize" "$(sval .functions.C_Initialize.calls)" 1
expect "one C_Finalize" "$(sval .functions.C_Finalize.calls)" 1
expect "nothing injected" "$(sval .injected_total)" 0
expect "no session left open" "$(sval .sessions_open)" 0

check "EC P-256 key pair generated through the shim" \
	quiet p11 --keypairgen --key-type EC:prime256v1 --id 01 --label ec1
expect "one C_GenerateKeyPair" \
	"$(sval .functions.C_GenerateKeyPair.calls)" 1
check "RSA-2048 key pair generated through the shim" \
	quiet p11 --keypairgen --key-type rsa:2048 --id 02 --label rsa1

printf 'hello shim\n' > data
check "RSA sign through the shim" \
	quiet p11 --sign --id 02 -m SHA256-RSA-PKCS -i data -o rsa.sig
expect "C_Sign reached the real module" \
	"$(sval '.functions.C_Sign.calls - .functions.C_Sign.injected')" 1
if command -v openssl >/dev/null 2>&1; then
	pkcs11-tool --module "$P11SHIM_LIB" --token-label t --read-object \
		--type pubkey --id 02 -o rsa.pub.der >/dev/null 2>&1
	openssl pkey -pubin -inform DER -in rsa.pub.der -out rsa.pub.pem &&
	check "RSA signature verifies with openssl" \
		quiet openssl dgst -sha256 -verify rsa.pub.pem -signature rsa.sig data
fi
openssl dgst -sha256 -binary data > data.sha256 2>/dev/null ||
	head -c 32 /dev/zero > data.sha256
check "ECDSA sign through the shim" \
	quiet p11 --sign --id 01 -m ECDSA -i data.sha256 -o ec.sig
expect "one C_Sign in that run" "$(sval .functions.C_Sign.calls)" 1

# Same answers with and without the shim.
pkcs11-tool --module "$SOFTHSM_MODULE" --token-label t --login --pin $PIN \
	--list-objects > direct.txt 2>&1
p11 --list-objects > shim.txt 2>&1
check "--list-objects output identical with and without the shim" \
	cmp -s direct.txt shim.txt
pkcs11-tool --module "$SOFTHSM_MODULE" --token-label t --login --pin $PIN \
	--test-fork > fork-direct.txt 2>&1
rc_direct=$?
p11 --test-fork > fork-shim.txt 2>&1
rc_shim=$?
expect "--test-fork ends the same way with and without the shim" \
	"$rc_shim" "$rc_direct"

# The driver: one session per thread, so the one-op-per-session rule holds.
if [ -n "${P11SHIM_DRV:-}" ]; then
	out=$(drv init open login "sign ec1" "sign rsa1" "threads 4 25 own" \
		close finalize | tr '\n' ' ')
	expect "driver session through the shim" "$out" \
		"init CKR_OK open CKR_OK login CKR_OK sign CKR_OK sign CKR_OK threads CKR_OK close CKR_OK finalize CKR_OK "
	expect "no concurrency violation with one session per thread" \
		"$(sval .concurrency_violations)" 0
	expect "at most one call at a time per session" \
		"$(sval .max_concurrent_per_session)" 1
	expect "sessions opened = closed" \
		"$(sval '.sessions_opened == .sessions_closed')" true
fi
finish
