#!/bin/bash
# Sign latency per key type through hkms' token layer on swtpm (in-process,
# one context): bash tests/tpm/bench-hkms.sh [N] with HKMS_TPM_SIGN set to
# build/tests/tpm_sign.
. "$(dirname "$0")/lib.sh"
tpm_skip_unless_available
tpm_token_up >/dev/null
"${HKMS_TPM_SIGN:-$HKMS_SRC/build/tests/tpm_sign}" bench "${1:-50}"
