#!/usr/bin/env python3
"""Rewrite the first byte of each http_body fuzz seed to its schema's index.

fuzz_http_body picks a schema by the first input byte, so a seed starts
with the index of its schema in hkms_http_body_schemas (src/http/routes.c).
Adding a schema in the middle of that list shifts the indices after it;
this puts the seeds right again without regenerating their contents (which
make_seeds.py would do with fresh keys). Usage:

  renumber_body_seeds.py BUILD_DIR/tests/http_routes [CORPUS_DIR]
"""
import json
import os
import subprocess
import sys

tool = sys.argv[1]
corpus = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "corpus", "http_body")
names = [b["name"] for b in json.loads(subprocess.check_output([tool]))["bodies"]]
changed = 0
for f in sorted(os.listdir(corpus)):
    base = f.split(".empty")[0]
    if base not in names:
        continue
    p = os.path.join(corpus, f)
    with open(p, "rb") as fh:
        data = fh.read()
    want = names.index(base)
    if data and data[0] != want:
        with open(p, "wb") as fh:
            fh.write(bytes([want]) + data[1:])
        changed += 1
print("renumbered %d seed(s) of %d schemas" % (changed, len(names)))
