#!/usr/bin/env python3
"""pyca_verify.py DIR: the verdict of pyca/cryptography's verifier
(cryptography.x509.verification, 42 or later) on every chain pathgen made
in DIR: one line per case of DIR/cases.tsv, "name<TAB>ok",
"name<TAB>reject<TAB>error", or "name<TAB>n/a" where it has no such check
(purpose any; a server verifier needs a name). Exit 77 when the module is
missing. Used by tests/e2e/trust_pathrules.sh."""
import datetime
import os
import sys
import warnings

try:
    from cryptography import x509
    from cryptography.x509.verification import PolicyBuilder, Store
except ImportError:
    sys.exit(77)

warnings.simplefilter("ignore")
d = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
for line in open(os.path.join(d, "cases.tsv")):
    name, purpose, host = line.rstrip("\n").split("\t")[:3]
    if purpose not in ("server", "client") or (purpose == "server" and
                                                host == "-"):
        print("%s\tn/a" % name)
        continue
    try:
        def load(f):
            with open(os.path.join(d, name, f), "rb") as fh:
                return x509.load_pem_x509_certificates(fh.read())
        roots, chain = load("anchor.pem"), load("chain.pem")
        b = PolicyBuilder().store(Store(roots)).time(now)
        if purpose == "server":
            v = b.build_server_verifier(x509.DNSName(host))
        else:
            v = b.build_client_verifier()
        v.verify(chain[0], chain[1:])
        print("%s\tok" % name)
    except Exception as e:  # a parse error is a reject too
        print("%s\treject\t%s" % (name, str(e).replace("\t", " ")[:160]))
