#!/usr/bin/env python3
"""attack_session_matrix.py SRC T WHO (tests/e2e/attack_session_bypass.sh):
every route of docs/api.yaml but the public, session and console-file
(ui.static) ones, called by
client WHO ($T/WHO.pem, .key), which requires 2FA and has no session, on
https://127.0.0.1:$PORT: each must be 403 second_factor_required (a body
the route cannot parse may be 400 first: nothing runs; HEAD of a GET
route is 405). Prints the routes that answered otherwise; exit 1 then."""
import http.client
import json
import os
import ssl
import sys

import yaml

SRC, T, WHO = sys.argv[1:4]
PORT = int(os.environ["PORT"])
ctx = ssl.create_default_context(cafile=os.path.join(T, "service.pem"))
ctx.load_cert_chain(os.path.join(T, WHO + ".pem"), os.path.join(T, WHO + ".key"))
api = yaml.safe_load(open(os.path.join(SRC, "docs/api.yaml")))
bad = []
for p, v in api["paths"].items():
    for m, o in v.items():
        if m not in ("get", "post", "put", "patch", "delete"):
            continue
        # the console's static files load before the second factor (they
        # show the TOTP prompt; they hold no data)
        if o.get("x-hkms-clearance") == "public" or o.get("x-hkms-table") == "session" or \
                o.get("x-hkms-op") == "ui.static":
            continue
        path = p
        for a, b in (("{request*}", "x"), ("{name}", "root"), ("{ca}", "root"),
                     ("{serial}", "01"), ("{alias}", "nope"), ("{id}", "nope")):
            path = path.replace(a, b)
        for meth in [m.upper()] + (["HEAD"] if m == "get" else []):
            c = http.client.HTTPSConnection("127.0.0.1", PORT, context=ctx, timeout=30)
            b = None if meth in ("GET", "HEAD", "DELETE") else "{}"
            c.request(meth, path, body=b, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            c.close()
            try:
                code = json.loads(data)["error"]["code"]
            except Exception:
                code = "-"
            if (r.status == 403 and code == "second_factor_required") or \
                    (meth == "HEAD" and r.status == 405) or \
                    (b is not None and r.status == 400 and code != "-"):
                continue
            bad.append("%s %s: %d %s" % (meth, path, r.status, code))
print("\n".join(bad))
sys.exit(1 if bad else 0)
