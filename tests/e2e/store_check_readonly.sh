#!/bin/bash
# `hkms store check` is read-only (docs/store.md): on a data dir with what
# a crash leaves (temp files, a staged PEM its record names, a staged PEM
# it does not), it reports what recovery would do under would_recover and
# changes nothing: every file's checksum, every entry's type, mode, size
# and mtime are identical before and after (SoftHSM2's object files under
# token/tokens/ excepted: the module rewrites them on login), and no lock
# file is created.
# The next normal command then runs the recovery it announced.
. "$(dirname "$0")/lib.sh"
need python3 sha256sum find
hkms_setup
cd "$T"
D=$T/data

hkms key generate k --type ec:p256 >/dev/null || fail "key generate"
hkms cert self-sign s1 --key k --subject /CN=s1 >/dev/null || fail "self-sign"
hkms ca create root --key-type ec:p256 --subject /CN=Root >/dev/null ||
	fail "ca create"
# a crash between the JSON commit and the PEM rename: finished on open
mv "$D/certs/s1.pem" "$D/certs/s1.pem.next"
# a crash before the JSON commit: dropped on open
echo "not the recorded PEM" >"$D/cas/root.pem.next"
# temp files of interrupted atomic writes
echo '{"half":' >"$D/certs/s2.json.tmp.4242.0badf00d"
echo junk >"$D/cas/root.json.tmp.4242.00c0ffee"
# no lock files: store check must not create them
rm -f "$D/.lock" "$D/.audit.lock"

# Everything but SoftHSM2's own object files: store check logs in to the
# token to compare its keys with the key records, and SoftHSM2 rewrites
# token/tokens/*/token.object on a login (the module's doing, not hkms').
state() {
	(cd "$D" && find . -path ./token/tokens/\* -prune -o \
		-printf '%p %y %m %s %T@\n' | sort &&
		find . -path ./token/tokens/\* -prune -o -type f -print0 |
		sort -z | xargs -0 sha256sum)
}
before=$(state)
hkms --json store check >check.json || fail "store check: $(cat check.json)"
after=$(state)
[ "$before" = "$after" ] || {
	diff <(echo "$before") <(echo "$after") >&2
	fail "store check changed the data dir"
}
python3 - check.json <<'EOF' || fail "would_recover is incomplete: $(cat check.json)"
import json, sys
r = json.load(open(sys.argv[1]))
w = r["would_recover"]
def has(*parts):
    return any(all(p in x for p in parts) for x in w)
assert r["ok"] is True, r
assert has("certs/s2.json.tmp.4242.0badf00d", "removed"), w
assert has("cas/root.json.tmp.4242.00c0ffee", "removed"), w
assert has("certs/s1.pem.next", "finished"), w
assert has("cas/root.pem.next", "dropped"), w
assert len(w) == 4, w
EOF
for f in .lock .audit.lock; do
	[ -e "$D/$f" ] && fail "store check created $f"
done
pass "store check reports 4 recovery steps and changes nothing (checksums, modes, mtimes)"

# the next normal command recovers exactly that
hkms cert list >/dev/null || fail "cert list"
[ -e "$D/certs/s2.json.tmp.4242.0badf00d" ] && fail "temp file not removed"
[ -e "$D/cas/root.json.tmp.4242.00c0ffee" ] && fail "temp file not removed"
[ -e "$D/cas/root.pem.next" ] && fail "unnamed staged PEM not dropped"
[ -e "$D/certs/s1.pem" ] && [ ! -e "$D/certs/s1.pem.next" ] ||
	fail "named staged PEM not finished"
hkms cert export s1 | openssl x509 -noout || fail "s1 not whole after recovery"
hkms --json store check >check2.json || fail "store check after recovery"
[ "$(jget would_recover <check2.json)" = "[]" ] ||
	fail "still something to recover: $(cat check2.json)"
pass "the next command ran the announced recovery; store check is then clean"
