#!/bin/bash
# The release build ignores the test hooks: HKMS_CA_TEST_SERIAL=01 gives a
# random serial, HKMS_STORE_CRASH_AT and HKMS_TEST_CRASH_AT do not kill, and
# no hook's name is in the binary. When the build under test has the hooks (HKMS_TEST_HOOKS=1)
# the same commands through it show that they work there, so this test
# fails if the hooks were compiled in unconditionally.
. "$(dirname "$0")/../e2e/lib.sh"
: "${HKMS_BUILD:?HKMS_BUILD must name the build dir}"
TEST_BIN=$HKMS_BIN
if [ "${HKMS_TEST_HOOKS:-0}" = 1 ]; then
	rel=$HKMS_BUILD/release-nohooks
	start=$(date +%s)
	cmake -S "$HKMS_SRC" -B "$rel" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DHKMS_TEST_HOOKS=OFF -DHKMS_ENABLE_E2E=OFF >"$HKMS_BUILD/release-nohooks.log" 2>&1 &&
	cmake --build "$rel" --target hkms -j2 >>"$HKMS_BUILD/release-nohooks.log" 2>&1 ||
		fail "release build: $(tail -20 "$HKMS_BUILD/release-nohooks.log")"
	echo "release build of hkms: $(( $(date +%s) - start )) s"
	HKMS_BIN=$rel/src/cli/hkms
fi
REL=$HKMS_BIN

"$REL" --version | grep -q 'test build' && fail "release binary says it is a test build"
for v in HKMS_CA_TEST_SERIAL HKMS_STORE_CRASH_AT HKMS_TEST_CRASH_AT; do
	! grep -aq "$v" "$REL" || fail "release binary contains $v"
done
pass "release binary: no test hook names, version $("$REL" --version)"

hkms_setup
cd "$T" || fail "cd"
hkms ca create r --key-type ec:p256 --subject "/CN=Hook Root" >/dev/null || fail "ca create"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout l.key \
	-subj "/CN=h.example.com" -addext "subjectAltName=DNS:h.example.com" -out l.csr \
	2>/dev/null || fail "csr"

HKMS_CA_TEST_SERIAL=01 hkms --json ca sign --ca r --profile tls-server --csr l.csr \
	--out-file c.pem > c.json || fail "ca sign"
s=$(openssl x509 -in c.pem -noout -serial | cut -d= -f2)
[ "$s" != 01 ] && [ ${#s} -ge 32 ] || fail "HKMS_CA_TEST_SERIAL=01 gave serial $s"
pass "HKMS_CA_TEST_SERIAL=01 ignored: random serial $s"

for step in after_write after_fsync after_rename audit_partial audit_after_sync; do
	HKMS_STORE_CRASH_AT=$step hkms cert self-sign "s-$step" --new-key ec:p256 \
		--key "k-$step" --subject "/CN=$step.example" >/dev/null 2>err.txt
	rc=$?
	[ $rc -eq 0 ] || fail "HKMS_STORE_CRASH_AT=$step: exit $rc ($(cat err.txt))"
	hkms cert show "s-$step" >/dev/null || fail "certificate s-$step missing"
done
hkms store check >/dev/null || fail "store check"
hkms audit verify >/dev/null || fail "audit verify"
HKMS_TEST_CRASH_AT=key_before_commit hkms key generate kc --type ec:p256 >/dev/null 2>err.txt ||
	fail "HKMS_TEST_CRASH_AT=key_before_commit: $(cat err.txt)"
hkms key show kc >/dev/null || fail "key kc missing"
hkms store check >/dev/null || fail "store check"
hkms audit verify >/dev/null || fail "audit verify"
pass "HKMS_STORE_CRASH_AT (every step) and HKMS_TEST_CRASH_AT ignored; store and audit clean"

# control: the test build does honour them
if [ "$TEST_BIN" != "$REL" ]; then
	HKMS_CA_TEST_SERIAL=0A0B0C "$TEST_BIN" --json ca sign --ca r --profile tls-server \
		--csr l.csr --out-file t.pem > t.json || fail "ca sign (test build)"
	s=$(openssl x509 -in t.pem -noout -serial | cut -d= -f2)
	[ "$s" = 0A0B0C ] || fail "test build ignored HKMS_CA_TEST_SERIAL (serial $s)"
	HKMS_STORE_CRASH_AT=after_rename "$TEST_BIN" cert self-sign t-crash --new-key ec:p256 \
		--key k-crash --subject /CN=crash.example >/dev/null 2>&1
	rc=$?
	[ $rc -eq 137 ] || fail "test build ignored HKMS_STORE_CRASH_AT (exit $rc)"
	HKMS_TEST_CRASH_AT=key_before_commit "$TEST_BIN" key generate kc2 --type ec:p256 \
		>/dev/null 2>&1
	rc=$?
	[ $rc -eq 137 ] || fail "test build ignored HKMS_TEST_CRASH_AT (exit $rc)"
	pass "control: the test build honours the hooks"
fi
