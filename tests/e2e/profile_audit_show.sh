#!/bin/bash
# hkms profile list|show and hkms audit show: the read-only listings the
# API serves as GET /v1/profiles and GET /v1/audit. A custom profile file
# shows up; audit pages follow each other without a gap or an overlap and
# cover every line audit verify checks.
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup

hkms --json profile list > "$T/p.json" || fail "profile list"
python3 - "$T/p.json" <<'PY' || fail "built-in profiles"
import json, sys
rows = json.load(open(sys.argv[1]))
names = [r["name"] for r in rows]
assert names[:2] == ["tls-server", "tls-client"], names
assert all(r["builtin"] for r in rows), rows
PY
mkdir -p "$T/data/profiles"
cat > "$T/data/profiles/short-web.json" <<'JSON'
{"extended_key_usage": ["serverAuth"], "default_days": 30, "max_days": 90}
JSON
hkms --json profile show short-web > "$T/s.json" || fail "profile show custom"
[ "$(jget builtin < "$T/s.json")" = false ] || fail "custom profile builtin"
[ "$(jget default_days < "$T/s.json")" = 30 ] || fail "custom default_days"
hkms --json profile list | grep -q '"short-web"' || fail "custom not listed"
expect_fail unknown_profile hkms profile show nothing
echo '{"default_days":' > "$T/data/profiles/broken.json"
expect_fail invalid_profile hkms profile list
rm "$T/data/profiles/broken.json"
pass "profile list/show"

# some audited work, then page through the log 3 lines at a time
for i in 1 2 3 4 5; do
	hkms key generate "k$i" --type ec:p256 >/dev/null || fail "key $i"
done
since=0; all=0; last=0
while :; do
	hkms --json audit show --since "$since" --limit 3 > "$T/a.json" ||
		fail "audit show --since $since"
	read -r n first lastseq next < <(python3 - "$T/a.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
s = [l["seq"] for l in p["lines"]]
assert s == sorted(s) and len(s) <= 3, s
print(len(s), s[0] if s else -1, s[-1] if s else -1,
      p["next"] if p["next"] is not None else "end")
PY
) || fail "page shape"
	[ "$n" -eq 0 ] || [ "$first" -gt "$last" ] || fail "pages overlap"
	[ "$n" -eq 0 ] || last=$lastseq
	all=$((all + n))
	[ "$next" = end ] && break
	since=$next
done
lines=$(grep -c . "$T/data/audit.log")
[ "$all" -eq "$lines" ] || fail "pages hold $all lines, the log $lines"
hkms audit show --since 999999 | grep -q . && fail "lines past the end"
expect_fail usage hkms audit show --limit 0
hkms audit verify >/dev/null || fail "audit verify"
pass "audit show pages ($all lines)"
