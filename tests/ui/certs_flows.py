"""The flows of tests/ui/test_certificates.py and test_cas.py (issue 16c),
apart from the harness: each takes ui (certs_common.UI), api(method, path,
body) -> parsed JSON (the admin client, outside the browser), tmp (a
directory of the test) and shot(name) (a screenshot)."""
import json
import os
import re
import time

from certs_common import run, openssl_text, openssl_field, css
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
    ui.click("cert-add")
    ui.one("cert-wizard")
    ui.fill("wiz-name", "wiz-web")
    ui.choose("wiz-type", "self-signed")
    ui.top()
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
    ui.top()
    shot("certificate-wizard-extensions")
    ui.click("wizard-next")
    review = ui.one("review-san").text
    assert "DNS:alt.example.com" in review and "IP:10.1.2.3" in review, review
    assert ui.one("review-eku").text == "serverAuth", ui.one("review-eku").text
    ui.top()
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
    ui.top()
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
    fn = ui.fresh(name + ".pem")
    ui.click("cert-download")
    p = ui.download(fn, t0)
    assert hexs(openssl_field(p, "-serial").split("=", 1)[1]) == hexs(c["serial"])
    fp = openssl_field(p, "-fingerprint").split("=", 1)[1]
    assert hexs(fp) == hexs(c["fingerprint_sha1"]), (fp, c["fingerprint_sha1"])
    ui.choose("download-format", "der")
    fn = ui.fresh(name + ".cer")
    ui.click("cert-download")
    p = ui.download(fn, t0)
    fp = run("openssl", "x509", "-in", p, "-inform", "DER", "-noout",
             "-fingerprint", "-sha256").strip().split("=", 1)[1]
    assert hexs(fp) == hexs(c["fingerprint_sha256"]), fp
    ui.choose("download-format", "p12-pass")
    ui.fill("download-password", "p12 secret pass")
    fn = ui.fresh(name + ".p12")
    ui.click("cert-download")
    p = ui.download(fn, t0)
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
    ui.top()
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


# ---- CAs and CSRs -------------------------------------------------------

def create_ca(ui, api, name, cn, kind="root", parent=None, path_len=None, shot=None):
    ui.go("#/cas")
    ui.one("ca-list")
    ui.click("ca-add")
    ui.fill("ca-name", name)
    ui.choose("ca-kind", kind)
    if parent:
        ui.choose("ca-parent", parent)
    ui.choose("ca-key-type", "ec:p256")
    ui.fill("ca-cn", cn)
    if path_len is not None:
        ui.fill("ca-path-len", str(path_len))
    if shot:
        ui.top()
        shot("ca-create")
    ui.click("ca-create")
    ui.info("CA %s created" % name)
    ui.one("ca-detail")
    ca = api("GET", "/v1/cas/" + name)
    assert ca["common_name"] == cn, ca
    if kind == "intermediate":
        assert ca["parent"] == parent and ui.one("ca-detail-parent").text == parent
    return ca


def sign_uploaded_csr(ui, api, tmp, ca, cn, shot=None):
    """sign a CSR made with openssl under tls-server; the downloaded chain
    verifies against the CA chain with openssl verify"""
    key = os.path.join(tmp, cn + ".key")
    csr = os.path.join(tmp, cn + ".csr")
    run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/CN=" + cn, "-addext", "subjectAltName=DNS:" + cn)
    ui.go("#/cas/" + ca)
    ui.one("ca-detail")
    ui.upload("sign-csr", csr)
    ui.choose("sign-profile", "tls-server")
    ui.fill("sign-days", "90")
    t0 = time.time() - 1
    fn = ui.fresh(cn + "-chain.pem")
    ui.click("sign-submit")
    serial = ui.one("sign-serial").text
    if shot:
        ui.show(ui.one("sign-serial"))
        shot("ca-sign", top=False)
    p = ui.download(fn, t0)
    pem = open(p).read()
    assert pem.count("BEGIN CERTIFICATE") >= 2, pem
    # the chain up to the root from the public route, as a relying party
    root_pem = os.path.join(tmp, "chain-root.pem")
    leaf = os.path.join(tmp, cn + "-leaf.pem")
    certs = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", pem, re.S)
    open(leaf, "w").write(certs[0])
    open(root_pem, "w").write(certs[-1])
    untrusted = os.path.join(tmp, cn + "-inter.pem")
    open(untrusted, "w").write("".join(certs[1:-1]) or certs[-1])
    out = run("openssl", "verify", "-CAfile", root_pem, "-untrusted", untrusted,
              "-purpose", "sslserver", leaf)
    assert ": OK" in out, out
    assert hexs(openssl_field(leaf, "-serial").split("=", 1)[1]) == hexs(serial)
    t = openssl_text(leaf)
    assert "DNS:" + cn in t and "TLS Web Server Authentication" in t, t
    return serial


def revoke_and_crl(ui, api, tmp, ca, serial, shot=None):
    """revoke from the issued list (keyCompromise), publish a CRL, download
    it: openssl crl -text lists the serial with the reason"""
    ui.go("#/cas/" + ca)
    r = ui.row("issued-row", serial)
    assert r.find_element(By.CSS_SELECTOR, css("status")).text == "valid"
    ui.choose("revoke-reason", "keyCompromise", r)
    if shot:
        ui.show(r)
        shot("cas-issued", top=False)
    ui.click("revoke", r)
    assert serial in ui.one("confirm-dialog").text
    ui.confirm(True)
    ui.info("revoked " + serial)
    r = ui.row("issued-row", serial)
    assert r.find_element(By.CSS_SELECTOR, css("status")).text == "revoked"
    issued = api("GET", "/v1/cas/%s/issued" % ca)
    assert [x["status"] for x in issued if hexs(x["serial"]) == hexs(serial)] == ["revoked"]
    ui.click("crl-publish")
    ui.info("CRL")
    assert int(ui.one("crl-entries").text) >= 1
    t0 = time.time() - 1
    fn = ui.fresh(ca + ".crl.pem")
    ui.click("crl-download")
    p = ui.download(fn, t0)
    t = run("openssl", "crl", "-in", p, "-noout", "-text")
    assert hexs(serial) in hexs(t.replace("Serial Number:", "")) or \
        re.search(r"Serial Number: *%s" % re.escape(serial.upper()), t.upper()), t
    assert "Key Compromise" in t, t
    fn = ui.fresh(ca + ".crl")
    ui.click("crl-download-der")
    p = ui.download(fn, t0)
    t2 = run("openssl", "crl", "-in", p, "-inform", "DER", "-noout", "-text")
    assert serial.upper() in t2.upper().replace(":", ""), t2
    return t


def external_ca(ui, api, tmp, name, cn):
    """an intermediate for an outside parent: the UI gives the CSR, openssl
    plays the outside root and signs it, the UI applies the result"""
    create_ca(ui, api, name, cn, kind="external")
    t0 = time.time() - 1
    fn = ui.fresh(name + ".csr")
    ui.click("ca-csr-download")
    csr = ui.download(fn, t0)
    run("openssl", "req", "-in", csr, "-noout", "-verify")
    okey = os.path.join(tmp, "outside.key")
    oroot = os.path.join(tmp, "outside.pem")
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-keyout", okey, "-out", oroot,
        "-subj", "/CN=Outside Root", "-days", "30",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    ext = os.path.join(tmp, "ca.ext")
    open(ext, "w").write("basicConstraints=critical,CA:TRUE,pathlen:0\n"
                         "keyUsage=critical,keyCertSign,cRLSign\n"
                         "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    signed = os.path.join(tmp, name + "-signed.pem")
    run("openssl", "x509", "-req", "-in", csr, "-CA", oroot, "-CAkey", okey,
        "-CAcreateserial", "-days", "20", "-extfile", ext, "-out", signed)
    ui.upload("ca-apply-cert", signed)
    ui.upload("ca-apply-chain", oroot)
    ui.click("ca-apply")
    ui.info("CA %s applied" % name)
    ui.one("ca-cert-download")
    ca = api("GET", "/v1/cas/" + name)
    assert ca["type"] == "ca" and ca["issuer"] == "CN=Outside Root", ca
    return ca


def csr_for_key(ui, api, tmp, name, key):
    ui.go("#/cas")
    ui.click("csr-add")
    ui.fill("csr-name", name)
    ui.choose("csr-key-source", "existing")
    ui.choose("csr-key", key)
    ui.fill("csr-subject", "/CN=%s.example.com" % name)
    ui.fill("csr-san", "DNS:%s.example.com" % name)
    t0 = time.time() - 1
    fn = ui.fresh(name + ".csr")
    ui.click("csr-create")
    ui.info("CSR %s created" % name)
    p = ui.download(fn, t0)
    t = run("openssl", "req", "-in", p, "-noout", "-text", "-verify")
    assert "DNS:%s.example.com" % name in t, t
    k = api("GET", "/v1/keys/" + key)
    pub = run("openssl", "req", "-in", p, "-noout", "-pubkey")
    assert pub.strip() == k["public_key_pem"].strip(), (pub, k["public_key_pem"])


def paginate(ui, api):
    """a long list pages by 25: the first page has 25 rows, Next shows the
    rest, every record of the API is on one of the pages"""
    have = len(api("GET", "/v1/certificates"))
    for i in range(max(0, 27 - have)):
        api("POST", "/v1/certificates", {"name": "bulk-%02d" % i,
                                         "new_key": "ec:p256",
                                         "subject": "/CN=bulk%d.example.com" % i})
    want = sorted(r["name"] for r in api("GET", "/v1/certificates"))
    ui.go("#/certificates")
    ui.one("cert-list")
    first = [r.get_attribute("data-name") for r in ui.rows("cert-row")]
    assert len(first) == 25, len(first)
    assert "of %d" % len(want) in ui.one("page-info").text, ui.one("page-info").text
    ui.click("page-next")
    ui.wait(lambda: ui.rows("cert-row") and ui.rows("cert-row")[0].get_attribute("data-name") not in first,
            "the second page")
    second = [r.get_attribute("data-name") for r in ui.rows("cert-row")]
    assert sorted(first + second) == want, (first, second, want)
    ui.click("page-prev")
    ui.wait(lambda: ui.rows("cert-row")[0].get_attribute("data-name") == first[0], "the first page again")


def keyboard_wizard(ui):
    """the wizard by keyboard: Enter in a field is Next; an empty name
    keeps the step with a message"""
    from selenium.webdriver.common.keys import Keys
    ui.go("#/certificates/new")
    n = ui.one("wiz-name")
    n.send_keys(Keys.ENTER)
    assert "name is required" in ui.one("wizard-error").text
    n.send_keys("kbd", Keys.ENTER)
    ui.one("wiz-key-type")
    assert ui.d.switch_to.active_element.get_attribute("data-test") == "wiz-key-source"


def import_pfx(ui, api, tmp):
    """import a PKCS#12 made with openssl, opened with its passphrase; a
    wrong passphrase shows the API's message and imports nothing"""
    key = os.path.join(tmp, "pfx.key")
    crt = os.path.join(tmp, "pfx.pem")
    pfx = os.path.join(tmp, "bundle.p12")
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
        "-subj", "/CN=pfx.example.com", "-days", "200",
        "-addext", "extendedKeyUsage=serverAuth")
    run("openssl", "pkcs12", "-export", "-inkey", key, "-in", crt, "-out", pfx,
        "-passout", "pass:pfx pass phrase")
    ui.go("#/certificates/import")
    ui.fill("import-name", "from-pfx")
    ui.upload("import-cert", pfx)
    ui.fill("import-pass", "not the phrase")
    ui.click("import-submit")
    ui.wait(lambda: ui.banner() and "imported" not in ui.banner(), "an error banner")
    assert "from-pfx" not in [r["name"] for r in api("GET", "/v1/certificates")]
    err = ui.banner()
    assert "wrong password" in err and "bad_password" in err, err
    ui.fill("import-pass", "pfx pass phrase")
    ui.click("import-submit")
    ui.info("imported from-pfx")
    c = api("GET", "/v1/certificates/from-pfx")
    want = openssl_field(crt, "-fingerprint").split("=", 1)[1]
    assert hexs(c["fingerprint_sha1"]) == hexs(want) and c["key"], c
    return err


def wizard_csr_then_apply(ui, api, tmp, ca):
    """the wizard's CSR type: a CSR record (its key in the token) whose
    PEM downloads; signed outside the console (the API here), the
    certificate is applied on the CSR's detail and the record completes"""
    ui.go("#/certificates/new")
    ui.fill("wiz-name", "req1")
    ui.choose("wiz-type", "csr")
    ui.click("wizard-next")
    ui.click("wizard-next")
    ui.fill("wiz-cn", "req1.example.com")
    ui.fill("wiz-san", "req1.example.com")
    ui.click("wizard-next")
    ui.click("wizard-next")
    ui.click("wizard-done")
    ui.info("CSR req1 created")
    assert ui.one("cert-type").text == "csr"
    t0 = time.time() - 1
    fn = ui.fresh("req1.csr")
    ui.click("csr-download")
    p = ui.download(fn, t0)
    t = run("openssl", "req", "-in", p, "-noout", "-text", "-verify")
    assert "DNS:req1.example.com" in t, t
    signed = api("POST", "/v1/cas/%s/sign" % ca, {"csr": open(p).read(),
                                                  "profile": "tls-server"})
    sp = os.path.join(tmp, "req1-signed.pem")
    open(sp, "w").write(signed["pem"])
    ui.upload("csr-apply-file", sp)
    ui.click("csr-apply")
    ui.info("certificate req1 applied")
    ui.wait(lambda: ui.one("cert-type").text == "certificate", "the record completed")
    c = api("GET", "/v1/certificates/req1")
    assert c["type"] == "certificate" and hexs(c["serial"]) == hexs(signed["serial"]), c
