#!/usr/bin/python3
"""2FA in the console (issues 16a/16b): a client that requires 2FA is sent
to the TOTP prompt and the API refuses it without a session; a wrong code
shows the API's error; the code oathtool computes opens the session and
brings the user back to the screen it asked for; the same code again is
refused as replayed; with the session the page reaches the API, the same
certificate without the cookie still does not."""
import time

from harness import Console, fail, main, ok, wait_until


def wait_fresh_step(c):
    """Sleep into the start of a 30 s step when less than 5 s of the
    current one are left (a code typed at the edge would belong to the
    next step); bounded: at most 6 s."""
    left = 30 - time.time() % 30
    if left < 5:
        time.sleep(left + 0.5)


def test():
    with Console(clearance="admin", require_2fa=True) as c:
        if not c.totp_secret:
            fail("no TOTP secret for the 2FA client")
        # the API: refused without a session, the session object says why
        st, body = c.api("GET", "/v1/audit")
        if st != 403 or body["error"]["code"] != "second_factor_required":
            fail("the API without a session: %s %s" % (st, body))
        st, s = c.api("GET", "/v1/session")
        if st != 200 or s["require_2fa"] is not True or s["session"] is not None:
            fail("GET /v1/session before the code: %s %s" % (st, s))
        ok("the API refuses a 2FA client without a session "
           "(second_factor_required)")

        c.goto("#/audit")
        if c.ready() != "login":
            fail("a 2FA client without a session is not sent to the prompt")
        if "next=" not in c.driver.current_url:
            fail("the prompt does not remember the screen asked for")
        if c.find_all('#nav a[data-test^="nav-"]'):
            fail("the nav offers screens before the second factor")
        c.shot("login")
        ok("sent to the TOTP prompt, no screens offered")

        # a wrong code: the API's error, shown
        wait_fresh_step(c)
        good = c.totp()
        wrong = "%06d" % ((int(good) + 500000) % 1000000)
        c.type('[data-test="totp-code"]', wrong)
        c.click('[data-test="totp-submit"]')
        err = c.wait_for('[data-test="login-error"]')
        wait_until(lambda: err.get_attribute("data-code") == "totp_invalid",
                   10, "the totp_invalid error")
        c.wait_banner("totp_invalid")
        st, s = c.api("GET", "/v1/session")
        if s["session"] is not None:
            fail("a wrong code opened a session")
        ok("a wrong code: %r (totp_invalid), no session" % err.text)
        c.shot("login-error")

        # the right code: a session, back to the audit screen
        c.type('[data-test="totp-code"]', good)
        c.click('[data-test="totp-submit"]')
        c.ready("audit")
        if not c.driver.current_url.endswith("#/audit"):
            fail("not back on the audit screen: %s" % c.driver.current_url)
        c.wait_for('[data-test="audit-row"]')
        c.wait_for('[data-test="nav-audit"]')
        cookies = {k["name"]: k for k in c.driver.get_cookies()}
        ck = cookies.get("hkms_session")
        if ck is None or not ck.get("httpOnly") or not ck.get("secure") or \
                ck.get("sameSite") != "Strict":
            fail("the session cookie is not HttpOnly, Secure, SameSite=Strict: "
                 "%s" % ck)
        if c.driver.execute_script("return document.cookie").find(
                "hkms_session") >= 0:
            fail("the page's script can read the session cookie")
        ok("the oathtool code opens the session (cookie HttpOnly, Secure, "
           "SameSite=Strict) and returns to #/audit")

        # with the session the page reaches the API; a state change needs
        # the CSRF token (api.js sends it), a bare fetch without it is 403
        r = c.fetch("GET", "/v1/audit?limit=1")
        if r["status"] != 200:
            fail("the page with its session: %s" % r)
        r = c.fetch("POST", "/v1/session", {"code": good})
        if r["status"] != 403 or r["json"]["error"]["code"] != "csrf_invalid":
            fail("a POST with the cookie but no CSRF token: %s" % r)
        # the same certificate without the cookie: still refused
        st, body = c.api("GET", "/v1/audit")
        if st != 403 or body["error"]["code"] != "second_factor_required":
            fail("the API without the cookie after the session: %s %s" %
                 (st, body))
        ok("the page's session reaches the API; without the cookie the "
           "certificate alone is refused; no CSRF token: csrf_invalid")

        # end the session; the same code again is replayed
        c.click('[data-test="logout"]')
        c.ready("login")
        r = c.fetch("GET", "/v1/audit?limit=1")
        if r["status"] != 403:
            fail("the session still works after End session: %s" % r)
        c.type('[data-test="totp-code"]', good)
        c.click('[data-test="totp-submit"]')
        err = c.wait_for('[data-test="login-error"]')
        wait_until(lambda: err.get_attribute("data-code") == "totp_replayed",
                   10, "the totp_replayed error (has %r)" %
                   err.get_attribute("data-code"))
        ok("End session closes it; the used code again: %r (totp_replayed)" %
           err.text)
        c.finish()


if __name__ == "__main__":
    main(test)
