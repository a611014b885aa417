#!/bin/bash
# Bad input to the CA verbs (T-POL-1, T-CRY-3): each is a clear JSON error
# with a stable code and a non-zero exit, and nothing is written — the
# issued and revoked indexes, CRLs and CA records stay byte for byte, and
# the only trace is an audit line with result "error".
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup
cd "$T"

hkms ca create root --key-type ec:p256 --subject /CN=Root >/dev/null || fail root
hkms ca create inter --key-type ec:p256 --subject /CN=Inter --parent root --days 30 \
	>/dev/null || fail inter
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ok.key \
	-subj /CN=ok.example.com -addext subjectAltName=DNS:ok.example.com -out ok.csr \
	2>/dev/null || fail csr
hkms --json ca sign --ca inter --profile tls-server --csr ok.csr --out-file ok.pem > ok.json ||
	fail "baseline sign"
serial=$(jget serial < ok.json)
hkms ca revoke --ca inter --serial "$serial" >/dev/null || fail "baseline revoke"
hkms ca crl --ca inter --out-file crl0.pem >/dev/null || fail "baseline crl"

# a CSR whose signature does not verify: flip a byte of the signature
openssl req -in ok.csr -outform DER -out ok.der
python3 -c 'import sys; d=bytearray(open("ok.der","rb").read()); d[-3]^=1; open("badsig.der","wb").write(d)'
openssl req -new -newkey rsa:1024 -nodes -keyout weak.key -subj /CN=weak.example.com \
	-out weak.csr 2>/dev/null || fail "rsa 1024 csr"
openssl req -new -key ok.key -sha1 -subj /CN=sha1.example.com -out sha1.csr 2>/dev/null ||
	fail "sha1 csr"
printf 'garbage\n' > garbage.csr
{ cat ok.csr; echo junk; } > trailing.csr
head -c $((1024 * 1024 + 10)) /dev/zero > big.csr

state() { (cd data && find issued revoked crl cas certs -type f -exec sha256sum {} + | sort); }
state > before.txt
lines0=$(wc -l < data/audit.log)
n=0
bad() {	# bad CODE ARGS...: hkms ARGS fails with CODE
	local code=$1; shift
	expect_fail "$code" hkms "$@"
	n=$((n + 1))
}
bad bad_csr_signature ca sign --ca inter --profile tls-server --csr badsig.der
bad weak_key ca sign --ca inter --profile tls-server --csr weak.csr
bad weak_digest ca sign --ca inter --profile tls-server --csr sha1.csr
bad bad_csr ca sign --ca inter --profile tls-server --csr garbage.csr
bad bad_csr ca sign --ca inter --profile tls-server --csr trailing.csr
bad bad_csr ca sign --ca inter --profile tls-server --csr big.csr
bad lifetime_exceeds_ca ca sign --ca inter --profile tls-server --csr ok.csr --days 60
bad unknown_profile ca sign --ca inter --profile no-such-profile --csr ok.csr
bad invalid_profile ca sign --ca inter --profile intermediate-ca --csr ok.csr
bad invalid_profile ca sign --ca inter --profile ca --csr ok.csr
bad invalid_san ca sign --ca inter --profile tls-server --csr ok.csr --san "DNS:bad_name"
bad invalid_subject ca sign --ca inter --profile tls-server --csr ok.csr --subject "/XX=1"
bad bad_format ca sign --ca inter --profile tls-server --csr ok.csr --format der
bad ca_not_found ca sign --ca nope --profile tls-server --csr ok.csr
bad already_revoked ca revoke --ca inter --serial "$serial" --reason keyCompromise
bad not_found ca revoke --ca inter --serial 1234
bad invalid_argument ca revoke --ca inter --serial "$serial" --reason removeFromCRL
bad ca_not_found ca crl --ca nope
bad ca_exists ca create inter --key-type ec:p256 --subject /CN=x
bad unknown_key_type ca create x1 --key-type dsa:1024 --subject /CN=x
bad weak_key ca create x2 --key-type rsa:1024 --subject /CN=x
bad invalid_subject ca create x3 --key-type ec:p256 --subject "CN=no slash"
bad invalid_name_constraint ca create x4 --key-type ec:p256 --subject /CN=x --parent root \
	--permit-ip 10.0.0.1/8
bad path_len_exceeded ca create x5 --key-type ec:p256 --subject /CN=x --parent inter
bad lifetime_exceeds_ca ca create x6 --key-type ec:p256 --subject /CN=x --parent root --days 5000
bad ca_not_found ca create x7 --key-type ec:p256 --subject /CN=x --parent nope
bad bad_name ca create "../x" --key-type ec:p256 --subject /CN=x
# usage errors exit 2 with code "usage"
out=$(hkms ca sign --ca inter --csr ok.csr 2>&1 >/dev/null); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q '"code":"usage"' || fail "missing --profile: rc $rc $out"
out=$(hkms ca sign --ca inter --profile tls-server --csr ok.csr --days 0 2>&1 >/dev/null); rc=$?
[ $rc = 2 ] || fail "--days 0 accepted"
pass "$n bad requests refused with their codes"

state > after.txt
cmp -s before.txt after.txt || fail "refused requests changed the store: $(diff before.txt after.txt)"
hkms --json key list > keys.json
for k in x1 x2 x3 x4 x5 x6 x7; do
	grep -q "\"name\": \"$k\"" keys.json && fail "key $k left in the token by a refused create"
done
python3 - "$lines0" "$n" <<'PY' || fail "audit"
import json, sys
lines = open("data/audit.log").read().splitlines()[int(sys.argv[1]):]
recs = [json.loads(l) for l in lines]
assert all(r["result"] == "error" for r in recs), [r["op"] for r in recs if r["result"] != "error"]
# every refusal that reached an operation is audited (usage errors do not)
assert len(recs) >= int(sys.argv[2]) - 2, (len(recs), sys.argv[2])
PY
hkms audit verify >/dev/null || fail "audit chain"
pass "nothing written: indexes, CRLs, CA records unchanged; no stray keys; only error audit lines"
