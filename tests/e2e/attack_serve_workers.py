# Hostile clients against hkms serve's handler workers (driven by
# attack_serve_workers.sh). Every client signs its own CSR (its own key)
# and checks that the certificate it got back is for that key: answers
# are never mixed between connections, keep-alive or pipelined. Modes:
#   mix PORT   signers on keep-alive connections (more than workers),
#              a pipelining client, slowloris header/body tricklers,
#              clients that reset their connection while their sign is
#              in a worker, bodies at and over max_body; prints
#              "signed N" (201s the clients received)
#   resets PORT  a sign queued behind a held one, its client resets
#   soak PORT SECS  8 signers for SECS s, acknowledged serials to $ACKED
#   load PORT N  N keep-alive /v1/health over 20 connections and N/50
#              signs (the leak check)
#   burst PORT N  N signs at once, each on its own connection: each is
#              201 (for its own key) or 503 server_busy JSON, or is cut
#              by a stop; prints "signed N"
import http.client, json, os, re, socket, ssl, struct, sys, threading, time
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

T = os.getcwd()
mode, port = sys.argv[1], int(sys.argv[2])
MAX_BODY = int(os.environ.get("ATT_MAX_BODY", "1048576"))
lock = threading.Lock()
errors, signed, acked = [], [0], []
PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def err(msg):
    with lock:
        errors.append(msg)


def ctx(cert=True):
    c = ssl.create_default_context(cafile=T + "/service.pem")
    c.check_hostname = False
    if cert:
        c.load_cert_chain(T + "/u1.pem", T + "/u1.key")
    return c


def conn(cert=True, timeout=60):
    return http.client.HTTPSConnection("127.0.0.1", port, context=ctx(cert), timeout=timeout)


def new_csr(cn):
    k = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, cn)]))
           .sign(k, hashes.SHA256()))
    pub = k.public_key().public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    return csr.public_bytes(serialization.Encoding.PEM).decode(), pub


def sign_body(csr, cn):
    return json.dumps({"csr": csr, "profile": "tls-server", "san": ["DNS:" + cn]})


def check_sign(who, status, body, pub):
    """201 for this client's own key, or a JSON 503 server_busy."""
    if status == 503:
        j = json.loads(body)
        if j["error"]["code"] != "server_busy":
            err("%s: 503 %r" % (who, body[:200]))
        return 0
    if status != 201:
        err("%s: status %d %r" % (who, status, body[:200]))
        return 0
    try:
        body = json.dumps(json.loads(body)).encode().replace(b"\\n", b"\n")
    except ValueError:
        pass
    m = PEM.search(body)
    if m is None:
        err("%s: 201 without a certificate" % who)
        return 0
    c = x509.load_pem_x509_certificate(m.group(0))
    got = c.public_key().public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    if got != pub:
        err("%s: MIXED ANSWER: the certificate is for another key (%s)" %
            (who, c.subject.rfc4514_string()))
        return 0
    with lock:
        signed[0] += 1
        acked.append("%X" % c.serial_number)
    return 1


def signer(i, n):
    cn = "s%d.example.com" % i
    csr, pub = new_csr(cn)
    c = conn()
    for k in range(n):
        try:
            c.request("POST", "/v1/cas/wca/sign", body=sign_body(csr, cn),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            check_sign("signer %d/%d" % (i, k), r.status, r.read(), pub)
        except Exception as e:
            err("signer %d/%d: %r" % (i, k, e))
            c.close()
            c = conn()
    c.close()


def raw_tls(cert=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    return ctx(cert).wrap_socket(s)


def req_bytes(method, path, body=b"", ctype="application/json"):
    h = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % (method, path)
    if body:
        h += "Content-Type: %s\r\nContent-Length: %d\r\n" % (ctype, len(body))
    return h.encode() + b"\r\n" + body


def pipeliner(i):
    """health, sign, health, sign... in one write; the answers in order."""
    keys = []
    out = b""
    for k in range(6):
        cn = "p%d-%d.example.com" % (i, k)
        csr, pub = new_csr(cn)
        keys.append(pub)
        out += req_bytes("GET", "/v1/health")
        out += req_bytes("POST", "/v1/cas/wca/sign", sign_body(csr, cn).encode())
    s = raw_tls()
    s.sendall(out)
    f = s.makefile("rb")

    class Keep:		# HTTPResponse closes its file after each answer
        def makefile(self, *a, **k):
            return self

        def __getattr__(self, n):
            return getattr(f, n)

        def close(self):
            pass
    for k in range(6):
        for what in ("health", "sign"):
            r = http.client.HTTPResponse(Keep())
            r.begin()
            b = r.read()
            if what == "health":
                if r.status != 200 or b"status" not in b:
                    err("pipeliner %d/%d health: %d %r" % (i, k, r.status, b[:100]))
            else:
                check_sign("pipeliner %d/%d" % (i, k), r.status, b, keys[k])
    s.close()


def resetter(i, n):
    """send a whole sign request, then reset the connection at once or
    after a moment (its request is queued or in a worker)."""
    for k in range(n):
        cn = "r%d-%d.example.com" % (i, k)
        csr, _ = new_csr(cn)
        try:
            s = raw_tls()
            s.sendall(req_bytes("POST", "/v1/cas/wca/sign", sign_body(csr, cn).encode()))
            time.sleep((k % 4) * 0.01)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        except Exception as e:
            err("resetter %d: %r" % (i, e))


def slowloris(i, body):
    """headers (or a body) one byte at a time while the workers are busy;
    the server may close it (timeout_s): that is fine."""
    try:
        s = raw_tls()
        if body:
            data = req_bytes("POST", "/v1/cas/wca/sign", b'{"csr":"' + b"A" * 200 + b'"}')
            head, rest = data.split(b"\r\n\r\n", 1)
            s.sendall(head + b"\r\n\r\n")
        else:
            rest = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
        for b in rest:
            s.sendall(bytes([b]))
            time.sleep(0.05)
        s.close()
    except (OSError, ssl.SSLError):
        pass


def big_bodies():
    c = conn()
    # exactly max_body: read whole, refused as a bad body (not 413)
    body = b'{"csr":"' + b"A" * (MAX_BODY - 10) + b'"}'
    assert len(body) == MAX_BODY
    c.request("POST", "/v1/cas/wca/sign", body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    b = r.read()
    if r.status == 413 or r.status >= 500:
        err("body of max_body: %d %r" % (r.status, b[:200]))
    else:
        json.loads(b)
    c.close()
    c = conn()
    try:
        c.request("POST", "/v1/cas/wca/sign", body=body + b" ",
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        b = r.read()
        if r.status != 413 or json.loads(b)["error"]["code"] != "too_large":
            err("body of max_body+1: %d %r" % (r.status, b[:200]))
    except (ConnectionResetError, BrokenPipeError):
        pass	# the 413 raced the rest of the body
    c.close()


def run(ts):
    for t in ts:
        t.start()
    for t in ts:
        t.join()


if mode == "mix":
    ts = [threading.Thread(target=signer, args=(i, 6)) for i in range(10)]
    ts += [threading.Thread(target=pipeliner, args=(i,)) for i in range(3)]
    ts += [threading.Thread(target=resetter, args=(i, 8)) for i in range(3)]
    ts += [threading.Thread(target=slowloris, args=(i, i % 2)) for i in range(6)]
    ts += [threading.Thread(target=big_bodies)]
    run(ts)
    # still serving, each answer its own
    signer(99, 2)
elif mode == "resets":
    # one worker held in a sign (HKMS_TEST_HANDLER_LATCH); a second sign
    # queued behind it, its client resets; then the latch is released
    latch = os.environ["HKMS_TEST_HANDLER_LATCH"]
    csr, pub = new_csr("held.example.com")
    a = raw_tls()
    a.sendall(req_bytes("POST", "/v1/cas/wca/sign", sign_body(csr, "held.example.com").encode()))
    for _ in range(400):
        if os.path.exists(latch + ".held"):
            break
        time.sleep(0.05)
    else:
        sys.exit("FAIL: the first sign never reached its handler")
    csr2, _ = new_csr("gone.example.com")
    b = raw_tls()
    b.sendall(req_bytes("POST", "/v1/cas/wca/sign", sign_body(csr2, "gone.example.com").encode()))
    time.sleep(0.5)	# read and queued (no event to wait on)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    b.close()
    time.sleep(0.3)	# the reset is in before the resume
    open(latch, "w").close()
    # both signs done (their audit lines) before the held one is read
    for _ in range(400):
        with open(T + "/data/audit.log", "rb") as f:
            if f.read().count(b'"op":"ca.sign"') >= 2:
                break
        time.sleep(0.05)
    else:
        sys.exit("FAIL: the queued sign never ran")
    r = http.client.HTTPResponse(a)
    r.begin()
    check_sign("held", r.status, r.read(), pub)
    a.close()
elif mode == "soak":
    # 8 keep-alive signers for SECS seconds; the serials acknowledged to
    # ACKED
    secs = float(sys.argv[3])
    end = time.time() + secs

    def soak(i):
        cn = "k%d.example.com" % i
        csr, pub = new_csr(cn)
        c = conn()
        while time.time() < end:
            try:
                c.request("POST", "/v1/cas/wca/sign", body=sign_body(csr, cn),
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                check_sign("soak %d" % i, r.status, r.read(), pub)
            except Exception as e:
                err("soak %d: %r" % (i, e))
                c.close()
                c = conn()
        c.close()
    run([threading.Thread(target=soak, args=(i,)) for i in range(8)])
    with open(os.environ["ACKED"], "w") as f:
        f.write("".join(a + "\n" for a in acked))
elif mode == "load":
    n = int(sys.argv[3])

    def health(k):
        c = conn(False)
        for _ in range(k):
            c.request("GET", "/v1/health")
            r = c.getresponse()
            r.read()
            if r.status != 200:
                err("health %d" % r.status)
        c.close()
    ts = [threading.Thread(target=health, args=(n // 20,)) for _ in range(20)]
    ts += [threading.Thread(target=signer, args=(i, max(1, n // 500))) for i in range(10)]
    run(ts)
elif mode == "burst":
    n = int(sys.argv[3])
    prep = [new_csr("b%d.example.com" % i) for i in range(n)]
    go = threading.Barrier(n)

    def one(i):
        csr, pub = prep[i]
        try:
            c = conn(timeout=120)
            c.connect()
            go.wait()
            c.request("POST", "/v1/cas/wca/sign", body=sign_body(csr, "b%d.example.com" % i),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            check_sign("burst %d" % i, r.status, r.read(), pub)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                ConnectionRefusedError, ssl.SSLError):
            pass	# cut by the stop: not acknowledged
        except Exception as e:
            err("burst %d: %r" % (i, e))
    run([threading.Thread(target=one, args=(i,)) for i in range(n)])
if errors:
    print("\n".join("FAIL: " + e for e in errors[:20]))
    sys.exit(1)
print("signed %d" % signed[0])
