#!/usr/bin/env python3
"""Rewrite the scrypt parameters of an encrypted PKCS#8 (PEM or DER).

    scrypt_params.py IN OUT N R P [pem|der]

Used by tests/e2e/kdf_cost.sh and to make the fuzz regression inputs
tests/fuzz/corpus/pkcs12/crash-pkcs8-scrypt-*: the key stays encrypted
with the old parameters, so the file only tests that hkms refuses the new
ones before deriving anything.
"""
import base64
import sys


def tlv_read(b, i):
    tag = b[i]
    n = b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[i:i + k], "big")
        i += k
    return tag, b[i:i + n], i + n


def enc_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, content):
    return bytes([tag]) + enc_len(len(content)) + content


def integer(v):
    b = v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big")
    return tlv(0x02, b)


def children(content):
    out, i = [], 0
    while i < len(content):
        t, c, i = tlv_read(content, i)
        out.append((t, c))
    return out


SCRYPT_OID = bytes.fromhex("2b06010401da47040b")  # 1.3.6.1.4.1.11591.4.11


def rewrite(der, n, r, p):
    _, epki, _ = tlv_read(der, 0)
    (at, alg), (ot, octets) = children(epki)
    oid_pbes2, params = children(alg)
    kdf, cipher = children(params[1])
    koid, kparams = children(kdf[1])
    assert koid[1] == SCRYPT_OID, "not scrypt"
    salt = children(kparams[1])[0]
    kp = tlv(0x30, tlv(salt[0], salt[1]) + integer(n) + integer(r) + integer(p))
    kdf = tlv(0x30, tlv(koid[0], koid[1]) + kp)
    params = tlv(0x30, kdf + tlv(cipher[0], cipher[1]))
    alg = tlv(0x30, tlv(oid_pbes2[0], oid_pbes2[1]) + params)
    return tlv(0x30, alg + tlv(ot, octets))


def main():
    src, dst, n, r, p = sys.argv[1:6]
    form = sys.argv[6] if len(sys.argv) > 6 else "pem"
    data = open(src, "rb").read()
    if data.startswith(b"-----"):
        lines = [l for l in data.decode().splitlines() if l and "-----" not in l]
        data = base64.b64decode("".join(lines))
    out = rewrite(data, int(n), int(r), int(p))
    if form == "pem":
        b64 = base64.b64encode(out).decode()
        out = ("-----BEGIN ENCRYPTED PRIVATE KEY-----\n" +
               "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64)) +
               "\n-----END ENCRYPTED PRIVATE KEY-----\n").encode()
    open(dst, "wb").write(out)


if __name__ == "__main__":
    main()
