#!/usr/bin/env bash
# tests/tpm/lib.sh: source it from a test to get a private TPM 2.0 token
# (swtpm + tpm2-abrmd + tpm2-pkcs11, see hsm/scripts/tpm-token.sh) that is
# stopped and removed when the test exits, however it exits.
#
#   . "$(dirname "$0")/lib.sh"
#   tpm_skip_unless_available          # exit 77 when swtpm & co are missing
#   tpm_token_up [--label L] ...       # start options; then env.sh is sourced
#   pkcs11-tool --module "$HKMS_TPM_MODULE" --token-label "$HKMS_TPM_LABEL" ...

HKMS_SRC=${HKMS_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TPM_TOKEN_SH=$HKMS_SRC/hsm/scripts/tpm-token.sh
TPM_WORK=""

tpm_skip_unless_available() {
	if ! "$TPM_TOKEN_SH" check; then
		echo "SKIP: TPM test token not available on this host"
		exit 77
	fi
}

tpm_token_down() {
	[ -n "$TPM_WORK" ] || return 0
	"$TPM_TOKEN_SH" stop "$TPM_WORK/token" || true
	rm -rf "$TPM_WORK"
	TPM_WORK=""
}

# tpm_token_up [start options]: sets TPM_WORK and TPM_DIR, exports env.sh.
tpm_token_up() {
	TPM_WORK=$(mktemp -d "${TMPDIR:-/tmp}/hkms-tpm.XXXXXX")
	TPM_DIR=$TPM_WORK/token
	trap tpm_token_down EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	"$TPM_TOKEN_SH" start "$TPM_DIR" "$@"
	# shellcheck disable=SC1091
	. "$TPM_DIR/env.sh"
}

# Is PID gone (a zombie waiting for its reaper counts as gone)?
tpm_pid_gone() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	st=${st##*) }
	[ "${st%% *}" = Z ]
}
