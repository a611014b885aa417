#!/usr/bin/env python3
# Hostile chains for tests/e2e/attack_pathval.sh: attack_pathval.py DIR.
# Writes DIR/anchor.pem (the one root every case chains to) and
# DIR/<case>.pem (leaf first, then the rest), and DIR/cases.tsv:
# case<TAB>purpose<TAB>host<TAB>verdict wanted under rfc5280 (ok, or a rule).
import datetime
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID, ObjectIdentifier

D = sys.argv[1]
os.makedirs(D, exist_ok=True)
NOW = datetime.datetime.now(datetime.timezone.utc)
cases = []


def key():
    return ec.generate_private_key(ec.SECP256R1())


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def build(subj, pub, issuer_name, issuer_key, ca, issuer_pub=None, extra=(),
          serial=None, skip_defaults=False, san=("a.example",), eku=True):
    b = (x509.CertificateBuilder().subject_name(subj).issuer_name(issuer_name)
         .public_key(pub).serial_number(serial or x509.random_serial_number())
         .not_valid_before(NOW - datetime.timedelta(days=1))
         .not_valid_after(NOW + datetime.timedelta(days=30)))
    if not skip_defaults:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        b = b.add_extension(x509.KeyUsage(
            digital_signature=not ca, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
            encipher_only=False, decipher_only=False), critical=True)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_pub or issuer_key.public_key()), critical=False)
        if not ca:
            if eku:
                b = b.add_extension(x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                    critical=False)
            if san:
                b = b.add_extension(x509.SubjectAlternativeName(
                    [x509.DNSName(s) for s in san]), critical=False)
    for e, crit in extra:
        b = b.add_extension(e, critical=crit)
    return b.sign(issuer_key, hashes.SHA256())


def pem(c):
    return c.public_bytes(serialization.Encoding.PEM)


def write(case, certs, purpose="server", host="-", want="ok"):
    with open(os.path.join(D, case + ".pem"), "wb") as f:
        for c in certs:
            f.write(pem(c))
    cases.append((case, purpose, host, want))


rk = key()
root = build(name("Attack Path Root"), rk.public_key(), name("Attack Path Root"), rk, True)
open(os.path.join(D, "anchor.pem"), "wb").write(pem(root))


def leaf_under(ik, iname, **kw):
    lk = key()
    return build(name("leaf"), lk.public_key(), iname, ik, False, **kw)


# a normal chain: ok
ik = key()
inter = build(name("Inter"), ik.public_key(), root.subject, rk, True)
write("normal", [leaf_under(ik, inter.subject), inter], host="a.example")

# 100-deep chain: refused by max_depth (32 under rfc5280), fast
chain = []
pk, pname = rk, root.subject
for i in range(99):
    k = key()
    c = build(name("Deep %d" % i), k.public_key(), pname, pk, True)
    chain.append(c)
    pk, pname = k, c.subject
write("deep100", [leaf_under(pk, pname)] + chain[::-1], want="max_depth")

# a cycle: A and B cross-sign each other, neither under the root; a leaf
# under A: no path (unable_to_get_issuer), must not loop
ak, bk = key(), key()
a_by_b = build(name("Cycle A"), ak.public_key(), name("Cycle B"), bk, True)
b_by_a = build(name("Cycle B"), bk.public_key(), name("Cycle A"), ak, True)
write("cycle", [leaf_under(ak, name("Cycle A")), a_by_b, b_by_a], want="trust_anchor")
# a cycle with a way out: B also signed by the root: ok
b_by_root = build(name("Cycle B"), bk.public_key(), root.subject, rk, True)
write("cycle_exit", [leaf_under(ak, name("Cycle A")), a_by_b, b_by_root, b_by_a], host="a.example")
# the exit after the loop: OpenSSL does not backtrack through untrusted
# certificates (`openssl verify -untrusted` gives the same verdict)
write("cycle_exit_late", [leaf_under(ak, name("Cycle A")), a_by_b, b_by_a, b_by_root],
      want="trust_anchor")

# a CA with 1000 permitted DNS subtrees and a leaf with 1000 SANs
nck = key()
nc = x509.NameConstraints(permitted_subtrees=[x509.DNSName("p%d.example" % i) for i in range(1000)],
                          excluded_subtrees=None)
ncca = build(name("NC CA"), nck.public_key(), root.subject, rk, True, extra=[(nc, True)])
write("nc1000_san1000", [leaf_under(nck, ncca.subject, san=["h%d.p%d.example" % (i, i)
      for i in range(1000)]), ncca])
# ...and one SAN outside them
write("nc1000_outside", [leaf_under(nck, ncca.subject, san=["h.p1.example", "evil.example"]),
      ncca], want="name_constraints")

# a leaf with 5000 SANs, no constraints
write("san5000", [leaf_under(ik, inter.subject, san=["h%d.example" % i for i in range(5000)]),
      inter], host="h4999.example")

# duplicate extensions: two SANs in the leaf, two basicConstraints in the CA
lk = key()
dup = (x509.CertificateBuilder().subject_name(name("dup")).issuer_name(inter.subject)
       .public_key(lk.public_key()).serial_number(x509.random_serial_number())
       .not_valid_before(NOW - datetime.timedelta(days=1))
       .not_valid_after(NOW + datetime.timedelta(days=30)))
# cryptography refuses duplicates; use two different-OID-equal raw extensions
try:
    dup = dup.add_extension(x509.SubjectAlternativeName([x509.DNSName("a.example")]), False)
    dup = dup.add_extension(x509.UnrecognizedExtension(
        x509.oid.ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        x509.SubjectAlternativeName([x509.DNSName("b.example")]).public_bytes()), False)
    have_dup = True
except ValueError:
    have_dup = False
if have_dup:
    try:
        dcert = dup.sign(ik, hashes.SHA256())
        write("dup_san", [dcert, inter], want="extensions_well_formed")
    except ValueError:
        pass

# an unknown critical extension at each position
UNK = x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")
write("crit_leaf", [leaf_under(ik, inter.subject, extra=[(UNK, True)]), inter],
      want="critical_extensions")
ik2 = key()
inter2 = build(name("Inter crit"), ik2.public_key(), root.subject, rk, True, extra=[(UNK, True)])
write("crit_inter", [leaf_under(ik2, inter2.subject), inter2], want="critical_extensions")
write("noncrit_unknown", [leaf_under(ik, inter.subject, extra=[(UNK, False)]), inter])

with open(os.path.join(D, "cases.tsv"), "w") as f:
    for c in cases:
        f.write("\t".join(c) + "\n")
