#!/bin/bash
# T-CRY-4: 10,000 certificates from one CA, every one a full issuance
# (serial drawn and reserved in the issued index, built, signed in the
# token, recorded and audited through the group commit), issued by 2
# threads calling the library (tests/bench issue_bench, mode count: the
# production request has no benchmark loop). Serials: unique, positive, <= 20 octets,
# 159 random bits (bit 158 set in about half, byte frequencies flat). Then
# a forced collision (test hook HKMS_CA_TEST_SERIAL) is drawn again.
#
# The data dir is on tmpfs (/dev/shm) when it can be: on a disk the run is
# bound by fsync (6 per issuance: record + audit), not by hkms; set
# HKMS_CA_BENCH_DIR to measure a disk.
. "$(dirname "$0")/lib.sh"
need python3 softhsm2-util openssl
[ -e "$SOFTHSM_MODULE" ] || skip "no SoftHSM2 module"
IB=${HKMS_ISSUE_BENCH:-${HKMS_BUILD:-}/tests/issue_bench}
[ -x "$IB" ] || skip "no issue_bench (build tests/bench)"
N=${HKMS_CA_SERIALS:-10000}
base=${HKMS_CA_BENCH_DIR:-/dev/shm}
[ -d "$base" ] && [ -w "$base" ] || base=/tmp
T=$(mktemp -d "$base/hkms-e2e-ca.XXXXXX")
trap 'hkms_cleanup' EXIT
export HKMS_DATA_DIR=$T/data
unset HKMS_PIN HKMS_SO_PIN SOFTHSM2_CONF HKMS_CA_TEST_SERIAL
"$HKMS_BIN" init --data-dir "$T/data" >/dev/null || fail "hkms init"
export HKMS_CONFIG=$T/data/hkms.conf
export SOFTHSM2_CONF=$T/data/token/softhsm2.conf
cd "$T"

hkms ca create r --key-type ec:p256 --subject "/CN=Serial Root" >/dev/null || fail "create CA"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout l.key \
	-subj "/CN=s.example.com" -addext "subjectAltName=DNS:s.example.com" -out l.csr \
	2>/dev/null || fail "csr"
start=$(date +%s.%N)
"$IB" count r l.csr "$N" 2 > bench.json || fail "bench run"
end=$(date +%s.%N)
[ "$(jget count < bench.json)" = "$N" ] || fail "count"
[ "$(jget serials_unique < bench.json)" = "$N" ] || fail "serials repeated in the run"
rate=$(jget per_second < bench.json)
printf 'bench: %d certificates in %.1f s (%.0f/s, 2 threads, library) on %s\n' "$N" \
	"$(echo "$end - $start" | bc)" "$rate" "$(stat -f -c %T "$T")"

hkms --json ca issued --ca r > issued.json || fail "issued list"
python3 - "$N" issued.json <<'PY' || fail "serial properties"
import json, sys
n = int(sys.argv[1]); rows = json.load(open(sys.argv[2]))
assert len(rows) == n, f"{len(rows)} records, want {n}"
serials = [r["serial"] for r in rows]
assert len(set(serials)) == n, "duplicate serial"
top = 0; counts = [0] * 256; total = 0
for s in serials:
    b = bytes.fromhex(s if len(s) % 2 == 0 else "0" + s)
    # the hex is the magnitude; DER adds a 0x00 when the top bit is set
    der = len(b) + (1 if b[0] & 0x80 else 0)
    assert 1 <= der <= 20, f"{s}: {der} DER octets"
    assert b[0] != 0, f"{s}: leading zero octet"
    v = int(s, 16)
    assert v > 0 and v < 2**159
    top += (v >> 158) & 1
    # the 19 low octets are uniform random bytes
    for x in v.to_bytes(20, "big")[1:]:
        counts[x] += 1; total += 1
assert 0.45 * n < top < 0.55 * n, f"bit 158 set in {top} of {n}"
exp = total / 256
chi2 = sum((c - exp) ** 2 / exp for c in counts)
# 255 degrees of freedom: p = 1e-6 bounds are about 165 .. 370
assert 165 < chi2 < 370, f"chi2 {chi2:.1f}"
print(f"serials: {n} unique, positive, <= 20 octets; bit158 {top}; chi2 {chi2:.1f}")
PY
files=$(find "$T/data/issued/r" -name '*.json' | wc -l)
[ "$files" = "$N" ] || fail "$files record files, want $N"
# the certificates carry the serials their records are named by
for f in $(find "$T/data/issued/r" -name '*.json' | shuf -n 20); do
	python3 -c 'import json,sys; sys.stdout.write(json.load(open(sys.argv[1]))["pem"])' \
		"$f" > one.pem || fail "record $f has no pem"
	s=$(openssl x509 -in one.pem -noout -serial | cut -d= -f2)
	[ "$s.json" = "$(basename "$f")" ] || fail "record $f holds serial $s"
done
[ -z "$(find "$T/data/issued/r" -name '*.rsv')" ] || fail "reservations left behind"
hkms store check >/dev/null || fail "store check after the run"
pass "$N issued, no serial repeats (index, files, certificates agree)"

# a collision: the first serial drawn is one already issued (needs the
# test hook, compiled into test builds only)
if [ "${HKMS_TEST_HOOKS:-1}" = 0 ]; then
	hkms audit verify >/dev/null || fail "audit chain"
	skip "forced collision needs HKMS_CA_TEST_SERIAL, a test build (cmake -DHKMS_TEST_HOOKS=ON)"
fi
taken=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["serial"])' issued.json)
HKMS_CA_TEST_SERIAL=$taken hkms --json ca sign --ca r --profile tls-server --csr l.csr \
	--out-file c.pem > c.json || fail "sign with a forced collision"
new=$(jget serial < c.json)
[ "$new" != "$taken" ] || fail "collision not detected"
tail -1 "$T/data/audit.log" | grep -q '"serial_retries":1' || fail "retry not audited"
[ "$(find "$T/data/issued/r" -name '*.json' | wc -l)" = $((N + 1)) ] || fail "count after retry"
python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["serial"])' \
	"$T/data/issued/r/$taken.json" | grep -qx "$taken" || fail "first record changed"
pass "a colliding serial is drawn again; the first record is untouched"
hkms audit verify >/dev/null || fail "audit chain"
