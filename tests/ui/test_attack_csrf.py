#!/usr/bin/python3
"""Attack (issue 16): cross-site request forgery with the browser's
client certificate, which Chromium presents on its own (the managed
policy selects it for the server's origin). A page of another origin
(http://127.0.0.1:<another port>) makes the browser send state-changing
requests to the server: form POSTs (urlencoded, multipart, text/plain
carrying JSON) into a hidden frame, fetch with mode no-cors and
credentials, a DELETE by fetch, and GET navigations and images of read
routes. None may change anything: the server sees the requests (they
reach it with the certificate) and refuses each with 403 cross_origin;
no key, certificate or client is made or removed, and the admin's
console still works afterwards."""
import http.server
import json
import os
import threading

from harness import Console, main, ok, fail, wait_until

PAGE = """<!doctype html><html><body>
<iframe name="sink" id="sink"></iframe>
<form id="f1" method="POST" action="{o}/v1/keys" target="sink">
<input name="name" value="csrf-form"><input name="type" value="ec:p256"></form>
<form id="f2" method="POST" action="{o}/v1/keys" target="sink" enctype="multipart/form-data">
<input name="name" value="csrf-multi"><input name="type" value="ec:p256"></form>
<form id="f3" method="POST" action="{o}/v1/keys" target="sink" enctype="text/plain">
<input name='{{"name":"csrf-plain","type":"ec:p256","x":"' value='"}}'></form>
<form id="f4" method="POST" action="{o}/v1/clients/generate" target="sink" enctype="text/plain">
<input name='{{"name":"csrf-client","ca":"hkms-clients","clearance":"admin","passphrase":"abcdefgh123","x":"' value='"}}'></form>
<img src="{o}/v1/clients">
<script>
window.results = [];
async function go() {{
  for (const id of ["f1", "f2", "f3", "f4"]) {{
    document.getElementById(id).submit();
    await new Promise(r => setTimeout(r, 300));
  }}
  const reqs = [
    ["POST", "/v1/keys", '{{"name":"csrf-fetch","type":"ec:p256"}}'],
    ["POST", "/v1/certificates", '{{"name":"csrf-cert","key":"ec:p256","subject":"/CN=x"}}'],
    ["DELETE", "/v1/clients/victim", null],
    ["POST", "/v1/session", "{{}}"],
  ];
  for (const [m, p, b] of reqs) {{
    try {{
      const r = await fetch("{o}" + p, {{method: m, mode: "no-cors",
        credentials: "include", body: b,
        headers: {{"Content-Type": "text/plain"}}}});
      window.results.push(m + " " + p + " " + r.type);
    }} catch (e) {{ window.results.push(m + " " + p + " error " + e); }}
  }}
  window.done = true;
}}
go();
</script></body></html>
"""


class Attacker(http.server.BaseHTTPRequestHandler):
    page = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *a):
        pass


def refused(c):
    """The cross_origin refusals in the server's request log."""
    n = 0
    with open(os.path.join(c.T, "serve.log")) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if r.get("event") == "http.request" and \
                    r.get("error") == "cross_origin":
                n += 1
    return n


def run():
    with Console(clearance="admin") as c:
        victim = c.new_client("victim", "user")
        assert victim
        st, before = c.api("GET", "/v1/keys")
        assert st == 200, (st, before)
        # the admin's console is open (and its session, when it has one)
        c.goto("#/certificates")
        Attacker.page = PAGE.format(o=c.origin).encode()
        srv = http.server.HTTPServer(("127.0.0.1", 0), Attacker)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        try:
            c.driver.get("http://127.0.0.1:%d/" % srv.server_address[1])
            wait_until(lambda: c.driver.execute_script("return window.done"),
                       30, "the attacker's page to finish")
            res = c.driver.execute_script("return window.results")
            # a no-cors DELETE is not even sent (not a simple method)
            if not any(r.startswith("DELETE") and "error" in r for r in res):
                fail("the browser sent a no-cors DELETE: %s" % res)
            # 4 forms and 3 fetches reached the server
            wait_until(lambda: refused(c) >= 7, 15,
                       "7 cross_origin refusals in the request log")
        finally:
            srv.shutdown()
            srv.server_close()
        ok("the 7 forged requests the browser sends reached the server, each refused "
           "cross_origin (%d)" % refused(c))
        st, after = c.api("GET", "/v1/keys")
        names = {k["name"] for k in after}
        made = [n for n in names if n.startswith("csrf")]
        if made or len(after) != len(before):
            fail("a forged request changed the keys: %s" % made)
        st, certs = c.api("GET", "/v1/certificates")
        if any(x["name"].startswith("csrf") for x in certs):
            fail("a forged request made a certificate")
        st, clients = c.api("GET", "/v1/clients")
        names = {x["name"] for x in clients}
        if "victim" not in names or "csrf-client" in names:
            fail("a forged request changed the clients: %s" % sorted(names))
        ok("no key, certificate or client made or removed")
        # the console itself still works from its own origin
        c.goto("#/certificates")
        c.wait_for('[data-test="cert-row"]')
        ok("the console still works")


if __name__ == "__main__":
    main(run)
