#!/usr/bin/env python3
"""A tiny authoritative DNS server for the ACME dns-01 tests.

    acme_dns.py PORT DIR

Answers TXT queries over UDP on 127.0.0.1:PORT: the records of name N are
the lines of DIR/N (lower case, without the final dot), written by the
lego exec hook (acme-dns-hook); other TXT names get NXDOMAIN. Every name
has the A record 127.0.0.1 and no AAAA (pebble resolves through it). It
prints "ready" once bound and runs until the test's cleanup stops it.
"""
import os
import socket
import struct
import sys


def parse_name(data, off):
    labels = []
    while True:
        n = data[off]
        if n == 0:
            return ".".join(labels), off + 1
        if n & 0xC0:
            raise ValueError("compression in a question")
        labels.append(data[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n


def answer(data, d):
    qid, flags, qd = struct.unpack("!HHH", data[:6])
    name, off = parse_name(data, 12)
    qtype, qclass = struct.unpack("!HH", data[off:off + 4])
    question = data[12:off + 4]
    recs = []
    path = os.path.join(d, name.lower().rstrip("."))
    if qtype == 16 and os.path.isfile(path):
        with open(path) as f:
            recs = [l.strip() for l in f if l.strip()]
    rcode = 0 if recs or os.path.isfile(path) else 3
    if qtype in (1, 28):
        # every name is 127.0.0.1 (A) and has no AAAA: for pebble's
        # http-01 and tls-alpn-01, which resolve through this server
        rcode = 0
    na = 1 if qtype == 1 else len(recs)
    hdr = struct.pack("!HHHHHH", qid, 0x8400 | rcode, 1, na, 0, 0)
    out = hdr + question
    if qtype == 1:
        return out + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 1, 4) + \
            bytes([127, 0, 0, 1])
    for r in recs:
        b = r.encode()
        rdata = bytes([len(b)]) + b
        out += b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 1, len(rdata)) + rdata
    return out


def main():
    port, d = int(sys.argv[1]), sys.argv[2]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    print("ready", flush=True)
    while True:
        data, peer = s.recvfrom(4096)
        try:
            s.sendto(answer(data, d), peer)
        except (ValueError, IndexError, struct.error):
            pass


if __name__ == "__main__":
    main()
