#!/usr/bin/python3
"""The truststore screen (issue 16d) driven in headless Chromium by an
operator client (the truststore's clearance) that requires 2FA (so every
change goes with the session cookie and its CSRF token): import a PEM, a DER and a
PKCS#12 (with its password) through the page, view an entry (the
fingerprints are openssl's), export PEM and DER (the downloads are the
same certificate), pin a peer certificate, delete with the confirmation
(cancel keeps it, confirm removes it); each step checked against GET
/v1/truststore; a CA's CRL is imported and deleted; a long list
paginates. An operator sees no client management and the API refuses
it."""
import os

from harness import Console, main, ok, wait_until, fail


def fp(c, path, form="PEM"):
    out = c.openssl("x509", "-inform", form, "-in", path, "-noout",
                    "-fingerprint", "-sha256").stdout.decode()
    return out.strip().split("=", 1)[1]


def thumb(fpr):
    return "sha256:" + fpr.replace(":", "").lower()


def make_files(c):
    T = c.T
    for n in ("pem-root", "der-root", "pfx-root", "peer"):
        c.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=UI " + n,
                  "-days", "30", "-keyout", os.path.join(T, n + ".key"),
                  "-out", os.path.join(T, n + ".pem"))
    c.openssl("x509", "-in", os.path.join(T, "der-root.pem"), "-outform",
              "DER", "-out", os.path.join(T, "der-root.der"))
    pw = os.path.join(T, "pfx.pass")
    with open(pw, "w") as f:
        f.write("pfx pass phrase")
    c.openssl("pkcs12", "-export", "-in", os.path.join(T, "pfx-root.pem"),
              "-inkey", os.path.join(T, "pfx-root.key"), "-passout",
              "file:" + pw, "-out", os.path.join(T, "pfx-root.pfx"))


ADMIN = {}


def entries(c):
    st, body = c.api("GET", "/v1/truststore", client=ADMIN)
    assert st == 200, (st, body)
    return {e["alias"]: e for e in body}


def run():
    with Console(clearance="operator", require_2fa=True) as c:
        make_files(c)
        T = c.T
        ADMIN.update(name="admin", p12=os.path.join(c.data,
                                                    "admin-client.p12"),
                     **{"pass": os.path.join(c.data, "admin-client.pass")})
        c.goto("#/truststore", ready=False)
        c.ready("login")
        c.type('[data-test="totp-code"]', c.totp())
        c.click('[data-test="totp-submit"]')
        c.ready("truststore")
        if c.find_all('[data-test="nav-clients"]'):
            fail("an operator is offered the clients screen")
        r = c.fetch("GET", "/v1/clients")
        assert r["status"] == 403 and \
            r["json"]["error"]["code"] == "clearance_too_low", r
        ok("operator with 2FA: code accepted, truststore shown, no clients "
           "entry, GET /v1/clients from the page 403")

        def import_file(alias, path, password=None):
            c.type('[data-test="trust-import-alias"]', alias)
            c.wait_for('[data-test="trust-import-file"]').send_keys(path)
            if password:
                c.type('[data-test="trust-import-password"]', password)
            c.click('[data-test="trust-import"]')
            c.wait_banner("Imported", kind="info")
            c.wait_for('[data-test="trust-view"][data-alias="%s"]' % alias)

        import_file("pem-root", os.path.join(T, "pem-root.pem"))
        import_file("der-root", os.path.join(T, "der-root.der"))
        import_file("pfx-root", os.path.join(T, "pfx-root.pfx"),
                    "pfx pass phrase")
        txt = c.banner()
        assert "private key of the file was ignored" in txt, txt
        e = entries(c)
        for n in ("pem-root", "der-root", "pfx-root"):
            assert n in e, (n, e.keys())
            want = thumb(fp(c, os.path.join(T, n + ".pem")))
            assert e[n]["thumbprint"] == want, (n, e[n], want)
        ok("PEM, DER and PKCS#12 imported through the page: GET "
           "/v1/truststore has them with openssl's fingerprints")
        rows = c.find_all('[data-test="trust-row"]')
        assert len(rows) == 3, len(rows)
        c.shot("truststore")

        # a wrong PKCS#12 password: the API's message in the banner
        c.type('[data-test="trust-import-alias"]', "pfx-bad")
        c.wait_for('[data-test="trust-import-file"]').send_keys(
            os.path.join(T, "pfx-root.pfx"))
        c.type('[data-test="trust-import-password"]', "wrong password")
        c.click('[data-test="trust-import"]')
        msg = c.wait_banner(kind="error")
        assert "pfx-bad" not in entries(c), "imported with a wrong password"
        ok("a wrong PKCS#12 password shows the API's error: %s" % msg.strip())

        # view: the fingerprints of the entry are openssl's
        c.click('[data-test="trust-view"][data-alias="der-root"]')
        c.ready("truststore")
        c.wait_for('[data-test="trust-entry"]')
        sha = c.wait_for('[data-test="trust-cert-fingerprint_sha256"]').text
        want = fp(c, os.path.join(T, "der-root.der"), "DER")
        assert sha.strip() == want, (sha, want)
        sha1 = c.wait_for('[data-test="trust-cert-fingerprint_sha1"]').text
        want1 = c.openssl("x509", "-in", os.path.join(T, "der-root.pem"),
                          "-noout", "-fingerprint", "-sha1").stdout.decode()\
            .strip().split("=", 1)[1]
        assert sha1.strip() == want1, (sha1, want1)
        subj = c.wait_for('[data-test="trust-cert-subject"]').text
        assert "UI der-root" in subj, subj
        c.shot("truststore-entry")
        ok("view: subject and SHA-256/SHA-1 fingerprints as openssl shows")

        # export PEM and DER from the entry: the same certificate
        c.select('[data-test="trust-export-format"][data-alias="der-root"]',
                 "pem")
        c.click('[data-test="trust-export"][data-alias="der-root"]')
        got = c.downloaded("der-root.pem")
        assert fp(c, got) == want, "exported PEM differs"
        c.select('[data-test="trust-export-format"][data-alias="der-root"]',
                 "der")
        c.click('[data-test="trust-export"][data-alias="der-root"]')
        got = c.downloaded("der-root.der")
        assert fp(c, got, "DER") == want, "exported DER differs"
        ok("export PEM and DER: the downloads have the imported fingerprint")

        # pin a peer's certificate from the list page
        c.goto("#/truststore")
        c.type('[data-test="trust-pin-alias"]', "peer")
        c.wait_for('[data-test="trust-pin-file"]').send_keys(
            os.path.join(T, "peer.pem"))
        c.click('[data-test="trust-pin"]')
        c.wait_banner("Pinned", kind="info")
        e = entries(c)
        assert "peer" in e, e.keys()
        assert e["peer"]["thumbprint"] == thumb(fp(c, os.path.join(
            T, "peer.pem"))), e["peer"]
        assert e["peer"]["kind"] != "imported", e["peer"]
        c.wait_for('[data-test="trust-view"][data-alias="peer"]')
        ok("pin: GET /v1/truststore has the peer's certificate, kind %s" %
           e["peer"]["kind"])

        # delete: cancel keeps it, confirm removes it
        c.click('[data-test="trust-delete"][data-alias="pem-root"]')
        c.wait_for('[data-test="confirm-dialog"]')
        c.click('[data-test="confirm-cancel"]')
        c.wait_for('[data-test="confirm-dialog"]', gone=True)
        assert "pem-root" in entries(c), "deleted without confirmation"
        c.click('[data-test="trust-delete"][data-alias="pem-root"]')
        c.click('[data-test="confirm-ok"]')
        c.wait_banner("Deleted", kind="info")
        wait_until(lambda: "pem-root" not in entries(c), 10, "the deletion")
        c.wait_for('[data-test="trust-view"][data-alias="pem-root"]',
                   gone=True)
        st, _ = c.api("GET", "/v1/truststore/pem-root", client=ADMIN)
        assert st == 404, st
        ok("delete: cancel keeps the entry, confirm removes it (404)")
        c.shot("truststore-narrow", narrow=True)

        # CRLs: an hkms CA's CRL imported under its truststore certificate
        c.hkms("ca", "create", "crlca", "--key-type", "ec:p256", "--subject",
               "/CN=UI CRL CA", "--out-file", os.path.join(T, "crlca.pem"))
        c.hkms("ca", "crl", "--ca", "crlca", "--out-file",
               os.path.join(T, "crlca.crl"))
        import_file("crlca", os.path.join(T, "crlca.pem"))
        c.wait_for('[data-test="crl-import-file"]').send_keys(
            os.path.join(T, "crlca.crl"))
        c.click('[data-test="crl-import"]')
        c.wait_banner("Imported the CRL of CN=UI CRL CA", kind="info")
        row = c.wait_for('[data-test="crl-row"]')
        assert "CN=UI CRL CA" in row.text and "current" in row.text, row.text
        st, crls = c.api("GET", "/v1/truststore/crls", client=ADMIN)
        assert st == 200 and len(crls) == 1 and \
            crls[0]["signer"]["alias"] == "crlca", crls
        c.click('[data-test="crl-delete"]')
        c.click('[data-test="confirm-ok"]')
        c.wait_banner("Deleted the CRL", kind="info")
        c.wait_for('[data-test="crl-row"]', gone=True)
        assert c.api("GET", "/v1/truststore/crls", client=ADMIN)[1] == []
        ok("CRL: imported through the page (listed, current), deleted")

        # a long list paginates: 25 a page
        for i in range(26):
            k = os.path.join(T, "bulk.key")
            pem = os.path.join(T, "bulk.pem")
            c.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:P-256", "-nodes", "-subj",
                      "/CN=UI bulk %02d" % i, "-days", "30", "-keyout", k,
                      "-out", pem)
            with open(pem) as f:
                st, b = c.api("POST", "/v1/truststore", {
                    "alias": "bulk-%02d" % i, "certificate": f.read()},
                    client=ADMIN)
            assert st == 201, (st, b)
        total = len(entries(c))
        c.goto("#/truststore")
        c.wait_for('[data-test="trust-view"][data-alias="bulk-00"]')
        assert len(c.find_all('[data-test="trust-row"]')) == 25
        assert "page 1 of 2" in c.wait_for('[data-test="page-info"]').text
        c.click('[data-test="page-next"]')
        wait_until(lambda: len(c.find_all('[data-test="trust-row"]')) ==
                   total - 25, 10, "the second page")
        ok("%d entries: 25 on page 1, %d on page 2" % (total, total - 25))
        c.finish()


if __name__ == "__main__":
    main(run)
