#!/usr/bin/python3
"""The console's shell in headless Chromium (issue 16b): the nav shows each
client only the screens its clearance allows (a user sees no Clients and
no Audit; an admin every screen); a user's forced request to
/v1/clients is 403 from the page and from the API; no request leaves the
origin; the CSP is served and enforced (an injected inline script is
blocked and reported); the narrow window folds the nav behind a Menu
button; the keyboard reaches the skip link and the nav."""
import os
import re

from harness import Console, HKMS_SRC, fail, main, ok, wait_until

CSP = ("default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'")


def screens():
    """{name: least} of the nav's screens (app.js SCREENS) whose module
    is in ui/screens (other modules there are helpers)."""
    out = {}
    d = os.path.join(HKMS_SRC, "ui", "screens")
    app = open(os.path.join(HKMS_SRC, "ui", "app.js")).read()
    m = re.search(r"const SCREENS = \[([^\]]*)\]", app)
    if not m:
        fail("ui/app.js has no SCREENS list")
    for n in re.findall(r'"([a-z]+)"', m.group(1)):
        f = n + ".js"
        if not os.path.exists(os.path.join(d, f)):
            continue
        m = re.search(r'export const least = "(user|operator|admin)"',
                      open(os.path.join(d, f)).read())
        if not m:
            fail("ui/screens/%s exports no least clearance" % f)
        out[f[:-3]] = m.group(1)
    return out


RANK = {"user": 1, "operator": 2, "admin": 3}


def nav(c):
    return sorted(e.get_attribute("data-test")[4:]
                  for e in c.find_all('#nav a[data-test^="nav-"]'))


def test():
    all_screens = screens()
    if "audit" not in all_screens:
        fail("ui/screens/audit.js is missing")

    with Console(clearance="user") as c:
        c.goto("#/")
        c.wait_for('[data-test="who-clearance"]', text="user")
        want = sorted(n for n, l in all_screens.items() if l == "user")
        wait_until(lambda: nav(c) == want, 10, "the user's nav %s (has %s)"
                   % (want, nav(c)))
        if "clients" in nav(c) or "audit" in nav(c):
            fail("a user sees client management or the audit log")
        ok("user-clearance nav: %s (no clients, no audit)" % want)

        # the screen itself says no; the API refuses the forced requests
        c.goto("#/audit")
        if c.ready() != "forbidden":
            fail("a user opened the audit screen")
        r = c.fetch("GET", "/v1/clients")
        if r["status"] != 403 or (r["json"] or {}).get("error", {}).get(
                "code") not in ("clearance_too_low", "permission_denied"):
            fail("user fetch /v1/clients from the page: %s" % r)
        st, body = c.api("GET", "/v1/clients")
        if st != 403:
            fail("user GET /v1/clients over the API: %s %s" % (st, body))
        r = c.fetch("POST", "/v1/clients/generate", {
            "name": "x", "clearance": "admin", "ca": "hkms-clients",
            "passphrase": "long enough passphrase"})
        if r["status"] != 403:
            fail("user POST /v1/clients/generate from the page: %s" % r)
        ok("a user's forced requests to client management are 403 "
           "(page and API)")
        c.shot("shell-user")

        # the CSP: served with the page, nothing violated it so far
        st, _ = c.api("GET", "/ui/", raw=True)
        if st != 200 or c.last_headers.get("content-security-policy") != CSP:
            fail("GET /ui/: CSP %r" %
                 c.last_headers.get("content-security-policy"))
        if c.last_headers.get("x-frame-options") != "DENY":
            fail("GET /ui/: no X-Frame-Options DENY")
        c.finish()

        # ... and enforced by the browser: an injected inline script does
        # not run and is reported
        ran = c.driver.execute_script("""
            window.__inline = false;
            const s = document.createElement('script');
            s.textContent = 'window.__inline = true;';
            document.body.appendChild(s);
            return window.__inline;""")
        if ran:
            fail("an inline script ran despite the CSP")
        wait_until(lambda: any("script-src" in v for v in c.csp_violations()
                               ) or c.driver.execute_script(
            "return window.__hkmsCsp.length"), 10, "the CSP violation report")
        ok("the browser enforces the CSP: an inline script is blocked")

    with Console(clearance="admin") as c:
        c.goto("#/audit")
        c.wait_for('[data-test="who-clearance"]', text="admin")
        want = sorted(all_screens)
        wait_until(lambda: nav(c) == want, 10, "the admin's nav %s (has %s)"
                   % (want, nav(c)))
        cur = c.wait_for('#nav a[aria-current="page"]')
        if cur.get_attribute("data-test") != "nav-audit":
            fail("the current screen is not marked in the nav")
        ok("admin nav: every screen %s, the current one marked" % want)

        # keyboard: the first Tab reaches the skip link, the next ones the
        # nav; Enter on a nav link opens its screen
        from selenium.webdriver.common.keys import Keys
        c.goto("#/audit")
        body = c.driver.find_element("css selector", "body")
        c.driver.execute_script("document.activeElement.blur();"
                                "window.scrollTo(0, 0);")
        body.send_keys(Keys.TAB)
        a = c.driver.switch_to.active_element
        if a.get_attribute("data-test") != "skip-link":
            fail("the first Tab does not reach the skip link (%s)" %
                 a.get_attribute("outerHTML")[:120])
        seen = []
        for _ in range(6):
            a.send_keys(Keys.TAB)
            a = c.driver.switch_to.active_element
            seen.append(a.get_attribute("data-test"))
            if (a.get_attribute("data-test") or "").startswith("nav-a"):
                break
        if "nav-audit" not in seen:
            fail("Tab does not reach the nav: %s" % seen)
        outline = c.driver.execute_script(
            "return getComputedStyle(document.activeElement).outlineStyle;")
        if outline in ("none", ""):
            fail("the focused nav link has no visible outline")
        a.send_keys(Keys.ENTER)
        c.ready("audit")
        ok("keyboard: skip link, nav links (with a focus outline), Enter")

        # narrow: the nav folds behind the Menu button
        c.set_size(420, 800)
        toggle = c.wait_for('[data-test="nav-toggle"]')
        wait_until(lambda: not c.driver.find_element(
            "css selector", '[data-test="nav-audit"]').is_displayed(), 5,
            "the nav to fold at 420px")
        toggle.click()
        c.wait_for('[data-test="nav-audit"]')
        if toggle.get_attribute("aria-expanded") != "true":
            fail("the Menu button does not say it is expanded")
        c.shot("shell-narrow")
        toggle.click()
        c.wait_for('[data-test="nav-audit"]', gone=True)
        c.set_size(1280, 800)
        wait_until(lambda: not toggle.is_displayed(), 5,
                   "the Menu button to go at 1280px")
        ok("narrow window: the nav opens and closes with the Menu button")
        c.finish()


if __name__ == "__main__":
    main(test)
