#!/bin/bash
# Certificate history (issue 13 item 2): import --replace applies a
# CA-issued certificate onto an existing name with the import checks and
# --what-if; renew, rekey and replace keep the previous versions (cert
# show lists them, oldest first); cert restore [--version N] makes one
# current again (checked by openssl: the exported certificate is the old
# one, serial and key); a version whose key is gone is refused; a torn
# archive (a crash between the version and the record) is not doubled;
# [store] cert_history caps the versions; delete and rename carry the
# history with the name. (Over the API: tests/e2e/service_cert_api.sh.)
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup
cd "$T"

serial() { hkms cert export "$1" | openssl x509 -noout -serial | sed 's/.*=//'; }
pubsha() { hkms cert export "$1" | openssl x509 -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64; }
history() { hkms --json cert show "$1" | python3 -c 'import json,sys
print(" ".join("%d:%s" % (v["version"], v["reason"]) for v in json.load(sys.stdin)["history"]))'; }

hkms cert self-sign web --new-key ec:p256 --subject /CN=web.example.test --san DNS:web.example.test >/dev/null ||
	fail "self-sign"
V0=$(serial web)
[ "$(history web)" = "" ] || fail "a new certificate has history: $(history web)"

# a CA made by openssl signs a CSR for the same key
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
	-subj '/CN=History CA' -days 30 -addext basicConstraints=critical,CA:TRUE 2>/dev/null
hkms csr create web-csr --key web --subject /CN=web.example.test --san DNS:web.example.test --out-file web.csr >/dev/null ||
	fail "csr create"
printf 'extendedKeyUsage = serverAuth\n' > server.ext
openssl x509 -req -in web.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 20 \
	-copy_extensions copyall -extfile server.ext -out web-ca.pem 2>/dev/null
CA_SERIAL=$(openssl x509 -in web-ca.pem -noout -serial | sed 's/.*=//')

# without --replace the name is taken; --what-if checks only
expect_fail cert_exists hkms cert import web --file web-ca.pem --ca-file ca.pem
hkms cert import web --file web-ca.pem --ca-file ca.pem --replace --what-if > wi.out || fail "replace what-if: $(cat wi.out)"
[ "$(serial web)" = "$V0" ] || fail "--what-if replaced the certificate"
[ "$(history web)" = "" ] || fail "--what-if wrote history"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout o.key -out other-ca.pem \
	-subj '/CN=Other' -days 3 2>/dev/null
expect_fail check_failed:chains_to_ca hkms cert import web --file web-ca.pem --ca-file other-ca.pem --replace
[ "$(serial web)" = "$V0" ] || fail "a failed replace changed the certificate"
hkms cert import web --file web-ca.pem --ca-file ca.pem --replace >/dev/null || fail "replace"
[ "$(serial web)" = "$CA_SERIAL" ] || fail "replace: serial $(serial web)"
[ "$(history web)" = "1:import" ] || fail "history after replace: $(history web)"
pass "import --replace: cert_exists without it; --what-if and a failed check change nothing; the old one is version 1"

# restore: the self-signed one is back, then renew / rekey keep versions
hkms cert restore web >/dev/null || fail "restore"
[ "$(serial web)" = "$V0" ] || fail "restore: serial $(serial web), not $V0"
hkms cert export web > r0.pem
openssl verify -CAfile r0.pem r0.pem >/dev/null || fail "the restored certificate is not the self-signed one"
KEY0=$(pubsha web)
hkms cert renew web >/dev/null || fail "renew"
hkms cert renew web --rekey >/dev/null || fail "renew --rekey"
[ "$(pubsha web)" != "$KEY0" ] || fail "rekey kept the key"
[ "$(history web)" = "1:import 2:restore 3:renew 4:rekey" ] || fail "history: $(history web)"
hkms --json cert show web | python3 -c 'import json,sys
h = json.load(sys.stdin)["history"]
norm = lambda s: s.replace(":", "").upper().lstrip("0")
assert norm(h[0]["serial"]) == norm("'"$V0"'") and norm(h[1]["serial"]) == norm("'"$CA_SERIAL"'"), h
assert h[1]["issuer"].find("History CA") >= 0, h[1]
assert all(k in h[0] for k in ("version","archived","reason","serial","thumbprint","subject","issuer","not_before","not_after","self_signed","key")), h[0]' ||
	fail "history rows: $(hkms --json cert show web)"
hkms cert restore web --version 2 >/dev/null || fail "restore --version 2"
[ "$(serial web)" = "$CA_SERIAL" ] || fail "restore --version 2: serial $(serial web)"
[ "$(pubsha web)" = "$KEY0" ] || fail "restore --version 2: not the first key"
hkms cert export web > restored.pem
openssl verify -CAfile ca.pem restored.pem >/dev/null || fail "the restored version does not verify against the CA"
expect_fail history_not_found hkms cert restore web --version 99
expect_fail usage hkms cert restore web --version x
pass "restore (newest, --version N): openssl sees the old serial and key; renew and rekey are versions too"

# a version whose key is gone is refused, nothing changes
hkms cert self-sign tmp --new-key ec:p256 --subject /CN=tmp >/dev/null
hkms cert renew tmp --rekey >/dev/null
OLDK=$(hkms --json cert show tmp | python3 -c 'import json,sys; print(json.load(sys.stdin)["history"][0]["key"])')
hkms key delete "$OLDK" --force >/dev/null || fail "key delete $OLDK"
TS=$(serial tmp)
expect_fail key_not_found hkms cert restore tmp
[ "$(serial tmp)" = "$TS" ] || fail "a refused restore changed the certificate"
pass "a version whose key left the token: key_not_found, nothing changes"

# a torn archive: the version written, the record not (a crash between)
# is not archived twice
hkms cert self-sign t2 --new-key ec:p256 --subject /CN=t2 >/dev/null || fail "self-sign t2"
hkms cert renew t2 >/dev/null || fail "renew t2"
python3 - "$T/data/certs" <<'EOF'
import json, sys, shutil
d = sys.argv[1]
m = json.load(open(d + "/t2.json"))
m.update({"name": "2", "version": 2, "reason": "renew", "archived": "2026-01-01T00:00:00Z"})
for k in ("audit_seq", "audit_hash"):
    m.pop(k, None)
json.dump(m, open(d + "/t2/2.json", "w"), indent=2, sort_keys=True)
shutil.copy(d + "/t2.pem", d + "/t2/2.pem")
EOF
hkms cert renew t2 >/dev/null || fail "renew after a torn archive"
[ "$(history t2)" = "1:renew 2:renew" ] || fail "the torn archive was doubled: $(history t2)"
hkms store check >/dev/null || fail "store check after history writes: $(hkms store check 2>&1)"
pass "a crash between archive and record: the next archive of the same PEM is skipped; store check passes"

# the cap
printf '\n[store]\ncert_history = 3\n' >> "$HKMS_CONFIG"
hkms cert renew t2 >/dev/null
hkms cert renew t2 >/dev/null
[ "$(history t2)" = "2:renew 3:renew 4:renew" ] || fail "cert_history = 3 not honoured: $(history t2)"
pass "[store] cert_history caps the versions (oldest dropped, numbers kept)"

# rename and delete carry the history
HW=$(history web)
hkms cert rename web web2 >/dev/null || fail "rename"
[ "$(history web2)" = "$HW" ] || fail "history did not follow the rename: $(history web2), was $HW"
[ ! -e "$T/data/certs/web/1.json" ] || fail "the old name keeps its history"
hkms cert delete web2 >/dev/null || fail "delete"
hkms cert self-sign web2 --key "$(hkms --json key list | python3 -c 'import json,sys; print([k["name"] for k in json.load(sys.stdin) if k["name"].startswith("web")][0])')" \
	--subject /CN=again >/dev/null || fail "self-sign again"
[ "$(history web2)" = "" ] || fail "a new certificate inherited a deleted one's history: $(history web2)"
pass "rename moves the history, delete removes it"
hkms audit verify >/dev/null || fail "audit verify"
