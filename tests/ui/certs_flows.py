"""The flows of tests/ui/test_certificates.py and test_cas.py (issue 16c),
apart from the harness: each takes ui (certs_common.UI), api(method, path,
body) -> parsed JSON (the admin client, outside the browser), tmp (a
directory of the test) and shot(name) (a screenshot)."""
import json
import os
import re
import time

from certs_common import UI, run, openssl_text, openssl_field, css
from selenium.webdriver.common.by import By


def hexs(s):
    return re.sub(r"[^0-9A-F]", "", s.upper())


# ---- certificates -------------------------------------------------------

def wizard_self_signed(ui, api, tmp, shot):
    """the add wizard: self-signed under tls-server-client with only the
    serverAuth EKU kept, an RSA key, sha384, 90 days and SANs; openssl
    shows what was chosen"""
    ui.go("#/certificates")
    ui.one("cert-list")
    shot("certificates-empty" if False else "certificates-before")
    ui.click("cert-add")
    ui.one("cert-wizard")
    ui.fill("wiz-name", "wiz-web")
    ui.choose("wiz-type", "self-signed")
    shot("certificate-wizard")
    ui.click("wizard-next")
    ui.choose("wiz-key-source", "new")
    ui.choose("wiz-key-type", "rsa:2048")
    ui.choose("wiz-digest", "sha384")
    ui.fill("wiz-days", "90")
    ui.choose("wiz-profile", "tls-server-client")
    ui.click("wizard-next")
    ui.fill("wiz-cn", "wiz.example.com")
    ui.fill("wiz-o", "Wizard Org")
    ui.fill("wiz-san", "DNS:wiz.example.com\nalt.example.com\nIP:10.1.2.3")
    ui.click("wizard-next")
    ui.one("wiz-eku-serverAuth")
    ui.check("wiz-eku-clientAuth", False)
    ui.check("wiz-eku-serverAuth", True)
    shot("certificate-wizard-extensions")
    ui.click("wizard-next")
    review = ui.one("review-san").text
    assert "DNS:alt.example.com" in review and "IP:10.1.2.3" in review, review
    assert ui.one("review-eku").text == "serverAuth", ui.one("review-eku").text
    shot("certificate-wizard-review")
    ui.click("wizard-done")
    ui.info("wiz-web created")
    ui.one("cert-detail")
    assert ui.one("cert-name").text == "wiz-web"
    # the certificate as the API gives it, checked with openssl
    c = api("GET", "/v1/certificates/wiz-web")
    p = os.path.join(tmp, "wiz-web-api.pem")
    open(p, "w").write(c["pem"])
    t = openssl_text(p)
    assert "DNS:wiz.example.com" in t and "DNS:alt.example.com" in t and \
        "IP Address:10.1.2.3" in t, t
    assert "TLS Web Server Authentication" in t and \
        "TLS Web Client Authentication" not in t, t
    assert "sha384WithRSAEncryption" in t and "Public-Key: (2048 bit)" in t, t
    assert "O = Wizard Org" in t and "CN = wiz.example.com" in t, t
    assert c["days_left"] in (89, 90) and c["profile"] == "tls-server-client", c
    # the detail screen shows the same facts and the key custody
    assert hexs(ui.one("cert-serial").text) == hexs(c["serial"])
    assert ui.one("cert-eku").text.startswith("serverAuth")
    assert "DNS:alt.example.com" in ui.one("cert-san").text
    assert ui.one("key-uri").text.startswith("pkcs11:") and "object=wiz-web" in ui.one("key-uri").text
    assert ui.one("key-sensitive").text == "yes" and ui.one("key-extractable").text == "no"
    assert ui.one("key-never-extractable").text == "yes"
    shot("certificate-detail")
    return c


def list_shows(ui, api, name, status="valid"):
    ui.go("#/certificates")
    r = ui.row("cert-row", name)
    c = api("GET", "/v1/certificates/" + name)
    st = r.find_element(By.CSS_SELECTOR, css("status")).text
    assert st == status, (name, st)
    assert ui.cell(r, "days_left") == str(c["days_left"]), ui.cell(r, "days_left")
    assert ui.cell(r, "cn") == c["common_name"]
    assert ui.cell(r, "issuer") == c["issuer"]
    return r


def download_pem_der(ui, api, tmp, name):
    """download PEM and DER from the detail; openssl sees the API's serial
    and fingerprint; an encrypted PKCS#12 opens with its password"""
    c = api("GET", "/v1/certificates/" + name)
    ui.go("#/certificates/" + name)
    ui.one("cert-detail")
    t0 = time.time() - 1
    ui.choose("download-format", "pem")
    ui.click("cert-download")
    p = ui.download(ui.fresh(name + ".pem"), t0)
    assert hexs(openssl_field(p, "-serial").split("=", 1)[1]) == hexs(c["serial"])
    fp = openssl_field(p, "-fingerprint").split("=", 1)[1]
    assert hexs(fp) == hexs(c["fingerprint_sha1"]), (fp, c["fingerprint_sha1"])
    ui.choose("download-format", "der")
    ui.click("cert-download")
    p = ui.download(ui.fresh(name + ".cer"), t0)
    fp = run("openssl", "x509", "-in", p, "-inform", "DER", "-noout",
             "-fingerprint", "-sha256").strip().split("=", 1)[1]
    assert hexs(fp) == hexs(c["fingerprint_sha256"]), fp
    ui.choose("download-format", "p12-pass")
    ui.fill("download-password", "p12 secret pass")
    ui.click("cert-download")
    p = ui.download(ui.fresh(name + ".p12"), t0)
    out = run("openssl", "pkcs12", "-in", p, "-passin", "pass:p12 secret pass",
              "-nokeys")
    assert "BEGIN CERTIFICATE" in out and "PRIVATE KEY" not in out


def rename(ui, api, old, new):
    ui.go("#/certificates/" + old)
    ui.one("cert-detail")
    ui.fill("rename-input", new)
    ui.click("cert-rename")
    ui.info("renamed %s to %s" % (old, new))
    ui.wait(lambda: ui.one("cert-name").text == new, "detail of " + new)
    names = [r["name"] for r in api("GET", "/v1/certificates")]
    assert new in names and old not in names, names


def import_pem_key(ui, api, tmp, shot):
    """import a certificate and key made with openssl; the key goes into
    the token (sensitive, not extractable), added to the truststore"""
    key = os.path.join(tmp, "imp.key")
    crt = os.path.join(tmp, "imp.pem")
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
        "-subj", "/CN=imported.example.com", "-days", "30",
        "-addext", "subjectAltName=DNS:imported.example.com",
        "-addext", "extendedKeyUsage=serverAuth")
    ui.go("#/certificates")
    ui.click("cert-import")
    ui.fill("import-name", "imported")
    ui.upload("import-cert", crt)
    ui.upload("import-key", key)
    ui.check("import-trust", True)
    shot("certificate-import")
    ui.click("import-submit")
    ui.info("imported imported")
    ui.one("cert-detail")
    c = api("GET", "/v1/certificates/imported")
    want = openssl_field(crt, "-fingerprint").split("=", 1)[1]
    assert hexs(c["fingerprint_sha1"]) == hexs(want)
    assert c["key"] and c["source"] == "imported", c
    k = api("GET", "/v1/keys/" + c["key"])
    assert k["sensitive"] is True and k["extractable"] is False, k
    assert ui.one("key-extractable").text == "no"
    trust = json.dumps(api("GET", "/v1/truststore"))
    assert hexs(want)[:16].lower() in trust.lower().replace(":", "") or \
        "imported" in trust, trust[:500]
    return c


def delete_in_use(ui, api, name):
    """a certificate in use: the confirmation says so and forces"""
    c = api("GET", "/v1/certificates/" + name)
    assert c["used_by"], c
    ui.go("#/certificates/" + name)
    assert "yes" in ui.one("cert-in-use").text
    ui.click("cert-delete")
    dlg = ui.one("confirm-dialog")
    assert "in use" in dlg.text, dlg.text
    ui.confirm(True)
    ui.info("deleted " + name)
    names = [r["name"] for r in api("GET", "/v1/certificates")]
    assert name not in names


def error_shown(ui, api, name, taken):
    """a refused action shows the API's message: rename onto a taken name"""
    ui.go("#/certificates/" + name)
    ui.one("cert-detail")
    ui.fill("rename-input", taken)
    ui.click("cert-rename")
    ui.wait(lambda: "already exists" in ui.banner() or "exists" in ui.banner(),
            "the API's error in the banner")
    assert name in [r["name"] for r in api("GET", "/v1/certificates")]


def wizard_ca_signed(ui, api, tmp, ca, name, profile, cn):
    """the add wizard, type "signed by an hkms CA": CSR in the token, the
    CA signs it, the record completes; the issuer is the CA"""
    ui.go("#/certificates/new")
    ui.fill("wiz-name", name)
    ui.choose("wiz-type", "ca-signed")
    ui.choose("wiz-ca", ca)
    ui.click("wizard-next")
    ui.choose("wiz-key-type", "ec:p384")
    ui.choose("wiz-profile", profile)
    ui.click("wizard-next")
    ui.fill("wiz-cn", cn)
    ui.click("wizard-next")
    ui.click("wizard-next")
    ui.click("wizard-done")
    ui.info(name + " created")
    ui.one("cert-detail")
    c = api("GET", "/v1/certificates/" + name)
    cac = api("GET", "/v1/cas/" + ca)
    assert c["type"] == "certificate" and c["issuer"] == cac["subject"], (c, cac["subject"])
    assert c["curve"] == "P-384" and c["key"], c
    p = os.path.join(tmp, name + "-chain.pem")
    open(p, "w").write(c["pem"])
    cp = os.path.join(tmp, ca + ".pem")
    open(cp, "w").write(cac["pem"])
    run("openssl", "verify", "-CAfile", cp, p)
    assert ui.one("cert-issuer").text == cac["subject"]
    return c
