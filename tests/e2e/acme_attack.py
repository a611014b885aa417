#!/usr/bin/env python3
"""Attacks on the ACME server (tests/e2e/acme_attack.sh): forged JWSs,
one account reaching into another's objects, racing finalizes, ids with
path characters, hostile http-01 responders. Usage as acme_client.py."""
import http.server
import json
import os
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from acme_client import (Client, Key, PFX, Problem, authorize, b64,  # noqa
                         csr_der, expect, issue, poll)
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa


def raw(cl, url, prot, payload, sig=b"\x01" * 64, extra=None):
    p64 = b64(prot if isinstance(prot, bytes) else json.dumps(prot).encode())
    pl64 = "" if payload is None else b64(json.dumps(payload).encode())
    if callable(sig):
        sig = sig(("%s.%s" % (p64, pl64)).encode())
    body = {"protected": p64, "payload": pl64, "signature": b64(sig)}
    body.update(extra or {})
    return cl.post_raw(url, body)


def case_forged_jws(d, b, h, out):
    cl = Client(d, b)
    u = cl.dir["newAccount"]
    pl = {"termsOfServiceAgreed": True}
    base = lambda **kw: dict({"url": u, "nonce": cl.nonce(),
                              "jwk": cl.key.jwk()}, **kw)
    # alg none with an empty signature, and with one
    expect(lambda: raw(cl, u, base(alg="none"), pl, b"\0"),
           "badSignatureAlgorithm")
    # HS256 keyed with the public key
    import hmac, hashlib
    secret = json.dumps(cl.key.jwk()).encode()
    expect(lambda: raw(cl, u, base(alg="HS256"), pl, lambda m: hmac.new(
        secret, m, hashlib.sha256).digest()), "badSignatureAlgorithm")
    # a jwk with private parts
    j = cl.key.jwk()
    j["d"] = b64(b"\1" * 32)
    expect(lambda: raw(cl, u, base(alg="ES256", jwk=j), pl, cl.key.sign),
           "badPublicKey")
    # an ES256 signature of the wrong length
    expect(lambda: raw(cl, u, base(alg="ES256"), pl,
                       lambda m: cl.key.sign(m)[:63]), "malformed")
    expect(lambda: raw(cl, u, base(alg="ES256"), pl,
                       lambda m: b"\0" + cl.key.sign(m)), "malformed")
    # RS256 with a 1024-bit key
    k = Key("RS256")
    k.k = rsa.generate_private_key(65537, 1024)
    expect(lambda: raw(cl, u, base(alg="RS256", jwk=k.jwk()), pl, k.sign),
           "badPublicKey")
    # an unprotected header beside the protected one
    expect(lambda: raw(cl, u, base(alg="ES256"), pl, cl.key.sign,
                       {"header": {"kid": "x"}}), "malformed")
    # duplicate members in the protected header
    dup = ('{"alg":"ES256","alg":"none","url":"%s","nonce":"%s","jwk":%s}' %
           (u, cl.nonce(), json.dumps(cl.key.jwk()))).encode()
    expect(lambda: raw(cl, u, dup, pl, cl.key.sign), "malformed")
    # RFC 7515 §4.1.11: crit names extensions the server must understand
    expect(lambda: raw(cl, u, base(alg="ES256", b64=False, crit=["b64"]),
                       pl, cl.key.sign), "malformed")
    expect(lambda: raw(cl, u, base(alg="ES256", crit=["exp"], exp=1), pl,
                       cl.key.sign), "malformed")
    # a kid and a jwk at once
    cl.register()
    expect(lambda: raw(cl, cl.dir["newOrder"], base(alg="ES256",
                       url=cl.dir["newOrder"], kid=cl.kid), {}, cl.key.sign),
           "malformed")


def case_cross_account(d, b, h, out):
    a = Client(d, b)
    a.register()
    ourl, o = authorize(a, h, ["xa.acme.test"])
    assert o["status"] == "ready", o
    bb = Client(d, b)
    bb.register()
    zurl = o["authorizations"][0]
    st, hd, z = a.post(zurl, None)
    churl = [c for c in z["challenges"] if c["type"] == "http-01"][0]["url"]
    for url in (ourl, zurl, churl):
        expect(lambda: bb.post(url, None), "unauthorized")
    expect(lambda: bb.post(zurl, {"status": "deactivated"}), "unauthorized")
    key, der = csr_der(["xa.acme.test"])
    expect(lambda: bb.post(o["finalize"], {"csr": b64(der)}), "unauthorized")
    expect(lambda: bb.post(a.kid, {"status": "deactivated"}), "unauthorized")
    aorders = a.post(a.kid, None)[2]["orders"]
    expect(lambda: bb.post(aorders, None), "unauthorized")
    # keyChange of b to a's key
    url = bb.dir["keyChange"]
    inner = bb.jws(url, {"account": bb.kid, "oldKey": bb.key.jwk()},
                   key=a.key, kid=False, nonce=False)
    p = expect(lambda: bb.post(url, inner), "malformed", 409)
    # b's key may not pass as a's: kid of a, signed by b
    kid = bb.kid
    bb.kid = a.kid
    expect(lambda: bb.order(["xb.acme.test"]), "malformed")
    bb.kid = kid
    # a is still whole and may finalize
    st, hd, z = a.post(zurl, None)
    assert z["status"] == "valid", z
    st, hd, acct = a.post(a.kid, None)
    assert acct["status"] == "valid", acct
    st, hd, o2 = a.post(o["finalize"], {"csr": b64(der)})
    o2 = poll(a, ourl, ("valid",))
    expect(lambda: bb.post(o2["certificate"], None), "unauthorized")
    st, hd, pem = a.post(o2["certificate"], None)
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    cder = x509.load_pem_x509_certificate(pem.encode()).public_bytes(
        serialization.Encoding.DER)
    expect(lambda: bb.post(bb.dir["revokeCert"], {"certificate": b64(cder)}),
           "unauthorized")
    # a jwk that is not the certificate's key
    expect(lambda: bb.post(bb.dir["revokeCert"], {"certificate": b64(cder)},
                           kid=False), "unauthorized")


def case_finalize_race(d, b, h, out):
    cl = Client(d, b)
    cl.register()
    ourl, o = authorize(cl, h, ["race.acme.test"])
    assert o["status"] == "ready", o
    key, der = csr_der(["race.acme.test"])
    bodies = [cl.jws(o["finalize"], {"csr": b64(der)}) for _ in range(8)]
    res = []

    def go(body):
        try:
            res.append(cl.post_raw(o["finalize"], body)[0])
        except Problem as p:
            res.append(p.doc.get("type"))
    ts = [threading.Thread(target=go, args=(x,)) for x in bodies]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert res.count(200) == 1, res
    assert all(r == 200 or r == PFX + "orderNotReady" for r in res), res


def case_path_ids(d, b, h, out):
    cl = Client(d, b)
    cl.register()
    ourl, o = cl.order(["path.acme.test"])
    base = ourl.rsplit("/", 1)[0]
    oid = ourl.rsplit("/", 1)[1]
    for bad in ("..%2Fo-" + oid, "%2E%2E", "o-" + oid, "x" * 300,
                oid + "%00"):
        url = base + "/" + bad
        try:
            cl.post(url, None)
        except Problem as p:
            # the router (route_not_found) or the ACME layer (malformed)
            assert p.status in (400, 404) and (p.doc.get("type") ==
                PFX + "malformed" or p.doc.get("error", {}).get("code") ==
                "route_not_found" or p.doc.get("detail") ==
                "no route for this path"), (bad, p.status, p.doc)
            print(bad, p.status, flush=True)
            continue
        raise AssertionError("%s answered" % url)


class Hostile:
    """http-01 responders that misbehave, by token."""

    def __init__(self, port):
        self.mode = {}
        self.gate = threading.Event()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                tok = self.path.rsplit("/", 1)[-1]
                m = outer.mode.get(tok, "404")
                if isinstance(m, tuple):
                    # ("gate", ka): answer right once the gate opens
                    outer.gate.wait(8)
                    body = m[1].encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if m == "slow":
                    try:
                        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                        for _ in range(60):
                            time.sleep(0.5)
                            self.wfile.write(b"X: y\r\n")
                            self.wfile.flush()
                    except OSError:
                        pass
                    return
                if m == "huge":
                    self.send_response(200)
                    self.end_headers()
                    try:
                        for _ in range(4096):
                            self.wfile.write(b"A" * 1024)
                    except OSError:
                        pass
                    return
                if m == "loop":
                    self.send_response(302)
                    self.send_header("Location", "http://loop.acme.test"
                                     "/.well-known/acme-challenge/" + tok)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def case_hostile_http01(d, b, h, out):
    cl = Client(d, b)
    cl.register()
    for mode in ("loop", "huge", "slow"):
        ourl, o = cl.order([mode + ".acme.test"])
        zu = o["authorizations"][0]
        st, hd, z = cl.post(zu, None)
        ch = [c for c in z["challenges"] if c["type"] == "http-01"][0]
        h.mode[ch["token"]] = mode
        t0 = time.time()
        cl.post(ch["url"], {})
        z = poll(cl, zu, ("valid", "invalid"), 25)
        assert z["status"] == "invalid", z
        took = time.time() - t0
        assert took < 15, (mode, took)
        ch = [c for c in z["challenges"] if c["type"] == "http-01"][0]
        print(mode, "%.1fs" % took, ch["error"]["detail"], flush=True)


def case_deactivate_during_validation(d, b, h, out):
    """An authorization deactivated while its challenge is validated
    stays deactivated: a late success does not revive it."""
    cl = Client(d, b)
    cl.register()
    ourl, o = cl.order(["late.acme.test"])
    zu = o["authorizations"][0]
    st, hd, z = cl.post(zu, None)
    ch = [c for c in z["challenges"] if c["type"] == "http-01"][0]
    h.mode[ch["token"]] = ("gate", ch["token"] + "." + cl.key.thumb())
    cl.post(ch["url"], {})
    st, hd, z = cl.post(zu, {"status": "deactivated"})
    assert z["status"] == "deactivated", z
    h.gate.set()
    end = time.time() + 20
    while time.time() < end:
        st, hd, c = cl.post(ch["url"], None)
        if c["status"] != "processing":
            break
        time.sleep(0.2)
    st, hd, z = cl.post(zu, None)
    assert z["status"] == "deactivated", z
    st, hd, o = cl.post(ourl, None)
    assert o["status"] == "invalid", o
    key, der = csr_der(["late.acme.test"])
    expect(lambda: cl.post(o["finalize"], {"csr": b64(der)}),
           "orderNotReady")


def case_csr_extensions(d, b, h, out):
    """A CSR asking for CA:TRUE, keyCertSign, extra EKUs gets the
    profile's leaf certificate, or is refused: never a CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
    cl = Client(d, b)
    cl.register()
    name = "ext.acme.test"
    ourl, o = authorize(cl, h, [name])
    assert o["status"] == "ready", o
    k = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, name)])).add_extension(
        x509.SubjectAlternativeName([x509.DNSName(name)]),
        critical=False).add_extension(
        x509.BasicConstraints(ca=True, path_length=None),
        critical=True).add_extension(x509.KeyUsage(
            True, False, False, False, False, True, True, False, False),
        critical=True).add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.CODE_SIGNING]), critical=False).sign(
        k, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    try:
        cl.post(o["finalize"], {"csr": b64(csr)})
    except Problem as p:
        assert p.doc.get("type") == PFX + "badCSR", p.doc
        print("refused:", p.doc.get("detail"), flush=True)
        return
    o = poll(cl, ourl, ("valid",))
    st, hd, pem = cl.post(o["certificate"], None)
    c = x509.load_pem_x509_certificate(pem.encode())
    try:
        bc = c.extensions.get_extension_for_class(x509.BasicConstraints)
        assert not bc.value.ca, "a CA certificate was issued"
    except x509.ExtensionNotFound:
        pass
    ku = c.extensions.get_extension_for_class(x509.KeyUsage).value
    assert not ku.key_cert_sign and not ku.crl_sign, ku
    eku = c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CODE_SIGNING not in list(eku), eku
    print("issued as a leaf", flush=True)


def case_dns_spoof(d, b, h, out):
    """A dns-01 answer that does not come from the configured resolver
    (here: the right id and record, sent from another port) is not
    taken: the validation times out, the authorization is invalid."""
    import hashlib
    import socket
    import tempfile
    import acme_dns
    cl = Client(d, b)
    cl.register()
    name = "spoof.acme.test"
    ourl, o = cl.order([name])
    zu = o["authorizations"][0]
    st, hd, z = cl.post(zu, None)
    ch = [c for c in z["challenges"] if c["type"] == "dns-01"][0]
    ka = ch["token"] + "." + cl.key.thumb()
    td = tempfile.mkdtemp(dir=".")
    with open(os.path.join(td, "_acme-challenge." + name), "w") as f:
        f.write(b64(hashlib.sha256(ka.encode()).digest()) + "\n")
    res = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    res.bind(("127.0.0.1", int(os.environ["DNS_PORT"])))
    spoof = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    spoof.bind(("127.0.0.1", 0))
    seen = []

    def serve():
        res.settimeout(20)
        try:
            data, peer = res.recvfrom(4096)
        except OSError:
            return
        seen.append(peer)
        spoof.sendto(acme_dns.answer(data, td), peer)
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    cl.post(ch["url"], {})
    z = poll(cl, zu, ("valid", "invalid"), 25)
    t.join(1)
    res.close()
    spoof.close()
    assert seen, "the server never asked the resolver"
    assert z["status"] == "invalid", "a spoofed dns answer validated: %s" % z


def case_queue_fill(d, b, h, out):
    """Trickling targets fill the validation queue: a full queue is
    rateLimited and leaves the challenge pending (retry later), and the
    server keeps answering."""
    cl = Client(d, b)
    cl.register()
    busy = None
    for i in range(80):
        ourl, o = cl.order(["q%d.acme.test" % i])
        st, hd, z = cl.post(o["authorizations"][0], None)
        ch = [c for c in z["challenges"] if c["type"] == "http-01"][0]
        h.mode[ch["token"]] = "slow"
        try:
            cl.post(ch["url"], {})
        except Problem as p:
            assert p.doc.get("type") == PFX + "rateLimited", p.doc
            assert p.status == 503, p.status
            busy = ch
            break
    assert busy is not None, "80 validations queued, none refused"
    print("refused after", i, "queued", flush=True)
    t0 = time.time()
    st, hd, c = cl.post(busy["url"], None)
    assert time.time() - t0 < 2, "the server is slow while the queue is full"
    assert c["status"] == "pending", c


def main():
    directory, bundle, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    import acme_client
    cases = sys.argv[4:]
    h = Hostile(port) if "hostile-http01" in cases or \
        "deactivate-during-validation" in cases or \
        "queue-fill" in cases else \
        acme_client.Http01(port)
    try:
        for case in cases:
            globals()["case_" + case.replace("-", "_")](directory, bundle,
                                                        h, {})
            print("ok", case, flush=True)
    finally:
        h.close()


if __name__ == "__main__":
    main()
