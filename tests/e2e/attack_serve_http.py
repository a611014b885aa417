# Raw HTTP/1.x over TLS against hkms serve, as a malicious client
# (driven by attack_serve_http.sh; not a test by itself).
# usage: attack_serve_http.py PORT CAFILE CERT KEY CHECK
import json, socket, ssl, sys, time

port, cafile, cert, key, check = sys.argv[1:6]

def conn(client=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    ctx.check_hostname = False
    if client:
        ctx.load_cert_chain(cert, key)
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=20)
    return ctx.wrap_socket(s)

def read_resp(s):
    """one response: (status, headers dict (lower-case), body); None on EOF"""
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = s.recv(65536)
        if not b:
            return None
        buf += b
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for l in lines[1:]:
        k, v = l.split(":", 1)
        hdrs.setdefault(k.strip().lower(), []).append(v.strip())
    n = int(hdrs.get("content-length", ["0"])[0])
    while len(rest) < n:
        b = s.recv(65536)
        if not b:
            break
        rest += b
    read_resp.extra = rest[n:]
    return status, hdrs, rest[:n]

def req(s, method, path, body=None, extra="", ctype="application/json"):
    h = "%s %s HTTP/1.1\r\nHost: x\r\n%s" % (method, path, extra)
    if body is not None:
        if isinstance(body, str):
            body = body.encode()
        h += "Content-Type: %s\r\nContent-Length: %d\r\n" % (ctype, len(body))
    s.sendall(h.encode() + b"\r\n" + (body or b""))
    return read_resp(s)

def code(r):
    try:
        return json.loads(r[2])["error"]["code"]
    except Exception:
        return None

fails = []
def expect(cond, what):
    if not cond:
        fails.append(what)

def alive():
    s = conn(False)
    r = req(s, "GET", "/v1/health")
    s.close()
    return r is not None and r[0] == 200

if check == "framing":
    # HTTP/1.0: answered, then closed
    s = conn()
    s.sendall(b"GET /v1/health HTTP/1.0\r\n\r\n")
    r = read_resp(s)
    expect(r and r[0] == 200, "HTTP/1.0 health: %r" % (r and r[0],))
    try:
        eof = s.recv(10) == b""
    except (ssl.SSLError, OSError):
        eof = True
    expect(eof, "HTTP/1.0: the connection stays open")
    s.close()
    # pipelined: three requests in one write, three answers in order
    s = conn()
    s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET /v1/clients/nosuch HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET /v1/clients HTTP/1.1\r\nHost: x\r\n\r\n")
    got = []
    pending = b""
    for i in range(3):
        # read_resp keeps bytes past the response in read_resp.extra
        class W:
            def __init__(self, s, pre): self.s, self.pre = s, pre
            def recv(self, n):
                if self.pre:
                    p, self.pre = self.pre, b""
                    return p
                return self.s.recv(n)
        r = read_resp(W(s, pending))
        pending = read_resp.extra
        got.append(r and r[0])
    expect(got == [200, 404, 200], "pipelined answers: %r" % got)
    s.close()
    # Transfer-Encoding chunked and Content-Length together (smuggling)
    s = conn()
    smuggle = (b"POST /v1/csrs/verify HTTP/1.1\r\nHost: x\r\n"
               b"Content-Type: application/json\r\nContent-Length: 4\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n"
               b"0\r\n\r\nGET /v1/clients HTTP/1.1\r\nHost: x\r\n\r\n")
    s.sendall(smuggle)
    r = read_resp(s)
    expect(r is None or r[0] in (400, 413), "TE+CL: %r" % (r and (r[0], r[2][:200]),))
    s.close()
    for name, chunk in (("negative", b"-1\r\nab\r\n0\r\n\r\n"),
                        ("huge", b"ffffffffffffffffffff\r\nab\r\n0\r\n\r\n"),
                        ("2^64-1", b"ffffffffffffffff\r\nab\r\n0\r\n\r\n"),
                        ("junk", b"zz\r\nab\r\n0\r\n\r\n")):
        s = conn()
        s.sendall(b"POST /v1/csrs/verify HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n" + chunk)
        s.settimeout(20)
        try:
            r = read_resp(s)
        except (ssl.SSLError, OSError):
            r = None
        expect(r is None or r[0] in (400, 413),
               "%s chunk size: %r" % (name, r and r[0]))
        s.close()
    # a negative and a huge Content-Length
    for cl in ("-1", "99999999999999999999999", "18446744073709551615", "1, 2"):
        s = conn()
        s.sendall(("POST /v1/csrs/verify HTTP/1.1\r\nHost: x\r\n"
                   "Content-Type: application/json\r\nContent-Length: %s\r\n\r\n{}" % cl).encode())
        try:
            r = read_resp(s)
        except (ssl.SSLError, OSError):
            r = None
        expect(r is None or r[0] in (400, 413), "Content-Length %s: %r" % (cl, r and r[0]))
        s.close()
    expect(alive(), "the server died")

elif check == "paths":
    s = conn()
    for p in ("/v1/certificates/..%2f..%2fhkms.conf", "/v1/certificates/%2e%2e",
              "/v1/certificates/%2e%2e%2fclients%2fadmin", "/v1/certificates/..",
              "/v1/certificates/.", "/v1/certificates/%2e",
              "/v1/cas/..%2fclients/issued", "/v1/clients/..%2f..%2fhkms.conf",
              "/v1/clients/%2e%2e", "/v1/keys/..%2Fhkms-service",
              "/v1/truststore/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
              "/v1/certificates/a%00b", "/v1/certificates/%00",
              "/v1/certificates/a%0d%0aX-Evil:%201/export",
              "/v1/certificates/a%22%3b%20x=/export",
              "/crl/..%2f..%2fhkms.conf.crl", "/ca/..%2fclients%2fadmin.pem",
              "/v1/certificates/hkms-service/../../clients",
              "/v1//certificates", "/v1/certificates/" + "a" * 5000):
        r = req(s, "GET", p)
        if r is None:
            s.close(); s = conn(); continue
        expect(r[0] in (400, 404, 405, 414, 431), "%s: %d %r" % (p[:80], r[0], r[2][:120]))
        expect("x-evil" not in r[1], "%s: an injected header" % p)
        expect(b"[server]" not in r[2] and b"root:" not in r[2], "%s: a file leaked" % p)
    # names with CR/LF, quotes, NUL, slash when creating a record
    for n in ('a"b', "a\r\nX-Evil: 1", "../x", "a/b", "..", ".", "a\u0000b", "", " a", "a" * 300):
        r = req(s, "POST", "/v1/certificates",
                json.dumps({"name": n, "new_key": "ec:p256", "subject": "/CN=x"}))
        expect(r[0] == 400, "record name %r accepted: %d %r" % (n, r[0], r[2][:160]))
    # thousands of query parameters, a long query
    r = req(s, "GET", "/v1/audit?" + "&".join("a%d=1" % i for i in range(20)))
    s.close()
    # 1000+ parameters exhaust libmicrohttpd's connection pool while it
    # parses them, before any handler runs: it neither answers nor closes
    # until timeout_s (no CPU used): a slow client, bounded like one by
    # per_ip and max_connections; others are served meanwhile
    hung = []
    for n in (1000, 5000):
        h = conn(); h.settimeout(3)
        try:
            r = req(h, "GET", "/v1/audit?" + "&".join("a%d=1" % i for i in range(n)))
            expect(r is None or r[0] in (400, 414, 431), "%d params: %r" % (n, r and r[0]))
        except (TimeoutError, socket.timeout):
            pass
        hung.append(h)
    expect(alive(), "health while two connections hold 1000+ query parameters")
    for h in hung: h.close()
    s = conn()
    r = req(s, "GET", "/v1/audit?limit=1&" + "x" * 200000)
    expect(r is None or r[0] in (400, 414, 431), "200 kB query: %r" % (r and r[0],))
    s.close()
    s = conn()
    for q in ("since=99999999999999999999999", "since=-1", "since=1e3", "since=0x10",
              "since=%2d5", "since= 5", "since=%095", "since=%0a5", "since=5%00", "since=5%00x", "limit=-1",
              "limit=99999999999999999999", "limit=0"):
        r = req(s, "GET", "/v1/audit?" + q)
        expect(r[0] in (200, 400), "audit?%s: %d" % (q, r[0]))
        if r[0] == 200 and q.startswith("since=") and ("%0" in q or "9999" in q):
            fails.append("audit?%s answered 200" % q)
    for q in ("expiring_within=99999999999999999999", "expiring_within=-5",
              "expiring_within=2147483648"):
        r = req(s, "GET", "/v1/certificates?" + q)
        expect(r[0] in (200, 400), "certificates?%s: %d" % (q, r[0]))
    s.close()
    expect(alive(), "the server died")

elif check == "json":
    s = conn()
    big = 900 * 1024
    bodies = {
        "deep arrays": "[" * 200000 + "]" * 200000,
        "deep objects": '{"a":' * 100000 + "1" + "}" * 100000,
        "deep in a field": '{"name":"x","clearance":"user","certificate":' + "[" * 100000 + "]" * 100000 + "}",
        "1e5-element array": '{"name":"x","clearance":"user","permissions":[' + ",".join(["{}"] * 100000) + "]}",
        "4e5-element array": '{"permissions":[' + ",".join(["0"] * 400000) + "]}",
        "huge number": '{"name":"x","clearance":"user","require_2fa":1' + "0" * 5000 + "}",
        "1e400": '{"name":"x","clearance":"user","require_2fa":1e400}',
        "duplicate keys": '{"name":"x","name":"y","clearance":"user"}',
        "invalid utf-8": b'{"name":"\xff\xfe","clearance":"user"}',
        "overlong utf-8": b'{"name":"\xc0\xaf","clearance":"user"}',
        "surrogate": '{"name":"\\ud800","clearance":"user"}',
        "NUL escaped": '{"name":"a\\u0000b","clearance":"user"}',
        "NUL raw": b'{"name":"a\x00b","clearance":"user"}',
        "trailing garbage": '{"name":"x","clearance":"user"} {}',
        "long key": '{"' + "k" * big + '":1}',
        "many keys": "{" + ",".join('"k%d":1' % i for i in range(60000)) + "}",
    }
    for what, b in bodies.items():
        r = req(s, "POST", "/v1/clients", b)
        if r is None:
            s.close(); s = conn()
            fails.append("%s: connection cut" % what)
            continue
        expect(r[0] in (400, 413), "%s: %d %r" % (what, r[0], r[2][:160]))
    # a body that breaks inside a secret: the error names the problem,
    # never echoes the secret (jansson's "near '<token>'"); every body
    # parser answers bad_json (docs/api.md)
    for path, b in (("/v1/clients/generate",
                     b'{"name":"x","clearance":"user","ca":"root","passphrase":"TopSecretPass\x01"}'),
                    ("/v1/clients", b'{"name":"x","password":"TopSecretPass\x01"}'),
                    ("/v1/keys/import", b'{"name":"x","passphrase":"TopSecretPass\x01"}'),
                    ("/v1/certificates/import", b'{"name":"x","password":"TopSecretPass'),
                    ("/v1/clients", b'["TopSecretPass"]')):
        r = req(s, "POST", path, b)
        expect(r[0] == 400 and code(r) == "bad_json", "%s broken body: %d %r" % (path, r[0], r[2][:200]))
        expect(b"TopSecretPass" not in r[2], "%s: the secret echoed in the error: %r" % (path, r[2][:200]))
    # integers out of range where the routes take them
    for d in ("0", "-1", "36501", "2147483648", "9223372036854775807",
              "9223372036854775808", "-9223372036854775809", "1e10", "3.5", '"30"'):
        r = req(s, "POST", "/v1/clients/generate",
                '{"name":"ovf","clearance":"user","ca":"root","passphrase":"12345678",'
                '"days":%s}' % d)
        expect(r[0] == 400, "generate days=%s: %d %r" % (d, r[0], r[2][:160]))
        if d == "0":	# 0 is the default validity there
            continue
        r = req(s, "POST", "/v1/certificates",
                '{"name":"ovf","new_key":"ec:p256","subject":"/CN=x","days":%s}' % d)
        expect(r[0] == 400, "self-sign days=%s: %d %r" % (d, r[0], r[2][:160]))
    for serial in ("ff" * 100, "-1", "0", "00", "zz", "1" * 5000, ""):
        r = req(s, "POST", "/v1/cas/root/revoke", json.dumps({"serial": serial}))
        expect(r[0] in (400, 404), "revoke serial %r: %d %r" % (serial[:20], r[0], r[2][:160]))
    s.close()
    expect(alive(), "the server died")

elif check == "keepalive":
    # KEY is a user client; argv[6] = a command run between two requests
    # on the same connection (the CLI changing the registration);
    # argv[7] the status the second request must get
    import subprocess
    s = conn()
    r = req(s, "GET", "/v1/cas")
    expect(r and r[0] == 200, "first request: %r" % (r and (r[0], r[2][:200]),))
    subprocess.run(sys.argv[6], shell=True, check=True, stdout=subprocess.DEVNULL)
    r = req(s, "GET", "/v1/cas")
    expect(r and r[0] == int(sys.argv[7]),
           "after '%s' on the same connection: %r" % (sys.argv[6], r and (r[0], r[2][:200])))
    s.close()

elif check == "flat":
    # argv[6] = pid; N keep-alive requests then N/10 fresh connections;
    # prints the fd count and RSS (kB) before, in between and after
    import os
    pid = int(sys.argv[6])
    n = int(sys.argv[7])
    def probe():
        fds = len(os.listdir("/proc/%d/fd" % pid))
        rss = [l for l in open("/proc/%d/status" % pid) if l.startswith("VmRSS")][0].split()[1]
        return fds, int(rss)
    def keepalive(k):
        s = conn()
        for i in range(k):
            r = req(s, "GET", "/v1/clients" if i % 2 else "/v1/profiles")
            if r is None or r[0] != 200:
                fails.append("keep-alive request %d: %r" % (i, r and r[0])); break
        s.close()
    def fresh(k):
        for i in range(k):
            s = conn()
            r = req(s, "GET", "/v1/health", extra="Connection: close\r\n")
            if r is None or r[0] != 200:
                fails.append("fresh connection %d: %r" % (i, r and r[0])); break
            s.close()
    keepalive(n // 10); fresh(n // 500)
    base = probe()
    keepalive(n // 2); fresh(n // 200); mid = probe()
    keepalive(n // 2); fresh(n // 200)
    end = probe()
    print("fds/RSS kB: warm %r, after %d keep-alive + %d fresh %r, after %d + %d %r" %
          (base, n // 2, n // 200, mid, n, n // 100, end))
    expect(end[0] <= base[0] + 2, "fd count grew: %r -> %r" % (base, end))
    # (an ASan build holds freed memory in its quarantine: fds only)
    if not os.environ.get("HKMS_FLAT_FDS_ONLY"):
        expect(end[1] <= base[1] + 8192, "RSS grew by more than 8 MB: %r -> %r" % (base, end))

for f in fails:
    print("FAIL:", f)
sys.exit(1 if fails else 0)
