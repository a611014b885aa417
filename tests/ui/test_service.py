#!/usr/bin/python3
"""The service certificate screen (issue 16d) driven in headless Chromium
by the admin client: the status (subject, serial, self-signed, trust) is
the API's and openssl's; "trust this certificate" pins it; the manage
wizard's "create CSR" downloads a CSR for the service key, which an hkms CA
signs (the CLI); uploading a wrong pair shows the failed checks and
offers no apply; uploading the certificate and its CA verifies (four
checks pass), apply makes `openssl s_client` see the new certificate
(subject, serial); "use self-signed" brings the earlier self-signed
certificate back (same serial; done with the keyboard alone), "generate a
new key" serves a new key."""
import os

from selenium.webdriver.common.keys import Keys

from harness import Console, main, ok, wait_until


def served(c):
    """(subject, serial, issuer) of the certificate openssl s_client sees"""
    r = c.openssl("s_client", "-connect", "127.0.0.1:%d" % c.port,
                  "-servername", "127.0.0.1", input=b"", check=False)
    x = c.openssl("x509", "-noout", "-subject", "-serial", "-issuer",
                  "-nameopt", "RFC2253", input=r.stdout).stdout.decode()
    f = dict(line.split("=", 1) for line in x.strip().splitlines())
    return f["subject"], f["serial"], f["issuer"]


def cert_serial(c, path):
    return c.openssl("x509", "-in", path, "-noout", "-serial").stdout\
        .decode().strip().split("=", 1)[1]


def run():
    def setup(c):
        c.hkms("ca", "create", "root", "--key-type", "ec:p256", "--subject",
               "/CN=UI Service Root", "--out-file",
               os.path.join(c.T, "root.pem"))

    with Console(clearance="admin", setup=setup,
                 ignore_cert_errors=True) as c:
        T = c.T
        st, s0 = c.api("GET", "/v1/service/certificate/status")
        assert st == 200 and s0["self_signed"], (st, s0)
        c.goto("#/service")
        c.ready("service")
        assert c.wait_for('[data-test="svc-serial"]').text == s0["serial"]
        assert c.wait_for('[data-test="svc-self-signed"]').text == "yes"
        assert "untrusted" in c.wait_for('[data-test="svc-trust"]').text
        subj0, serial0, _ = served(c)
        assert serial0 == s0["serial"], (serial0, s0)
        ok("status: serial %s self-signed untrusted, as the API and "
           "s_client see it" % serial0)

        c.click('[data-test="svc-trust-btn"]')
        c.wait_banner("is trusted", kind="info")
        c.wait_for('[data-test="svc-trust"]', text="trusted")
        assert c.wait_for('[data-test="svc-trust"]').text == "trusted"
        st, s = c.api("GET", "/v1/service/certificate/status")
        assert s["trust"] == "trusted" and \
            s["pinned"]["thumbprint"] == s0["thumbprint"], s
        assert not c.find_all('[data-test="svc-trust-btn"]')
        c.shot("service")
        ok("trust this certificate: the API says trusted, pinned to it")

        # ---- the wizard: create a CSR ----
        c.click('[data-test="svc-manage"]')
        c.wait_for('[data-test="svc-wizard"]')
        c.click('[data-test="wiz-choice-csr"]')
        c.click('[data-test="wizard-next"]')
        c.type('[data-test="csr-cn"]', "console.example.test")
        c.type('[data-test="csr-o"]', "hkms UI")
        c.type('[data-test="csr-san"]', "console.example.test, 127.0.0.1")
        c.click('[data-test="csr-create"]')
        csr = c.downloaded("hkms-service.csr")
        out = c.openssl("req", "-in", csr, "-noout", "-verify", "-subject",
                        "-nameopt", "RFC2253", "-text").stdout.decode()
        assert "CN=console.example.test" in out and "O=hkms UI" in out, out
        assert "IP Address:127.0.0.1" in out, out
        c.wait_for('[data-test="csr-pem"]')
        c.shot("service-wizard")
        ok("create CSR: hkms-service.csr downloaded, its signature verifies, "
           "subject and SANs as typed")

        crt = os.path.join(T, "svc.pem")
        c.hkms("ca", "sign", "--ca", "root", "--profile", "tls-server",
               "--csr", csr, "--out-file", crt)
        serial1 = cert_serial(c, crt)

        # ---- upload: a wrong pair first (the CA as the certificate) ----
        c.click('[data-test="wizard-back"]')
        c.click('[data-test="wiz-choice-upload"]')
        c.click('[data-test="wizard-next"]')
        c.wait_for('[data-test="upload-ca"]').send_keys(
            os.path.join(T, "root.pem"))
        c.wait_for('[data-test="upload-cert"]').send_keys(
            os.path.join(T, "root.pem"))
        c.click('[data-test="verify"]')
        c.wait_for('[data-test="verify-verdict"][data-ok="false"]')
        failed = [e.get_attribute("data-check") for e in c.find_all(
            '[data-test="check"][data-pass="false"]')]
        assert "key_matches" in failed, failed
        assert not c.wait_for('[data-test="apply"]').is_enabled()
        msg = c.wait_banner("key_matches", kind="error")
        assert served(c)[1] == serial0
        ok("verify a wrong pair: failed checks %s shown, apply not offered, "
           "nothing changed (%s)" % (failed, msg.strip()[:60]))

        # ---- the right pair: verify, then apply ----
        c.click('[data-test="wizard-back"]')
        c.click('[data-test="wiz-choice-upload"]')
        c.click('[data-test="wizard-next"]')
        c.wait_for('[data-test="upload-ca"]').send_keys(
            os.path.join(T, "root.pem"))
        c.wait_for('[data-test="upload-cert"]').send_keys(crt)
        c.click('[data-test="verify"]')
        c.wait_for('[data-test="verify-verdict"][data-ok="true"]')
        checks = {e.get_attribute("data-check"): e.get_attribute("data-pass")
                  for e in c.find_all('[data-test="check"]')}
        assert checks == {"validity": "true", "key_matches": "true",
                          "extended_key_usage": "true",
                          "chains_to_ca": "true"}, checks
        assert served(c)[1] == serial0, "what_if changed the certificate"
        c.shot("service-verify")
        c.click('[data-test="apply"]')
        c.wait_banner("Applied", kind="info")
        subj, serial, issuer = served(c)
        assert serial == serial1, (serial, serial1)
        assert "CN=console.example.test" in subj and \
            issuer == "CN=UI Service Root", (subj, issuer)
        c.wait_for('[data-test="svc-serial"]', text=serial1)
        assert c.wait_for('[data-test="svc-self-signed"]').text == "no"
        assert "untrusted" in c.wait_for('[data-test="svc-trust"]').text
        ok("verify + apply: s_client sees %s serial %s from %s" % (
            subj, serial, issuer))

        # ---- use self-signed, by keyboard only: the earlier one comes back
        def active():
            return c.driver.execute_script(
                "return document.activeElement && "
                "document.activeElement.dataset.test;")

        def press(*keys):
            c.driver.switch_to.active_element.send_keys(*keys)

        c.wait_for('[data-test="svc-manage"]').send_keys(Keys.ENTER)
        wait_until(lambda: active() == "wiz-choice-csr", 10,
                   "the wizard's first choice focused")
        press(Keys.ARROW_DOWN)
        press(Keys.ARROW_DOWN)
        assert active() == "wiz-choice-selfsigned", active()
        press(Keys.TAB)
        press(Keys.TAB)
        assert active() == "wizard-next", active()
        press(Keys.ENTER)
        c.wait_for('[data-test="selfsigned-apply"]').send_keys(Keys.ENTER)
        c.wait_for('[data-test="confirm-dialog"]')
        assert active() == "confirm-ok", active()
        press(Keys.ENTER)
        c.wait_banner("restored", kind="info")
        subj, serial, issuer = served(c)
        assert serial == serial0 and subj == issuer, (subj, serial, issuer)
        c.wait_for('[data-test="svc-serial"]', text=serial0)
        # the pin holds again: it is the certificate trusted above
        assert c.wait_for('[data-test="svc-trust"]').text == "trusted"
        ok("use self-signed: s_client sees the earlier self-signed "
           "certificate again (serial %s), trusted again; keyboard only" % serial)

        # ---- generate a new key ----
        c.click('[data-test="svc-manage"]')
        c.click('[data-test="wiz-choice-rekey"]')
        c.click('[data-test="wizard-next"]')
        c.click('[data-test="rekey-apply"]')
        c.click('[data-test="confirm-ok"]')
        c.wait_banner("new key", kind="info")
        subj, serial2, issuer = served(c)
        assert serial2 not in (serial0, serial1) and subj == issuer, serial2
        st, s = c.api("GET", "/v1/service/certificate/status")
        assert s["key"] != s0["key"] and s["serial"] == serial2, s
        wait_until(lambda: c.wait_for('[data-test="svc-key"]').text ==
                   s["key"], 10, "the new key in the page")
        rows = c.find_all('[data-test="svc-history-row"]')
        assert len(rows) >= 2, len(rows)
        ok("generate a new key: key %s, s_client sees serial %s" % (
            s["key"], serial2))
        c.shot("service-narrow", narrow=True)
        c.finish()


if __name__ == "__main__":
    main(run)
