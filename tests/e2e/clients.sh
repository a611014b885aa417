#!/bin/bash
# Clients and clearance from the CLI: hkms init makes the bootstrap admin
# client (PKCS#12 0600 + passphrase file, named by --json init, kept by a
# second init); client generate writes a PKCS#12 that opens with its
# passphrase and verifies as an sslclient against the CA; client add of a
# PKCS#12 collection of two certificates maps both thumbprints to one
# client; edit, delete; duplicates, foreign and non-client certificates
# refused; every change audited.
. "$(dirname "$0")/lib.sh"
need python3
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
cd "$T"

# ---- init: the bootstrap admin client ----
hkms --json init --data-dir "$T/data" > init.json || fail "second init"
p12=$(jget admin_client.p12 < init.json)
pf=$(jget admin_client.passphrase_file < init.json)
[ "$p12" = "$T/data/admin-client.p12" ] || fail "admin_client.p12 is '$p12'"
[ "$pf" = "$T/data/admin-client.pass" ] || fail "admin_client.passphrase_file is '$pf'"
[ "$(stat -c %a "$p12")" = 600 ] || fail "p12 mode $(stat -c %a "$p12")"
[ "$(stat -c %a "$pf")" = 600 ] || fail "passphrase file mode $(stat -c %a "$pf")"
[ "$(jget admin_client.created < init.json)" = false ] || fail "second init made a new admin client"
sum=$(sha256sum < "$p12")
openssl pkcs12 -in "$p12" -passin "file:$pf" -clcerts -nokeys -out admin.pem 2>/dev/null ||
	fail "admin PKCS#12 does not open with its passphrase file"
hkms ca show hkms-clients > /dev/null || fail "no client CA hkms-clients"
hkms cert export hkms-clients --out-file clientca.pem || fail "export hkms-clients"
openssl verify -CAfile clientca.pem -purpose sslclient admin.pem >/dev/null ||
	fail "admin certificate does not verify as a client against hkms-clients"
hkms --json client show admin > admin.json || fail "client show admin"
[ "$(jget clearance < admin.json)" = admin ] || fail "admin clearance"
thumb=$(openssl x509 -in admin.pem -outform DER | sha256sum | cut -d' ' -f1)
[ "$(jget thumbprints.0 < admin.json)" = "$thumb" ] || fail "admin thumbprint is not the SHA-256 of the DER"
hkms init --data-dir "$T/data" > init.txt || fail "third init"
grep -q "admin-client.p12" init.txt && grep -q "admin-client.pass" init.txt ||
	fail "human init output does not name the admin client files: $(cat init.txt)"
[ "$(sha256sum < "$p12")" = "$sum" ] || fail "init replaced the admin PKCS#12"
pass "init: admin client PKCS#12 and passphrase file 0600, named by --json init, kept by a second init"

# ---- generate ----
hkms ca create root --key-type ec:p256 --subject "/CN=Clients Root" --out-file root.pem >/dev/null ||
	fail "ca create root"
hkms ca create other --key-type ec:p256 --subject "/CN=Other Root" --out-file other.pem >/dev/null ||
	fail "ca create other"
printf 'correct horse battery staple\n' > pass; chmod 600 pass
hkms --json client generate alice --ca root --clearance user --allow-ca root:tls-server,tls-client \
	--allow-ca other --out-file alice.p12 --passphrase-file pass > alice.json || fail "client generate"
[ "$(stat -c %a alice.p12)" = 600 ] || fail "alice.p12 mode"
openssl pkcs12 -in alice.p12 -passin file:pass -clcerts -nokeys -out alice.pem 2>/dev/null ||
	fail "alice.p12 does not open with the passphrase"
openssl pkcs12 -in alice.p12 -passin pass:wrong -noout 2>/dev/null && fail "opened with a wrong passphrase"
openssl verify -CAfile root.pem -purpose sslclient alice.pem >/dev/null ||
	fail "alice does not verify as sslclient against root"
python3 - alice.json <<'EOF' || fail "alice registration"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["name"] == "alice" and r["clearance"] == "user" and r["source"] == "generate", r
p = {x["ca"]: x for x in r["permissions"]}
assert p["root"]["profiles"] == ["tls-server", "tls-client"] and "sign" in p["root"]["rights"], p
assert p["other"]["profiles"] is None, p
assert len(r["thumbprints"]) == 1 and "pem" not in r, r
EOF
# about 5 years by default
na=$(openssl x509 -in alice.pem -noout -enddate | cut -d= -f2)
days=$(( ($(date -d "$na" +%s) - $(date +%s)) / 86400 ))
[ "$days" -ge 1824 ] && [ "$days" -le 1827 ] || fail "default lifetime $days days, not 5 years"
expect_fail file_exists hkms client generate bob --ca root --clearance user --out-file alice.p12 --passphrase-file pass
expect_fail client_exists hkms client generate alice --ca root --clearance user --out-file a2.p12 --passphrase-file pass
[ -e a2.p12 ] && fail "a refused generate wrote a file"
expect_fail usage hkms client generate bob --ca root --clearance root --out-file b.p12 --passphrase-file pass
expect_fail ca_not_found hkms client generate bob --ca root --clearance user --allow-ca nosuch --out-file b.p12 --passphrase-file pass
pass "client generate: PKCS#12 0600 opens with the passphrase, sslclient to the CA, 5 years, permissions recorded"

# ---- add: a PKCS#12 collection of two client certificates is one client ----
for n in c1 c2; do
	hkms ca issue-client --ca other --subject "/CN=$n" --out-file $n.p12 --passphrase-file pass >/dev/null ||
		fail "issue-client $n"
	openssl pkcs12 -in $n.p12 -passin file:pass -clcerts -nokeys -out $n.pem 2>/dev/null
	openssl pkcs12 -in $n.p12 -passin file:pass -nocerts -noenc -out $n.key 2>/dev/null
done
openssl pkcs12 -export -inkey c1.key -in c1.pem -certfile c2.pem -out both.p12 -passout file:pass ||
	fail "make the collection"
hkms --json client add carol --cert both.p12 --password-file pass --clearance operator > carol.json ||
	fail "client add collection"
t1=$(openssl x509 -in c1.pem -outform DER | sha256sum | cut -d' ' -f1)
t2=$(openssl x509 -in c2.pem -outform DER | sha256sum | cut -d' ' -f1)
python3 - carol.json "$t1" "$t2" <<'EOF' || fail "both thumbprints on carol"
import json, sys
r = json.load(open(sys.argv[1]))
assert sorted(r["thumbprints"]) == sorted(sys.argv[2:4]), r["thumbprints"]
assert r["clearance"] == "operator" and r["format"] == "p12", r
EOF
hkms --json client list > list.json
[ "$(python3 -c 'import json,sys; print(sorted(r["name"] for r in json.load(sys.stdin)))' < list.json)" = \
	"['admin', 'alice', 'carol']" ] || fail "list: $(cat list.json)"
pass "client add: a PKCS#12 of two certificates registers both thumbprints as one client"

# ---- refusals: a registered thumbprint, a foreign CA, no clientAuth ----
expect_fail thumbprint_registered hkms client add dave --cert c2.pem --clearance user
expect_fail thumbprint_registered hkms client add dave --cert alice.pem --clearance user
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout s.key -subj /CN=self \
	-addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=clientAuth -out self.pem 2>/dev/null
expect_fail client_cert_invalid hkms client add dave --cert self.pem --clearance user
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout srv.key -subj /CN=srv.example \
	-out srv.csr 2>/dev/null
hkms ca sign --ca root --profile tls-server --csr srv.csr --out-file srv.pem >/dev/null 2>&1 ||
	hkms ca sign --ca root --profile tls-server --csr srv.csr --san DNS:srv.example --out-file srv.pem >/dev/null ||
	fail "sign a server certificate"
expect_fail client_cert_invalid hkms client add dave --cert srv.pem --clearance user
hkms client show dave >/dev/null 2>&1 && fail "a refused add registered dave"
pass "client add refuses a registered thumbprint, a foreign CA and a certificate without clientAuth"

# ---- edit, delete ----
hkms --json client edit alice --clearance operator --require-2fa > e.json || fail "edit"
[ "$(jget clearance < e.json)" = operator ] && [ "$(jget require_2fa < e.json)" = true ] || fail "edit result"
hkms --json client edit alice --no-2fa --allow-ca root:tls-client > e.json || fail "edit 2"
python3 - e.json <<'EOF' || fail "edit replaced permissions"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["require_2fa"] is False and r["clearance"] == "operator", r
assert [(p["ca"], p["profiles"]) for p in r["permissions"]] == [("root", ["tls-client"])], r
EOF
[ "$(hkms --json client show alice | jget clearance)" = operator ] || fail "edit not stored"
hkms client delete carol >/dev/null || fail "delete"
expect_fail client_not_found hkms client show carol
expect_fail client_not_found hkms client delete carol
# a deleted client's certificates can be registered again
hkms client add carol2 --cert c1.pem --clearance user >/dev/null || fail "re-add after delete"
pass "client edit (clearance, permissions replaced, 2FA) and delete"

# ---- audited; files are the store's ----
for op in client.generate client.add client.edit client.delete; do
	grep -q "\"op\":\"$op\"" data/audit.log || fail "no $op in the audit log"
done
grep '"op":"client.add"' data/audit.log | grep '"result":"error"' | grep -q thumbprint_registered ||
	fail "a refused add is not audited"
[ -f data/clients/alice.json ] || fail "no clients/alice.json"
hkms audit verify >/dev/null || fail "audit verify"
hkms store check >/dev/null || fail "store check"
pass "every client change audited; audit verify and store check pass"
