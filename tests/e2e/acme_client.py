#!/usr/bin/env python3
"""A small ACME client for the negative and lifecycle tests (RFC 8555).

Not a test by itself: tests/e2e/acme_negative.sh runs it as

    acme_client.py DIRECTORY_URL CA_BUNDLE HTTP01_PORT CASE...

Each CASE prints "ok CASE" or raises. It builds its own JWS (ES256,
ES384, RS256) so that it can also send what a correct client never
would: a broken signature, a replayed nonce, a wrong url, an unknown kid.
"""
import base64
import hashlib
import http.server
import json
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import \
    decode_dss_signature
from cryptography.x509.oid import NameOID

PFX = "urn:ietf:params:acme:error:"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def ub64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def intb(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return n.to_bytes(size, "big")


class Key:
    def __init__(self, kind="ES256"):
        self.alg = kind
        if kind == "ES256":
            self.k = ec.generate_private_key(ec.SECP256R1())
        elif kind == "ES384":
            self.k = ec.generate_private_key(ec.SECP384R1())
        else:
            self.k = rsa.generate_private_key(65537, 2048)

    def jwk(self):
        pub = self.k.public_key().public_numbers()
        if self.alg.startswith("ES"):
            size = 32 if self.alg == "ES256" else 48
            return {"kty": "EC", "crv": "P-256" if size == 32 else "P-384",
                    "x": b64(intb(pub.x, size)), "y": b64(intb(pub.y, size))}
        return {"kty": "RSA", "n": b64(intb(pub.n)), "e": b64(intb(pub.e))}

    def thumb(self):
        j = json.dumps(self.jwk(), sort_keys=True, separators=(",", ":"))
        return b64(hashlib.sha256(j.encode()).digest())

    def sign(self, data):
        if self.alg == "RS256":
            return self.k.sign(data, padding.PKCS1v15(), hashes.SHA256())
        h = hashes.SHA256() if self.alg == "ES256" else hashes.SHA384()
        size = 32 if self.alg == "ES256" else 48
        r, s = decode_dss_signature(self.k.sign(data, ec.ECDSA(h)))
        return intb(r, size) + intb(s, size)


class Problem(Exception):
    def __init__(self, status, doc, ctype):
        super().__init__("%s %s" % (status, doc))
        self.status, self.doc, self.ctype = status, doc, ctype


class Client:
    def __init__(self, directory, bundle, key=None):
        self.ctx = ssl.create_default_context(cafile=bundle)
        self.dir = self.get(directory)
        self.key = key or Key()
        self.kid = None

    def _open(self, req):
        try:
            with urllib.request.urlopen(req, context=self.ctx,
                                        timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            body = e.read()
            ctype = e.headers.get("Content-Type", "")
            doc = json.loads(body) if body else {}
            raise Problem(e.code, doc, ctype) from None

    def get(self, url):
        return json.loads(self._open(urllib.request.Request(url))[2])

    def nonce(self):
        req = urllib.request.Request(self.dir["newNonce"], method="HEAD")
        return self._open(req)[1]["Replay-Nonce"]

    def jws(self, url, payload, key=None, kid=True, nonce=None,
            hdr_url=None, alg=None, jwk=None):
        key = key or self.key
        prot = {"alg": alg or key.alg, "url": hdr_url or url}
        if nonce is not False:
            prot["nonce"] = nonce or self.nonce()
        if kid and self.kid and jwk is None:
            prot["kid"] = self.kid
        else:
            prot["jwk"] = jwk or key.jwk()
        p64 = b64(json.dumps(prot).encode())
        pl64 = "" if payload is None else b64(json.dumps(payload).encode())
        sig = key.sign(("%s.%s" % (p64, pl64)).encode())
        return {"protected": p64, "payload": pl64, "signature": b64(sig)}

    def post_raw(self, url, body, ctype="application/jose+json"):
        req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": ctype},
                                     method="POST")
        st, h, b = self._open(req)
        if h.get("Content-Type", "").startswith(
                "application/pem-certificate-chain"):
            return st, h, b.decode()
        return st, h, json.loads(b) if b else None

    def post(self, url, payload, **kw):
        return self.post_raw(url, self.jws(url, payload, **kw))

    def register(self):
        st, h, acct = self.post(self.dir["newAccount"],
                                {"termsOfServiceAgreed": True}, kid=False)
        self.kid = h["Location"]
        return st, acct

    def order(self, names):
        st, h, o = self.post(self.dir["newOrder"], {"identifiers": [
            {"type": "dns", "value": n} for n in names]})
        return h["Location"], o


def expect(fn, ptype, status=None):
    try:
        fn()
    except Problem as p:
        assert p.ctype.startswith("application/problem+json"), p.ctype
        assert p.doc.get("type") == PFX + ptype, "want %s, got %s" % (
            ptype, p.doc)
        if status:
            assert p.status == status, (p.status, p.doc)
        return p
    raise AssertionError("no %s problem" % ptype)


class Http01:
    """A one-token http-01 responder on 127.0.0.1:port."""

    def __init__(self, port):
        self.answers = {}
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                tok = self.path.rsplit("/", 1)[-1]
                body = outer.answers.get(tok)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def poll(cl, url, want, bound=30):
    end = time.time() + bound
    while time.time() < end:
        st, h, o = cl.post(url, None)
        if o["status"] in want:
            return o
        time.sleep(0.2)
    raise AssertionError("%s still %s" % (url, o["status"]))


def authorize(cl, http01, names, wrong=False):
    """New order for names, answer http-01 for each; the order."""
    ourl, o = cl.order(names)
    for zu in o["authorizations"]:
        st, h, z = cl.post(zu, None)
        ch = [c for c in z["challenges"] if c["type"] == "http-01"][0]
        ka = ch["token"] + "." + cl.key.thumb()
        http01.answers[ch["token"]] = ("x" + ka) if wrong else ka
        st, h, c = cl.post(ch["url"], {})
        assert h.get("Link", "").find('rel="up"') > 0 or True
        poll(cl, zu, ("valid", "invalid"))
    return ourl, cl.post(ourl, None)[2]


def csr_der(names, key=None):
    key = key or ec.generate_private_key(ec.SECP256R1())
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, names[0])])).add_extension(
        x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
        critical=False)
    return key, b.sign(key, hashes.SHA256()).public_bytes(
        serialization.Encoding.DER)


def issue(cl, http01, names):
    ourl, o = authorize(cl, http01, names)
    assert o["status"] == "ready", o
    key, der = csr_der(names)
    st, h, o = cl.post(o["finalize"], {"csr": b64(der)})
    o = poll(cl, ourl, ("valid",))
    st, h, pem = cl.post(o["certificate"], None)
    assert pem.startswith("-----BEGIN CERTIFICATE-----"), pem[:40]
    return key, pem


def main():
    directory, bundle, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    http01 = Http01(port)
    out = {}
    try:
        for case in sys.argv[4:]:
            globals()["case_" + case.replace("-", "_")](directory, bundle,
                                                        http01, out)
            print("ok", case, flush=True)
    finally:
        http01.close()
    if "pem" in out:
        with open("acme_client.pem", "w") as f:
            f.write(out["pem"])


# ---- cases -------------------------------------------------------------

def case_bad_signature(d, b, h, out):
    cl = Client(d, b)
    body = cl.jws(cl.dir["newAccount"], {"termsOfServiceAgreed": True},
                  kid=False)
    sig = bytearray(ub64(body["signature"]))
    sig[5] ^= 1
    body["signature"] = b64(bytes(sig))
    expect(lambda: cl.post_raw(cl.dir["newAccount"], body), "malformed")


def case_bad_alg(d, b, h, out):
    cl = Client(d, b)
    expect(lambda: cl.post(cl.dir["newAccount"], {}, kid=False, alg="none"),
           "badSignatureAlgorithm")
    expect(lambda: cl.post(cl.dir["newAccount"], {}, kid=False,
                           alg="ES384"), "badSignatureAlgorithm")


def case_media_type(d, b, h, out):
    cl = Client(d, b)
    body = cl.jws(cl.dir["newAccount"], {}, kid=False)
    p = expect(lambda: cl.post_raw(cl.dir["newAccount"], body,
                                   "application/json"), "malformed")
    assert p.status == 415, p.status


def case_replayed_nonce(d, b, h, out):
    cl = Client(d, b)
    n = cl.nonce()
    cl.post(cl.dir["newAccount"], {"termsOfServiceAgreed": True}, kid=False,
            nonce=n)
    p = expect(lambda: cl.post(cl.dir["newAccount"], {}, kid=False,
                               nonce=n), "badNonce", 400)
    expect(lambda: cl.post(cl.dir["newAccount"], {}, kid=False,
                           nonce="AAAAAAAAAAAAAAAAAAAAAA"), "badNonce")
    expect(lambda: cl.post(cl.dir["newAccount"], {}, kid=False,
                           nonce=False), "badNonce")


def case_wrong_url(d, b, h, out):
    cl = Client(d, b)
    expect(lambda: cl.post(cl.dir["newAccount"], {}, kid=False,
                           hdr_url=cl.dir["newOrder"]), "unauthorized")


def case_unknown_kid(d, b, h, out):
    cl = Client(d, b)
    cl.kid = cl.dir["newAccount"].replace("new-account",
                                          "acct/0123456789abcdef")
    expect(lambda: cl.order(["a.acme.test"]), "accountDoesNotExist")
    cl.kid = "https://elsewhere.example/acct/1"
    expect(lambda: cl.order(["a.acme.test"]), "accountDoesNotExist")


def case_jwk_and_kid(d, b, h, out):
    cl = Client(d, b)
    cl.register()
    # newOrder with a jwk instead of the kid
    expect(lambda: cl.post(cl.dir["newOrder"], {"identifiers": [
        {"type": "dns", "value": "a.acme.test"}]}, kid=False), "malformed")


def case_account_keys(d, b, h, out):
    for alg in ("ES256", "ES384", "RS256"):
        cl = Client(d, b, Key(alg))
        st, acct = cl.register()
        assert st == 201 and acct["status"] == "valid", (st, acct)
        st, acct = cl.register()
        assert st == 200, "an existing key answers 200 with its account"
    cl = Client(d, b)
    expect(lambda: cl.post(cl.dir["newAccount"], {"onlyReturnExisting":
                                                  True}, kid=False),
           "accountDoesNotExist")


def case_refused_name(d, b, h, out):
    cl = Client(d, b)
    cl.register()
    expect(lambda: cl.order(["evil.example.org"]), "rejectedIdentifier")
    expect(lambda: cl.post(cl.dir["newOrder"], {"identifiers": [
        {"type": "ip", "value": "10.0.0.1"}]}), "unsupportedIdentifier")


def case_wrong_key_authorization(d, b, h, out):
    cl = Client(d, b)
    cl.register()
    ourl, o = authorize(cl, h, ["wrong.acme.test"], wrong=True)
    assert o["status"] == "invalid", o
    st, hd, z = cl.post(o["authorizations"][0], None)
    ch = [c for c in z["challenges"] if c["type"] == "http-01"][0]
    assert ch["status"] == "invalid", ch
    assert ch["error"]["type"] == PFX + "incorrectResponse", ch
    key, der = csr_der(["wrong.acme.test"])
    expect(lambda: cl.post(o["finalize"], {"csr": b64(der)}),
           "orderNotReady", 403)


def case_refused_target(d, b, h, out):
    cl = Client(d, b)
    cl.register()
    ourl, o = authorize(cl, h, ["loop.acme.test"])
    assert o["status"] == "invalid", o
    st, hd, z = cl.post(o["authorizations"][0], None)
    ch = [c for c in z["challenges"] if c["type"] == "http-01"][0]
    assert ch["error"]["type"] == PFX + "rejectedIdentifier", ch
    assert "loopback" in ch["error"]["detail"], ch


def case_bad_csr(d, b, h, out):
    cl = Client(d, b)
    cl.register()
    ourl, o = authorize(cl, h, ["csr.acme.test"])
    assert o["status"] == "ready", o
    key, der = csr_der(["csr.acme.test", "other.acme.test"])
    expect(lambda: cl.post(o["finalize"], {"csr": b64(der)}), "badCSR")
    expect(lambda: cl.post(o["finalize"], {"csr": "!!"}), "badCSR")


def case_issue_revoke_by_cert_key(d, b, h, out):
    cl = Client(d, b, Key("RS256"))
    cl.register()
    key, pem = issue(cl, h, ["rev.acme.test"])
    out["pem"] = pem
    cert = x509.load_pem_x509_certificate(pem.encode())
    der = cert.public_bytes(serialization.Encoding.DER)
    # another account may not revoke it
    other = Client(d, b)
    other.register()
    expect(lambda: other.post(other.dir["revokeCert"], {"certificate":
                                                        b64(der)}),
           "unauthorized")
    # the certificate's key (jwk) may
    ck = Key("ES256")
    ck.k = key
    cl2 = Client(d, b, ck)
    st, hd, r = cl2.post(cl2.dir["revokeCert"], {"certificate": b64(der),
                                                 "reason": 1}, kid=False)
    assert st == 200, st
    expect(lambda: cl2.post(cl2.dir["revokeCert"], {"certificate":
                                                    b64(der)}, kid=False),
           "alreadyRevoked")


def case_key_change(d, b, h, out):
    cl = Client(d, b)
    cl.register()
    new = Key("ES256")
    url = cl.dir["keyChange"]
    inner = cl.jws(url, {"account": cl.kid, "oldKey": cl.key.jwk()},
                   key=new, kid=False, nonce=False)
    st, hd, acct = cl.post(url, inner)
    assert st == 200, st
    old = cl.key
    cl.key = new
    cl.order(["kc.acme.test"])		# the new key works
    cl.key = old
    expect(lambda: cl.order(["kc.acme.test"]), "malformed")
    o = Client(d, b, old)
    expect(lambda: o.post(o.dir["newAccount"], {"onlyReturnExisting": True},
                          kid=False), "accountDoesNotExist")


def case_deactivate(d, b, h, out):
    cl = Client(d, b)
    cl.register()
    st, hd, acct = cl.post(cl.kid, {"status": "deactivated"})
    assert acct["status"] == "deactivated", acct
    expect(lambda: cl.order(["d.acme.test"]), "unauthorized")


def case_expiry(d, b, h, out):
    """Needs HKMS_ACME_TEST_LIFETIME=2 in the server (test builds)."""
    cl = Client(d, b)
    cl.register()
    ourl, o = cl.order(["exp.acme.test"])
    time.sleep(3)
    st, hd, o = cl.post(ourl, None)
    assert o["status"] == "invalid", o
    st, hd, z = cl.post(o["authorizations"][0], None)
    assert z["status"] == "expired", z
    key, der = csr_der(["exp.acme.test"])
    expect(lambda: cl.post(o["finalize"], {"csr": b64(der)}),
           "orderNotReady")


def case_eab_required(d, b, h, out):
    cl = Client(d, b)
    expect(lambda: cl.register(), "externalAccountRequired")


if __name__ == "__main__":
    main()
