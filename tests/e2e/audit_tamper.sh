#!/bin/bash
# The audit log cannot be cut or rewritten without the token, and a write
# whose audit line cannot be made durable is refused (docs/store.md,
# "Sealed head"). Each attack by someone who can write the data dir but
# has no token PIN must be caught by both `hkms audit verify` and `hkms
# store check` (non-zero exit, a JSON error naming it); with audit.head
# removed or audit.log immutable a mutating command fails and writes no
# record. A failed login is audited without the PIN.
. "$(dirname "$0")/lib.sh"
need python3 openssl
hkms_setup
D=$T/data

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/leaf.key" -subj /CN=leaf.tamper.example \
	-addext subjectAltName=DNS:leaf.tamper.example -out "$T/leaf.csr" 2>/dev/null

# the signed head is there from init
hkms --json audit verify > "$T/v.json" || fail "audit verify after init"
[ "$(jget signed < "$T/v.json")" = true ] || fail "head not signed after init"

hkms cert self-sign s1 --new-key ec:p256 --subject /CN=s1.example >/dev/null || fail "self-sign s1"
hkms ca create root --key-type ec:p256 --subject /CN=Tamper-Root >/dev/null || fail "ca create"
cp "$D/audit.head" "$T/head.old"	# a genuine signed head, kept by the attacker
for i in 1 2 3; do
	hkms ca sign --ca root --profile tls-server --csr "$T/leaf.csr" \
		--out-file "$T/leaf$i.pem" >/dev/null || fail "ca sign $i"
done
hkms cert self-sign s2 --new-key ec:p256 --subject /CN=s2.example >/dev/null || fail "self-sign s2"
hkms audit verify >/dev/null || fail "audit verify before tampering"
hkms store check >/dev/null || fail "store check before tampering"
[ "$(grep -c '"op":"ca.sign"' "$D/audit.log")" = 3 ] || fail "3 ca.sign lines"
# snapshot of the good state (token included) to restore for each case
cp -a "$D" "$T/good"
restore() { rm -rf "$D"; cp -a "$T/good" "$D"; }

# expect_caught NAME PATTERN: verify and check both fail naming PATTERN
expect_caught() {
	local name=$1 pat=$2 out rc
	out=$(hkms audit verify 2>&1 >/dev/null); rc=$?
	[ $rc -eq 1 ] || fail "$name: audit verify exit $rc"
	echo "$out" | grep -q '"error":{"code":"audit_chain"' ||
		fail "$name: audit verify: no audit_chain error: $out"
	echo "$out" | grep -qiE "$pat" ||
		fail "$name: audit verify does not say /$pat/: $out"
	out=$(hkms store check 2>&1); rc=$?
	[ $rc -eq 1 ] || fail "$name: store check exit $rc"
	echo "$out" | grep -q '"error":{"code":"store_inconsistent"' ||
		fail "$name: store check: no JSON error: $out"
	echo "$out" | grep -qiE "$pat" ||
		fail "$name: store check does not say /$pat/: $out"
	pass "$name: detected by audit verify and store check"
}

# expect_refused NAME: a mutating command fails with a JSON error and
# leaves no record and no key behind
expect_refused() {
	local name=$1 out
	out=$(hkms cert self-sign s9 --new-key ec:p256 --subject /CN=s9.example 2>&1 >/dev/null) &&
		fail "$name: self-sign acknowledged"
	echo "$out" | grep -q '"error":{"code":' || fail "$name: no JSON error: $out"
	echo "$out" | grep -q warning && fail "$name: a warning instead of an error: $out"
	[ ! -e "$D/certs/s9.json" ] || fail "$name: record written"
	hkms key show s9 >/dev/null 2>&1 && fail "$name: key s9 left in the token"
	out=$(hkms trust import t9 --file "$T/leaf1.pem" 2>&1 >/dev/null) &&
		fail "$name: trust import acknowledged"
	[ ! -e "$D/trust/t9.json" ] || fail "$name: trust record written"
	pass "$name: writes refused, nothing recorded"
}

pylines() { python3 - "$D/audit.log" "$@"; }

# 1. a byte flipped in a line
restore
pylines <<'EOF'
import sys
p = sys.argv[1]; v = open(p).read().split("\n")
v[2] = v[2].replace('"result":"ok"', '"result":"OK"', 1)
open(p, "w").write("\n".join(v))
EOF
expect_caught "byte flipped" "line 3: hash mismatch"

# 2. tail cut and the head re-sealed: the last line's seq and hash copied
#    into audit.head, the old signature kept (the attacker cannot sign)
restore
pylines "$D/audit.head" <<'EOF'
import json, sys
p, hp = sys.argv[1], sys.argv[2]
v = open(p).read().splitlines(True)[:-1]
open(p, "w").write("".join(v))
last = json.loads(v[-1]); h = json.load(open(hp))
h.update(seq=last["seq"], hash=last["hash"], off=sum(len(l.encode()) for l in v))
open(hp, "w").write(json.dumps(h) + "\n")
EOF
expect_caught "tail cut, head re-sealed" "signature does not verify"
#    ... or written unsigned
python3 - "$D/audit.head" <<'EOF'
import json, sys
h = json.load(open(sys.argv[1]))
for k in ("sig", "pub", "key_sha256"): h.pop(k)
open(sys.argv[1], "w").write(json.dumps(h) + "\n")
EOF
expect_caught "tail cut, head unsigned" "not signed but the token holds the audit key"

# 3. audit.head removed: detected, and every write refused
restore
rm "$D/audit.head"
expect_caught "head removed" "audit.head is missing"
expect_refused "head removed"

# 4. audit.log immutable: detected, and every write refused
restore
if chattr +i "$D/audit.log" 2>/dev/null; then
	expect_caught "log immutable" "cannot be opened for appending"
	expect_refused "log immutable"
	chattr -i "$D/audit.log"
else
	echo "# skip: chattr +i not supported here"
fi

# 5. both files deleted: the token has the audit key, so a log must exist;
#    and the records name audit lines that are gone
restore
rm "$D/audit.log" "$D/audit.head"
expect_caught "log and head deleted" "log and head deleted"
out=$(hkms store check 2>&1)
echo "$out" | grep -q "certs/s2 names audit seq" || fail "records naming lost lines not reported: $out"
expect_refused "log and head deleted"

# 6. head rolled back to an older genuine signed head, the log cut to match
restore
cp "$T/head.old" "$D/audit.head"
off=$(jget off < "$T/head.old")
truncate -s "$off" "$D/audit.log"
expect_caught "head rolled back, log cut" "beyond the audit head.*head rolled back"
#    ... or the log left as it was
restore
cp "$T/head.old" "$D/audit.head"
expect_caught "head rolled back" "records behind the log"

# 7. the log re-chained without the ca.sign lines (seq, prev and hash all
#    recomputed), the head given the new last seq and hash
restore
pylines "$D/audit.head" <<'EOF'
import hashlib, json, sys
p, hp = sys.argv[1], sys.argv[2]
out, prev = [], "0" * 64
for line in open(p).read().splitlines():
    r = json.loads(line)
    if r["op"] == "ca.sign":
        continue
    r.pop("hash"); r["seq"] = len(out) + 1; r["prev"] = prev
    body = json.dumps(r, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    prev = hashlib.sha256((prev + body).encode()).hexdigest()
    out.append(body[:-1] + ',"hash":"%s"}\n' % prev)
open(p, "w").write("".join(out))
h = json.load(open(hp))
h.update(seq=len(out), hash=prev, off=sum(len(l.encode()) for l in out))
open(hp, "w").write(json.dumps(h) + "\n")
EOF
grep -q '"op":"ca.sign"' "$D/audit.log" && fail "re-chain kept ca.sign"
expect_caught "log re-chained without ca.sign" "signature does not verify"
out=$(hkms store check 2>&1)
echo "$out" | grep -qE "names audit (line|seq)" || fail "re-chain: records pointing at other lines not reported: $out"

# 8. a failed login is audited, without the PIN, and sealed by the next
#    write
restore
HKMS_PIN=wrong-pin-123456 hkms key list >/dev/null 2>&1 && fail "wrong PIN accepted"
grep '"op":"token.login"' "$D/audit.log" | grep -q '"result":"error"' ||
	fail "failed login not audited"
grep -q 'wrong-pin-123456' "$D/audit.log" && fail "PIN in the audit log"
hkms --json audit verify > "$T/v.json" || fail "verify with an unsealed login line"
[ "$(jget unsealed_tail < "$T/v.json")" = 1 ] || fail "login line not reported as unsealed"
hkms cert self-sign s3 --new-key ec:p256 --subject /CN=s3.example >/dev/null || fail "self-sign after failed login"
hkms --json audit verify > "$T/v.json" || fail "verify after the next write"
[ "$(jget unsealed_tail < "$T/v.json")" = 0 ] || fail "login line not sealed by the next write"
pass "failed login audited without the PIN, sealed by the next write"

# 9. the same attacks judged by an auditor without the token (no PIN):
#    an unsigned head is caught from the log's audit.seal line alone, and
#    with the key pinned ([audit] key_sha256) also when both files are
#    deleted; with the pin a write on an unsigned head is refused. Before:
#    verify and check said ok ("signed": false).
restore
fpr=$(jget key_sha256 < "$D/audit.head")
sed -e "s#^pin_file.*#pin_file = $T/no-such-pin#" "$D/hkms.conf" > "$T/nopin.conf"
cp "$T/nopin.conf" "$T/pinned.conf"
printf '\n[audit]\nkey_sha256 = %s\n' "$fpr" >> "$T/pinned.conf"
chmod 600 "$T/nopin.conf" "$T/pinned.conf"
HKMS_CONFIG=$T/pinned.conf hkms audit verify >/dev/null || fail "pinned verify of a good store"
pylines "$D/audit.head" <<'EOF'
import json, sys
p, hp = sys.argv[1], sys.argv[2]
v = open(p).read().splitlines(True)[:-1]
open(p, "w").write("".join(v))
last = json.loads(v[-1])
open(hp, "w").write(json.dumps({"seq": last["seq"], "hash": last["hash"],
    "off": sum(len(l.encode()) for l in v)}) + "\n")
EOF
for c in nopin pinned; do
	out=$(HKMS_CONFIG=$T/$c.conf hkms audit verify 2>&1 >/dev/null) &&
		fail "tail cut, unsigned head: verify ($c) passed"
	echo "$out" | grep -q "audit.head is not signed but the log was sealed" ||
		fail "tail cut, unsigned head ($c): $out"
	HKMS_CONFIG=$T/$c.conf hkms store check >/dev/null 2>&1 &&
		fail "tail cut, unsigned head: store check ($c) passed"
done
out=$(HKMS_CONFIG=$T/pinned.conf hkms trust import t9 --file "$T/leaf1.pem" 2>&1 >/dev/null) &&
	fail "pinned: a write on an unsigned head acknowledged"
[ ! -e "$D/trust/t9.json" ] || fail "pinned: trust record written on an unsigned head"
pass "tail cut, unsigned head: caught without the token"
restore
rm "$D/audit.log" "$D/audit.head"
out=$(HKMS_CONFIG=$T/pinned.conf hkms audit verify 2>&1 >/dev/null) &&
	fail "log and head deleted: pinned verify passed"
echo "$out" | grep -q "an audit key is pinned (log and head deleted)" ||
	fail "log and head deleted (pinned): $out"
HKMS_CONFIG=$T/pinned.conf hkms store check >/dev/null 2>&1 &&
	fail "log and head deleted: pinned store check passed"
pass "log and head deleted: caught with the key pinned, without the token"

# a clean store still passes
restore
hkms audit verify >/dev/null && hkms store check >/dev/null || fail "restored store"
pass "audit tamper cases"
