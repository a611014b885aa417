#!/bin/bash
# One JSON shape for a certificate (docs/certificates.md "JSON shape"):
# cert show of a self-signed certificate, ca sign's result, ca issued and
# ca issued --serial, cert list, ca list and ca show name the same facts
# with the same keys, of the same types, with values that agree with
# openssl for the same certificate, and none of the old names
# (cn, dn, digest, key_length, subject_key) is left.
. "$(dirname "$0")/lib.sh"
need python3
hkms_setup
cd "$T"

hkms key generate k1 --type ec:p256 >/dev/null || fail "key"
hkms --json cert self-sign web --key k1 --subject "/CN=web.example/O=Acme/C=DE" \
	--san DNS:web.example,IP:192.0.2.7 --days 90 > selfsign.json || fail "self-sign"
hkms --json cert show web > show.json || fail "cert show"
hkms --json cert list > list.json || fail "cert list"

hkms ca create root --key-type ec:p256 --subject "/CN=Shape Root/O=Acme" >/dev/null || fail "ca"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key \
	-subj "/CN=web.example/O=Acme/C=DE" -addext "subjectAltName=DNS:web.example,IP:192.0.2.7" \
	-out leaf.csr 2>/dev/null || fail "csr"
hkms --json ca sign --ca root --profile tls-server --csr leaf.csr --days 90 > sign.json ||
	fail "ca sign"
serial=$(jget serial < sign.json)
hkms --json ca issued --ca root > issued.json || fail "ca issued"
hkms --json ca issued --ca root --serial "$serial" > issued1.json || fail "ca issued --serial"
hkms --json ca list > calist.json || fail "ca list"
hkms --json ca show root > cashow.json || fail "ca show"
openssl x509 -in "$T/data/certs/web.pem" -noout -serial -fingerprint -sha256 > web.ossl
python3 - <<'PY' || fail "one shape"
import json, re
def load(f): return json.load(open(f))
show, selfsign, sign = load("show.json"), load("selfsign.json"), load("sign.json")
issued = [r for r in load("issued.json") if r["serial"] == sign["serial"]]
assert len(issued) == 1, load("issued.json")
issued, issued1 = issued[0], load("issued1.json")
row = {r["name"]: r for r in load("list.json")}["web"]
ca_row = {r["name"]: r for r in load("calist.json")}["root"]
cashow = load("cashow.json")

facts = {"common_name": str, "subject": str, "san": list, "country": str,
         "organization": str, "issuer": str, "serial": str,
         "not_before": str, "not_after": str, "lifetime_days": int,
         "days_left": int, "digest_algorithm": str, "key_type": str,
         "key_bits": int, "curve": str, "fingerprint_sha1": str,
         "fingerprint_sha256": str, "thumbprint": str, "self_signed": bool,
         "is_ca": bool, "key_usage": list, "extended_key_usage": list,
         "status": str}
context = ["name", "type", "source", "profile", "key", "key_uri", "used_by",
           "created"]
old = ["cn", "dn", "digest", "key_length", "subject_key", "subject_key_type"]
objs = {"cert show": show, "self-sign": selfsign, "ca sign": sign,
        "ca issued": issued, "ca issued --serial": issued1, "cert list": row,
        "ca list": ca_row, "ca show": cashow}
for what, o in objs.items():
    for k, t in facts.items():
        assert k in o, (what, "lacks", k)
        # a CA without a C= has country null; the leaf has every fact
        assert isinstance(o[k], t) or (o[k] is None and what.startswith("ca ")
                                       and k == "country"), (what, k, o[k])
    for k in context:
        assert k in o, (what, "lacks", k)
    bad = [k for k in old if k in o]
    assert not bad, (what, "has old names", bad)

# the same certificate facts, the same values, whoever signed it
same = ["common_name", "subject", "san", "country", "organization",
        "lifetime_days", "digest_algorithm", "key_type", "key_bits", "curve",
        "status", "is_ca"]
for k in same:
    vals = {w: objs[w][k] for w in ("cert show", "ca sign", "ca issued",
                                     "ca issued --serial", "cert list")}
    assert len(set(json.dumps(v) for v in vals.values())) == 1, (k, vals)
assert show["subject"] in ("CN=web.example,O=Acme,C=DE", "C=DE,O=Acme,CN=web.example"), show["subject"]
assert show["san"] == ["DNS:web.example", "IP:192.0.2.7"], show["san"]
assert show["lifetime_days"] == 90 and show["days_left"] in (89, 90), show
assert show["self_signed"] is True and show["issuer"] == show["subject"]
assert sign["self_signed"] is False and sign["issuer"] == cashow["subject"], (sign["issuer"], cashow["subject"])
for w in ("ca sign", "ca issued", "ca issued --serial"):
    o = objs[w]
    assert o["serial"] == sign["serial"] and o["issuer"] == sign["issuer"], w
    assert o["fingerprint_sha256"] == sign["fingerprint_sha256"], w
    assert o["source"] == "sign" and o["profile"] == "tls-server", (w, o["source"])
    assert o["name"] is None and o["type"] == "certificate", w
# the whole objects agree on every fact key they share
for a, b in (("cert show", "self-sign"), ("cert show", "cert list"),
             ("ca sign", "ca issued --serial"), ("ca issued", "ca issued --serial")):
    for k in facts:
        if k == "days_left":	# relative to the second it was read
            assert abs(objs[a][k] - objs[b][k]) <= 1, (a, b, k)
            continue
        assert objs[a][k] == objs[b][k], (a, b, k, objs[a][k], objs[b][k])
assert ca_row["type"] == "ca" and ca_row["is_ca"] is True and cashow["is_ca"] is True
assert ca_row["key_type"] == "EC" and ca_row["curve"] == "P-256" and ca_row["key_bits"] == 256
assert ca_row["fingerprint_sha256"] == cashow["fingerprint_sha256"]
assert all("pem" not in o for o in (row, ca_row, issued)), "lists carry no PEM"
assert show["pem"].startswith("-----BEGIN CERTIFICATE-----")
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", show["not_after"])
assert re.fullmatch(r"[0-9A-F]+", show["serial"]), show["serial"]
# openssl agrees on serial and fingerprint
ossl = dict(l.split("=", 1) for l in open("web.ossl").read().split("\n") if "=" in l)
assert ossl["serial"].lstrip("0") == show["serial"].lstrip("0"), (ossl, show["serial"])
assert ossl["sha256 Fingerprint"] == show["fingerprint_sha256"]
PY
pass "cert show, self-sign, ca sign, ca issued, cert list, ca list, ca show: one shape"

# the human tables name the same column
hkms cert list | head -1 | grep -q "COMMON_NAME" || fail "cert list header"
hkms ca list | head -1 | grep -q "COMMON_NAME" || fail "ca list header"
hkms ca issued --ca root | head -1 | grep -q "COMMON_NAME" || fail "ca issued header"
hkms cert list | grep -Eq '^web +certificate +valid +web.example ' || fail "cert list row"
pass "tables: common_name column"
