#!/bin/bash
# Issue 11 attack (e): every way `ca sign` (hkms_ops_ca_sign) can fail,
# before and after its serial is reserved: each exits non-zero with a JSON
# error whose code is a row of include/hkms/errors.def, leaves no
# reservation (*.rsv) and no record behind, and the store and the audit
# log still check. Failures after the reservation: a bad SAN or subject
# override (the build), the CA policy, the CA's name constraints, the
# audit head gone (the commit, before any line), the CA key gone from the
# token (the signature), the disk full (the commit; a private tmpfs via
# unshare, skipped when that is not allowed).
. "$(dirname "$0")/lib.sh"
need python3 openssl pkcs11-tool
hkms_setup
DEF=$HKMS_SRC/include/hkms/errors.def

hkms ca create root --key-type ec:p256 --subject /CN=Err-Root >/dev/null || fail "ca create"
hkms ca create nc --key-type ec:p256 --subject /CN=NC-CA --parent root \
	--permit-dns example.com >/dev/null || fail "ca create nc"
csr() {	# csr NAME CN SAN
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$1.key" -subj "/CN=$2" -addext "subjectAltName=$3" \
		-out "$T/$1.csr" 2>/dev/null || fail "openssl req $1"
}
csr leaf leaf.example.com DNS:leaf.example.com
csr evil evil.org DNS:evil.org
echo junk > "$T/junk.csr"
# a CSR whose signature does not verify: flip a byte of the signature
python3 - "$T/leaf.csr" "$T/badsig.csr" <<'PY'
import base64, sys
pem = open(sys.argv[1]).read().splitlines()
der = bytearray(base64.b64decode("".join(l for l in pem if not l.startswith("-----"))))
der[-3] ^= 0x01
b = base64.b64encode(bytes(der)).decode()
open(sys.argv[2], "w").write("-----BEGIN CERTIFICATE REQUEST-----\n" +
    "\n".join(b[i:i + 64] for i in range(0, len(b), 64)) +
    "\n-----END CERTIFICATE REQUEST-----\n")
PY
printf '{"max_days": 30, "allow_dns": [".example.com"]}\n' > "$T/policy.json"
hkms ca policy root --file "$T/policy.json" >/dev/null || fail "ca policy"

records() { find "$T/data/issued" -name '*.json' | sort; }
BEFORE=$(records)
# fails CODE ARGS...: ca sign ARGS fails with CODE, a registered code, and
# leaves no reservation and no new record
fails() {
	local code=$1 out rc c; shift
	out=$("$HKMS_BIN" --json ca sign --out-file /dev/null "$@" 2>&1 >/dev/null); rc=$?
	[ $rc -ne 0 ] || fail "ca sign $* succeeded"
	c=$(echo "$out" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["error"]["code"])' 2>/dev/null) ||
		fail "ca sign $*: no JSON error: $out"
	[ "$c" = "$code" ] || fail "ca sign $*: code $c, expected $code: $out"
	grep -q "^HKMS_ERROR(\"${c%%:*}\"," "$DEF" || fail "ca sign $*: code $c is not in errors.def"
	[ -z "$(find "$T/data" -name '*.rsv')" ] || fail "ca sign $* ($c) left a reservation: $(find "$T/data" -name '*.rsv')"
	[ "$(records)" = "$BEFORE" ] || fail "ca sign $* ($c) left a record"
}
S=(--ca root --profile tls-server --csr "$T/leaf.csr")
# before the reservation
fails bad_format "${S[@]}" --format der
fails ca_not_found --ca nope --profile tls-server --csr "$T/leaf.csr"
fails invalid_profile --ca root --profile ca --csr "$T/leaf.csr"
fails unknown_profile --ca root --profile nope --csr "$T/leaf.csr"
fails bad_csr --ca root --profile tls-server --csr "$T/junk.csr"
fails bad_csr_signature --ca root --profile tls-server --csr "$T/badsig.csr"
# after it: the build, the policy, the name constraints
fails invalid_san "${S[@]}" --san DNS:bad..name
fails invalid_san "${S[@]}" --san IP:999.1.1.1
fails invalid_subject "${S[@]}" --subject /XX=bad
fails policy_violation "${S[@]}" --days 90
fails policy_violation --ca root --profile tls-server --csr "$T/evil.csr"
fails policy_violation --ca nc --profile tls-server --csr "$T/evil.csr"
hkms ca policy root --clear >/dev/null || fail "ca policy --clear"
pass "ca sign: request, build, policy and name-constraint failures leave nothing"

# the commit: no audit head (refused before any line is written)
mv "$T/data/audit.head" "$T/head.saved"
fails audit_chain "${S[@]}"
mv "$T/head.saved" "$T/data/audit.head"
pass "ca sign with audit.head gone: refused, nothing left"

hkms ca sign "${S[@]}" --out-file /dev/null >/dev/null || fail "ca sign after the failures"
hkms store check > "$T/check.out" 2>&1 || fail "store check: $(tail -c 800 "$T/check.out")"
hkms audit verify > "$T/verify.out" 2>&1 || fail "audit verify: $(cat "$T/verify.out")"
# every failure is audited as an error line with its code
n=$(grep -c '"op":"ca.sign".*"result":"error"' "$T/data/audit.log")
# (12: the one with audit.head gone cannot be audited: every write is refused)
[ "$n" -ge 12 ] || fail "only $n ca.sign error lines for 12 auditable failures"
pass "store check and audit verify pass after every failure; failures audited"

# the signature: the CA's key is gone from the token (store check then
# rightly names the missing key: checked above)
AFTER=$(records)
RID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T/data/keys/nc.json")
with_pin sh -c 'pkcs11-tool --module "$0" --token-label hkms --login --pin env:HKMS_PIN \
	--delete-object --type privkey --id "$1"' "$SOFTHSM_MODULE" "$RID" >/dev/null 2>&1 ||
	fail "pkcs11-tool delete"
out=$("$HKMS_BIN" --json ca sign --out-file /dev/null --ca nc --profile tls-server --csr "$T/leaf.csr" 2>&1 >/dev/null) &&
	fail "ca sign with the CA key gone succeeded"
c=$(echo "$out" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["error"]["code"])') ||
	fail "no JSON error: $out"
grep -q "^HKMS_ERROR(\"$c\"," "$DEF" || fail "code $c (CA key gone) is not in errors.def"
[ -z "$(find "$T/data" -name '*.rsv')" ] || fail "the failed signature left a reservation"
[ "$(records)" = "$AFTER" ] || fail "the failed signature left a record"
pass "ca sign with the CA key gone: $c, nothing left"

hkms audit verify > "$T/verify.out" 2>&1 || fail "audit verify after the key loss: $(cat "$T/verify.out")"

# the disk full, in a private 8 MiB tmpfs (needs a mount namespace)
if unshare -rm true 2>/dev/null; then
	mkdir -p "$T/small"
	unshare -rm bash -c '
		set -u
		H=$1 T=$2 DEF=$3
		mount -t tmpfs -o size=8m tmpfs "$T/small" || exit 77
		D=$T/small/data
		export HKMS_DATA_DIR=$D HKMS_CONFIG=$D/hkms.conf SOFTHSM2_CONF=$D/token/softhsm2.conf
		"$H" init --data-dir "$D" >/dev/null || { echo "init"; exit 1; }
		"$H" ca create r --key-type ec:p256 --subject /CN=Small >/dev/null || { echo "ca create"; exit 1; }
		"$H" ca sign --ca r --profile tls-server --csr "$T/leaf.csr" --out-file /dev/null >/dev/null ||
			{ echo "first sign"; exit 1; }
		dd if=/dev/zero of="$T/small/fill" bs=4k 2>/dev/null
		out=$("$H" --json ca sign --ca r --profile tls-server --csr "$T/leaf.csr" --out-file /dev/null 2>&1 >/dev/null) &&
			{ echo "ca sign on a full disk succeeded"; exit 1; }
		c=$(echo "$out" | python3 -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])[\"error\"][\"code\"])") ||
			{ echo "no JSON error: $out"; exit 1; }
		[ "$c" = no_space ] || { echo "code $c on a full disk: $out"; exit 1; }
		[ -z "$(find "$D" -name "*.rsv")" ] || { echo "a full disk left a reservation"; exit 1; }
		[ -z "$(find "$D" -name "*.tmp.*")" ] || { echo "a full disk left temp files"; exit 1; }
		# then 1..6 free pages: the failure moves from the reservation
		# to the record, the audit line, the head; each attempt is
		# acknowledged (and then stored) or fails with nothing left
		acked=1
		for k in 1 2 3 4 5 6; do
			rm -f "$T/small/fill"
			for i in $(seq 1 $k); do
				head -c 4096 /dev/zero > "$T/small/page$i"
			done
			dd if=/dev/zero of="$T/small/fill" bs=4k 2>/dev/null
			rm -f "$T/small"/page*
			if out=$("$H" --json ca sign --ca r --profile tls-server --csr "$T/leaf.csr" --out-file /dev/null 2>&1 >/dev/null); then
				acked=$((acked + 1)); echo "$k pages free: acknowledged"
			else
				echo "$k pages free: refused: $out"
				c=$(echo "$out" | python3 -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])[\"error\"][\"code\"])") ||
					{ echo "$k pages: no JSON error: $out"; exit 1; }
				case $c in no_space|store_read_only|fsync_failed) ;;
				*) echo "$k pages free: code $c: $out"; exit 1;; esac
				grep -q "^HKMS_ERROR(\"$c\"," "$DEF" || { echo "code $c not registered"; exit 1; }
			fi
			[ -z "$(find "$D" -name "*.rsv")" ] || { echo "$k pages free: a reservation left"; exit 1; }
		done
		rm -f "$T/small/fill"
		"$H" ca sign --ca r --profile tls-server --csr "$T/leaf.csr" --out-file /dev/null >/dev/null ||
			{ echo "ca sign after freeing space: $("$H" ca sign --ca r --profile tls-server --csr "$T/leaf.csr" --out-file /dev/null 2>&1 >/dev/null)"; exit 1; }
		acked=$((acked + 1))
		"$H" store check >/dev/null 2>&1 || { echo "store check after ENOSPC"; "$H" store check; exit 1; }
		"$H" audit verify >/dev/null 2>&1 || { echo "audit verify after ENOSPC"; exit 1; }
		n=$("$H" --json ca issued --ca r | python3 -c "import json,sys; print(len(json.load(sys.stdin)))")
		[ "$n" = "$acked" ] || { echo "$n certificates stored, $acked acknowledged"; exit 1; }
		echo "full disk: $acked acknowledged, all stored"
	' _ "$HKMS_BIN" "$T" "$DEF"
	rc=$?
	[ $rc -eq 77 ] && echo "SKIP: no tmpfs mount in a user namespace"
	[ $rc -eq 0 ] || [ $rc -eq 77 ] || fail "ENOSPC"
	[ $rc -eq 0 ] && pass "ca sign on a full disk: no_space, nothing left, works after freeing space"
else
	echo "SKIP: no user namespaces (ENOSPC part)"
fi
