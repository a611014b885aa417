#!/usr/bin/env python3
"""The authorization matrix driver (tests/e2e/serve_authz.sh sets it up).

    URL=https://127.0.0.1:PORT serve_authz.py SRC_DIR TEST_DIR

Expected status of every route of docs/api.yaml for every identity, read
from the docs: a route's clearance is its x-hkms-clearance, which must be
the row of its x-hkms-op in docs/api.md's Authorization table (an
operation not in the table: admin); an operation whose note says "on the
CA" is CA-scoped for a user. Then:
  public route               -> never 401/403, for anyone
  no certificate             -> 401 client_certificate_required
  invalid identity           -> 403
  valid identity below it    -> 403 (a user on a CA it is not granted too)
  valid identity at or above -> anything but 401/403
except that a body the route cannot parse is 400 for everyone (the body
is read before the operation runs; docs/api.md, Authorization): a denied
identity's 400 passes only if admin gets the same 400 and code.
Bodies are valid where cheap; destructive calls (delete, rename, edit)
act on a throw-away object of each identity: afterwards a refused
identity's object is still there (as it was) and an allowed one's is gone.
"""
import http.client
import json
import os
import re
import ssl
import sys
import urllib.parse

import yaml

SRC, T = sys.argv[1], sys.argv[2]
URL = urllib.parse.urlparse(os.environ["URL"])
LEVEL = {"public": 0, "user": 1, "operator": 2, "admin": 3}
# identity -> clearance (None: invalid, must be refused), granted CAs
VALID = {"user_a": ("user", {"ca-a"}), "user_b": ("user", {"ca-b"}),
         "operator": ("operator", None), "admin": ("admin", None)}
INVALID = ["selfsigned", "unknownca", "expired", "revoked", "noeku",
           "unregistered"]
IDS = ["none"] + INVALID + list(VALID)


def rd(p):
    with open(os.path.join(T, p)) as f:
        return f.read()


def context(ident):
    ctx = ssl.create_default_context(cafile=os.path.join(T, "service.pem"))
    if ident != "none":
        d = os.path.join(T, "id", ident)
        pw = None
        if os.path.exists(d + ".pass"):
            pw = rd("id/%s.pass" % ident).encode()
        ctx.load_cert_chain(d + ".pem", d + ".key", password=pw)
    return ctx


CTX = {}


def call(ident, method, path, body=None):
    if ident not in CTX:
        CTX[ident] = context(ident)
    c = http.client.HTTPSConnection(URL.hostname, URL.port,
                                    context=CTX[ident], timeout=30)
    try:
        hdr = {"Connection": "close"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdr["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=hdr)
        r = c.getresponse()
        raw = r.read()
        code = None
        if r.status >= 400 and raw[:1] == b"{":
            try:
                code = json.loads(raw)["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = "(no envelope)"
        return r.status, code, raw
    finally:
        c.close()


def auth_table():
    md = rd_src("docs/api.md")
    m = re.search(r"^## Authorization\n(.*?)(?=^## )", md, re.M | re.S)
    rows = {}
    for r in re.finditer(r"^\| `([a-z_.]+)` \| (public|user|operator|"
                         r"admin) \|([^|]*)\|", m.group(1), re.M):
        rows[r.group(1)] = (r.group(2), "on the CA" in r.group(3),
                            "its own registration" in r.group(3))
    return rows


def rd_src(p):
    with open(os.path.join(SRC, p)) as f:
        return f.read()


CSR = rd("web.csr")
CA_A = rd("ca-a.pem")
CA_B = rd("ca-b.pem")
SERIAL_A = rd("serial_a").strip()
SIGN = {"csr": CSR, "profile": "tls-server", "san": ["DNS:www.example.com"]}
# operationId -> (path parameters, query, body); {i} is the identity
FIX = {
    "clients_add": ({}, "", {"name": "add-{i}", "clearance": "user",
                             "certificate": CA_A}),
    "clients_generate": ({}, "", {"name": "gen-{i}", "clearance": "user",
                                  "ca": "ca-a",
                                  "passphrase": "matrix gen passphrase"}),
    "clients_show": ({"name": "revoked"}, "", None),
    "clients_edit": ({"name": "del-{i}"}, "", {"clearance": "user"}),
    "clients_delete": ({"name": "del-{i}"}, "", None),
    "keys_generate": ({}, "", {"name": "k-{i}", "type": "ec:p256"}),
    "keys_import": ({}, "", {"name": "ki-{i}", "key": "not a key"}),
    "keys_show": ({"name": "kx"}, "", None),
    "keys_delete": ({"name": "del-{i}"}, "", None),
    "csrs_create": ({}, "", {"name": "csr-{i}", "key": "kx",
                             "subject": "/CN=csr"}),
    "csrs_verify": ({}, "", {"csr": CSR}),
    "certificates_self_sign": ({}, "", {"name": "ss-{i}", "key": "kx",
                                        "subject": "/CN=ss"}),
    "certificates_import": ({}, "", {"name": "imp-{i}",
                                     "certificate": CA_B}),
    "certificates_show": ({"name": "cx"}, "", None),
    "certificates_rename": ({"name": "ren-{i}"}, "",
                            {"name": "renamed-{i}"}),
    "certificates_delete": ({"name": "del-{i}"}, "", None),
    "certificates_export": ({"name": "cx"}, "", {"format": "pem"}),
    "certificates_renew": ({"name": "cx"}, "", {}),
    "cas_create": ({}, "", {"name": "ca-{i}", "key_type": "ec:p256",
                            "subject": "/CN=ca {i}"}),
    "cas_apply": ({"name": "ca-a"}, "", {"certificate": "x",
                                         "chain": "x"}),
    "cas_sign": ({"name": "ca-a"}, "", SIGN),
    "cas_issued_show": ({"name": "ca-a", "serial": SERIAL_A}, "", None),
    "cas_revoke": ({"name": "ca-a"}, "", {"serial": "7e57"}),
    "cas_crl_make": ({"name": "ca-a"}, "", {"days": 2}),
    "cas_policy_put": ({"name": "ca-a"}, "", {}),
    "cas_issue_client": ({"name": "ca-a"}, "",
                         {"subject": "/CN=ic-{i}",
                          "passphrase": "matrix issue passphrase"}),
    "profiles_show": ({"name": "tls-server"}, "", None),
    "truststore_import": ({}, "", {"alias": "t-{i}", "certificate": CA_B}),
    "truststore_verify": ({}, "", {"chain": CA_A}),
    "truststore_show": ({"alias": "tx"}, "", None),
    "truststore_delete": ({"alias": "del-{i}"}, "", None),
    "truststore_pin": ({"alias": "tx"}, "", {"certificate": CA_B}),
    "audit_show": ({}, "?since=0&limit=2", None),
}


def fill(v, ident):
    if isinstance(v, str):
        return v.replace("{i}", ident.replace("_", "-"))
    if isinstance(v, dict):
        return {k: fill(x, ident) for k, x in v.items()}
    if isinstance(v, list):
        return [fill(x, ident) for x in v]
    return v


def main():
    doc = yaml.safe_load(rd_src("docs/api.yaml"))
    table = auth_table()
    errs, ok2xx, n, early400 = [], 0, 0, 0
    refusals = {}
    for path, item in doc["paths"].items():
        for method, o in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            op = o["x-hkms-op"]
            least, scoped, own = table.get(op, ("admin", False, False))
            if o["x-hkms-clearance"] != least:
                errs.append("%s %s: x-hkms-clearance %s but %s is %s in "
                            "docs/api.md" % (method.upper(), path,
                                             o["x-hkms-clearance"], op,
                                             least))
            params, query, body = FIX.get(o["operationId"], ({}, "", None))
            if body is None and method in ("post", "put", "patch"):
                body = {}
            got, pend = {}, []
            for ident in IDS:
                p = path
                for seg in re.findall(r"\{([a-z_]+)\}", path):
                    val = params.get(seg, "ca-a" if seg in ("name", "ca")
                                     else "x")
                    p = p.replace("{%s}" % seg, urllib.parse.quote(
                        fill(val, ident), safe=""))
                st, code, raw = call(ident, method.upper(), p + query,
                                     fill(body, ident))
                n += 1
                got[ident] = (st, code)
                where = "%s %s as %s: %d %s" % (method.upper(), p + query,
                                                ident, st, code or "")
                if least == "public":
                    want = "not 401/403"
                    good = st not in (401, 403)
                elif ident == "none":
                    want = "401 client_certificate_required"
                    good = st == 401 and code == \
                        "client_certificate_required"
                elif ident in INVALID:
                    want = "403"
                    good = st == 403
                    refusals.setdefault(ident, set()).add(code)
                else:
                    cl, cas = VALID[ident]
                    deny = LEVEL[cl] < LEVEL[least]
                    if (not deny and scoped and cl == "user" and
                            "ca-a" not in cas):
                        deny = True
                    want = "403" if deny else "not 401/403"
                    good = (st == 403) if deny else st not in (401, 403)
                    if deny and st == 400 and ident != "admin":
                        pend.append((ident, where, raw))
                        continue
                if st >= 500 and st != 503:
                    good = False
                    want += " and no 5xx"
                if good and 200 <= st < 300:
                    ok2xx += 1
                if not good:
                    errs.append("%s, want %s (%s)" % (where, want,
                                                       raw[:160]))
            for ident, where, raw in pend:
                if got[ident] == got["admin"]:
                    early400 += 1
                else:
                    errs.append("%s, want 403 (admin: %s) (%s)" %
                                (where, got["admin"], raw[:160]))
    # the throw-away objects: kept exactly where the call was refused
    for show, gone_op in (("/v1/keys/del-%s", "key.delete"),
                          ("/v1/certificates/del-%s", "cert.delete"),
                          ("/v1/certificates/ren-%s", "cert.rename"),
                          ("/v1/truststore/del-%s", "trust.delete"),
                          ("/v1/clients/del-%s", "client.delete")):
        least = table.get(gone_op, ("admin",))[0]
        for ident in IDS:
            allowed = ident in VALID and \
                LEVEL[VALID[ident][0]] >= LEVEL[least]
            st, code, raw = call("admin", "GET", show % fill("{i}", ident))
            if st != (404 if allowed else 200):
                errs.append("after the matrix, GET %s: %d (%s %s)" % (
                    show % fill("{i}", ident), st, ident,
                    "allowed" if allowed else "refused"))
    # a client's own registration, and a user on the CA it is granted
    for ident in VALID:
        st, code, raw = call(ident, "GET", "/v1/clients/" + ident)
        if st != 200:
            errs.append("GET /v1/clients/%s as itself: %d" % (ident, st))
    st, code, raw = call("user_b", "POST", "/v1/cas/ca-b/sign", SIGN)
    if st != 201:
        errs.append("user_b signing with ca-b: %d %s" % (st, raw[:160]))
    for e in errs:
        print("serve_authz: " + e)
    print("serve_authz: %d calls, %d 2xx, %d 400 before authorization, "
          "refusal codes %s, %d problems" %
          (n, ok2xx, early400, {k: sorted(v) for k, v in refusals.items()},
           len(errs)))
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
