#!/bin/bash
# Issuance benchmark (figures go in the issue notes, never asserted):
#   bash tests/bench/bench.sh [--json] [--quick] [SECONDS]   (after ./scripts/build.sh)
# One SoftHSM2 token (made by `hkms init`), CA keys P-256 and RSA-2048, and
# in ONE table:
#   raw     the token's own C_Sign rate, 1 and 2 threads, each its own session
#   naive   parse + verify the CSR, build with OpenSSL, X509_sign through
#           libp11's EVP_PKEY, encode (nothing stored, nothing audited)
#   hkms    hkms_ops_ca_sign() from the library: parse, verify once, build
#           under tls-server, CA policy, sign in the token, encode, record +
#           audit line durable (group commit), 1 and 2 threads, with the
#           data dir on the work dir's file system (ext4 here) and on tmpfs
# The tmpfs data dir is a copy of the first one (same token, same keys,
# same sealed audit log). --json prints one JSON object per figure
# ({"what","key","threads","fs","per_second",...}); --quick runs a fraction
# of a second per cell (the ctest bench_quick). HKMS_BENCH_DIR: where the
# disk data dir goes (default: the build dir).
set -eu
here=$(cd "$(dirname "$0")" && pwd); src=$(cd "$here/../.." && pwd)
build=${HKMS_BUILD:-$src/build}
bin=${HKMS_BIN:-$build/src/cli/hkms}
ib=${HKMS_ISSUE_BENCH:-$build/tests/issue_bench}
json=0; secs=3
for a in "$@"; do
	case $a in
	--json) json=1 ;;
	--quick) secs=0.4 ;;
	-h|--help) sed -n '2,17p' "$0"; exit 0 ;;
	*) secs=$a ;;
	esac
done
[ -x "$bin" ] && [ -x "$ib" ] || { echo "build first (./scripts/build.sh)" >&2; exit 77; }
[ -e /usr/lib/softhsm/libsofthsm2.so ] || { echo "no SoftHSM2" >&2; exit 77; }
base=${HKMS_BENCH_DIR:-$build}
D=$(mktemp -d "$base/hkms-bench.XXXXXX")
S=""
if [ -d /dev/shm ] && [ -w /dev/shm ]; then S=$(mktemp -d /dev/shm/hkms-bench.XXXXXX); fi
trap 'rm -rf "$D" ${S:+"$S"}' EXIT
unset HKMS_PIN HKMS_SO_PIN HKMS_CA_TEST_SERIAL HKMS_STORE_CRASH_AT
export HKMS_DATA_DIR=$D/data HKMS_CONFIG=$D/data/hkms.conf
"$bin" init --data-dir "$D/data" >/dev/null
export SOFTHSM2_CONF=$D/data/token/softhsm2.conf
"$bin" ca create bench-p256 --key-type ec:p256 --subject /CN=Bench-P256 >/dev/null
"$bin" ca create bench-rsa --key-type rsa:2048 --subject /CN=Bench-RSA >/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/l.key" \
	-subj /CN=leaf.bench.example -addext subjectAltName=DNS:leaf.bench.example \
	-out "$D/l.csr" 2>/dev/null
fs_disk=$(stat -f -c %T "$D"); [ "$fs_disk" = ext2/ext3 ] && fs_disk=ext4
if [ -n "$S" ]; then
	# a copy of the data dir on tmpfs; the token stays where it is
	cp -a "$D/data" "$S/data"
	sed "s|^data_dir = .*|data_dir = $S/data|" "$D/data/hkms.conf" > "$S/data/hkms.conf"
	chmod 600 "$S/data/hkms.conf"
fi
out=$D/figures.jsonl
: > "$out"
run() {	# fs conf mode ca threads
	local fs=$1 conf=$2; shift 2
	HKMS_CONFIG=$conf HKMS_DATA_DIR=$(dirname "$conf") "$ib" "$1" "$2" "$D/l.csr" "$secs" "$3" |
		python3 -c 'import json,sys; o=json.loads(sys.stdin.read()); o["fs"]=sys.argv[1]; print(json.dumps(o))' "$fs" >> "$out"
	[ $json = 1 ] && tail -1 "$out" || true
}
for ca in bench-p256 bench-rsa; do
	run - "$D/data/hkms.conf" raw $ca 1
	run - "$D/data/hkms.conf" raw $ca 2
	run - "$D/data/hkms.conf" naive $ca 1
	for t in 1 2; do
		run "$fs_disk" "$D/data/hkms.conf" hkms $ca $t
		[ -n "$S" ] && run tmpfs "$S/data/hkms.conf" hkms $ca $t
	done
done
# the issued certificates are durable and audited: the stores check out
for dd in "$D/data" ${S:+"$S/data"}; do
	HKMS_CONFIG=$dd/hkms.conf HKMS_DATA_DIR=$dd "$bin" store check >/dev/null ||
		{ echo "store check failed on $dd" >&2; exit 1; }
done
[ $json = 1 ] && exit 0
python3 - "$out" "$secs" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
raw = {(r["key"], r["threads"]): r["per_second"] for r in rows if r["what"] == "raw"}
print(f"hkms issuance benchmark, SoftHSM2 token, {sys.argv[2]} s per cell")
print(f"{'what':<8} {'CA key':<9} {'threads':>7} {'fs':<6} {'per s':>9} {'of raw (same threads)':>22} {'batch':>6}")
for r in rows:
    base = raw.get((r["key"], r["threads"]))
    pct = f"{100 * r['per_second'] / base:.1f} %" if base and r["what"] != "raw" else ""
    b = f"{r['per_batch']:.1f}" if "per_batch" in r else ""
    print(f"{r['what']:<8} {r['key']:<9} {r['threads']:>7} {r['fs']:<6} {r['per_second']:>9.0f} {pct:>22} {b:>6}")
PY
