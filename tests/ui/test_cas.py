#!/usr/bin/python3
"""The CAs and CSRs screen (issue 16c) in headless Chromium. Admin: create
a root and an intermediate in the UI; sign a CSR made with openssl under
tls-server and check the downloaded chain with openssl verify; revoke it
from the issued list; publish and download the CRL (openssl crl -text
lists the serial, reason keyCompromise); an intermediate for an outside
parent (CSR download, openssl signs, apply); a CSR for a token key.
A user client granted the root: sees the CAs and may sign, is offered no
create/revoke/CRL publishing/delete, has no Certificates screen, and the
API refuses the forced request (403). Screenshots: cas, ca-detail,
ca-create, ca-sign, cas-issued, cas-user."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Console, main, ok  # noqa: E402
from certs_common import UI, run  # noqa: E402
import certs_flows as F  # noqa: E402
from test_certificates import api_of  # noqa: E402


def admin():
    with Console(clearance="admin") as c:
        ui = UI(c.driver, c.origin, c.downloads)
        api = api_of(c)
        tmp = os.path.join(c.T, "cas-test")
        os.makedirs(tmp)
        F.create_ca(ui, api, "ui-root", "UI Root CA", shot=c.shot)
        F.create_ca(ui, api, "ui-issuing", "UI Issuing CA",
                    kind="intermediate", parent="ui-root", path_len=0)
        ok("root and intermediate (parent ui-root) created in the UI")
        serial = F.sign_uploaded_csr(ui, api, tmp, "ui-issuing",
                                     "www.example.com", shot=c.shot)
        ok("an uploaded openssl CSR signed under tls-server; the downloaded "
           "chain verifies (openssl verify -purpose sslserver)")
        ui.top()
        c.shot("ca-detail")
        F.revoke_and_crl(ui, api, tmp, "ui-issuing", serial, shot=c.shot)
        ok("revoked from the issued list; the downloaded CRL (PEM and DER) "
           "lists the serial with keyCompromise")
        F.external_ca(ui, api, tmp, "ui-ext", "UI External CA")
        ok("an intermediate for an outside parent: CSR downloaded, signed "
           "by openssl, applied")
        api("POST", "/v1/keys", {"name": "csr-key", "type": "ec:p256"})
        F.csr_for_key(ui, api, tmp, "csr-rec", "csr-key")
        ok("a CSR for a token key: downloaded, verifies, has the key")
        ui.go("#/cas")
        for n in ("ui-root", "ui-issuing", "ui-ext"):
            ui.row("ca-row", n)
        c.shot("cas")
        c.finish()


def user():
    def setup(c):
        c.hkms("ca", "create", "u-root", "--key-type", "ec:p256",
               "--subject", "/CN=User Test Root")

    with Console(clearance="user", allow_ca=["u-root:tls-server"],
                 setup=setup) as c:
        ui = UI(c.driver, c.origin, c.downloads)
        tmp = os.path.join(c.T, "cas-user")
        os.makedirs(tmp)
        ui.go("#/cas")
        ui.row("ca-row", "u-root")
        assert not ui.all("ca-add") and not ui.all("csr-add")
        assert not ui.all("nav-certificates"), "a user sees Certificates"
        ui.go("#/cas/u-root")
        ui.one("ca-detail")
        ui.one("sign-submit")
        ui.one("crl-download")
        for t in ("crl-publish", "revoke", "ca-delete", "ca-apply"):
            assert not ui.all(t), "a user is offered " + t
        c.shot("cas-user")
        key = os.path.join(tmp, "u.key")
        csr = os.path.join(tmp, "u.csr")
        run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out",
            csr, "-subj", "/CN=user.example.com")
        ui.upload("sign-csr", csr)
        ui.choose("sign-profile", "tls-server")
        t0 = time.time() - 1
        fn = ui.fresh("user.example.com-chain.pem")
        ui.click("sign-submit")
        ui.one("sign-serial")
        p = ui.download(fn, t0)
        assert "BEGIN CERTIFICATE" in open(p).read()
        ok("a user sees the CA and signs under its grant; no create, "
           "revoke, CRL publishing, delete or Certificates screen")
        st, b = c.api("POST", "/v1/cas", {"name": "x", "key_type": "ec:p256",
                                          "subject": "/CN=x"})
        assert st == 403, (st, b)
        st, b = c.api("POST", "/v1/cas/u-root/revoke", {"serial": "01"})
        assert st == 403, (st, b)
        ok("the API refuses the user's forced create and revoke (403)")
        c.finish()


def test():
    admin()
    user()


if __name__ == "__main__":
    main(test)
