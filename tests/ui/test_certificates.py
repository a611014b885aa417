#!/usr/bin/python3
"""The Certificates screen (issue 16c) in headless Chromium with the admin
client: the add wizard makes a certificate whose SANs, EKU, digest and key
openssl shows; the list shows it with status and days left; PEM, DER and
a password PKCS#12 download and match the API; rename; an error shows the
API's message; import of an openssl PEM + key (into the token, trusted);
a CA-signed certificate through the wizard; delete with force of one in
use (a registered client presents it). Screenshots: certificates,
certificate-detail, certificate-wizard, certificate-import."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Console, main, ok  # noqa: E402
from certs_common import UI  # noqa: E402
import certs_flows as F  # noqa: E402


def api_of(c):
    def api(method, path, body=None):
        st, b = c.api(method, path, body)
        assert st < 300, "%s %s: %s %s" % (method, path, st, b)
        return b
    return api


def test():
    with Console(clearance="admin") as c:
        ui = UI(c.driver, c.origin, c.downloads)
        api = api_of(c)
        tmp = os.path.join(c.T, "certs-test")
        os.makedirs(tmp)
        F.wizard_self_signed(ui, api, tmp, c.shot)
        ok("the wizard made wiz-web: SANs, EKU serverAuth only, sha384, "
           "RSA 2048, 90 days as openssl shows; custody on the detail")
        F.list_shows(ui, api, "wiz-web", "valid")
        c.shot("certificates")
        c.shot("certificates-narrow", narrow=True)
        ok("the list shows wiz-web valid with the API's days left, CN, issuer")
        F.download_pem_der(ui, api, tmp, "wiz-web")
        ok("PEM and DER downloads have the API's serial and fingerprints; "
           "the password PKCS#12 opens")
        F.rename(ui, api, "wiz-web", "wiz-renamed")
        ok("rename through PATCH")
        F.import_pem_key(ui, api, tmp, c.shot)
        F.list_shows(ui, api, "imported", "expiring")
        ok("import of an openssl PEM + key: key in the token, not "
           "extractable; trusted; 30 days left shows expiring")
        F.import_pfx(ui, api, tmp)
        ok("a PKCS#12 imports with its passphrase; a wrong one shows the "
           "API's message (bad_password) and imports nothing")
        F.error_shown(ui, api, "wiz-renamed", "imported")
        ok("a refused rename shows the API's message")
        F.wizard_ca_signed(ui, api, tmp, "hkms-clients", "cli-cert",
                           "tls-client", "cli-cert")
        ok("the wizard's CA-signed type: CSR, signature, record; verifies")
        F.wizard_csr_then_apply(ui, api, tmp, "hkms-clients")
        ok("the wizard's CSR type: the CSR downloads and verifies; the signed "
           "certificate applied on its detail completes the record")
        api("POST", "/v1/clients", {
            "name": "cli-cert", "clearance": "user",
            "certificate": api("GET", "/v1/certificates/cli-cert")["pem"]})
        F.delete_in_use(ui, api, "cli-cert")
        ok("a certificate in use (a client presents it) is deleted with "
           "force after the confirmation says it is in use")
        F.paginate(ui, api)
        ok("27+ records page by 25; Next and Previous show them all")
        F.keyboard_wizard(ui)
        ok("the wizard by keyboard: Enter is Next, an empty name is refused")
        c.finish()


if __name__ == "__main__":
    main(test)
