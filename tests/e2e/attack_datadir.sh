#!/bin/bash
# The data dir's contents are ours or refused, like the data dir itself: a
# record, log or kind dir owned by another user, or writable by group or
# others, is refused with the path named (never trusted); a file written in
# place (audit.log, trust/changes.log, lock files) with a second hard link
# (to a file outside the data dir: O_NOFOLLOW does not see hard links) is
# refused and nothing is written through it; `init` makes nothing inside a
# directory of another user before refusing the data dir. Needs root.
. "$(dirname "$0")/lib.sh"
need python3
[ "$(id -u)" = 0 ] || skip "needs root (chown nobody)"
hkms_setup
D=$T/data
hkms key generate k --type ec:p256 >/dev/null || fail "generate"
hkms cert self-sign c --key k --subject /CN=c.example --san DNS:c.example >/dev/null ||
	fail "self-sign"
refused() { # WHAT PATH CMD...: CMD fails with unsafe_path naming PATH
	local what=$1 path=$2; shift 2
	local out
	out=$("$@" 2>&1 >/dev/null) && fail "$what: '$*' succeeded"
	echo "$out" | grep -q '"code":"unsafe_path"' || fail "$what: '$*': $out"
	echo "$out" | grep -qF "$path" || fail "$what: '$*' does not name $path: $out"
}

# ---- 1. foreign owner / writable mode: records and kind dirs ----
chown nobody "$D/certs/c.json"
refused "record owned by nobody" "$D/certs/c.json" hkms cert show c
out=$(hkms store check 2>&1) && fail "store check passes a record owned by nobody"
echo "$out" | grep -q "refusing '$D/certs/c.json': not owned" || fail "store check: $out"
chown root "$D/certs/c.json"
chmod 0660 "$D/certs/c.json"
refused "group-writable record" "$D/certs/c.json" hkms cert show c
chmod 0600 "$D/certs/c.json"
chown nobody "$D/certs"; chmod 0755 "$D/certs"
refused "kind dir owned by nobody" "$D/certs" hkms cert list
refused "kind dir owned by nobody" "$D/certs" hkms cert self-sign c2 --key k --subject /CN=c2
[ -e "$D/certs/c2.json" ] && fail "a record was written into a foreign kind dir"
chown root "$D/certs"; chmod 0700 "$D/certs"
chmod 0777 "$D/keys"
refused "world-writable kind dir" "$D/keys" hkms key generate k2 --type ec:p256
chmod 0700 "$D/keys"
hkms cert show c >/dev/null || fail "cert show after the repairs"
pass "records and kind dirs owned by another user or writable by others: refused, path named"

# ---- 2. hard links to files outside the data dir ----
echo "precious" > "$T/outside"
for f in audit.log .lock .audit.lock; do
	[ -e "$D/$f" ] || fail "no $D/$f to replace"
	rm -f "$D/$f"; ln "$T/outside" "$D/$f"
	refused "$f hard-linked" "$D/$f" hkms cert self-sign "h${f//./}" --key k --subject /CN=h
	[ -e "$D/certs/h${f//./}.json" ] && fail "a certificate was recorded with $f refused"
	[ "$(cat "$T/outside")" = precious ] || fail "written through the hard link $f"
	rm -f "$D/$f"
done
pass "audit.log and lock files with a second hard link: refused, nothing written through them"

# ---- 3. init makes nothing inside another user's directory ----
mkdir "$T/home"; chown nobody "$T/home"; chmod 0755 "$T/home"
out=$(env -u HKMS_DATA_DIR -u HKMS_CONFIG HOME=$T/home "$HKMS_BIN" init 2>&1 >/dev/null) &&
	fail "init under a foreign HOME succeeded"
echo "$out" | grep -q '"code":"unsafe_path"' || fail "init under a foreign HOME: $out"
[ -z "$(ls -A "$T/home")" ] || fail "init made $(ls -A "$T/home") in a foreign HOME before refusing"
mkdir -m 0777 "$T/open"
# HKMS_CONFIG (an existing config) would name the data dir, as for every command
out=$(env -u HKMS_CONFIG HKMS_DATA_DIR=$T/open/a/data "$HKMS_BIN" init 2>&1 >/dev/null) && fail "init under a 0777 dir succeeded"
[ -z "$(ls -A "$T/open")" ] || fail "init made $(ls -A "$T/open") in a world-writable dir"
mkdir -m 1777 "$T/sticky"
env -u HKMS_CONFIG HKMS_DATA_DIR=$T/sticky/data "$HKMS_BIN" init >/dev/null || fail "init under a sticky dir (as /tmp)"
pass "init: nothing made in a foreign or world-writable dir before refusing; a sticky parent is fine"
exit 0
