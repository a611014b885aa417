#!/bin/bash
# Benchmarks (figures go in the issue notes, never asserted in tests):
#   bash tests/bench/bench.sh [SECONDS]      (after ./scripts/build.sh)
# 1. signatures/s through the token layer on a private SoftHSM2 token,
#    1 and 2 threads, each key type;
# 2. `hkms ca sign --count 2000` issuance rate on the same token.
set -eu
here=$(cd "$(dirname "$0")" && pwd); src=$(cd "$here/../.." && pwd)
build=${HKMS_BUILD:-$src/build}
secs=${1:-3}
T=$(mktemp -d /tmp/hkms-bench.XXXXXX); trap 'rm -rf "$T"' EXIT
export HKMS_DATA_DIR=$T/data
"$build/src/cli/hkms" init --data-dir "$T/data" >/dev/null
export HKMS_CONFIG=$T/data/hkms.conf SOFTHSM2_CONF=$T/data/token/softhsm2.conf
echo "== token layer, SoftHSM2 2.6.1, ${secs}s per cell"
HKMS_BENCH_MODULE=/usr/lib/softhsm/libsofthsm2.so HKMS_BENCH_LABEL=hkms \
HKMS_BENCH_PIN_FILE=$T/data/token/user.pin "$build/tests/sign_bench" "$secs" 1 2
echo "== hkms ca sign --count 2000 (EC P-256 CA, one process)"
"$build/src/cli/hkms" ca create bench-ca --key-type ec:p256 --subject /CN=Bench >/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/l.key" \
	-subj /CN=leaf.bench.example -addext subjectAltName=DNS:leaf.bench.example \
	-out "$T/l.csr" 2>/dev/null
start=$(date +%s.%N)
"$build/src/cli/hkms" ca sign --ca bench-ca --profile tls-server --csr "$T/l.csr" \
	--count 2000 --out-file "$T/last.pem" >/dev/null
end=$(date +%s.%N)
python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'2000 certificates in {s:.2f}s: {2000/s:.0f}/s (fsync-bound, data dir on {sys.argv[3]})')" \
	"$start" "$end" "$(df --output=fstype "$T" | tail -1)"
