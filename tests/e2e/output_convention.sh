#!/bin/bash
# One output convention across verbs (issue 13b): with --out-file every
# verb writes the file and prints the same written record (out_file,
# bytes = the file's size, format): key: value lines for people, JSON
# with --json; nested values are indented keys, never a JSON blob (ca
# create, ca policy); ca policy is a table and --clear says none; store
# check prints its report the same way on success and failure and does
# not warn about the CRLs hkms published; every error on stderr is exactly
# one JSON object (no getopt line), for bad options of several verbs;
# init honours HKMS_CONFIG.
. "$(dirname "$0")/lib.sh"
need jq
hkms_setup
hkms() { "$HKMS_BIN" "$@"; }
cd "$T"
hkms key generate k --type ec:p256 >/dev/null || fail "generate"
hkms ca create root --key-type ec:p256 --subject /CN=Root --permit-dns .example.com > ca.txt || fail "ca create"
grep -q '^permit_dns  *\.example\.com$' ca.txt || fail "ca create: permit_dns not a plain value: $(grep permit ca.txt)"
grep -q '[{]"' ca.txt && fail "ca create prints a JSON blob in its table: $(grep '[{]"' ca.txt)"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout m.key -subj /CN=m.example.com \
	-out m.csr 2>/dev/null

# the written record: same keys for every verb, bytes = file size
check_written() {	# FILE FORMAT OUTPUT(json)
	local sz
	sz=$(stat -c %s "$1")
	jq -e --arg f "$1" --arg fmt "$2" --argjson sz "$sz" \
		'.out_file == $f and .bytes == $sz and .format == $fmt and (has("pem") | not)' "$3" >/dev/null ||
		fail "$1: not the written record: $(cat "$3")"
}
hkms --json csr create c1 --key k --subject /CN=a.example.com --out-file c1.csr > o1.json || fail "csr create"
check_written c1.csr pem o1.json; openssl req -in c1.csr -noout 2>/dev/null || fail "c1.csr"
hkms --json cert self-sign s1 --key k --subject /CN=a.example.com --out-file s1.pem > o2.json || fail "self-sign"
check_written s1.pem pem o2.json; openssl x509 -in s1.pem -noout || fail "s1.pem"
hkms --json cert export s1 --format der --out-file s1.der > o3.json || fail "export"
check_written s1.der der o3.json; openssl x509 -inform DER -in s1.der -noout || fail "s1.der"
hkms --json ca sign --ca root --profile tls-server --csr m.csr --out-file m.pem > o4.json || fail "ca sign"
check_written m.pem pem o4.json; openssl verify -CAfile <(hkms cert export root) m.pem >/dev/null || fail "m.pem"
hkms --json ca crl --ca root --out-file root.crl > o5.json || fail "ca crl"
check_written root.crl pem o5.json; openssl crl -in root.crl -noout || fail "root.crl"
hkms trust import peer --file s1.pem >/dev/null || fail "trust import"
hkms --json trust export peer --out-file peer.pem > o6.json || fail "trust export"
check_written peer.pem pem o6.json
# for people: the same record as key: value lines
hkms cert export s1 --out-file s1b.pem > o7.txt || fail "export (table)"
grep -q "^out_file  *s1b.pem$" o7.txt && grep -q "^bytes  *$(stat -c %s s1b.pem)$" o7.txt ||
	fail "export prints no written record: $(cat o7.txt)"
hkms csr create c2 --key k --subject /CN=b.example.com --out-file c2.csr > o8.txt || fail "csr (table)"
grep -q "^out_file  *c2.csr$" o8.txt || fail "csr create prints another record: $(cat o8.txt)"
pass "--out-file: csr create, cert self-sign, cert export, ca sign, ca crl, trust export print one written record"

# ca policy: a table; --clear says none (not null)
printf '{"max_days": 90}' > pol.json
hkms ca policy root --file pol.json > p1.txt || fail "policy set"
grep -q '^max_days  *90$' p1.txt || fail "policy is not a table: $(cat p1.txt)"
hkms --json ca policy root | jq -e '.policy.max_days == 90' >/dev/null || fail "policy --json"
hkms ca policy root --clear > p2.txt || fail "policy clear"
grep -qx null p2.txt && fail "--clear prints null"
grep -q '^policy  *none' p2.txt || fail "--clear: $(cat p2.txt)"
pass "ca policy prints a table, --clear says none, --json the document"

# store check: no warning for published CRLs; the same table on failure
[ -f data/crl/root.crl.pem ] || fail "no published CRL"
hkms --json store check > sc.json || fail "store check: $(cat sc.json)"
jq -e '.warnings | map(select(test("crl"))) | length == 0' sc.json >/dev/null ||
	fail "store check warns about hkms's own CRL: $(jq -c .warnings sc.json)"
hkms store check > sc.txt || fail "store check (table)"
grep -q '^ok  *true$' sc.txt || fail "store check table: $(head -3 sc.txt)"
echo junk > data/certs/s1.json
hkms store check > sc2.txt 2> sc2.err && fail "store check passes a broken record"
grep -q '^ok  *false$' sc2.txt || fail "failed store check does not print its table: $(head -c 300 sc2.txt)"
[ "$(wc -l < sc2.err)" = 1 ] && jq -e .error.code sc2.err >/dev/null || fail "store check stderr: $(cat sc2.err)"
hkms --json store check > sc3.json 2>/dev/null; jq -e '.ok == false' sc3.json >/dev/null || fail "failed --json report"
pass "store check: one table (or --json) on success and failure; no warning for published CRLs"

# every error on stderr is exactly one JSON object
for cmd in "cert list --bogus" "ca create x --nope" "key generate -Z" "--what init" "trust list --x=1" \
	"ca sign --ca" "profile show"; do
	# shellcheck disable=SC2086
	hkms $cmd > /dev/null 2> err.txt && fail "hkms $cmd succeeded"
	[ "$(wc -l < err.txt)" = 1 ] && jq -e '.error.code and .error.message' err.txt >/dev/null ||
		fail "hkms $cmd: stderr is not one JSON object: $(cat err.txt)"
done
pass "errors of bad options are one JSON object on stderr, no getopt line"

# init honours HKMS_CONFIG (and --config)
mkdir -m 700 etc
HKMS_CONFIG=$T/etc/hkms.conf hkms --json init --data-dir "$T/d2" --no-admin-client > i1.json || fail "init with HKMS_CONFIG"
jq -e --arg c "$T/etc/hkms.conf" '.config == $c' i1.json >/dev/null || fail "init wrote its config elsewhere: $(cat i1.json)"
[ -f etc/hkms.conf ] && [ ! -e d2/hkms.conf ] || fail "config not at HKMS_CONFIG"
[ -d d2/profiles ] || fail "init made no profiles/"
HKMS_CONFIG=$T/etc/hkms.conf hkms --json key generate k2 --type ec:p256 >/dev/null || fail "the config init wrote does not work"
HKMS_CONFIG=$T/etc/hkms.conf hkms --json init --no-admin-client > i2.json || fail "init again"
jq -e --arg d "$T/d2" '.data_dir == $d and .created == false' i2.json >/dev/null || fail "init again took another dir: $(cat i2.json)"
hkms --config "$T/etc/hkms.conf" init --data-dir "$T/d3" > /dev/null 2> i3.err && fail "init accepted a data dir the config does not name"
jq -e '.error.message | test("not the data dir")' i3.err >/dev/null || fail "conflict: $(cat i3.err)"
pass "init writes its config at HKMS_CONFIG, reads the data dir from an existing one, makes profiles/"
