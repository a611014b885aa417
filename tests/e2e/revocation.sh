#!/bin/bash
# Revocation everywhere (issue 14a), hkms CAs: issue -> revoke -> `cert
# show` and `cert list` say revoked (reason, time, which CA) at once;
# `trust verify` fails with certificate_revoked naming the revocation
# index, for a revoked leaf and for a leaf under a revoked intermediate;
# --revocation off skips the check; an unrevoked sibling still verifies.
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup
cd "$T"

hkms ca create root --key-type ec:p256 --subject "/CN=Rev Root" --out-file root.pem >/dev/null ||
	fail "ca root"
hkms ca create inter --key-type ec:p256 --subject "/CN=Rev Inter" --parent root \
	--out-file inter.pem >/dev/null || fail "ca inter"
hkms trust import root --file root.pem >/dev/null || fail "trust import"
leaf() {	# leaf NAME: a token key, a CSR, signed by inter, kept as record NAME
	hkms csr create "$1" --new-key ec:p256 --subject "/CN=$1.example.com" \
		--san "DNS:$1.example.com" --out-file "$1.csr" >/dev/null || fail "csr $1"
	hkms --json ca sign --ca inter --profile tls-server --csr "$1.csr" \
		--out-file "$1.chain.pem" > "$1.json" || fail "sign $1"
	hkms cert import "$1" --file "$1.chain.pem" >/dev/null || fail "cert import $1"
}
leaf web
leaf api
sweb=$(jget serial < web.json)

[ "$(hkms --json cert show web | jget status)" = valid ] || fail "web not valid before"
hkms --json trust verify --chain web.chain.pem --host web.example.com > v1.json ||
	fail "web does not verify: $(cat v1.json)"
python3 - v1.json <<'PY' || fail "revocation of the path: $(cat v1.json)"
import json, sys
r = json.load(open(sys.argv[1]))
p = r["path"]
assert p[0]["revocation"] == {"status": "good", "source": "index", "ca": "inter",
    "serial": p[0]["revocation"]["serial"]}, p[0]
assert p[1]["revocation"]["status"] == "good" and p[1]["revocation"]["ca"] == "root", p[1]
assert p[2]["revocation"]["status"] == "not_checked", p[2]
assert r["revocation"]["hkms_cas"] == "require" and r["revocation"]["warnings"] == [], r
PY
pass "before: cert show valid; trust verify good for every certificate (index of inter, of root)"

hkms ca revoke --ca inter --serial "$sweb" --reason keyCompromise >/dev/null || fail "revoke web"
hkms --json cert show web > show.json || fail "cert show"
python3 - show.json <<'PY' || fail "cert show after revoke: $(cat show.json)"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["status"] == "revoked" and o["reason"] == "keyCompromise" and o["revoked_by"] == "inter", o
assert o["revoked_at"].endswith("Z"), o
PY
hkms cert show web | grep -q "^status  *revoked" || fail "human cert show"
hkms --json cert list | python3 -c 'import json,sys
rows = {r["name"]: r for r in json.load(sys.stdin)}
assert rows["web"]["status"] == "revoked" and rows["web"]["reason"] == "keyCompromise", rows["web"]
assert rows["api"]["status"] == "valid" and rows["inter"]["status"] == "valid", rows' ||
	fail "cert list after revoke"
hkms cert list | grep -q "^web  *certificate  *revoked" || fail "human cert list"
pass "after revoke: cert show and cert list say revoked, reason, time, CA"

out=$(hkms --json trust verify --chain web.chain.pem --host web.example.com 2>err.txt) &&
	fail "revoked leaf verified"
grep -q '"code":"certificate_revoked"' err.txt || fail "code: $(cat err.txt)"
grep -q "according to the revocation index of CA 'inter'" err.txt || fail "index not named: $(cat err.txt)"
grep -q "$sweb" err.txt && grep -q keyCompromise err.txt || fail "serial/reason not named"
echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin)
assert r["ok"] is False and r["error"]["depth"] == 0 and "trusted_by" not in r
assert r["error"]["revocation"]["source"] == "index"' || fail "verdict: $out"
hkms trust verify --chain web.chain.pem --host web.example.com --revocation off >/dev/null ||
	fail "--revocation off still refuses"
hkms trust verify --chain api.chain.pem --host api.example.com >/dev/null || fail "api refused"
expect_fail usage hkms trust verify --chain api.chain.pem --revocation sometimes
pass "trust verify: revoked leaf refused naming the index; off skips; sibling verifies"

# the intermediate revoked by the root: every leaf under it fails at depth 1
sinter=$(openssl x509 -in inter.pem -noout -serial | cut -d= -f2)
hkms ca revoke --ca root --serial "$sinter" --reason cACompromise >/dev/null || fail "revoke inter"
out=$(hkms --json trust verify --chain api.chain.pem --host api.example.com 2>err.txt) &&
	fail "leaf under a revoked CA verified"
echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin)
assert r["error"]["code"] == "certificate_revoked" and r["error"]["depth"] == 1, r["error"]' ||
	fail "not refused at depth 1: $out"
grep -q "revocation index of CA 'root'" err.txt || fail "root index not named"
[ "$(hkms --json cert show inter | jget status)" = revoked ] || fail "cert show inter"
[ "$(hkms --json ca show inter | jget revoked_by)" = root ] || fail "ca show inter"
hkms --json ca list | python3 -c 'import json,sys
rows = {r["name"]: r["status"] for r in json.load(sys.stdin)}
assert rows == {"root": "valid", "inter": "revoked"}, rows' || fail "ca list"
pass "a revoked intermediate: leaves under it fail at depth 1; cert show, ca show, ca list say revoked"
hkms audit verify >/dev/null || fail "audit verify"
