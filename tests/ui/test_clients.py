#!/usr/bin/python3
"""The clients screen (issue 16d) driven in headless Chromium by the admin
client: generate a user client with a passphrase and a CA permission (the
downloaded PKCS#12 opens with openssl and that passphrase, lives 5 years
and its certificate authenticates to the API with its clearance);
generate one with 2FA (the secret shown as text once, beside the server's
QR code, gives an oathtool code that POST /v1/session accepts); edit the
clearance (GET /v1/clients/{name} and the certificate's new rights show
it); enable 2FA by edit and re-enrol (a new secret that works); delete
with the confirmation (the certificate is refused afterwards); upload the
deleted client's PKCS#12 again under a new name (it authenticates again)."""
import datetime
import os

from harness import Console, main, ok, wait_until


def run():
    def setup(c):
        c.hkms("ca", "create", "root", "--key-type", "ec:p256", "--subject",
               "/CN=UI Clients Root", "--out-file",
               os.path.join(c.T, "root.pem"))

    with Console(clearance="admin", setup=setup) as c:
        T = c.T

        def p12_client(name, p12, passphrase):
            pw = os.path.join(T, name + ".pw")
            fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, passphrase.encode())
            os.close(fd)
            pem = os.path.join(T, name + ".pem")
            c.openssl("pkcs12", "-in", p12, "-passin", "file:" + pw,
                      "-nodes", "-out", pem)
            return {"name": name, "p12": p12, "pass": pw, "pem": pem}

        def reg(name):
            return c.api("GET", "/v1/clients/" + name)

        c.goto("#/clients")
        c.ready("clients")
        c.wait_for('[data-test="client-view"][data-name="admin"]')

        # ---- generate a user client with a passphrase and a grant ----
        c.type('[data-test="gen-name"]', "u1")
        c.select('[data-test="gen-ca"]', "root")
        c.select('[data-test="gen-clearance"]', "user")
        c.click('[data-test="gen-perm-add"]')
        c.select('[data-test="gen-perm-ca"]', "root")
        days = c.wait_for('[data-test="gen-days"]').get_attribute("value")
        assert days == "1826", days
        c.type('[data-test="gen-passphrase"]', "ui passphrase one")
        c.type('[data-test="gen-passphrase2"]', "ui passphrase one")
        c.click('[data-test="gen-submit"]')
        p12 = c.downloaded("u1.p12")
        u1 = p12_client("u1", p12, "ui passphrase one")
        out = c.openssl("x509", "-in", u1["pem"], "-noout", "-enddate",
                        "-issuer").stdout.decode()
        assert "UI Clients Root" in out, out
        end = datetime.datetime.strptime(
            out.split("notAfter=")[1].split("\n")[0].strip(),
            "%b %d %H:%M:%S %Y %Z")
        years = (end - datetime.datetime.utcnow()).days / 365.25
        assert 4.9 < years < 5.1, years
        c.openssl("verify", "-CAfile", os.path.join(T, "root.pem"),
                  "-purpose", "sslclient", u1["pem"])
        st, s = c.api("GET", "/v1/session", client=u1)
        assert st == 200 and s["client"] == "u1" and \
            s["clearance"] == "user", (st, s)
        st, r = reg("u1")
        assert st == 200 and r["clearance"] == "user", (st, r)
        assert [g["ca"] for g in r["permissions"]] == ["root"], r
        st, _ = c.api("GET", "/v1/truststore", client=u1)
        assert st == 403, st
        st, b = c.api("GET", "/v1/clients", client=u1)
        assert st == 403 and b["error"]["code"] == "clearance_too_low", b
        c.wait_for('[data-test="client-view"][data-name="u1"]')
        rows = c.find_all('[data-test="client-row"]')
        assert len(rows) == 2, len(rows)
        row = [x for x in rows if "u1" in x.text][0]
        assert "root: sign+read" in row.text, row.text
        ok("generate: the PKCS#12 opens with its passphrase, is a 5-year "
           "client of root and authenticates as user u1 (GET /v1/session)")
        c.shot("clients")

        # ---- generate with 2FA: the secret once, the QR code ----
        c.type('[data-test="gen-name"]', "u2fa")
        c.select('[data-test="gen-ca"]', "root")
        c.select('[data-test="gen-clearance"]', "operator")
        c.type('[data-test="gen-passphrase"]', "ui passphrase two")
        c.type('[data-test="gen-passphrase2"]', "ui passphrase two")
        c.click('[data-test="gen-2fa"]')
        c.click('[data-test="gen-submit"]')
        secret = c.wait_for('[data-test="totp-secret"]').text.strip()
        assert len(secret) >= 16, secret
        uri = c.wait_for('[data-test="totp-uri"]').text
        assert "secret=" + secret in uri and uri.startswith(
            "otpauth://totp/hkms:u2fa?"), uri
        paths = c.find_all('[data-test="totp-qr"] svg path')
        assert paths, "no QR code SVG in the page"
        assert c.wait_for('[data-test="totp-qr"] svg').size["width"] > 100
        assert "will not be shown again" in c.wait_for(
            '[data-test="totp-panel"]').text
        c.shot("client-2fa")
        u2 = p12_client("u2fa", c.downloaded("u2fa.p12"), "ui passphrase two")
        st, b = c.api("GET", "/v1/truststore", client=u2)
        assert st == 403 and b["error"]["code"] == "second_factor_required", b
        st, b = c.api("POST", "/v1/session", {"code": c.totp(secret)},
                      client=u2)
        assert st == 201 and b["client"] == "u2fa" and b["session"], (st, b)
        st, r = reg("u2fa")
        assert r["require_2fa"] is True and r["totp_enrolled"] is True, r
        c.driver.refresh()
        c.ready("clients")
        c.wait_for('[data-test="client-view"][data-name="u2fa"]')
        assert not c.find_all('[data-test="totp-secret"]'), \
            "the TOTP secret is shown again"
        ok("generate with 2FA: the page's secret gives a code POST "
           "/v1/session accepts (201); QR SVG shown; not shown again")

        # ---- edit the clearance ----
        c.click('[data-test="client-view"][data-name="u1"]')
        c.ready("clients")
        c.select('[data-test="edit-clearance"]', "operator")
        c.click('[data-test="client-save"]')
        c.wait_banner("Saved", kind="info")
        st, r = reg("u1")
        assert r["clearance"] == "operator", r
        st, _ = c.api("GET", "/v1/truststore", client=u1)
        assert st == 200, st
        assert c.wait_for('[data-test="client-detail-clearance"]').text == \
            "operator"
        ok("edit: clearance operator in GET /v1/clients/u1; u1 now reads "
           "the truststore")

        # ---- 2FA by edit, then re-enrol ----
        c.click('[data-test="edit-2fa"]')
        c.click('[data-test="client-save"]')
        s1 = c.wait_for('[data-test="totp-secret"]').text.strip()
        c.shot("client-detail")
        c.click('[data-test="client-totp"]')
        c.click('[data-test="confirm-ok"]')
        s2 = wait_until(lambda: [e.text.strip() for e in c.find_all(
            '[data-test="totp-secret"]') if e.text.strip() != s1], 15,
            "a new TOTP secret")[0]
        st, b = c.api("POST", "/v1/session", {"code": c.totp(s2)}, client=u1)
        assert st == 201, (st, b)
        if c.totp(s1) != c.totp(s2):
            st, b = c.api("POST", "/v1/session", {"code": c.totp(s1)},
                          client=u1)
            assert st == 401, (st, b)
        ok("2FA on by edit (secret shown), re-enrol: the new secret opens "
           "a session, the old one is refused")

        # ---- delete with the confirmation ----
        c.goto("#/clients")
        c.click('[data-test="client-delete"][data-name="u2fa"]')
        c.click('[data-test="confirm-cancel"]')
        assert reg("u2fa")[0] == 200, "deleted without confirmation"
        c.click('[data-test="client-delete"][data-name="u2fa"]')
        c.click('[data-test="confirm-ok"]')
        c.wait_banner("Deleted", kind="info")
        c.wait_for('[data-test="client-view"][data-name="u2fa"]', gone=True)
        assert reg("u2fa")[0] == 404
        st, b = c.api("GET", "/v1/session", client=u2)
        assert st == 403 and b["error"]["code"] == "client_unknown", (st, b)
        ok("delete: cancel keeps it; confirm removes it and its "
           "certificate is refused (client_unknown)")

        # ---- upload the PKCS#12 again under another name ----
        c.type('[data-test="up-name"]', "u2back")
        c.wait_for('[data-test="up-file"]').send_keys(u2["p12"])
        c.type('[data-test="up-password"]', "ui passphrase two")
        c.select('[data-test="up-clearance"]', "operator")
        c.click('[data-test="up-submit"]')
        c.wait_for('[data-test="client-view"][data-name="u2back"]')
        st, r = reg("u2back")
        assert st == 200 and r["clearance"] == "operator", (st, r)
        st, s = c.api("GET", "/v1/session", client=u2)
        assert st == 200 and s["client"] == "u2back", (st, s)
        st, _ = c.api("GET", "/v1/truststore", client=u2)
        assert st == 200, st
        ok("upload: the PKCS#12 registers again (u2back, operator) and "
           "authenticates")

        # an API failure shows the API's message: the name is taken
        c.type('[data-test="gen-name"]', "u1")
        c.select('[data-test="gen-ca"]', "root")
        c.type('[data-test="gen-passphrase"]', "ui passphrase three")
        c.type('[data-test="gen-passphrase2"]', "ui passphrase three")
        c.click('[data-test="gen-submit"]')
        msg = c.wait_banner(kind="error")
        ok("a taken name shows the API's error: %s" % msg.strip())
        c.shot("clients-narrow", narrow=True)
        c.finish()


if __name__ == "__main__":
    main(run)
