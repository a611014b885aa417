#!/usr/bin/env python3
# The malicious relying party of tests/e2e/attack_ocsp_public.sh, against
# the plain-HTTP public listener. Usage: attack_ocsp_public.py PUBPORT
# LEAF.pem ROOT.pem FOREIGN_CA.pem CASE. Exit 0 when every attack got the
# answer a correct server gives; prints what it measured.
import base64
import os
import re
import socket
import sys
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

PORT = int(sys.argv[1])
leaf = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
root = x509.load_pem_x509_certificate(open(sys.argv[3], "rb").read())
foreign = x509.load_pem_x509_certificate(open(sys.argv[4], "rb").read())
CASE = sys.argv[5]
bad = []


def raw(data, timeout=10.0):
    """send bytes, read until the server closes (or timeout)"""
    s = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        pass
    s.close()
    return out


def post(der, ctype=b"application/ocsp-request"):
    return raw(b"POST /ocsp HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               b"Content-Type: " + ctype + b"\r\nContent-Length: " +
               str(len(der)).encode() + b"\r\n\r\n" + der)


def get(path):
    return raw(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")


def status_of(resp):
    """(http code, OCSP response status name or None, body)"""
    if not resp.startswith(b"HTTP/1."):
        return (None, None, resp)
    head, _, body = resp.partition(b"\r\n\r\n")
    code = int(head.split(b" ")[1])
    name = None
    if code == 200:
        try:
            r = ocsp.load_der_ocsp_response(body)
            name = r.response_status.name
            if name == "SUCCESSFUL":
                st = [x.certificate_status.name for x in r.responses]
                name = st[0] if len(st) == 1 else "MULTI:" + ",".join(st)
        except Exception as e:  # noqa: BLE001
            name = "UNPARSEABLE:%s" % e
    return (code, name, body)


def expect(what, resp, code, names):
    c, n, _ = status_of(resp)
    if c != code or (names is not None and n not in names):
        bad.append("%s: got %s %s, want %s %s" % (what, c, n, code, names))


def req(cert=leaf, issuer=root, h=hashes.SHA1(), nonce=None):
    b = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, h)
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


def tlv(tag, body):
    n = len(body)
    if n < 0x80:
        ln = bytes([n])
    else:
        nb = n.to_bytes((n.bit_length() + 7) // 8, "big")
        ln = bytes([0x80 | len(nb)]) + nb
    return bytes([tag]) + ln + body


SHA1_ALG = tlv(0x30, tlv(0x06, bytes.fromhex("2b0e03021a")) + b"\x05\x00")


def certid(alg=SHA1_ALG, nh=b"\x00" * 20, kh=b"\x00" * 20, serial=b"\x01"):
    return tlv(0x30, alg + tlv(0x04, nh) + tlv(0x04, kh) + tlv(0x02, serial))


def request_of(ids, exts=b""):
    lst = b"".join(tlv(0x30, i) for i in ids)
    tbs = tlv(0x30, lst) + exts
    return tlv(0x30, tlv(0x30, tbs))


# the real issuer hashes of root (SHA-1), from a real request
good = ocsp.load_der_ocsp_request(req())
NH, KH = good.issuer_name_hash, good.issuer_key_hash
SERIAL = leaf.serial_number.to_bytes((leaf.serial_number.bit_length() + 8) // 8, "big")

if CASE == "malformed":
    d = req()
    expect("a good request", post(d), 200, ["GOOD"])
    # every truncation of a valid request
    for n in range(0, len(d)):
        expect("truncated to %d" % n, post(d[:n]), 200 if n else 200,
               ["MALFORMED_REQUEST"])
    expect("trailing byte", post(d + b"\x00"), 200, ["MALFORMED_REQUEST"])
    # deep nesting: 4000 SEQUENCEs, definite and indefinite
    deep = b"\x30\x00"
    for _ in range(2000):
        deep = tlv(0x30, deep)
    expect("2000-deep nesting", post(deep[:8000]), 200, ["MALFORMED_REQUEST"])
    expect("indefinite nesting", post(b"\x30\x80" * 4000), 200, ["MALFORMED_REQUEST"])
    # many CertIDs: 17 (over the bound), ~180 within 8 KiB, 10000 (413 or malformed)
    one = certid(nh=NH, kh=KH, serial=SERIAL)
    expect("17 CertIDs", post(request_of([one] * 17)), 200, ["MALFORMED_REQUEST"])
    expect("16 CertIDs", post(request_of([one] * 16)), 200, ["MULTI:" + ",".join(["GOOD"] * 16)])
    expect("180 CertIDs", post(request_of([one] * 180)), 200, ["MALFORMED_REQUEST"])
    r = post(request_of([one] * 10000))
    c, n, _ = status_of(r)
    if not ((c == 200 and n == "MALFORMED_REQUEST") or c == 413):
        bad.append("10000 CertIDs: %s %s" % (c, n))
    # a 1000-byte, a 65-byte, a negative and a zero serial
    expect("1000-byte serial", post(request_of([certid(nh=NH, kh=KH, serial=b"\x01" * 1000)])),
           200, ["MALFORMED_REQUEST"])
    expect("65-byte serial", post(request_of([certid(nh=NH, kh=KH, serial=b"\x01" * 65)])),
           200, ["MALFORMED_REQUEST"])
    expect("21-byte serial", post(request_of([certid(nh=NH, kh=KH, serial=b"\x01" * 21)])),
           200, ["UNKNOWN"])
    expect("negative serial", post(request_of([certid(nh=NH, kh=KH, serial=b"\xff")])),
           200, ["UNKNOWN"])
    expect("zero serial", post(request_of([certid(nh=NH, kh=KH, serial=b"\x00")])),
           200, ["UNKNOWN"])
    expect("padded serial", post(request_of([certid(nh=NH, kh=KH, serial=b"\x00" + SERIAL)])),
           200, ["MALFORMED_REQUEST", "GOOD"])
    # hash algorithms: an unknown OID, a signature OID, no parameters, MD5
    unk = tlv(0x30, tlv(0x06, bytes.fromhex("2a0304")))
    expect("unknown hash OID", post(request_of([certid(alg=unk)])), 200, ["MALFORMED_REQUEST"])
    rsasha256 = tlv(0x30, tlv(0x06, bytes.fromhex("2a864886f70d01010b")) + b"\x05\x00")
    expect("sha256WithRSA as the hash", post(request_of([certid(
        alg=rsasha256, nh=b"\x00" * 32, kh=b"\x00" * 32, serial=SERIAL)])), 200,
        ["UNAUTHORIZED", "MALFORMED_REQUEST"])
    noparam = tlv(0x30, tlv(0x06, bytes.fromhex("2b0e03021a")))
    expect("SHA-1 without NULL parameters", post(request_of([certid(
        alg=noparam, nh=NH, kh=KH, serial=SERIAL)])), 200, ["GOOD"])
    expect("wrong hash length", post(request_of([certid(nh=NH[:19], kh=KH, serial=SERIAL)])),
           200, ["MALFORMED_REQUEST"])
    # SHA-256 and SHA-512 CertIDs work; a foreign CA is unauthorized
    expect("SHA-256 CertID", post(req(h=hashes.SHA256())), 200, ["GOOD"])
    expect("SHA-512 CertID", post(req(h=hashes.SHA512())), 200, ["GOOD"])
    expect("foreign CA", post(req(issuer=foreign)), 200, ["UNAUTHORIZED"])
    expect("name of ours, key of another", post(request_of([certid(nh=NH, kh=b"\x01" * 20,
           serial=SERIAL)])), 200, ["UNAUTHORIZED"])
    # ours and a foreign one in one request
    f = certid(nh=b"\x02" * 20, kh=b"\x02" * 20, serial=SERIAL)
    expect("ours + foreign", post(request_of([one, f])), 200, ["UNAUTHORIZED"])
    expect("foreign + ours", post(request_of([f, one])), 200, ["UNAUTHORIZED"])
    # nonces: 0 bytes, 33, 5000 (request over 8 KiB), two nonces
    expect("33-byte nonce", post(req(nonce=b"\x01" * 33)), 200, ["MALFORMED_REQUEST"])
    expect("5000-byte nonce", post(req(nonce=b"\x01" * 5000)), 200, ["MALFORMED_REQUEST"])
    expect("9000-byte nonce", post(req(nonce=b"\x01" * 9000)), 200, ["MALFORMED_REQUEST"])
    nonce_ext = tlv(0x30, tlv(0x06, bytes.fromhex("2b06010505073001" "02")) +
                    tlv(0x04, tlv(0x04, b"\x05" * 8)))
    two = request_of([one], tlv(0xa2, tlv(0x30, nonce_ext + nonce_ext)))
    expect("two nonces", post(two), 200, ["MALFORMED_REQUEST"])
    empty_nonce = tlv(0x30, tlv(0x06, bytes.fromhex("2b0601050507300102")) + tlv(0x04, b""))
    expect("empty nonce", post(request_of([one], tlv(0xa2, tlv(0x30, empty_nonce)))), 200,
           ["MALFORMED_REQUEST"])
    expect("empty body", post(b""), 200, ["MALFORMED_REQUEST"])
    expect("json media type", post(d, b"application/json"), 415, None)
    expect("media type prefix", post(d, b"application/ocsp-requestX"), 415, None)
    expect("a good request at the end", post(d), 200, ["GOOD"])

elif CASE == "get":
    d = req()
    b64 = base64.b64encode(d)
    expect("GET quoted", get(b"/ocsp/" + urllib.parse.quote(b64, safe="").encode()), 200, ["GOOD"])
    expect("GET raw", get(b"/ocsp/" + b64), 200, ["GOOD"])
    expect("GET url-safe", get(b"/ocsp/" + base64.urlsafe_b64encode(d).rstrip(b"=")), 200, ["GOOD"])
    expect("GET lower-case escapes", get(b"/ocsp/" + b64.replace(b"/", b"%2f").replace(b"+", b"%2b")),
           200, ["GOOD"])
    expect("GET double-encoded", get(b"/ocsp/%25" + b"%02X" % b64[0] + b64[1:]), 200,
           ["MALFORMED_REQUEST"])
    expect("GET %00", get(b"/ocsp/" + b64[:4] + b"%00" + b64[4:]), 200, ["MALFORMED_REQUEST"])
    expect("GET truncated escape", get(b"/ocsp/" + b64 + b"%4"), 200, ["MALFORMED_REQUEST"])
    expect("GET bad escape", get(b"/ocsp/" + b64 + b"%zz"), 200, ["MALFORMED_REQUEST"])
    expect("GET '=' inside", get(b"/ocsp/" + b64[:8] + b"=" + b64[8:]), 200, ["MALFORMED_REQUEST"])
    expect("GET 3 '='", get(b"/ocsp/" + b64.rstrip(b"=") + b"==="), 200,
           ["MALFORMED_REQUEST", "GOOD"])
    expect("GET empty", get(b"/ocsp/"), 404, None)
    expect("GET /ocsp", get(b"/ocsp"), 404, None)
    expect("GET ..", get(b"/ocsp/../v1/keys"), 200, ["MALFORMED_REQUEST"])
    expect("GET with query", get(b"/ocsp/" + b64 + b"?x=1"), 200, ["GOOD"])
    # overlong: 16 kB of base64 (the cap), 30 kB, 200 kB
    for n in (16000, 30000, 200000):
        r = get(b"/ocsp/" + b"A" * n)
        c, nm, _ = status_of(r)
        if not (c in (404, 414, 431) or (c == 200 and nm == "MALFORMED_REQUEST") or c is None):
            bad.append("GET %d bytes: %s %s" % (n, c, nm))
    expect("a good GET at the end", get(b"/ocsp/" + b64), 200, ["GOOD"])

elif CASE == "plain":
    # every kind of API route, traversal and absolute forms: 404 (the
    # listener has nothing else), never an answer of the API
    for m, p in [(b"GET", b"/v1/keys"), (b"GET", b"/v1/health"), (b"GET", b"/metrics"),
                 (b"GET", b"/v1/clients"), (b"GET", b"/v1/cas"), (b"POST", b"/v1/keys"),
                 (b"GET", b"/v1/service"), (b"GET", b"/acme/directory"),
                 (b"GET", b"/.well-known/est/cacerts"), (b"POST", b"/v1/unseal"),
                 (b"GET", b"/crl/..%2F..%2Fhkms.conf.crl"), (b"GET", b"/ca/..%2Fkeys%2Fx.pem"),
                 (b"GET", b"/ca/%2e%2e.pem"), (b"GET", b"/crl/root.crl/../../v1/keys"),
                 (b"GET", b"//v1/keys"), (b"GET", b"/./v1/keys"), (b"GET", b"/V1/KEYS"),
                 (b"GET", b"http://127.0.0.1/v1/keys"), (b"GET", b"*"),
                 (b"OPTIONS", b"*"), (b"DELETE", b"/ca/root.pem"), (b"PUT", b"/ocsp")]:
        r = raw(m + b" " + p + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                b"Content-Length: 0\r\n\r\n")
        c, _, body = status_of(r)
        if c not in (400, 404) or b'"keys"' in body or b"hkms-service" in body:
            bad.append("%s %s: %s %r" % (m, p, c, body[:80]))
    expect("ca/root.pem", get(b"/ca/root.pem"), 200, None)
    # HTTP/1.0 and pipelining of three public requests
    r = raw(b"GET /ca/root.pem HTTP/1.0\r\n\r\n")
    if not r.startswith(b"HTTP/1.") or b" 200 " not in r.split(b"\r\n")[0]:
        bad.append("HTTP/1.0: %r" % r[:60])
    d = req()
    pipe = (b"GET /ca/root.pem HTTP/1.1\r\nHost: x\r\n\r\n" +
            b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\n"
            b"Content-Length: " + str(len(d)).encode() + b"\r\n\r\n" + d +
            b"GET /v1/keys HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    r = raw(pipe)
    codes = re.findall(rb"HTTP/1\.1 (\d{3}) ", r)
    if codes != [b"200", b"200", b"404"]:
        bad.append("pipelined: %r" % codes)

elif CASE == "flood":
    # N seconds of nonce requests from C connections; print counts
    import threading
    secs, conns = float(sys.argv[6]), int(sys.argv[7])
    stop = time.time() + secs
    counts = [0] * conns
    errs = [0] * conns

    def worker(k):
        s = None
        i = 0
        while time.time() < stop:
            d = req(nonce=i.to_bytes(8, "big") + bytes([k]))
            msg = (b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\n"
                   b"Content-Length: " + str(len(d)).encode() + b"\r\n\r\n" + d)
            try:
                if s is None:
                    s = socket.create_connection(("127.0.0.1", PORT), timeout=30)
                s.sendall(msg)
                buf = b""
                while b"\r\n\r\n" not in buf:
                    b = s.recv(65536)
                    if not b:
                        raise OSError("closed")
                    buf += b
                head, _, body = buf.partition(b"\r\n\r\n")
                ln = int([l for l in head.split(b"\r\n") if l.lower().startswith(
                    b"content-length:")][0].split(b":")[1])
                while len(body) < ln:
                    body += s.recv(65536)
                counts[k] += 1
            except Exception:  # noqa: BLE001
                errs[k] += 1
                s = None
            i += 1

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("flood: %d answers, %d errors in %.0f s over %d connections" %
          (sum(counts), sum(errs), secs, conns))

elif CASE == "race":
    # cached queries (no nonce) from 6 connections while `ca revoke` runs:
    # no answer asked after the revoke returned (the time in the file
    # argv[7]) may say good. The racers say when the first answer came
    # (argv[7] + ".first": the shell revokes only then) and run until each
    # has 3 answers asked after the revoke returned, or argv[6] seconds.
    import threading
    secs, mark = float(sys.argv[6]), sys.argv[7]
    d = req()
    msg = (b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\n"
           b"Content-Length: " + str(len(d)).encode() + b"\r\n\r\n" + d)
    res = []
    stop = time.time() + secs

    def revoked_at():
        try:
            return float(open(mark).read())
        except (OSError, ValueError):
            return None

    def racer():
        s = socket.create_connection(("127.0.0.1", PORT), timeout=30)
        after = 0
        while time.time() < stop and after < 3:
            t0 = time.time()
            s.sendall(msg)
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += s.recv(65536)
            head, _, body = buf.partition(b"\r\n\r\n")
            ln = int([l for l in head.split(b"\r\n") if l.lower().startswith(
                b"content-length:")][0].split(b":")[1])
            while len(body) < ln:
                body += s.recv(65536)
            if not head.startswith(b"HTTP/1.1 200 "):
                bad.append("race: %r %r" % (head.split(b"\r\n")[0], body[:200]))
                break
            res.append((t0, ocsp.load_der_ocsp_response(body).certificate_status.name))
            if not os.path.exists(mark + ".first"):
                with open(mark + ".first.tmp", "w") as f:
                    f.write("%f" % t0)
                os.replace(mark + ".first.tmp", mark + ".first")
            done = revoked_at()
            if done is not None and t0 > done:
                after += 1

    ts = [threading.Thread(target=racer) for _ in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    done = revoked_at()
    if done is None:
        bad.append("race: the revocation did not return within %g s" % secs)
        done = float("inf")
    late = [r for r in res if r[0] > done and r[1] != "REVOKED"]
    good = sum(1 for r in res if r[1] == "GOOD")
    print("race: %d answers, %d good, %d revoked, %d not revoked after the revoke returned" %
          (len(res), good, len(res) - good, len(late)))
    if late or good == 0 or not any(r[0] > done for r in res):
        bad.append("race: %d answers not revoked after the revoke, %d good in all" %
                   (len(late), good))

for b in bad:
    print("BAD:", b)
sys.exit(1 if bad else 0)
