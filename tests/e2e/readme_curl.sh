#!/bin/bash
# The README's curl session, extracted from README.md and run as written,
# and the sign command scripts/run.sh prints, both against the server
# run.sh sets up (run.sh itself runs, minus install, build and the final
# exec; then `hkms serve` on its config). Only the port differs (a free
# one instead of 8443) and ./build/src/cli/hkms is the binary under test.
# The health line must answer as the README shows and both certificates
# must verify under demo-ca.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3 jq
hkms_setup
W=$T/w
mkdir -p "$W/build/src/cli"
ln -s "$HKMS_BIN" "$W/build/src/cli/hkms"
cd "$W"
# scripts/run.sh itself, minus installing, building and the final exec
# (the binary under test is ./build/src/cli/hkms): it makes ./state with
# init.json and demo-ca and prints how to sign
mkdir scripts
grep -qx './scripts/install-deps.sh' "$HKMS_SRC/scripts/run.sh" &&
grep -q '^./scripts/build.sh ' "$HKMS_SRC/scripts/run.sh" &&
grep -qx 'exec "$hkms" serve' "$HKMS_SRC/scripts/run.sh" || fail "scripts/run.sh changed shape"
sed -e '/^\.\/scripts\/install-deps\.sh$/d' -e '/^\.\/scripts\/build\.sh /d' \
	-e 's/^exec "$hkms" serve$/exit 0/' "$HKMS_SRC/scripts/run.sh" > scripts/run.sh
unset SOFTHSM2_CONF HKMS_DATA_DIR HKMS_CONFIG
bash scripts/run.sh > run.out 2> run.err || fail "scripts/run.sh: $(cat run.err)"
export HKMS_CONFIG=$W/state/hkms.conf
[ -s state/init.json ] || fail "run.sh kept no state/init.json"
hkms cert export demo-ca > demo-ca.pem || fail "run.sh made no demo-ca"
serve_start

# the first ```sh block after "A session (bash):"
python3 - "$HKMS_SRC/README.md" > session.sh <<'PY' || fail "no curl session in README.md"
import re, sys
md = open(sys.argv[1]).read()
m = re.search(r"A session \(bash\):\s*\n+(?:<!--[^\n]*-->\n)?```sh\n(.*?)\n```", md, re.S)
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
pass "the README's curl session signs a CSR against the server run.sh sets up; it verifies"

# the sign command run.sh prints (its indented lines after "sign a CSR")
awk '/sign a CSR/ {on=1; next} on && /^    / {sub(/^    /, ""); print; next} on {exit}' run.out > printed.sh
grep -q '/v1/cas/demo-ca/sign' printed.sh || fail "run.sh prints no sign command: $(cat run.out)"
sed -i "s/127\.0\.0\.1:8443/127.0.0.1:$PORT/g" printed.sh
rm -f machine.csr machine.key
bash -e printed.sh > printed.out 2> printed.err || fail "run.sh's command failed: $(cat printed.err)"
python3 -c 'import json,sys; open("printed-chain.pem","w").write(json.load(open(sys.argv[1]))["pem"])' \
	printed.out || fail "run.sh's command answered: $(cat printed.out)"
openssl verify -CAfile demo-ca.pem printed-chain.pem >/dev/null ||
	fail "the certificate of run.sh's command does not verify"
serve_stop
[ "$SRV_RC" = 0 ] || fail "hkms serve exit $SRV_RC: $(tail -5 "$T/serve.log")"
pass "the sign command scripts/run.sh prints signs a CSR too; it verifies"
