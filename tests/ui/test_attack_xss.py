#!/usr/bin/python3
"""Attack (issue 16): data an outsider controls, rendered by the console,
must stay text. A CA made with openssl whose subject is markup signs a
leaf whose subject, SANs, CRL distribution point and AIA are markup and
javascript: URLs (and a bidi override, a 3000-character URI); it is
imported as a certificate, into the truststore (with the CA and its CRL),
signed again by an hkms CA and registered as a client. Every screen that
shows it is opened in headless Chromium: no injected element exists, no
handler ran (window.__xss), no bidi override shown raw (it is
[U+202E]), no link but the console's own (#, blob:), no
CSP violation (an injected inline handler would be one), the markup is
there as text, and the page does not grow sideways."""
import json
import os

from harness import Console, main, ok, fail, wait_until

EXT = """[req]
distinguished_name=dn
[dn]
[leaf]
basicConstraints=critical,CA:FALSE
keyUsage=digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=URI:javascript:window.__xss=3,DNS:x.example,\
email:"><img src=x onerror=window.__xss=4>@e.com,\
URI:https://evil.example/?a=<b>%s
crlDistributionPoints=URI:javascript:window.__xss=5
authorityInfoAccess=caIssuers;URI:javascript:window.__xss=6,\
OCSP;URI:http://"><svg onload=window.__xss=7>
[v3ca]
basicConstraints=critical,CA:TRUE
keyUsage=keyCertSign,cRLSign
subjectKeyIdentifier=hash
[ca]
default_ca=c
[c]
database=%s/xss-index.txt
crlnumber=%s/xss-crlnumber
default_md=sha256
default_crl_days=7
"""

CN = "<img src=x onerror=window.__xss=1>"
O = '"><svg onload=window.__xss=2>'
CA_CN = "<img src=x onerror=window.__xss=10> CA"

# every element an injection could have made, and every link the console
# did not make itself
PROBE = """
const bad = [];
if (window.__xss !== undefined) bad.push('window.__xss = ' + window.__xss);
for (const e of document.querySelectorAll('img:not([src^="/ui/"]), iframe, object, embed, script:not([src^="/ui/"])'))
    bad.push('element ' + e.outerHTML.slice(0, 120));
for (const e of document.querySelectorAll('svg'))
    if (!e.closest('[data-test="totp-qr"]')) bad.push('svg ' + e.outerHTML.slice(0, 120));
for (const e of document.querySelectorAll('*'))
    for (const a of e.attributes)
        if (/^on/i.test(a.name)) bad.push('handler ' + a.name + ' on ' + e.tagName);
for (const a of document.querySelectorAll('[href], [src], [action], [formaction]')) {
    const v = a.getAttribute('href') || a.getAttribute('src') ||
        a.getAttribute('action') || a.getAttribute('formaction') || '';
    if (!(v.startsWith('#') || v.startsWith('/ui/') || v.startsWith('blob:')))
        bad.push('link ' + a.tagName + ' ' + v.slice(0, 80));
}
// a bidi override shown raw turns "OU=<RLO>evil" into "OU=live"
const shown = document.body.textContent;
const m = /[\u202a-\u202e\u2066-\u2069\u200e\u200f]/.exec(shown);
if (m)
    bad.push('bidi control U+' + m[0].charCodeAt(0).toString(16) + ' shown raw: ' +
        shown.slice(Math.max(0, m.index - 20), m.index + 20));
const wide = document.documentElement.scrollWidth > window.innerWidth + 2;
// the outermost elements that stick out of the window
const out = [];
if (wide)
    for (const e of document.querySelectorAll('body *')) {
        const r = e.getBoundingClientRect();
        if (r.right > window.innerWidth + 2 && !(e.parentElement &&
            e.parentElement.getBoundingClientRect().right > window.innerWidth + 2))
            out.push(e.tagName + '.' + e.className + '[' + (e.dataset.test || '') +
                '] ' + Math.round(r.width) + 'px: ' + e.textContent.slice(0, 60));
    }
return {bad, text: document.getElementById('main').textContent +
    document.getElementById('banner').textContent, wide, out,
    width: document.documentElement.scrollWidth};
"""


HOSTILE_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" '
               'xmlns:x="http://www.w3.org/1999/xlink" viewBox="0 0 8 8" '
               'onload="window.__xss=50">'
               '<meta xmlns="http://www.w3.org/1999/xhtml" http-equiv="refresh" '
               'content="0;url=http://127.0.0.1:9/"/>'
               '<embed xmlns="http://www.w3.org/1999/xhtml" src="/v1/clients"/>'
               '<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div>'
               '</foreignObject><script>window.__xss=51</script>'
               '<style>rect{fill:url(https://evil.example/#p)}</style>'
               '<a x:href="javascript:window.__xss=52"><rect width="8" height="8"/></a>'
               '<use x:href="https://evil.example/s.svg#a"/>'
               '<rect width="8" height="8" fill="url(https://evil.example/#p)" '
               'style="fill:red" filter="url(https://evil.example/#f)"/>'
               '<g><path d="M1 1h1v1h-1z" fill="#000" onclick="window.__xss=53"/></g>'
               '</svg>')


def probe(c, where, must_show=()):
    r = c.driver.execute_script(PROBE)
    if r["bad"]:
        fail("%s: injected: %s" % (where, r["bad"][:5]))
    for s in must_show:
        if s not in r["text"]:
            fail("%s: %r is not shown as text" % (where, s))
    if r["wide"]:
        c.shot("xss-wide-" + where.strip("#/").replace("/", "-"),
               force_tmp=True)
        fail("%s: the page is %dpx wide in a %dpx window: %s" %
             (where, r["width"], c.size[0], r["out"][:5]))
    ok("%s: hostile fields are text, nothing injected" % where)


def make(c):
    T = c.T
    with open(os.path.join(T, "xss.cnf"), "w") as f:
        f.write(EXT % ("L" * 3000, T, T))
    open(os.path.join(T, "xss-index.txt"), "w").close()
    with open(os.path.join(T, "xss-crlnumber"), "w") as f:
        f.write("01\n")
    p = lambda n: os.path.join(T, n)
    c.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
              "ec_paramgen_curve:P-256", "-nodes", "-keyout", p("xca.key"),
              "-out", p("xca.pem"), "-days", "30", "-utf8", "-subj",
              "/CN=%s/O=%s" % (CA_CN, O),
              "-config", p("xss.cnf"), "-extensions", "v3ca")
    c.openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
              "ec_paramgen_curve:P-256", "-nodes", "-keyout", p("xleaf.key"),
              "-out", p("xleaf.csr"), "-utf8", "-config", p("xss.cnf"),
              "-subj", "/CN=%s/O=%s/OU=\u202eevil\u202c%s/L=javascript:alert(1)"
              % (CN, O, "W" * 40))
    c.openssl("x509", "-req", "-in", p("xleaf.csr"), "-CA", p("xca.pem"),
              "-CAkey", p("xca.key"), "-CAcreateserial", "-days", "20",
              "-extfile", p("xss.cnf"), "-extensions", "leaf",
              "-out", p("xleaf.pem"))
    c.openssl("ca", "-gencrl", "-config", p("xss.cnf"),
              "-keyfile", p("xca.key"), "-cert", p("xca.pem"),
              "-out", p("xca.crl"))
    rd = lambda n: open(p(n)).read()
    st, b = c.api("POST", "/v1/certificates/import", {
        "name": "evil", "certificate": rd("xleaf.pem") + rd("xca.pem"),
        "private_key": rd("xleaf.key"), "profile": "any"})
    assert st == 201 or st == 200, (st, b)
    for alias, f in (("evil-ca", "xca.pem"), ("evil-leaf", "xleaf.pem")):
        st, b = c.api("POST", "/v1/truststore", {"alias": alias,
                                                  "certificate": rd(f)})
        assert st == 201, (st, b)
    st, b = c.api("POST", "/v1/truststore/crls", {"crl": rd("xca.crl")})
    assert st == 201 or st == 200, (st, b)
    st, b = c.api("POST", "/v1/cas/hkms-clients/sign", {
        "csr": rd("xleaf.csr"), "profile": "tls-client"})
    assert st == 200 or st == 201, (st, b)
    st, r = c.api("POST", "/v1/clients", {"name": "evilclient",
                                          "certificate": b["pem"],
                                          "clearance": "user"})
    assert st == 201, (st, r)
    # a refused request whose message echoes the input (the audit log
    # records the failure)
    st, b = c.api("POST", "/v1/certificates", {"name": CN, "key": "ec:p256",
                                               "subject": "/CN=x"})
    assert st == 400 or st == 422, (st, b)


def run():
    with Console(clearance="admin") as c:
        make(c)
        screens = [
            ("#/certificates", [CN]),
            ("#/certificates/evil", [CN, O, "window.__xss=10",
                                     "OU=[U+202E]evil[U+202C]",
                                     "javascript:window.__xss=3",
                                     "javascript:window.__xss=5",
                                     "javascript:window.__xss=6"]),
            ("#/truststore", []),
            ("#/truststore/evil-ca", ["window.__xss=10"]),
            ("#/truststore/evil-leaf", [CN, "svg onload=window.__xss=2"]),
            ("#/cas/hkms-clients", []),
            ("#/clients", []),
            ("#/clients/evilclient", ["img src=x onerror=window.__xss=1"]),
            ("#/audit", []),
        ]
        def visit(h, show):
            c.goto(h)
            # the screens fill in after their GETs: wait for the text
            for s in show:
                wait_until(lambda: s in c.driver.execute_script(
                    "return document.getElementById('main').textContent"),
                    15, "%s to show %r" % (h, s))

        for h, show in screens:
            visit(h, show)
            probe(c, h, show)
        # the narrow window: the long fields wrap, the page does not scroll
        # sideways
        c.set_size(420, 800)
        for h, show in screens:
            visit(h, show)
            probe(c, h + " (narrow)")
        c.set_size(1280, 800)
        # an audit record opened whole
        c.goto("#/audit")
        c.click('[data-test="audit-row"]')
        probe(c, "#/audit (a record)")
        # markup in the address: the screen's error names it as text
        for h in ("#/certificates/%3Cimg%20src%3Dx%20onerror%3Dwindow.__xss%3D40%3E",
                  "#/truststore/%22%3E%3Csvg%20onload%3Dwindow.__xss%3D41%3E",
                  "#/%3Cimg%20src%3Dx%20onerror%3Dwindow.__xss%3D42%3E",
                  "#/login?next=javascript:window.__xss=43"):
            c.goto(h)
            probe(c, h)
        c.finish()
        # the QR code import (ui/admin-common.js svgFromServer) given a
        # hostile SVG (after finish(): DOMParser reports the handlers and
        # styles of the markup it parses as CSP violations): only the QR code's SVG elements and attributes stay
        c.goto("#/clients")
        r = c.driver.execute_async_script("""
            const done = arguments[0];
            import("/ui/admin-common.js").then((m) => {
                const n = m.svgFromServer(HOSTILE);
                done(n ? {html: n.outerHTML, paths: n.querySelectorAll('path').length,
                    all: [...n.querySelectorAll('*')].map((e) => e.namespaceURI + ' ' + e.localName)} : null);
            }).catch((e) => done({error: String(e)}));
        """.replace("HOSTILE", json.dumps(HOSTILE_SVG)))
        if not r or "error" in r:
            fail("svgFromServer: %s" % r)
        for bad in ("meta", "embed", "script", "foreignObject", "url(",
                    "onload", "href", "style", "iframe", "refresh"):
            if bad in r["html"]:
                fail("svgFromServer kept %r: %s" % (bad, r["html"][:300]))
        if r["paths"] != 1 or any(not a.startswith("http://www.w3.org/2000/svg ")
                                  for a in r["all"]):
            fail("svgFromServer: %s" % r["all"])
        ok("a hostile QR SVG keeps only its SVG shapes: %s" % r["html"][:120])


if __name__ == "__main__":
    main(run)
