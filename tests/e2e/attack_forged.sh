#!/bin/bash
# Issue 11 attack (c): reservation files planted by someone who can write
# the data dir (no PIN). Each must be refused or recovered, never followed:
#   - issued/<ca>/<serial>.rsv as a symlink to a file outside, a FIFO,
#     garbage, 10 MB, another user's file, a directory, a dead pid, a
#     live pid with another start time, {"pid":1,"pid_start":0}: recovery
#     (the next normal open) drops them, the link's target is untouched;
#     one naming a live process with its real start time is kept and
#     reported as live;
#   - keys/<name>.json as a symlink, FIFO, garbage, 10 MB, another user's
#     file: key generate refuses with unsafe_path / damaged_record /
#     too_large and destroys nothing;
#   - the record of a finished key (and of a CA's key) edited back into a
#     stale reservation: the next key generate of that name must NOT
#     destroy the real key (its creation is in the audit log); a genuine
#     interrupted creation (crash hook) is still cleaned up;
#   - a key reservation {"pid":1,"pid_start":0} is not taken for a live
#     holder forever.
. "$(dirname "$0")/lib.sh"
need python3 openssl
[ "${HKMS_TEST_HOOKS:-0}" = 1 ] || skip "needs a build with HKMS_TEST_HOOKS"
hkms_setup

hkms ca create root --key-type ec:p256 --subject /CN=Forge-Root >/dev/null || fail "ca create"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/leaf.key" -subj /CN=leaf.forge.example \
	-addext subjectAltName=DNS:leaf.forge.example -out "$T/leaf.csr" 2>/dev/null
hkms ca sign --ca root --profile tls-server --csr "$T/leaf.csr" --out-file /dev/null >/dev/null ||
	fail "first issuance"
D=$T/data/issued/root K=$T/data/keys
echo "outside, must stay" > "$T/outside"; chmod 600 "$T/outside"
START1=$(awk '{print $22}' /proc/1/stat)

# ---- serial reservations ----
ln -s "$T/outside" "$D/AAAA01.rsv"
mkfifo "$D/AAAA02.rsv"
echo garbage > "$D/AAAA03.rsv"
head -c 10000000 /dev/zero > "$D/AAAA04.rsv"
mkdir "$D/AAAA05.rsv"
printf '{"pid":99999999,"pid_start":5}' > "$D/AAAA06.rsv"
printf '{"pid":%d,"pid_start":1}' $$ > "$D/AAAA07.rsv"
printf '{"pid":1,"pid_start":0}' > "$D/AAAA08.rsv"
printf '{"pid":1,"pid_start":%s}' "$START1" > "$D/AAAA09.rsv"
FOREIGN=
if [ "$(id -u)" = 0 ]; then
	printf '{"pid":1,"pid_start":%s}' "$START1" > "$D/AAAA10.rsv"
	chown nobody "$D/AAAA10.rsv" && FOREIGN=1
fi
hkms --json store check > "$T/ro.json" 2>&1 && fail "store check passed with a symlink and a FIFO planted"
grep -q 'AAAA01.rsv: a symbolic link' "$T/ro.json" || fail "store check: symlink .rsv not named: $(cat "$T/ro.json")"
[ -p "$D/AAAA02.rsv" ] && [ -L "$D/AAAA01.rsv" ] || fail "the read-only check changed something"
hkms --json ca issued --ca root > /dev/null || fail "normal open with planted reservations"
for f in 01 02 03 04 06 07 08; do
	[ -e "$D/AAAA$f.rsv" ] || [ -L "$D/AAAA$f.rsv" ] && fail "planted AAAA$f.rsv not recovered"
done
[ -n "$FOREIGN" ] && [ -e "$D/AAAA10.rsv" ] && fail "another user's .rsv was kept as live"
[ "$(cat "$T/outside")" = "outside, must stay" ] || fail "the symlink's target was changed"
[ -e "$D/AAAA09.rsv" ] || fail "a reservation of a live process (pid and start match) was dropped"
rmdir "$D/AAAA05.rsv" 2>/dev/null
hkms --json store check > "$T/check.json" 2>&1 || fail "store check after recovery: $(cat "$T/check.json")"
grep -q 'AAAA09.rsv: reservation of running process 1' "$T/check.json" ||
	fail "the live reservation is not reported: $(cat "$T/check.json")"
rm -f "$D/AAAA09.rsv"
hkms ca sign --ca root --profile tls-server --csr "$T/leaf.csr" --out-file /dev/null >/dev/null ||
	fail "issuance after recovery"
pass "planted serial reservations: dropped (link not followed) or kept only for a live holder"

# ---- key records ----
ln -s "$T/outside" "$K/s1.json"
mkfifo "$K/f1.json"
echo garbage > "$K/g1.json"
{ printf '{"state":"reserved","id":"'; head -c 10000000 /dev/zero | tr '\0' a; printf '"}'; } > "$K/h1.json"
expect_fail unsafe_path hkms key generate s1 --type ec:p256
expect_fail unsafe_path hkms key generate f1 --type ec:p256
expect_fail damaged_record hkms key generate g1 --type ec:p256
expect_fail too_large hkms key generate h1 --type ec:p256
if [ -n "$FOREIGN" ]; then
	printf '{"state":"reserved","id":"686b6d73000000000000aaaa","type":"ec:p256","pid":99999999,"pid_start":1,"schema":1,"name":"o1"}\n' > "$K/o1.json"
	chown nobody "$K/o1.json"
	expect_fail unsafe_path hkms key generate o1 --type ec:p256
fi
[ "$(cat "$T/outside")" = "outside, must stay" ] || fail "a key record link's target was changed"
hkms --json key list > "$T/keys.json" || fail "key list"
python3 - "$T/keys.json" <<'PY' || fail "a refused key name made a token key"
import json, sys
names = {k["name"] for k in json.load(open(sys.argv[1]))}
sys.exit(bool(names & {"s1", "f1", "g1", "h1", "o1"}))
PY
rm -f "$K"/{s1,f1,g1,h1,o1}.json
pass "planted key records: refused, nothing followed or made"

# ---- a finished key's record turned into a stale reservation ----
hkms key generate victim --type ec:p256 >/dev/null || fail "key generate victim"
# keys made for another operation: a self-signed certificate's, a CSR's
hkms cert self-sign nk1 --new-key ec:p256 --subject /CN=nk1.example >/dev/null ||
	fail "cert self-sign --new-key"
hkms csr create nk2 --new-key ec:p256 --subject /CN=nk2.example >/dev/null ||
	fail "csr create --new-key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/imp.pem" 2>/dev/null ||
	fail "openssl genpkey"
hkms key import imp --file "$T/imp.pem" >/dev/null || fail "key import"
forge() {	# forge NAME: the record of a finished key says "interrupted"
	python3 - "$K/$1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r.update(state="reserved", pid=99999999, pid_start=5)
r.pop("origin", None)
open(sys.argv[1], "w").write(json.dumps(r, indent=2, sort_keys=True) + "\n")
PY
}
id_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$K/$1.json"; }
VID=$(id_of victim) RID=$(id_of root) N1=$(id_of nk1) N2=$(id_of nk2)
MID=$(id_of imp)
for k in victim root nk1 nk2 imp; do
	forge $k
	expect_fail key_exists hkms key generate $k --type ec:p256
done
hkms --json key list > "$T/keys.json" || fail "key list"
grep -q "\"$VID\"" "$T/keys.json" || fail "key generate destroyed the real key 'victim' on a forged record"
grep -q "\"$RID\"" "$T/keys.json" || fail "key generate destroyed the CA key on a forged record"
grep -q "\"$N1\"" "$T/keys.json" || fail "key generate destroyed a self-signed certificate's key on a forged record"
grep -q "\"$N2\"" "$T/keys.json" || fail "key generate destroyed a CSR's key on a forged record"
grep -q "\"$MID\"" "$T/keys.json" || fail "key generate destroyed an imported key on a forged record"
# and the forged records are whole again (the audit log says the keys
# were made): the store checks clean
hkms store check > "$T/check.out" 2>&1 || fail "store check after the forged records: $(tail -c 600 "$T/check.out")"
hkms ca sign --ca root --profile tls-server --csr "$T/leaf.csr" --out-file /dev/null >/dev/null ||
	fail "the CA cannot sign after the forged record"
pass "a forged stale reservation of a finished key (generated, imported, a CA's, a certificate's, a CSR's) destroys nothing and is repaired"

# ---- a genuine interrupted creation is still cleaned up ----
HKMS_TEST_CRASH_AT=key_before_commit hkms key generate orphan --type ec:p256 2>/dev/null
[ $? -eq 137 ] || fail "crash hook did not fire"
OID=$(id_of orphan)
hkms key generate orphan --type ec:p256 >/dev/null || fail "key generate after an interrupted creation"
hkms --json key list > "$T/keys.json" || fail "key list"
grep -q "\"$OID\"" "$T/keys.json" && fail "the orphan key of the interrupted creation is still in the token"
[ "$(grep -c '"name": *"orphan"' "$T/keys.json")" = 1 ] || fail "not exactly one key named orphan"
pass "an interrupted creation's orphan is still cleaned up"

# ---- {"pid":1,"pid_start":0} is not a live holder ----
printf '{"state":"reserved","id":"686b6d73000000000000bbbb","type":"ec:p256","pid":1,"pid_start":0,"schema":1,"name":"k0"}\n' > "$K/k0.json"
hkms key generate k0 --type ec:p256 >/dev/null || fail "a reservation without a start time blocks the name forever"
pass "a reservation without a start time does not match a live process"

# ---- a reused pid: the holder's pid runs, but it is another process ----
printf '{"state":"reserved","id":"686b6d73000000000000cccc","type":"ec:p256","pid":%d,"pid_start":1,"schema":1,"name":"k1"}\n' $$ > "$K/k1.json"
hkms key generate k1 --type ec:p256 >/dev/null || fail "a reservation of a reused pid blocks the name"
# and a live holder (pid and start time match) keeps it
printf '{"state":"reserved","id":"686b6d73000000000000dddd","type":"ec:p256","pid":1,"pid_start":%s,"schema":1,"name":"k9"}\n' "$START1" > "$K/k9.json"
expect_fail key_exists hkms key generate k9 --type ec:p256
expect_fail key_in_use hkms key delete k9
rm -f "$K/k9.json"
pass "a reused pid is not the holder; a live holder keeps its name"
