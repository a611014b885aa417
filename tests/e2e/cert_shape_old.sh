#!/bin/bash
# Records written before the one JSON shape (cn, "/CN=" subject, SAN
# string, digest, subject_key, CA key_type "ec:p256") still load: every
# verb shows them in the new shape, rebuilt from their PEM, and cert renew
# still finds the recorded digest. The records are rewritten here the way
# the earlier code wrote them (the PEM and the audit stamps untouched).
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup
cd "$T"

hkms key generate k1 --type ec:p384 >/dev/null || fail "key"
hkms cert self-sign web --key k1 --subject "/CN=web.example/O=Acme" --san DNS:web.example \
	--digest sha512 --days 30 >/dev/null || fail "self-sign"
hkms csr create req --key k1 --subject /CN=req.example --san DNS:req.example >/dev/null || fail "csr"
hkms ca create root --key-type ec:p256 --subject "/CN=Old Root" >/dev/null || fail "ca"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout l.key \
	-subj /CN=leaf.example -addext subjectAltName=DNS:leaf.example -out l.csr 2>/dev/null || fail "leaf csr"
serial=$(hkms --json ca sign --ca root --profile tls-server --csr l.csr | jget serial) || fail "sign"
hkms --json cert show web > new-web.json || fail "show"
hkms --json ca issued --ca root --serial "$serial" > new-issued.json || fail "issued"
hkms --json ca show root > new-ca.json || fail "ca show"

python3 - data "$serial" <<'PY' || fail "rewrite to the old fields"
import json, os, sys
d, serial = sys.argv[1], sys.argv[2]
def old(path, digest=None, ca=False):
    m = json.load(open(path))
    subj = "/" + "/".join(reversed(m.pop("subject").split(",")))
    m["cn"] = m.pop("common_name")
    m["subject"] = subj
    m["san"] = ",".join(m["san"]) if m.get("san") else None
    dg = m.pop("digest_algorithm", None)
    if digest:
        m["digest"] = dg.lower()
    kt, kb, cv = m.pop("key_type", None), m.pop("key_bits", None), m.pop("curve", None)
    if ca:
        m["key_type"] = m.pop("token_key_type")
    elif not digest:
        m["subject_key"] = f"{kt.lower()} {cv.lower().replace('-', '')}" if cv else f"{kt.lower()} {kb}"
    for k in ("issuer", "is_ca"):
        if not ca:
            m.pop(k, None)
    tmp = path + ".tmp"
    json.dump(m, open(tmp, "w"))
    os.rename(tmp, path)
old(f"{d}/certs/web.json", digest=True)
old(f"{d}/certs/req.json", digest=True)
old(f"{d}/cas/root.json", ca=True)
old(f"{d}/issued/root/{serial}.json")
for p in (f"{d}/certs/web.json", f"{d}/cas/root.json", f"{d}/issued/root/{serial}.json"):
    m = json.load(open(p))
    assert "cn" in m and "common_name" not in m and m["subject"].startswith("/"), (p, m)
PY

hkms --json cert show web > web.json || fail "show old record"
hkms --json cert show req > req.json || fail "show old csr record"
hkms --json cert list > list.json || fail "list old records"
hkms --json ca list > calist.json || fail "ca list old record"
hkms --json ca show root > ca.json || fail "ca show old record"
hkms --json ca issued --ca root > issued.json || fail "ca issued old record"
hkms --json ca issued --ca root --serial "$serial" > issued1.json || fail "ca issued --serial"
python3 - "$serial" <<'PY' || fail "old records in the new shape"
import json, sys
serial = sys.argv[1]
L = lambda f: json.load(open(f))
new_web, web = L("new-web.json"), L("web.json")
facts = ["common_name", "subject", "san", "issuer", "serial", "not_before",
         "not_after", "digest_algorithm", "key_type", "key_bits", "curve",
         "fingerprint_sha256", "thumbprint", "self_signed", "status"]
for k in facts:
    assert web[k] == new_web[k], (k, web[k], new_web[k])
assert web["subject"] == "CN=web.example,O=Acme" or web["subject"] == "O=Acme,CN=web.example", web["subject"]
assert web["digest_algorithm"] == "SHA512" and web["key_bits"] == 384
req = L("req.json")
assert req["type"] == "csr" and req["common_name"] == "req.example" and req["san"] == ["DNS:req.example"], req
rows = {r["name"]: r for r in L("list.json")}
assert rows["web"]["common_name"] == "web.example" and rows["root"]["common_name"] == "Old Root"
assert rows["req"]["common_name"] == "req.example"
ca, new_ca = L("ca.json"), L("new-ca.json")
for k in facts + ["token_key_type", "parent", "path_len"]:
    assert ca[k] == new_ca[k], (k, ca[k], new_ca[k])
assert ca["token_key_type"] == "ec:p256", ca
assert {r["name"]: r for r in L("calist.json")}["root"]["key_type"] == "EC"
i1, new_i = L("issued1.json"), L("new-issued.json")
for k in facts + ["source", "profile", "ca", "requester"]:
    assert i1[k] == new_i[k], (k, i1[k], new_i[k])
row = [r for r in L("issued.json") if r["serial"] == serial][0]
assert row["common_name"] == "leaf.example" and row["san"] == ["DNS:leaf.example"], row
for o in (web, req, ca, i1, row):
    bad = [k for k in ("cn", "dn", "digest", "key_length", "subject_key") if k in o]
    assert not bad, bad
PY
pass "records with the old fields show the one JSON shape"

# renew reads the recorded digest from the old field
hkms --json cert renew web > renewed.json || fail "renew old record"
[ "$(jget digest_algorithm < renewed.json)" = SHA512 ] || fail "renew lost the recorded digest"
openssl x509 -in data/certs/web.pem -noout -text | grep -q "ecdsa-with-SHA512" || fail "renewed not sha512"
hkms store check >/dev/null || fail "store check on old records"
pass "renew of an old record keeps its digest; store check passes"
