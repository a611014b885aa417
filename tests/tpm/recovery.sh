#!/bin/bash
# A TPM that goes away and comes back (swtpm + abrmd restarted) is survived
# like on SoftHSM: clear errors while it is gone, service again after.
. "$(dirname "$0")/lib.sh"
tpm_skip_unless_available
: "${HKMS_TPM_SIGN:?}"
tpm_token_up >/dev/null
export TPM_TOKEN_SH HKMS_TOKEN_BACKOFF_MAX=1
"$HKMS_TPM_SIGN" recover "$TPM_DIR" || { echo "FAIL: TPM recovery"; exit 1; }
echo "ok - recovered after the TPM restart"
