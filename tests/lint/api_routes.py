#!/usr/bin/env python3
"""docs/api.yaml against the route tables the server really has.

    api_routes.py SRC_DIR HTTP_ROUTES_BIN

HTTP_ROUTES_BIN (tests/tools/http_routes.c) prints the three route tables
of the binary (the server's, the clients', the rest) as JSON. Checked:

- every route of the tables is an operation of docs/api.yaml and every
  operation is a route (method + path), none listed twice;
- x-hkms-clearance equals the route's clearance; "public" exactly for the
  routes flagged HKMS_ROUTE_PUBLIC (and those have security: []);
- x-hkms-clearance equals the row of its x-hkms-op in docs/api.md's
  Authorization table (an operation not in the table: admin): the
  operation is the only authority, the server checks no route clearance
  of its own;
- x-hkms-table names the table the route is in;
- every code of an error response's x-hkms-errors is in
  include/hkms/errors.def with that response's HTTP status;
- operationIds are unique, every operation has x-hkms-op, a 2xx (or 3xx) response
  and its path parameters;
- the request body of every operation whose x-hkms-op names a body schema
  of the binary (src/http/body.c tables) has exactly that schema's fields,
  each of the matching type (secrets: format password; binary inputs and
  name lists as documented), the same required ones and the same integer
  ranges, and additionalProperties: false; every schema is used.

A table with no route at all is a placeholder (the part has not landed on
this branch): its operations are skipped with a note, never silently.
"""
import json
import re
import subprocess
import sys

import yaml

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def yaml_type(p):
    if "oneOf" in p:
        kinds = sorted(x.get("type") for x in p["oneOf"])
        return "list" if kinds == ["array", "string"] else "?"
    t = p.get("type")
    if t == "string" and p.get("format") == "password":
        return "secret"
    return t


def check_body(where, o, fields):
    errs = []
    try:
        sch = o["requestBody"]["content"]["application/json"]["schema"]
    except (KeyError, TypeError):
        return ["%s: takes a body (schema of the binary) but documents "
                "none" % where]
    props = sch.get("properties") or {}
    if sch.get("additionalProperties") is not False:
        errs.append("%s: request body needs additionalProperties: false" %
                    where)
    names = [f["name"] for f in fields]
    if sorted(props) != sorted(names):
        errs.append("%s: body fields %s, the binary takes %s" %
                    (where, sorted(props), sorted(names)))
    req = sorted(sch.get("required") or [])
    if req != sorted(f["name"] for f in fields if f["required"]):
        errs.append("%s: required %s, the binary requires %s" %
                    (where, req, sorted(f["name"] for f in fields
                                        if f["required"])))
    for f in fields:
        p = props.get(f["name"])
        if p is None:
            continue
        want = {"bytes": "string", "secret": "secret"}.get(f["type"],
                                                          f["type"])
        if yaml_type(p) != want:
            errs.append("%s: field %s is %s in the binary, %s here" %
                        (where, f["name"], f["type"], yaml_type(p)))
        if f["type"] == "integer" and (p.get("minimum") != f["min"] or
                                       p.get("maximum") != f["max"]):
            errs.append("%s: field %s range %s..%s, the binary %d..%d" %
                        (where, f["name"], p.get("minimum"),
                         p.get("maximum"), f["min"], f["max"]))
    return errs


def auth_table(path):
    """docs/api.md, section Authorization: {op: least clearance}."""
    with open(path) as f:
        md = f.read()
    m = re.search(r"^## Authorization\n(.*?)(?=^## )", md, re.M | re.S)
    rows = {}
    for r in re.finditer(r"^\| `([a-z_.]+)` \| (public|user|operator|"
                         r"admin) \|", m.group(1) if m else "", re.M):
        rows[r.group(1)] = r.group(2)
    return rows


def main():
    src, tool = sys.argv[1], sys.argv[2]
    errs = []
    with open(src + "/docs/api.yaml") as f:
        doc = yaml.load(f, Loader=getattr(yaml, "CSafeLoader",
                                          yaml.SafeLoader))
    authz = auth_table(src + "/docs/api.md")
    if not authz:
        errs.append("docs/api.md: no Authorization table")
    reg = {}
    with open(src + "/include/hkms/errors.def") as f:
        for line in f:
            m = re.match(r'HKMS_ERROR\("([a-z0-9_]+)", HKMS_E_[A-Z_]+, '
                         r'(\d+),', line)
            if m:
                reg[m.group(1)] = int(m.group(2))
    out = json.loads(subprocess.run([tool], check=True,
                                    capture_output=True).stdout)
    routes = out["routes"]
    bodies = {b["name"]: b["fields"] for b in out["bodies"]}
    used = set()
    tables = {r["table"] for r in routes}
    have = {}
    for r in routes:
        key = (r["method"], r["path"])
        if key in have:
            errs.append("route %s %s is in the tables twice (%s, %s)" %
                        (key[0], key[1], have[key]["table"], r["table"]))
        have[key] = r

    if not str(doc.get("openapi", "")).startswith("3.0"):
        errs.append("docs/api.yaml: openapi must be 3.0.x")
    ids = set()
    documented = {}
    skipped = 0
    for path, item in (doc.get("paths") or {}).items():
        for method, o in item.items():
            if method not in METHODS:
                continue
            key = (method.upper(), path)
            where = "%s %s" % key
            documented[key] = o
            oid = o.get("operationId")
            if not oid or oid in ids:
                errs.append("%s: operationId missing or not unique" % where)
            ids.add(oid)
            if not o.get("x-hkms-op"):
                errs.append("%s: no x-hkms-op" % where)
            elif authz and o.get("x-hkms-clearance") != authz.get(
                    o["x-hkms-op"], "admin"):
                errs.append("%s: x-hkms-clearance %s, its operation %s is "
                            "%s in docs/api.md (Authorization)" %
                            (where, o.get("x-hkms-clearance"),
                             o["x-hkms-op"],
                             authz.get(o["x-hkms-op"], "admin")))
            resp = o.get("responses") or {}
            # a redirect (GET / → /ui/, issue 16b) answers 3xx only
            if not any(str(s)[:1] in ("2", "3") for s in resp):
                errs.append("%s: no 2xx or 3xx response" % where)
            for st, r in resp.items():
                for code in (r or {}).get("x-hkms-errors") or []:
                    if code not in reg:
                        errs.append("%s: error code %s is not in "
                                    "errors.def" % (where, code))
                    elif str(reg[code]) != str(st):
                        errs.append("%s: %s is HTTP %d in errors.def, "
                                    "listed under %s" % (where, code,
                                                         reg[code], st))
            pnames = {p["name"] for p in o.get("parameters") or []
                      if p.get("in") == "path"}
            for seg in re.findall(r"\{([a-z_]+)\}", path):
                if seg not in pnames:
                    errs.append("%s: path parameter %s not described" %
                                (where, seg))
            if o.get("x-hkms-op") in bodies:
                used.add(o["x-hkms-op"])
                errs += check_body(where, o, bodies[o["x-hkms-op"]])
            table = o.get("x-hkms-table")
            if table not in ("server", "clients", "service", "ocsp",
                             "acme", "est", "routes",
                             "session",  # issue 16a
                             "ui"):  # issue 16b
                errs.append("%s: x-hkms-table must be server, clients, "
                            "service, ocsp, acme, est, session, ui or "
                            "routes" % where)
            if key not in have:
                if table not in tables:
                    skipped += 1
                    print("note: %s: table %s is a placeholder on this "
                          "build; not checked" % (where, table))
                else:
                    errs.append("%s: documented but no such route" % where)
                continue
            r = have[key]
            if o.get("x-hkms-clearance") != r["clearance"]:
                errs.append("%s: x-hkms-clearance %s, the route says %s" %
                            (where, o.get("x-hkms-clearance"),
                             r["clearance"]))
            if r["public"] != (r["clearance"] == "public"):
                errs.append("%s: HKMS_ROUTE_PUBLIC and clearance public "
                            "disagree" % where)
            if r["public"] and o.get("security") != []:
                errs.append("%s: a public route needs security: []" % where)
            if table != r["table"]:
                errs.append("%s: x-hkms-table %s, the route is in %s" %
                            (where, table, r["table"]))
    for key, r in have.items():
        if key not in documented:
            errs.append("%s %s: route of table %s missing from "
                        "docs/api.yaml" % (key[0], key[1], r["table"]))
    for name in bodies:
        if name not in used:
            errs.append("body schema %s: no operation of docs/api.yaml "
                        "has it (x-hkms-op)" % name)
    for e in errs:
        print("api_routes: " + e)
    print("api_routes: %d routes, %d operations, %d skipped, %d problems" %
          (len(have), len(documented), skipped, len(errs)))
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
