#!/usr/bin/env python3
"""Regenerate the seed corpora of the fuzz targets (docs/fuzzing.md).

    python3 tests/fuzz/make_seeds.py [OUTDIR]   (default tests/fuzz/corpus)

Valid inputs come from the openssl CLI (certificates, CSRs, PKCS#7,
PKCS#12, keys); edge cases (empty SEQUENCE, zero-length extension, empty
names, truncated DER, trailing junk) are built here with a small DER
encoder and signed with python3-cryptography, so the signatures verify
and the parsers get past the signature to the odd field. Keys are fresh
on each run, so regenerating changes the bytes; the committed files are
the corpus of record. Files named crash-* are regression inputs and are
never written here.
"""
import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "corpus")
TMP = tempfile.mkdtemp(prefix="hkms-seeds.")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def ossl(*args, inp=None):
    return subprocess.run(["openssl", *args], input=inp, check=True,
                          capture_output=True, cwd=TMP).stdout


def rd(name):
    with open(os.path.join(TMP, name), "rb") as f:
        return f.read()

# --------------------------------------------------------------- DER ---


def length(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, content):
    return bytes([tag]) + length(len(content)) + content


def seq(*items):
    return tlv(0x30, b"".join(items))


def set_(*items):
    return tlv(0x31, b"".join(sorted(items)))


def oid(dotted):
    p = [int(x) for x in dotted.split(".")]
    body = bytes([40 * p[0] + p[1]])
    for v in p[2:]:
        enc = [v & 0x7F]
        v >>= 7
        while v:
            enc.append(0x80 | (v & 0x7F))
            v >>= 7
        body += bytes(reversed(enc))
    return tlv(0x06, body)


def integer(v):
    if v == 0:
        return tlv(0x02, b"\x00")
    n = (v.bit_length() + 8) // 8
    return tlv(0x02, v.to_bytes(n, "big", signed=True))


def octet(b):
    return tlv(0x04, b)


def bitstring(b, unused=0):
    return tlv(0x03, bytes([unused]) + b)


def utf8(s):
    return tlv(0x0C, s.encode())


def printable(s):
    return tlv(0x13, s.encode())


def ia5(s):
    return tlv(0x16, s.encode())


def utctime(s):
    return tlv(0x17, s.encode())


def gentime(s):
    return tlv(0x18, s.encode())


def explicit(n, content):
    return tlv(0xA0 | n, content)


def boolean(v):
    return tlv(0x01, b"\xff" if v else b"\x00")


NULL = b"\x05\x00"
OID_CN, OID_O, OID_C = "2.5.4.3", "2.5.4.10", "2.5.4.6"
OID_SAN, OID_BC, OID_KU, OID_EKU = "2.5.29.17", "2.5.29.19", "2.5.29.15", \
    "2.5.29.37"
OID_NC, OID_SKI, OID_AKI = "2.5.29.30", "2.5.29.14", "2.5.29.35"
ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"))
RSA_SHA256 = seq(oid("1.2.840.113549.1.1.11"), NULL)
RSA_SHA1 = seq(oid("1.2.840.113549.1.1.5"), NULL)


def name(*pairs):
    rdns = []
    for o, v in pairs:
        val = printable(v) if o == OID_C else utf8(v)
        rdns.append(set_(seq(oid(o), val)))
    return seq(*rdns)


def ext(o, value, critical=False):
    return seq(oid(o), *( [boolean(True)] if critical else []), octet(value))


EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def spki(key):
    return key.public_key().public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo)


def sign(key, tbs):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return ECDSA_SHA256, key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return RSA_SHA256, key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())


def cert(subject=None, issuer=None, exts=None, raw_exts=None, serial=4242,
         nb=utctime("230101000000Z"), na=utctime("330101000000Z"),
         key=EC_KEY, version=2, pub=None):
    subject = name((OID_CN, "seed")) if subject is None else subject
    issuer = subject if issuer is None else issuer
    alg = ECDSA_SHA256 if isinstance(key, ec.EllipticCurvePrivateKey) \
        else RSA_SHA256
    parts = []
    if version is not None:
        parts.append(explicit(0, integer(version)))
    parts += [integer(serial), alg, issuer, seq(nb, na), subject,
              pub if pub is not None else spki(key)]
    if raw_exts is not None:
        parts.append(explicit(3, raw_exts))
    elif exts is not None:
        parts.append(explicit(3, seq(*exts)))
    tbs = seq(*parts)
    alg, sig = sign(key, tbs)
    return seq(tbs, alg, bitstring(sig))


def csr(subject=None, exts=None, attrs=None, key=EC_KEY, version=0):
    subject = name((OID_CN, "seed")) if subject is None else subject
    if attrs is None:
        attrs = []
        if exts is not None:
            attrs.append(seq(oid("1.2.840.113549.1.9.14"),
                             set_(seq(*exts))))
    cri = seq(integer(version), subject, spki(key),
              tlv(0xA0, b"".join(sorted(attrs))))
    alg, sig = sign(key, cri)
    return seq(cri, alg, bitstring(sig))


def pem(label, der):
    import base64
    b = base64.b64encode(der).decode()
    lines = [b[i:i + 64] for i in range(0, len(b), 64)]
    return ("-----BEGIN %s-----\n%s\n-----END %s-----\n" %
            (label, "\n".join(lines), label)).encode()


def gn_dns(s):
    return tlv(0x82, s.encode())


def gn_ip(b):
    return tlv(0x87, b)


def gn_email(s):
    return tlv(0x81, s.encode())


def gn_uri(s):
    return tlv(0x86, s.encode())

# ------------------------------------------------------ openssl CLI ---


def cli_material():
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
         "root.key", "-subj", "/CN=Seed Root CA/O=hkms/C=DE", "-days",
         "3650", "-addext", "basicConstraints=critical,CA:TRUE,pathlen:1",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out",
         "root.pem")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384",
         "-nodes", "-keyout", "int.key", "-subj", "/CN=Seed Issuing CA/O=hkms",
         "-out", "int.csr")
    with open(os.path.join(TMP, "int.ext"), "w") as f:
        f.write("basicConstraints=critical,CA:TRUE,pathlen:0\n"
                "keyUsage=critical,keyCertSign,cRLSign\n"
                "nameConstraints=critical,permitted;DNS:example.com,"
                "permitted;IP:10.0.0.0/255.0.0.0,excluded;DNS:bad.example.com\n"
                "subjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid\n"
                "authorityInfoAccess=caIssuers;URI:http://ca.example.com/r.crt\n"
                "crlDistributionPoints=URI:http://ca.example.com/r.crl\n"
                "certificatePolicies=2.5.29.32.0\n")
    ossl("x509", "-req", "-in", "int.csr", "-CA", "root.pem", "-CAkey",
         "root.key", "-CAcreateserial", "-days", "1825", "-extfile",
         "int.ext", "-out", "int.pem")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", "leaf.key", "-subj",
         "/CN=www.example.com/O=Example/OU=Web/OU=Ops/L=Berlin/ST=Berlin/C=DE"
         "/emailAddress=ops@example.com",
         "-addext", "subjectAltName=DNS:www.example.com,DNS:*.example.com,"
         "IP:10.0.0.1,IP:fd00::1,email:ops@example.com,"
         "URI:https://example.com/x",
         "-out", "leaf.csr")
    with open(os.path.join(TMP, "leaf.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyAgreement\n"
                "extendedKeyUsage=serverAuth,clientAuth,1.3.6.1.4.1.99999.1\n"
                "subjectAltName=DNS:www.example.com,DNS:*.example.com,"
                "IP:10.0.0.1,IP:fd00::1,email:ops@example.com,"
                "URI:https://example.com/x\n"
                "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    ossl("x509", "-req", "-in", "leaf.csr", "-CA", "int.pem", "-CAkey",
         "int.key", "-CAcreateserial", "-days", "397", "-extfile",
         "leaf.ext", "-out", "leaf.pem")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "rsa.key",
         "-subj", "/CN=rsa client", "-addext", "subjectAltName=DNS:rsa.example.com",
         "-out", "rsa.csr")
    ossl("req", "-newkey", "ed25519", "-nodes", "-keyout", "ed.key", "-subj",
         "/CN=ed25519", "-out", "ed.csr")
    ossl("req", "-x509", "-key", "ed.key", "-subj", "/CN=ed25519",
         "-days", "30", "-out", "ed.pem")
    ossl("req", "-newkey", "rsa:1024", "-nodes", "-keyout", "weak.key",
         "-subj", "/CN=weak", "-sha1", "-out", "weak.csr")
    ossl("x509", "-in", "leaf.pem", "-outform", "DER", "-out", "leaf.der")
    ossl("x509", "-in", "root.pem", "-outform", "DER", "-out", "root.der")
    chain = rd("leaf.pem") + rd("int.pem") + rd("root.pem")
    with open(os.path.join(TMP, "chain.pem"), "wb") as f:
        f.write(chain)
    ossl("crl2pkcs7", "-nocrl", "-certfile", "chain.pem", "-out", "chain.p7b")
    ossl("crl2pkcs7", "-nocrl", "-certfile", "chain.pem", "-outform", "DER",
         "-out", "chain.p7b.der")
    ossl("pkcs12", "-export", "-inkey", "leaf.key", "-in", "leaf.pem",
         "-certfile", "int.pem", "-name", "leaf", "-passout", "pass:test",
         "-out", "leaf.p12")
    ossl("pkcs12", "-export", "-inkey", "leaf.key", "-in", "leaf.pem",
         "-passout", "pass:", "-out", "nopass.p12")
    ossl("pkcs12", "-export", "-nokeys", "-in", "chain.pem", "-passout",
         "pass:test", "-out", "certs.p12")
    ossl("pkcs12", "-export", "-nokeys", "-in", "chain.pem", "-nomac",
         "-certpbe", "NONE", "-passout", "pass:", "-out", "certs-nomac.p12")
    ossl("pkcs12", "-export", "-inkey", "rsa.key", "-nocerts",
         "-passout", "pass:test", "-out", "keyonly.p12")
    ossl("pkcs12", "-export", "-inkey", "leaf.key", "-in", "leaf.pem",
         "-keypbe", "AES-128-CBC", "-certpbe", "AES-128-CBC", "-macalg",
         "sha256", "-iter", "1", "-passout", "pass:test", "-out",
         "aes-iter1.p12")
    # keys
    ossl("pkcs8", "-topk8", "-in", "leaf.key", "-v2", "aes-256-cbc",
         "-iter", "1", "-passout", "pass:test", "-out", "leaf.enc.key")
    ossl("pkcs8", "-topk8", "-in", "leaf.key", "-nocrypt", "-outform", "DER",
         "-out", "leaf.key.der")
    ossl("pkcs8", "-topk8", "-in", "leaf.key", "-v2", "aes-128-cbc",
         "-iter", "1", "-passout", "pass:test", "-outform", "DER",
         "-out", "leaf.enc.key.der")
    # scrypt with openssl's defaults (N=16384 r=8 p=1): accepted by the cap
    ossl("pkcs8", "-topk8", "-in", "leaf.key", "-scrypt", "-passout",
         "pass:test", "-out", "leaf.scrypt.key")
    ossl("pkey", "-in", "rsa.key", "-traditional", "-out", "rsa.trad.key")
    ossl("rsa", "-in", "rsa.key", "-traditional", "-aes128", "-passout",
         "pass:test", "-out", "rsa.trad.enc.key")
    ossl("ec", "-in", "leaf.key", "-out", "ec.trad.key")
    ossl("pkey", "-in", "leaf.key", "-pubout", "-out", "leaf.pub")


# The body schemas of the HTTPS routes, in the order of
# hkms_http_body_schemas (src/http/routes.c): the first input byte picks one.
HTTP_BODIES = [
    ("key.generate", {"name": "web", "type": "ec:p256"}),
    ("key.import", {"name": "k", "key": "MIIBVQIBADANBgkqhkiG9w0BAQEFAASC",
                    "passphrase": "secret pass"}),
    ("csr.create", {"name": "web", "new_key": "ec:p256", "subject": "/CN=a",
                    "san": ["DNS:a.example", "IP:10.0.0.1"],
                    "digest": "sha256"}),
    ("csr.verify", {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n"
                    "-----END CERTIFICATE REQUEST-----\n"}),
    ("cert.self_sign", {"name": "s", "key": "web", "subject": "/CN=a",
                        "san": "DNS:a", "profile": "tls-server",
                        "days": 30}),
    ("cert.import", {"name": "c", "certificate": "-----BEGIN CERTIFICATE"
                     "-----\nMIIB\n-----END CERTIFICATE-----\n",
                     "ca": "MIIBkTCB+wIJAK==", "what_if": True,
                     "profile": "any", "key": "web", "passphrase": "x"}),
    ("cert.export", {"format": "p12", "password": "pw"}),
    ("cert.rename", {"name": "new-name"}),
    ("cert.renew", {"rekey": False, "days": 0}),
    ("ca.create", {"name": "root", "key_type": "ec:p384", "subject": "/CN=R",
                   "parent": None, "external": False, "path_len": 2,
                   "permit_dns": [".example.com"], "exclude_dns": [],
                   "permit_ip": ["10.0.0.0/8"], "exclude_ip": ["10.1.0.0/16"],
                   "days": 3650}),
    ("ca.apply", {"certificate": "MIIB", "chain": "MIIC"}),
    ("ca.sign", {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n"
                 "-----END CERTIFICATE REQUEST-----\n",
                 "profile": "tls-server", "days": 90, "subject": "/CN=b",
                 "san": [], "format": "p7b"}),
    ("ca.revoke", {"serial": "0A:1B", "reason": "keyCompromise"}),
    ("ca.crl", {"days": 7}),
    ("ca.issue_client", {"subject": "/CN=robot", "san": "email:r@x",
                         "key_type": "ec:p256", "days": 10,
                         "passphrase": "long enough"}),
    ("trust.import", {"alias": "root", "certificate": "MIIBkTCB+wIJAK==",
                      "password": "pw"}),
    ("trust.pin", {"certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n"
                   "-----END CERTIFICATE-----\n", "force": True}),
    ("trust.verify", {"chain": "MIIB", "purpose": "server",
                      "host": "a.example", "at": 1700000000,
                      "password": None, "profile": "webpki",
                      "max_depth": 3, "revocation": "prefer"}),
    # service certificate, history (issue 13a)
    ('service.cert_csr', {"common_name": "appliance.example.test", "organization": "Acme", "organization_unit": "Ops", "country": "DE", "state": "BY", "locality": "M", "alternative_names": ["a.example", "10.0.0.5"]}),
    ('service.cert_apply', {"ca": "MIIBkTCB+wIJAK==", "certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "what_if": True}),
    ('service.cert_self_sign', {"rekey": True}),
    ('service.cert_trust', {}),
    ('cert.restore', {"version": 2}),
    # issue 13b
    ("profile.create", {"name": "short", "profile": {
        "key_usage": ["digitalSignature"], "extended_key_usage":
        ["clientAuth"], "default_days": 30, "max_days": 90}}),
    ("ca.renew", {"rekey": True, "days": 365}),
    # revocation, CRLs, OCSP (issue 14a)
    ("trust.crl_import", {"crl": "-----BEGIN X509 CRL-----\nMIIB\n"
                          "-----END X509 CRL-----\n"}),
    # EST (issue 17b)
    # ACME (issue 17a)
    ("acme.enable", {"profile": "tls-server", "policy": {
        "allow_dns": [".example.org"]}, "eab_required": True}),
    ("acme.eab_create", {"kid": "team-a"}),
    ("est.enable", {"profile": "tls-client", "days": 30, "default": True}),
    ("est.token_create", {"ca": "root", "subject": "/CN=dev1", "days": 7}),
    # sessions, TOTP (issue 16a)
    ("session.open", {"code": "123456"}),
]


def http_body_seeds():
    t = "http_body"
    for i, (name, body) in enumerate(HTTP_BODIES):
        put(t, name, bytes([i]) + json.dumps(body).encode())
        put(t, name + ".empty", bytes([i]))
    put(t, "bad-json", b"\x00{\"name\":")
    put(t, "not-object", b"\x00[1,2]")
    put(t, "duplicate", b'\x00{"name":"a","name":"b","type":"ec:p256"}')
    put(t, "unknown-field", b'\x00{"name":"a","type":"x","colour":1}')
    put(t, "wrong-type", b'\x08{"rekey":1,"days":"7"}')
    put(t, "out-of-range", b'\x08{"days":99999999999}')
    put(t, "bad-base64", b'\x0b{"csr":"not base64!","profile":"p"}')
    put(t, "list-comma", b'\x02{"name":"a","subject":"/CN=a",'
        b'"san":["DNS:a,DNS:b"]}')
    put(t, "nul-string", b'\x00{"name":"a\\u0000b","type":"ec:p256"}')
    put(t, "wrong-media", b'\x80{"name":"a","type":"ec:p256"}')
    put(t, "deep", b"\x09{\"permit_dns\":" + b"[" * 300 + b"]" * 300 + b"}")


def http_route_seeds():
    t = "http_route"
    for i, (m, path) in enumerate([
            ("GET", "/v1/keys/web"), ("POST", "/v1/keys/import"),
            ("POST", "/v1/cas/root/sign"), ("GET", "/v1/cas/a/issued/0A:1B"),
            ("PUT", "/v1/cas/x/policy"), ("DELETE", "/v1/truststore/x"),
            ("GET", "/crl/root.crl"), ("GET", "/ca/root%2e.pem"),
            ("GET", "/v1/keys/a%2Fb"), ("GET", "/v1/keys/%00"),
            ("GET", "/v1/keys/"), ("GET", "//v1//keys"),
            ("PATCH", "/v1/certificates/web%2"), ("GET", "/v1/health"),
            ("GET", "/v1/clients/robot"), ("POST", "/v1/cas/" + "a/" * 40),
            ("GET", "/v1/keys/" + "%41" * 300),
            ("GET", "/ocsp/MEow/SDBGMEQ%2Bv1/certificates/x"),
            ("GET", "/ocsp/")]):
        put(t, "route-%02d" % i, m.encode() + b"\x00" + path.encode())


def est_body_seeds():
    """EST bodies (issue 17b): byte 0 even = a base64 PKCS#10 body, odd =
    the rest of a "Basic " header."""
    import base64
    t = "est_body"
    ossl("req", "-new", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-noenc", "-keyout", "est.key",
         "-subj", "/CN=dev1", "-addext", "subjectAltName=DNS:dev1.example",
         "-outform", "DER", "-out", "est.der")
    der = rd("est.der")
    b = base64.b64encode(der)
    lines = b"\n".join(b[i:i + 64] for i in range(0, len(b), 64)) + b"\n"
    put(t, "lines", b"\x00" + lines)
    put(t, "one-line", b"\x00" + b)
    put(t, "crlf", b"\x00" + lines.replace(b"\n", b"\r\n"))
    put(t, "no-padding", b"\x00" + b.rstrip(b"="))
    put(t, "trailing-junk", b"\x00" + base64.b64encode(der + b"\x00\x00"))
    put(t, "truncated", b"\x00" + base64.b64encode(der[:-9]))
    put(t, "pem-inside", b"\x00" + base64.b64encode(
        b"-----BEGIN CERTIFICATE REQUEST-----\n" + lines +
        b"-----END CERTIFICATE REQUEST-----\n"))
    put(t, "bad-char", b"\x00" + b[:20] + b"*" + b[20:])
    put(t, "pad-middle", b"\x00" + b[:8] + b"==" + b[8:])
    put(t, "empty", b"\x00")
    put(t, "basic", b"\x01" + base64.b64encode(b"est-0011aabbccdd:pw-x_y"))
    put(t, "basic-nocolon", b"\x01" + base64.b64encode(b"useronly"))
    put(t, "basic-empty-pass", b"\x01" + base64.b64encode(b"u:"))
    put(t, "basic-nul", b"\x01" + base64.b64encode(b"u\x00:p"))
    put(t, "basic-junk", b"\x01%%%")


def crl_seeds():
    """CRLs from openssl ca (issue 14a): revoked entries with reasons, the
    PEM and DER forms, and damaged ones."""
    d = os.path.join(TMP, "oca")
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "crlnumber"), "w") as f:
        f.write("0A\n")
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca=c\n[c]\ndatabase=%s/index.txt\n"
                "crlnumber=%s/crlnumber\ndefault_md=sha256\n"
                "default_crl_days=7\n" % (d, d))
    ossl("ca", "-batch", "-config", "oca/ca.cnf", "-keyfile", "root.key",
         "-cert", "root.pem", "-revoke", "leaf.pem", "-crl_reason",
         "keyCompromise")
    ossl("ca", "-batch", "-config", "oca/ca.cnf", "-keyfile", "root.key",
         "-cert", "root.pem", "-revoke", "int.pem", "-crl_reason",
         "cACompromise")
    ossl("ca", "-batch", "-config", "oca/ca.cnf", "-gencrl", "-keyfile",
         "root.key", "-cert", "root.pem", "-out", "root.crl")
    p = rd("root.crl")
    der = ossl("crl", "-in", "root.crl", "-outform", "DER")
    t = "crl"
    put(t, "crl.pem", p)
    put(t, "crl.der", der)
    put(t, "crl-text-before.pem", b"a CRL\n" + p)
    put(t, "crl-trailing.der", der + b"\x00")
    put(t, "crl-truncated.der", der[:len(der) // 2])
    put(t, "two-crls.pem", p + p)
    put(t, "empty", b"")


def acme_jws_seeds():
    """issue 17a: ACME request bodies, signed for real (ES256, ES384,
    RS256), and the refusals: a wrong alg, jwk and kid both, a bad
    signature, an unprotected header, a keyChange with its inner JWS."""
    import base64
    from cryptography.hazmat.primitives.asymmetric.utils import \
        decode_dss_signature
    t = "acme_jws"

    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    def ib(n, size=None):
        return n.to_bytes(size or (n.bit_length() + 7) // 8, "big")

    def jwk(k):
        p = k.public_key().public_numbers()
        if isinstance(k, rsa.RSAPrivateKey):
            return {"kty": "RSA", "n": b64(ib(p.n)), "e": b64(ib(p.e))}
        size = (k.curve.key_size + 7) // 8
        return {"kty": "EC", "crv": "P-%d" % k.curve.key_size,
                "x": b64(ib(p.x, size)), "y": b64(ib(p.y, size))}

    def jws(k, alg, prot, payload):
        p64 = b64(json.dumps(prot).encode())
        pl64 = "" if payload is None else b64(json.dumps(payload).encode())
        data = ("%s.%s" % (p64, pl64)).encode()
        if alg == "RS256":
            sig = k.sign(data, padding.PKCS1v15(), hashes.SHA256())
        else:
            size = (k.curve.key_size + 7) // 8
            h = hashes.SHA256() if size == 32 else hashes.SHA384()
            r, s = decode_dss_signature(k.sign(data, ec.ECDSA(h)))
            sig = ib(r, size) + ib(s, size)
        return {"protected": p64, "payload": pl64, "signature": b64(sig)}

    url = "https://127.0.0.1:8443/acme/web/"
    keys = [("ES256", ec.generate_private_key(ec.SECP256R1())),
            ("ES384", ec.generate_private_key(ec.SECP384R1())),
            ("RS256", rsa.generate_private_key(65537, 2048))]
    for alg, k in keys:
        prot = {"alg": alg, "nonce": "AAAAAAAAAAAAAAAAAAAAAA",
                "url": url + "new-account", "jwk": jwk(k)}
        put(t, "new-account-" + alg, b"\x01" + json.dumps(jws(
            k, alg, prot, {"termsOfServiceAgreed": True})).encode())
    alg, k = keys[0]
    kid = {"alg": alg, "nonce": "AAAAAAAAAAAAAAAAAAAAAA",
           "url": url + "new-order", "kid": url + "acct/0123"}
    put(t, "new-order-kid", b"\x01" + json.dumps(jws(k, alg, kid, {
        "identifiers": [{"type": "dns", "value": "a.example"}]})).encode())
    put(t, "post-as-get", b"\x01" + json.dumps(jws(k, alg, dict(
        kid, url=url + "order/1"), None)).encode())
    both = dict(kid, jwk=jwk(k))
    put(t, "jwk-and-kid", b"\x01" + json.dumps(jws(k, alg, both, {}))
        .encode())
    put(t, "alg-none", b"\x01" + json.dumps(jws(k, alg, dict(
        kid, alg="none"), {})).encode())
    bad = jws(k, alg, dict(kid, jwk=jwk(k), kid=None), {})
    put(t, "kid-null", b"\x01" + json.dumps(bad).encode())
    good = jws(k, alg, {"alg": alg, "nonce": "n", "url": url + "x",
                        "jwk": jwk(k)}, {})
    flipped = dict(good, signature=good["signature"][:-2] + "AA")
    put(t, "bad-signature", b"\x01" + json.dumps(flipped).encode())
    put(t, "unprotected-header", b"\x01" + json.dumps(dict(
        good, header={"alg": "none"})).encode())
    put(t, "no-nonce", b"\x01" + json.dumps(jws(k, alg, {
        "alg": alg, "url": url + "x", "jwk": jwk(k)}, {})).encode())
    new = ec.generate_private_key(ec.SECP256R1())
    inner = jws(new, "ES256", {"alg": "ES256", "url": url + "key-change",
                               "jwk": jwk(new)},
                {"account": url + "acct/0123", "oldKey": jwk(k)})
    put(t, "key-change", b"\x05" + json.dumps(jws(k, alg, dict(
        kid, url=url + "key-change"), inner)).encode())
    put(t, "eab-hs256", b"\x02" + json.dumps({
        "protected": b64(json.dumps({"alg": "HS256", "kid": "eab1",
                                     "url": url + "new-account"}).encode()),
        "payload": b64(json.dumps(jwk(k)).encode()),
        "signature": b64(b"\0" * 32)}).encode())
    put(t, "rsa-1024", b"\x00" + json.dumps(jws(
        rsa.generate_private_key(65537, 1024), "RS256",
        {"alg": "RS256", "url": url, "jwk": jwk(rsa.generate_private_key(
            65537, 1024))}, {})).encode())
    put(t, "padding", b'\x00{"protected":"e30=","payload":"","signature":"AA"}')
    put(t, "not-json", b"\x00{\"protected\":")
    put(t, "private-jwk", b"\x00" + json.dumps(jws(k, alg, {
        "alg": alg, "url": url, "jwk": dict(jwk(k), d="AAAA")}, {}))
        .encode())


def main():
    est_body_seeds()
    acme_jws_seeds()
    http_body_seeds()
    http_route_seeds()
    cli_material()
    crl_seeds()
    leaf_pem, int_pem, root_pem = rd("leaf.pem"), rd("int.pem"), rd("root.pem")
    chain = leaf_pem + int_pem + root_pem

    # ------------------------------------------------------ cert_parse
    t = "cert_parse"
    put(t, "leaf.pem", leaf_pem)
    put(t, "leaf.der", rd("leaf.der"))
    put(t, "root.der", rd("root.der"))
    put(t, "chain.pem", chain)
    put(t, "chain.p7b", rd("chain.p7b"))
    put(t, "chain.p7b.der", rd("chain.p7b.der"))
    put(t, "leaf.p12", rd("leaf.p12"))
    put(t, "nopass.p12", rd("nopass.p12"))
    put(t, "certs-nomac.p12", rd("certs-nomac.p12"))
    put(t, "ed25519.pem", rd("ed.pem"))
    put(t, "bag-attributes.pem", b"Bag Attributes\n    friendlyName: leaf\n"
        b"subject=/CN=www.example.com\n" + leaf_pem)
    put(t, "key-and-cert.pem", rd("leaf.key") + leaf_pem)
    put(t, "key-only.pem", rd("leaf.key"))
    put(t, "trusted.pem", pem("TRUSTED CERTIFICATE", rd("root.der") +
        seq(seq(oid("1.3.6.1.5.5.7.3.1")))))
    put(t, "trailing-junk.pem", leaf_pem + b"junk\n")
    put(t, "trailing-junk.der", rd("leaf.der") + b"\x00")
    put(t, "truncated.der", rd("leaf.der")[:200])
    put(t, "truncated.pem", leaf_pem[:300])
    put(t, "csr-block.pem", rd("leaf.csr"))
    put(t, "empty", b"")
    put(t, "empty-seq.der", b"\x30\x00")
    put(t, "empty-seq.pem", pem("CERTIFICATE", b"\x30\x00"))
    put(t, "empty-pkcs7.pem", pem("PKCS7", b"\x30\x00"))

    # edge-case certificates, validly signed
    odd = {
        "zero-len-ext.der": cert(exts=[ext("1.2.3.4.5", b"")]),
        "empty-ext-seq.der": cert(raw_exts=seq()),
        "empty-san.der": cert(exts=[ext(OID_SAN, seq())]),
        "zero-len-san.der": cert(exts=[ext(OID_SAN, b"")]),
        "empty-bc.der": cert(exts=[ext(OID_BC, seq(), True)]),
        "empty-ku.der": cert(exts=[ext(OID_KU, bitstring(b""), True)]),
        "empty-eku.der": cert(exts=[ext(OID_EKU, seq())]),
        "empty-nc.der": cert(exts=[ext(OID_NC, seq(), True)]),
        "empty-ski.der": cert(exts=[ext(OID_SKI, octet(b""))]),
        "empty-aki.der": cert(exts=[ext(OID_AKI, seq())]),
        "empty-subject.der": cert(subject=seq(), exts=[ext(OID_SAN,
                                  seq(gn_dns("a.example.com")), True)]),
        "empty-rdn.der": cert(subject=seq(set_())),
        "empty-cn.der": cert(subject=name((OID_CN, ""))),
        "nul-in-cn.der": cert(subject=name((OID_CN, "a\x00.example.com"))),
        "nul-in-san.der": cert(exts=[ext(OID_SAN, seq(
            gn_dns("a.example.com\x00.evil.com")))]),
        "empty-gn.der": cert(exts=[ext(OID_SAN, seq(gn_dns(""), tlv(0x87, b""),
                             gn_email(""), gn_uri("")))]),
        "bad-ip-len.der": cert(exts=[ext(OID_SAN, seq(gn_ip(b"\x0a\x00\x00")))]),
        "dup-ext.der": cert(exts=[ext(OID_SAN, seq(gn_dns("a.example.com"))),
                                  ext(OID_SAN, seq(gn_dns("b.example.com")))]),
        "serial-zero.der": cert(serial=0),
        "serial-negative.der": cert(serial=-5),
        "serial-huge.der": cert(serial=(1 << 400) + 1),
        "v1.der": cert(version=None),
        "v4.der": cert(version=3),
        "gentime-2050.der": cert(na=gentime("20500101000000Z")),
        "bad-time.der": cert(nb=utctime("991399999999Z")),
        "not-before-after.der": cert(nb=utctime("330101000000Z"),
                                     na=utctime("230101000000Z")),
        "pathlen-negative.der": cert(exts=[ext(OID_BC, seq(boolean(True),
                                     integer(-1)), True)]),
        "pathlen-huge.der": cert(exts=[ext(OID_BC, seq(boolean(True),
                                 integer(1 << 70)), True)]),
        "unknown-critical.der": cert(exts=[ext("1.2.3.4.6", b"\x05\x00",
                                     True)]),
        "rsa.der": cert(key=RSA_KEY, exts=[ext(OID_KU, bitstring(b"\x80", 7),
                        True)]),
        "empty-spki.der": cert(pub=seq(seq(), bitstring(b""))),
        "long-cn.der": cert(subject=name((OID_CN, "x" * 300))),
        "many-ou.der": cert(subject=name(*[("2.5.4.11", "ou%d" % i)
                                           for i in range(50)])),
        "bad-utf8-cn.der": cert(subject=seq(set_(seq(oid(OID_CN),
                                tlv(0x0C, b"\xff\xfe"))))),
        "bmp-cn.der": cert(subject=seq(set_(seq(oid(OID_CN),
                           tlv(0x1E, "bmp".encode("utf-16-be")))))),
    }
    for n, der in odd.items():
        put(t, n, der)
    put(t, "empty-san.pem", pem("CERTIFICATE", odd["empty-san.der"]))

    # ------------------------------------------------------------- csr
    t = "csr"
    put(t, "leaf.csr", rd("leaf.csr"))
    put(t, "rsa.csr", rd("rsa.csr"))
    put(t, "ed25519.csr", rd("ed.csr"))
    put(t, "weak-sha1.csr", rd("weak.csr"))
    put(t, "new-header.csr", rd("rsa.csr").replace(b"CERTIFICATE REQUEST",
        b"NEW CERTIFICATE REQUEST"))
    der = ossl("req", "-in", "leaf.csr", "-outform", "DER")
    put(t, "leaf.csr.der", der)
    put(t, "truncated.csr.der", der[:100])
    put(t, "trailing-junk.csr", rd("leaf.csr") + b"x")
    put(t, "trailing-junk.csr.der", der + b"\x00")
    put(t, "empty", b"")
    put(t, "empty-seq.der", b"\x30\x00")
    put(t, "whitespace.csr", b"\n  \n" + rd("leaf.csr") + b"\n\n")
    put(t, "pem-headers.csr", rd("leaf.csr").replace(
        b"-----\n", b"-----\nProc-Type: 4,ENCRYPTED\n\n", 1))
    odd = {
        "plain.der": csr(),
        "empty-attrs.der": csr(attrs=[]),
        "empty-extreq.der": csr(exts=[]),
        "zero-len-ext.der": csr(exts=[ext("1.2.3.4.5", b"")]),
        "empty-san.der": csr(exts=[ext(OID_SAN, seq())]),
        "zero-len-san.der": csr(exts=[ext(OID_SAN, b"")]),
        "dup-san.der": csr(exts=[ext(OID_SAN, seq(gn_dns("a.example.com"))),
                                 ext(OID_SAN, seq(gn_dns("b.example.com")))]),
        "two-extreq.der": csr(attrs=[
            seq(oid("1.2.840.113549.1.9.14"), set_(seq(ext(OID_SAN,
                seq(gn_dns("a.example.com")))))),
            seq(oid("1.2.840.113549.1.9.14"), set_(seq(ext(OID_SAN,
                seq(gn_dns("b.example.com"))))))]),
        "extreq-empty-set.der": csr(attrs=[seq(oid("1.2.840.113549.1.9.14"),
                                    set_())]),
        "extreq-not-seq.der": csr(attrs=[seq(oid("1.2.840.113549.1.9.14"),
                                  set_(NULL))]),
        "empty-subject.der": csr(subject=seq(),
                                 exts=[ext(OID_SAN, seq(gn_dns("a.example.com")))]),
        "empty-cn.der": csr(subject=name((OID_CN, ""))),
        "nul-in-cn.der": csr(subject=name((OID_CN, "a\x00b"))),
        "nul-in-san.der": csr(exts=[ext(OID_SAN, seq(gn_dns("a\x00b.com")))]),
        "all-san-types.der": csr(exts=[ext(OID_SAN, seq(
            gn_dns("a.example.com"), gn_dns("*.example.com"),
            gn_ip(b"\x0a\x00\x00\x01"), gn_ip(b"\xfd" + b"\x00" * 14 + b"\x01"),
            gn_email("a@example.com"), gn_uri("https://example.com/"),
            tlv(0xA4, name((OID_CN, "dirname"))),
            tlv(0x88, bytes.fromhex("2a0304"))))]),
        "empty-gn.der": csr(exts=[ext(OID_SAN, seq(gn_dns(""), tlv(0x87, b""),
                            gn_email(""), gn_uri("")))]),
        "ca-request.der": csr(exts=[ext(OID_BC, seq(boolean(True)), True),
                                    ext(OID_KU, bitstring(b"\x06", 1), True)]),
        "version-2.der": csr(version=2),
        "rsa.der": csr(key=RSA_KEY, exts=[ext(OID_SAN,
                       seq(gn_dns("r.example.com")))]),
        "unknown-attr.der": csr(attrs=[seq(oid("1.2.840.113549.1.9.7"),
                                set_(utf8("challenge")))]),
        "bad-utf8-cn.der": csr(subject=seq(set_(seq(oid(OID_CN),
                               tlv(0x0C, b"\xc3\x28"))))),
        "unknown-attr-type.der": csr(subject=seq(set_(seq(oid("2.5.4.42"),
                                     utf8("given"))))),
    }
    for n, d in odd.items():
        put(t, n, d)
    put(t, "empty-san.csr", pem("CERTIFICATE REQUEST", odd["empty-san.der"]))

    # ---------------------------------------------------------- pkcs12
    t = "pkcs12"
    for f in ("leaf.p12", "nopass.p12", "certs.p12", "certs-nomac.p12",
              "aes-iter1.p12", "keyonly.p12"):
        put(t, f, rd(f))
    put(t, "leaf.key", rd("leaf.key"))
    put(t, "leaf.key.der", rd("leaf.key.der"))
    put(t, "leaf.enc.key", rd("leaf.enc.key"))
    put(t, "leaf.enc.key.der", rd("leaf.enc.key.der"))
    put(t, "leaf.scrypt.key", rd("leaf.scrypt.key"))
    put(t, "rsa.trad.key", rd("rsa.trad.key"))
    put(t, "rsa.trad.enc.key", rd("rsa.trad.enc.key"))
    put(t, "ec.trad.key", rd("ec.trad.key"))
    put(t, "ed25519.key", rd("ed.key"))
    put(t, "key-and-chain.pem", rd("leaf.key") + chain)
    put(t, "key-wrong-cert.pem", rd("rsa.key") + leaf_pem)
    put(t, "two-keys.pem", rd("leaf.key") + rd("rsa.key"))
    put(t, "public-key.pem", rd("leaf.pub"))
    put(t, "cert-only.pem", leaf_pem)
    put(t, "empty", b"")
    put(t, "empty-seq.der", b"\x30\x00")
    put(t, "truncated.p12", rd("leaf.p12")[:len(rd("leaf.p12")) // 2])
    put(t, "trailing-junk.p12", rd("leaf.p12") + b"\x00\x00")
    put(t, "empty-pkcs8.pem", pem("PRIVATE KEY", b"\x30\x00"))
    put(t, "empty-enc-pkcs8.pem", pem("ENCRYPTED PRIVATE KEY", b"\x30\x00"))

    # ---------------------------------------------------------- config
    t = "config"
    put(t, "full.conf", """# hkms.conf
[token]
module = /usr/lib/softhsm/libsofthsm2.so
label = hkms
serial = 0123456789abcdef
pin_file = /etc/hkms/pin
so_pin_file = /etc/hkms/so-pin
softhsm2_conf = /etc/hkms/softhsm2.conf

[store]
data_dir = /var/lib/hkms
profiles_dir = /etc/hkms/profiles
crl_dir = /var/lib/hkms/crl

[server]
listen = 127.0.0.1:8443
threads = 4
admin_thumbprints = sha256:00aa,sha256:11bb

[limits]
max_body = 1048576
max_connections = 64
per_ip = 8
timeout_s = 30
""")
    put(t, "minimal.conf", "[token]\nlabel = ca\n")
    put(t, "empty", "")
    put(t, "comments.conf", "; only\n# comments\n\n")
    put(t, "unknown-section.conf", "[nope]\nx = 1\n")
    put(t, "unknown-key.conf", "[token]\nnope = 1\n")
    put(t, "bad-int.conf", "[server]\nthreads = many\n[limits]\n"
        "max_body = -1\nper_ip = 99999999999999999999\ntimeout_s = 0x10\n")
    put(t, "no-section.conf", "label = x\n")
    put(t, "dup-key.conf", "[token]\nlabel = a\nlabel = b\n"
        "[token]\nlabel = c\n")
    put(t, "long-line.conf", "[token]\nlabel = " + "x" * 5000 + "\n")
    put(t, "multiline.conf", "[token]\nlabel = a\n  continued\n")
    put(t, "inline-comment.conf", "[store]\ndata_dir = /x ; comment\n")
    put(t, "unterminated.conf", "[token\nlabel = a")

    # --------------------------------------------------------- profile
    t = "profile"
    fx = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "..", "fixtures", "profiles")
    if os.path.isdir(fx):
        for f in sorted(os.listdir(fx)):
            with open(os.path.join(fx, f), "rb") as src:
                put(t, "fixture-" + f, src.read())
    put(t, "empty", "")
    put(t, "empty-object.json", "{}")
    put(t, "array.json", "[]")
    put(t, "null.json", "null")
    put(t, "deep.json", "[" * 3000 + "]" * 3000)
    put(t, "nul-in-string.json", '{"description":"a\\u0000b"}')

    # ----------------------------------------------------- subject_san
    t = "subject_san"
    for i, s in enumerate([
            "/CN=www.example.com/O=Example/OU=a/OU=b/C=de/ST=Berlin/L=Berlin"
            "/emailAddress=ops@example.com\nDNS:www.example.com,"
            "DNS:*.example.com,IP:10.0.0.1,IP:::1,email:ops@example.com,"
            "URI:https://example.com/x",
            "/CN=a\\/b\\\\c\nDNS:a\\,b.example.com",
            "/email=x@y.example\nip:FD00::1,dns:A.EXAMPLE.COM",
            "/CN=\n",
            "CN=missing-slash\nDNS:",
            "/CN=a/CN=b\nDNS:a.com,DNS:a.com",
            "/C=DEU\nIP:300.1.1.1",
            "/XX=unknown\nFOO:bar",
            "/CN=" + "x" * 65 + "\nDNS:" + "a" * 64 + ".com",
            "/CN=\u00fc\u00df\u4e2d\nDNS:*.com",
            "/CN=\x01ctrl\nemail:@example.com",
            "/\nURI:nocolon",
            "/CN=a\\\nDNS:a\\",
            "/O=x/OU=" + "/OU=".join(["u"] * 200) + "\n" +
            ",".join("DNS:h%d.example.com" % i for i in range(101)),
            "\n\n",
            "",
            "/CN=a\nIP:1.2.3.4,IP:01.2.3.4,IP:::ffff:1.2.3.4,IP:fe80::1%eth0"]):
        put(t, "seed-%02d" % i, s.encode())

    # ---------------------------------------------------- store_record
    t = "store_record"
    leaf = leaf_pem.decode()
    base = {"schema": 1, "name": "x", "updated": "2026-11-23T14:00:00Z"}

    def rec(**kw):
        d = dict(base)
        d.update(kw)
        return json.dumps(d, sort_keys=True, indent=2).encode() + b"\n"
    put(t, "record-pem", rec(pem_sha256="@PEM_SHA256@", kind="cert",
        subject="CN=www.example.com") + b"\x00" + leaf_pem)
    put(t, "record-nopem", rec(value=41))
    put(t, "record-pem-mismatch", rec(pem_sha256="0" * 64) + b"\x00" +
        leaf_pem)
    put(t, "record-pem-missing", rec(pem_sha256="@PEM_SHA256@"))
    put(t, "record-staged", rec(pem_sha256="@PEM_SHA256@") + b"\x00" +
        leaf_pem + b"\x00" + root_pem)
    put(t, "record-staged-mismatch", rec(pem_sha256="1" * 64) + b"\x00" +
        leaf_pem + b"\x00" + root_pem)
    put(t, "record-pem-nul", rec(pem_sha256="@PEM_SHA256@") + b"\x00" +
        b"-----BEGIN\x00")
    put(t, "schema-2", rec(schema=2))
    put(t, "schema-0", rec(schema=0))
    put(t, "schema-string", rec(schema="1"))
    put(t, "schema-huge", b'{"schema":99999999999999999999999,"name":"x"}')
    put(t, "name-mismatch", rec(name="y"))
    put(t, "name-not-string", rec(name=1))
    put(t, "renamed", rec(renamed_from="x"))
    put(t, "renamed-other", rec(renamed_from="../../etc"))
    put(t, "array", b"[]")
    put(t, "empty", b"")
    put(t, "truncated", rec(pem_sha256="@PEM_SHA256@")[:30])
    put(t, "deep", b'{"schema":1,"name":"x","d":' + b"[" * 3000 +
        b"]" * 3000 + b"}")
    put(t, "pem-sha-not-string", rec(pem_sha256=5) + b"\x00" + leaf_pem)

    # ----------------------------------------------------------- trust
    t = "trust"

    def cmeta(p):
        der = ossl("x509", "-in", p, "-outform", "DER")
        return {"thumbprint": "sha256:" + hashlib.sha256(der).hexdigest(),
                "subject": "CN=seed", "issuer": "CN=seed", "serial": "01",
                "not_before": "2023-01-01T00:00:00Z",
                "not_after": "2033-01-01T00:00:00Z", "is_ca": True,
                "self_signed": True}

    def trec(kind, pemdata, certs, **kw):
        d = {"schema": 1, "name": "a", "updated": "2026-11-23T14:00:00Z",
             "pem_sha256": "@PEM_SHA256@", "trust_schema": 1, "kind": kind,
             "created": "2026-11-23T14:00:00Z", "certificates": certs,
             "source_format": "pem"}
        d.update(kw)
        return json.dumps(d, sort_keys=True).encode() + b"\n\x00" + pemdata
    put(t, "imported-root", trec("imported", root_pem, [cmeta("root.pem")]))
    put(t, "imported-chain", trec("imported", chain, [cmeta("leaf.pem"),
        cmeta("int.pem"), cmeta("root.pem")]))
    leaf_tp = cmeta("leaf.pem")["thumbprint"]
    int_tp = cmeta("int.pem")["thumbprint"]
    pin = {"thumbprint": int_tp, "peer": {"subject":
           "CN=www.example.com,O=Example", "hosts": ["www.example.com",
           "example.com", "10.0.0.1"], "thumbprint": leaf_tp},
           "presented": None}
    put(t, "pinned", trec("pinned", int_pem, [cmeta("int.pem")], pin=pin))
    pin2 = dict(pin, presented={"thumbprint": leaf_tp, "at": 1})
    put(t, "pinned-marked", trec("pinned", int_pem, [cmeta("int.pem")],
        pin=pin2))
    put(t, "pinned-bad-pin", trec("pinned", leaf_pem, [], pin={"peer": {
        "hosts": [1, None, "example.com"], "subject": 5}, "thumbprint": 7}))
    put(t, "pinned-no-pin", trec("pinned", leaf_pem, []))
    put(t, "no-pem", json.dumps({"schema": 1, "name": "a", "kind":
        "imported"}).encode())
    put(t, "kind-not-string", trec(7, root_pem, None))
    put(t, "pem-garbage", trec("imported", b"garbage", []))
    put(t, "pem-key", trec("imported", rd("leaf.key"), []))
    put(t, "pem-empty", trec("imported", b"", []))
    put(t, "empty", b"")

    # ---------------------------------------------------- audit_verify
    # mode byte (see fuzz_audit_verify.c) + log lines made like audit.c
    t = "audit_verify"

    def line(seq_, prev, op, detail=None, result="ok"):
        r = {"seq": seq_, "time": "2026-11-23T14:00:%02dZ" % seq_,
             "actor": "cli", "op": op, "object": "k%d" % seq_,
             "result": result, "detail": detail, "prev": prev}
        body = json.dumps(r, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)
        h = hashlib.sha256((prev + body).encode()).hexdigest()
        return (body[:-1] + ',"hash":"%s"}\n' % h).encode(), h
    prev = "0" * 64
    lines = []
    for i, (op, det) in enumerate([
            ("store.init", None), ("key.generate", {"type": "ec",
             "curve": "P-256", "label": "web"}), ("key.generate",
             {"type": "rsa", "bits": 3072, "pin": "[redacted]"}),
            ("key.delete", {"label": "web"}), ("trust.import",
             {"alias": "root", "certificates": 1,
              "note": "\u00fcnicode \\ \"q\""})], 1):
        ln, prev = line(i, prev, op, det)
        lines.append((ln, prev))
    log = b"".join(l for l, _ in lines)
    put(t, "valid-head", b"\x01" + log)
    put(t, "valid-head-behind", b"\x02" + log)
    put(t, "valid-no-head", b"\x00" + log)
    put(t, "valid-explicit-head", b"\x03" + ('{"seq":5,"hash":"%s"}\n'
        % prev).encode() + log)
    put(t, "head-ahead", b"\x03" + ('{"seq":9,"hash":"%s"}\n' %
        prev).encode() + log)
    put(t, "torn-tail", b"\x01" + log + b'{"seq":6,"ti')
    put(t, "empty-head-zero", b"\x03" + ('{"seq":0,"hash":"%s"}\n' %
        ("0" * 64)).encode())
    put(t, "flipped-byte", b"\x01" + log.replace(b"web", b"wab", 1))
    put(t, "deleted-line", b"\x01" + lines[0][0] + lines[2][0])
    put(t, "reordered", b"\x01" + lines[1][0] + lines[0][0])
    put(t, "upper-hex", b"\x01" + log.upper())
    put(t, "head-damaged", b"\x03" + b'{"seq":"5"}\n' + log)
    put(t, "empty-lines", b"\x01\n\n\n")
    # crash-* regression inputs in this corpus are kept by hand, not
    # written here (docs/fuzzing.md)


if __name__ == "__main__":
    main()
