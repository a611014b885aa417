#!/usr/bin/env python3
"""attack_session_race.py PORT T WHO N BODY (tests/e2e/attack_session_bypass.sh):
N TLS connections of client WHO ($T/WHO.pem, .key) opened first, then N
POST /v1/session with BODY sent at once; prints "status code" per answer."""
import http.client, json, os, ssl, sys, threading
port, T, who, n, body = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
ctx = ssl.create_default_context(cafile=os.path.join(T, "service.pem"))
ctx.load_cert_chain(os.path.join(T, who + ".pem"), os.path.join(T, who + ".key"))
conns = []
for i in range(n):
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)
    c.connect(); conns.append(c)
bar = threading.Barrier(n); out = [None] * n
def go(i):
    bar.wait()
    conns[i].request("POST", "/v1/session", body=body, headers={"Content-Type": "application/json"})
    r = conns[i].getresponse(); d = r.read()
    try: code = json.loads(d)["error"]["code"]
    except Exception: code = "-"
    out[i] = "%d %s" % (r.status, code)
ts = [threading.Thread(target=go, args=(i,)) for i in range(n)]
for t in ts: t.start()
for t in ts: t.join()
print("\n".join(out))
