#!/usr/bin/env bash
# tests/tpm/bench-sign.sh [N]: sign latency per key type on a private swtpm token,
# measured with pkcs11-tool in a loop (N runs per key type, default 50).
#
# Every pkcs11-tool run is a new process: dlopen + C_Initialize + C_Login
# (tpm2-pkcs11 unseals its wrapping key in the TPM) + key load + C_Sign. The
# "login-only" run is the same without the sign (C_FindObjects for a
# certificate instead), interleaved with the sign runs, so "sign - login" is
# roughly key load + sign. Medians, because a busy machine adds outliers.
# Not a ctest: run it by hand, e.g.  bash tests/tpm/bench-sign.sh 50
set -euo pipefail
# shellcheck source=tests/tpm/lib.sh
. "$(dirname "$0")/lib.sh"
tpm_skip_unless_available
n=${1:-50}

tpm_token_up --label bench >/dev/null
HKMS_BENCH_PIN=$(cat "$HKMS_TPM_PIN_FILE")
export HKMS_BENCH_PIN
msg=$TPM_WORK/msg
head -c 1000 /dev/urandom >"$msg"
p11() { pkcs11-tool --module "$HKMS_TPM_MODULE" --token-label "$HKMS_TPM_LABEL" --login --pin env:HKMS_BENCH_PIN "$@"; }

# ms CMD...: run CMD once, print its wall time in ms (one decimal).
ms() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 100000)) | sed 's/\(.\)$/.\1/; s/^\./0./'
}
# stats: "median min" of the numbers on stdin.
stats() { sort -n | awk '{ v[NR] = $1 } END { printf "%.1f %.1f\n", (v[int((NR + 1) / 2)] + v[int(NR / 2) + 1]) / 2, v[1] }'; }

echo "swtpm $(swtpm --version 2>&1 | grep -o '[0-9][0-9.]*' | head -1), $(nproc) CPU(s), load $(cut -d' ' -f1 /proc/loadavg), $n runs each"
echo
echo "| key | mechanism | keygen ms | --sign run ms, median (min) | login-only run ms, median | sign - login ms |"
echo "|---|---|---|---|---|---|"
id=0
for spec in EC:prime256v1:ECDSA-SHA256 EC:secp384r1:ECDSA-SHA384 rsa:2048:SHA256-RSA-PKCS rsa:3072:SHA256-RSA-PKCS; do
	key=${spec%:*} mech=${spec##*:}
	id=$((id + 1))
	kg=$(ms p11 --keypairgen --key-type "$key" --id "0$id" --label "k$id")
	# Interleave sign and login-only runs so that load changes hit both alike.
	: >"$TPM_WORK/sign.ms"
	: >"$TPM_WORK/login.ms"
	for ((i = 0; i < n; i++)); do
		ms p11 --sign --id "0$id" -m "$mech" -i "$msg" -o "$TPM_WORK/sig" >>"$TPM_WORK/sign.ms"
		ms p11 --list-objects --type cert >>"$TPM_WORK/login.ms"
	done
	read -r s_med s_min < <(stats <"$TPM_WORK/sign.ms")
	read -r l_med _ < <(stats <"$TPM_WORK/login.ms")
	d=$(awk -v a="$s_med" -v b="$l_med" 'BEGIN { printf "%.1f", a - b }')
	echo "| $key | $mech | ${kg%.*} | $s_med ($s_min) | $l_med | $d |"
done
