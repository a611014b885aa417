#!/bin/bash
# Per-CA signing policy: allowed DNS names (exact, .suffix, wildcard or
# not), IP ranges, lifetime, key types and sizes, profiles, with per-
# profile overrides. Each refusal is "policy_violation" naming the rule,
# writes no certificate, and is audited; a bad policy file is refused
# naming the field.
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup
cd "$T"

count() { hkms --json ca issued --ca "$1" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
mkcsr() {	# mkcsr NAME SUBJECT SAN [newkey args...]
	local n=$1 s=$2 san=$3; shift 3
	local args=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
	[ $# -gt 0 ] && args=("$@")
	if [ -n "$san" ]; then
		openssl req -new "${args[@]}" -nodes -keyout "$n.key" -subj "$s" \
			-addext "subjectAltName=$san" -out "$n.csr" 2>/dev/null
	else
		openssl req -new "${args[@]}" -nodes -keyout "$n.key" -subj "$s" \
			-out "$n.csr" 2>/dev/null
	fi || fail "csr $n"
}
# refuse RULE_TEXT CMD...: policy_violation whose message names the rule
refuse() {
	local rule=$1; shift
	"$@" >/dev/null 2>err.json && fail "accepted: $*"
	grep -q '"code":"policy_violation"' err.json || fail "not policy_violation: $(cat err.json)"
	grep -qF -- "$rule" err.json || fail "message does not name '$rule': $(cat err.json)"
}

hkms ca create root --key-type ec:p256 --subject /CN=Root >/dev/null || fail root
hkms ca create pol --key-type ec:p256 --subject /CN=Pol --parent root >/dev/null || fail pol
[ "$(hkms --json ca policy pol | jget policy)" = None ] || [ "$(hkms --json ca policy pol | jget policy)" = null ] ||
	fail "new CA has a policy"

cat > policy.json <<'P'
{
  "description": "web servers in example.com, clients by mail domain",
  "allow_profiles": ["tls-server", "tls-client"],
  "allow_dns": [".example.com", "example.com"],
  "allow_wildcard": false,
  "allow_ip": ["10.0.0.0/8", "fd00::/8"],
  "max_days": 90,
  "allow_key_types": ["rsa", "ec"],
  "min_rsa_bits": 3072,
  "allow_ec_curves": ["p256", "p384"],
  "profiles": {
    "tls-client": { "allow_dns": [], "allow_email": ["@example.com"], "max_days": 365 }
  }
}
P
hkms ca policy pol --file policy.json >/dev/null || fail "set policy"
hkms --json ca policy pol > got.json || fail "show policy"
python3 -c 'import json,sys; a=json.load(open("policy.json")); b=json.load(open("got.json"))["policy"]; sys.exit(a!=b)' ||
	fail "policy read back differs"
grep -q '"op":"ca.policy"' data/audit.log || fail "policy change not audited"

# inside the policy: issued, lifetime cut to max_days
mkcsr good "/CN=www.example.com" "DNS:www.example.com,DNS:example.com,IP:10.1.2.3,IP:fd00::1"
hkms --json ca sign --ca pol --profile tls-server --csr good.csr --out-file good.pem > good.json ||
	fail "good request refused: $(cat good.json)"
openssl x509 -in good.pem -noout -enddate > end.txt
python3 - good.json <<'PY' || fail "default lifetime not cut to max_days"
import json, sys, datetime
d = json.load(open(sys.argv[1]))
nb = datetime.datetime.strptime(d["not_before"], "%Y-%m-%dT%H:%M:%SZ")
na = datetime.datetime.strptime(d["not_after"], "%Y-%m-%dT%H:%M:%SZ")
days = (na - nb).total_seconds() / 86400
assert 89.9 < days <= 90.01, days
PY
mkcsr rsa3 "/CN=r.example.com" "DNS:r.example.com" -newkey rsa:3072
hkms ca sign --ca pol --profile tls-server --csr rsa3.csr --out-file /tmp/$$.x >/dev/null ||
	fail "rsa 3072 refused"
rm -f /tmp/$$.x
pass "requests inside the policy are signed (lifetime cut to max_days)"

n0=$(count pol)
lines0=$(wc -l < data/audit.log)
mkcsr evil "/CN=www.example.com" "DNS:www.example.com,DNS:evil.com"
refuse "dns name 'evil.com' not allowed by rule allow_dns=[.example.com,example.com]" \
	hkms ca sign --ca pol --profile tls-server --csr evil.csr
mkcsr cn "/CN=evil.com" "DNS:www.example.com"
refuse "dns name 'evil.com' (common name) not allowed by rule allow_dns" \
	hkms ca sign --ca pol --profile tls-server --csr cn.csr
mkcsr wild "/CN=w.example.com" "DNS:*.example.com"
refuse "wildcard name '*.example.com' not allowed by rule allow_wildcard=false" \
	hkms ca sign --ca pol --profile tls-server --csr wild.csr
mkcsr ip "/CN=i.example.com" "DNS:i.example.com,IP:192.168.1.1"
refuse "ip address '192.168.1.1' not allowed by rule allow_ip=[10.0.0.0/8,fd00::/8]" \
	hkms ca sign --ca pol --profile tls-server --csr ip.csr
mkcsr ip6 "/CN=i.example.com" "DNS:i.example.com,IP:2001:db8::1"
refuse "ip address '2001:db8::1' not allowed by rule allow_ip" \
	hkms ca sign --ca pol --profile tls-server --csr ip6.csr
mkcsr rsa2 "/CN=r.example.com" "DNS:r.example.com" -newkey rsa:2048
refuse "rsa key of 2048 bits not allowed by rule min_rsa_bits=3072" \
	hkms ca sign --ca pol --profile tls-server --csr rsa2.csr
mkcsr p521 "/CN=p.example.com" "DNS:p.example.com" -newkey ec -pkeyopt ec_paramgen_curve:P-521
refuse "ec curve p521 not allowed by rule allow_ec_curves=[p256,p384]" \
	hkms ca sign --ca pol --profile tls-server --csr p521.csr
refuse "lifetime of 91 days not allowed by rule max_days=90" \
	hkms ca sign --ca pol --profile tls-server --csr good.csr --days 91
refuse "profile 'code-signing' not allowed by rule allow_profiles=[tls-server,tls-client]" \
	hkms ca sign --ca pol --profile code-signing --csr good.csr
refuse "dns name 'evil.com' not allowed by rule allow_dns" \
	hkms ca sign --ca pol --profile tls-server --csr good.csr --san DNS:evil.com
refuse "dns name 'www.example.com' (common name) not allowed by rule profiles.tls-client.allow_dns=[]" \
	hkms ca sign --ca pol --profile tls-client --csr good.csr
# the client override: mail addresses of the domain, a year
mkcsr mail "/CN=alice" "email:alice@example.com"
hkms ca sign --ca pol --profile tls-client --csr mail.csr --days 365 --out-file mail.pem >/dev/null ||
	fail "client inside its profile rules refused"
mkcsr mail2 "/CN=mallory" "email:mallory@evil.com"
refuse "email 'mallory@evil.com' not allowed by rule profiles.tls-client.allow_email=[@example.com]" \
	hkms ca sign --ca pol --profile tls-client --csr mail2.csr
# issue-client goes through the same policy
printf 'a-long-enough-pass\n' > pass; chmod 600 pass
refuse "dns name 'evil.com' (common name) not allowed by rule profiles.tls-client.allow_dns=[]" \
	hkms ca issue-client --ca pol --subject /CN=evil.com --out-file c.p12 --passphrase-file pass
[ -e c.p12 ] && fail "refused client left a PKCS#12"
[ "$(count pol)" = $((n0 + 1)) ] || fail "refused requests changed the issued index"
python3 - "$lines0" <<'PY' || fail "refusals not audited as errors"
import json, sys
lines = open("data/audit.log").read().splitlines()[int(sys.argv[1]):]
ops = [json.loads(l) for l in lines]
refused = [o for o in ops if o["result"] == "error"]
assert len(refused) == 13, len(refused)
assert all(o["detail"]["error"] == "policy_violation" for o in refused)
PY
pass "each rule refuses with policy_violation naming it; nothing issued, all audited"

# bad policy files: refused naming the field, the old policy stays
for bad in '{"allow_dns": [".example.com"], "alow_ip": []}|alow_ip: unknown field' \
	'{"allow_ip": ["10.0.0.1/8"]}|allow_ip: invalid entry' \
	'{"max_days": 0}|max_days: must be an integer 1..36500' \
	'{"min_rsa_bits": 1024}|min_rsa_bits' \
	'{"allow_ec_curves": ["p192"]}|allow_ec_curves: invalid entry' \
	'{"profiles": {"tls-server": {"allow_dns": "x"}}}|profiles.tls-server.allow_dns' \
	'{"allow_dns": ["bad_name.example.com"]}|allow_dns: invalid entry' \
	'[1,2]|not a JSON object' 'not json|invalid policy: line 1'; do
	printf '%s' "${bad%%|*}" > bad.json
	hkms ca policy pol --file bad.json 2>err.json >/dev/null && fail "accepted ${bad%%|*}"
	grep -q '"code":"invalid_policy"' err.json || fail "code: $(cat err.json)"
	grep -qF -- "${bad#*|}" err.json || fail "message for ${bad%%|*}: $(cat err.json)"
done
hkms --json ca policy pol > got2.json
cmp -s <(python3 -c 'import json; print(json.load(open("got.json")))') \
	<(python3 -c 'import json; print(json.load(open("got2.json")))') || fail "bad file changed the policy"
pass "invalid policy files refused naming the field; policy unchanged"

# clear: the same request now passes
hkms ca policy pol --clear >/dev/null || fail "clear"
hkms ca sign --ca pol --profile tls-server --csr evil.csr --out-file evil.pem >/dev/null ||
	fail "policy cleared but still refused"
expect_fail ca_not_found hkms ca policy nope --file policy.json
hkms audit verify >/dev/null || fail "audit chain"
pass "clear removes the policy"
