#!/bin/bash
# The README's curl session, extracted from README.md and run as written
# against a server set up the way scripts/run.sh sets it up (a data dir
# ./state made by `hkms --json init` with init.json kept, the CA demo-ca,
# `hkms serve` on the config); only the port differs (a free one instead
# of 8443) and ./build/src/cli/hkms is the binary under test. The health
# line must answer as the README shows and the signed certificate must
# verify under demo-ca.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3 jq
hkms_setup
W=$T/w
mkdir -p "$W/build/src/cli"
ln -s "$HKMS_BIN" "$W/build/src/cli/hkms"
cd "$W"
# as scripts/run.sh: its environment, init with init.json, the demo CA
unset SOFTHSM2_CONF
export HKMS_DATA_DIR=$W/state HKMS_CONFIG=$W/state/hkms.conf
out=$(hkms --json init --data-dir "$HKMS_DATA_DIR") || fail "init"
printf '%s\n' "$out" > state/init.json; chmod 0600 state/init.json
hkms ca create demo-ca --key-type ec:p256 --subject "/CN=hkms demo CA" --out-file demo-ca.pem \
	>/dev/null || fail "ca create demo-ca"
grep -q 'ca=demo-ca' "$HKMS_SRC/scripts/run.sh" || fail "scripts/run.sh no longer makes demo-ca"
grep -q 'ca create "$ca" --key-type ec:p256' "$HKMS_SRC/scripts/run.sh" ||
	fail "scripts/run.sh makes its CA differently"
serve_start
unset HKMS_DATA_DIR	# the README's shell has only HKMS_CONFIG

# the first ```sh block after "A session (bash):"
python3 - "$HKMS_SRC/README.md" > session.sh <<'PY' || fail "no curl session in README.md"
import re, sys
md = open(sys.argv[1]).read()
m = re.search(r"A session \(bash\):\s*\n+```sh\n(.*?)\n```", md, re.S)
if not m: sys.exit(1)
print(m.group(1))
PY
grep -q '/v1/cas/demo-ca/sign' session.sh || fail "the README session signs nothing"
sed -i "s/127\.0\.0\.1:8443/127.0.0.1:$PORT/g" session.sh
bash -e session.sh > session.out 2> session.err || fail "the README session failed: $(cat session.err)"
python3 - session.out "$(sed -n 's/^# \({.*}\)$/\1/p' session.sh | head -1)" <<'PY' || fail "README output: $(cat session.out)"
import json, sys
# the two answers one after the other (curl adds no newline)
out, dec = open(sys.argv[1]).read(), json.JSONDecoder()
health, end = dec.raw_decode(out)
sign, end = dec.raw_decode(out, end + len(out[end:]) - len(out[end:].lstrip()))
shown = json.loads(sys.argv[2])
assert health == shown, "health answered %s, the README shows %s" % (health, shown)
open("machine-chain.pem", "w").write(sign["pem"])
PY
openssl verify -CAfile demo-ca.pem machine-chain.pem >/dev/null ||
	fail "the README session's certificate does not verify"
openssl x509 -in machine-chain.pem -noout -subject | grep -q machine.example ||
	fail "not the CSR's subject"
serve_stop
pass "the README's curl session signs a CSR against the server run.sh starts; it verifies"
