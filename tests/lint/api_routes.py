#!/usr/bin/env python3
"""docs/api.yaml against the route tables the server really has.

    api_routes.py SRC_DIR HTTP_ROUTES_BIN

HTTP_ROUTES_BIN (tests/tools/http_routes.c) prints the three route tables
of the binary (the server's, the clients', the rest) as JSON. Checked:

- every route of the tables is an operation of docs/api.yaml and every
  operation is a route (method + path), none listed twice;
- x-hkms-clearance equals the route's clearance; "public" exactly for the
  routes flagged HKMS_ROUTE_PUBLIC (and those have security: []);
- x-hkms-table names the table the route is in;
- every code of an error response's x-hkms-errors is in
  include/hkms/errors.def with that response's HTTP status;
- operationIds are unique, every operation has x-hkms-op, a 2xx response
  and its path parameters.

A table with no route at all is a placeholder (the part has not landed on
this branch): its operations are skipped with a note, never silently.
"""
import json
import re
import subprocess
import sys

import yaml

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def main():
    src, tool = sys.argv[1], sys.argv[2]
    errs = []
    with open(src + "/docs/api.yaml") as f:
        doc = yaml.load(f, Loader=getattr(yaml, "CSafeLoader",
                                          yaml.SafeLoader))
    reg = {}
    with open(src + "/include/hkms/errors.def") as f:
        for line in f:
            m = re.match(r'HKMS_ERROR\("([a-z0-9_]+)", HKMS_E_[A-Z_]+, '
                         r'(\d+),', line)
            if m:
                reg[m.group(1)] = int(m.group(2))
    routes = json.loads(subprocess.run([tool], check=True,
                                       capture_output=True).stdout)
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
            resp = o.get("responses") or {}
            if not any(str(s).startswith("2") for s in resp):
                errs.append("%s: no 2xx response" % where)
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
            table = o.get("x-hkms-table")
            if table not in ("server", "clients", "routes"):
                errs.append("%s: x-hkms-table must be server, clients or "
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
    for e in errs:
        print("api_routes: " + e)
    print("api_routes: %d routes, %d operations, %d skipped, %d problems" %
          (len(have), len(documented), skipped, len(errs)))
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
