#!/bin/bash
# The server keeps parsed client registrations (under their file's stamp):
# a change made with the CLI while it runs decides the very next request,
# on the same keep-alive connection, after the old registration was served
# from the cache (warmed: requests more than 2 s after its last write). A
# permission moved to another CA (same file size), a clearance lowered, a
# certificate revoked and a registration deleted are each refused at once;
# a permission granted and a clearance raised are each honoured at once;
# a group-writable cas/ and clients/ replaced by a link are refused at once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
hkms_setup
cd "$T"

hkms ca create ca1 --key-type ec:p256 --subject "/CN=Cache CA1" >/dev/null || fail "ca ca1"
hkms ca create ca2 --key-type ec:p256 --subject "/CN=Cache CA2" >/dev/null || fail "ca ca2"
printf 'cache test passphrase' > p.pass; chmod 600 p.pass
for u in u1 u2 u3; do
	hkms client generate $u --ca ca1 --clearance user --allow-ca ca1:tls-server \
		--out-file $u.p12 --passphrase-file p.pass >/dev/null 2>$u.err || fail "generate $u: $(cat $u.err)"
	openssl pkcs12 -in $u.p12 -passin file:p.pass -clcerts -nokeys -out $u.pem 2>/dev/null || fail "$u.pem"
	openssl pkcs12 -in $u.p12 -passin file:p.pass -nocerts -noenc -out $u.key 2>/dev/null || fail "$u.key"
done
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout web.key \
	-subj /CN=www.example.com -out web.csr 2>/dev/null || fail "csr"
serve_start
service_ca
u1serial=$(openssl x509 -in u1.pem -noout -serial | cut -d= -f2)

python3 - "$PORT" "$T" "$u1serial" <<'PY' || fail "a CLI change was not decisive at the next request"
import http.client, json, os, ssl, subprocess, sys, time
port, T, serial = int(sys.argv[1]), sys.argv[2], sys.argv[3]
csr = open(T + "/web.csr").read()

class Client:
    """One keep-alive mTLS connection; reconnects only if the server closed it."""
    def __init__(self, name):
        self.ctx = ssl.create_default_context(cafile=T + "/service.pem")
        self.ctx.check_hostname = False
        self.ctx.load_cert_chain(T + "/%s.pem" % name, T + "/%s.key" % name)
        self.conn = None
        self.connects = 0
    def call(self, method, path, body=None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection("127.0.0.1", port, context=self.ctx, timeout=30)
                self.connects += 1
            try:
                hdr = {"Content-Type": "application/json"} if body is not None else {}
                self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=hdr)
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close(); self.conn = None
                try:
                    code = json.loads(data).get("error", {}).get("code")
                except Exception:
                    code = None
                return r.status, code
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close(); self.conn = None
                if attempt:
                    raise
def sign(cl, ca):
    return cl.call("POST", "/v1/cas/%s/sign" % ca, {"csr": csr, "profile": "tls-server",
        "san": ["DNS:www.example.com"]})
def cli(*args):
    subprocess.run([os.environ["HKMS_BIN"]] + list(args), check=True, stdout=subprocess.DEVNULL)
def want(what, got, status, code=None):
    if status == "refused":
        bad = got[0] < 400
    elif status is None:
        bad = not 400 <= got[0] < 500
    else:
        bad = got[0] != status
    if bad or (code is not None and got[1] != code):
        sys.exit("%s: got %s, want %s %s" % (what, got, status, code or ""))
    print("ok: %s (%s %s)" % (what, got[0], got[1] or ""))
def warm(cl, ca, n=2):
    # the registration's file was last written more than 2 s ago: it is
    # served from the cache by these requests and those after them
    time.sleep(2.5)
    for i in range(n):
        want("warm %s" % ca, sign(cl, ca), 201)

u1, u2, u3 = Client("u1"), Client("u2"), Client("u3")
want("u1 signs with ca1", sign(u1, "ca1"), 201)
want("u2 signs with ca1", sign(u2, "ca1"), 201)
warm(u1, "ca1"); warm(u2, "ca1", 1)

# a permission moved from ca1 to ca2 (the file keeps its size)
cli("client", "edit", "u1", "--allow-ca", "ca2:tls-server")
want("moved permission: ca1 refused at once", sign(u1, "ca1"), 403, "ca_not_granted")
want("moved permission: ca2 granted at once", sign(u1, "ca2"), 201)
warm(u1, "ca2")
cli("client", "edit", "u1", "--no-allow-ca")
want("permissions removed: refused at once", sign(u1, "ca2"), 403, "ca_not_granted")
cli("client", "edit", "u1", "--allow-ca", "ca1:tls-server")
want("permission granted again: at once", sign(u1, "ca1"), 201)

# clearance raised, then lowered
warm(u1, "ca1")
want("user cannot list clients", u1.call("GET", "/v1/clients"), 403)
cli("client", "edit", "u1", "--clearance", "admin")
want("clearance raised: at once", u1.call("GET", "/v1/clients"), 200)
time.sleep(2.5)
want("admin (cached) lists clients", u1.call("GET", "/v1/clients"), 200)
cli("client", "edit", "u1", "--clearance", "user")
want("clearance lowered: refused at once", u1.call("GET", "/v1/clients"), 403)

# the certificate revoked, the registration deleted
warm(u1, "ca1"); warm(u2, "ca1", 1)
cli("ca", "revoke", "--ca", "ca1", "--serial", serial)
want("revoked certificate: refused at once", sign(u1, "ca1"), None, "client_cert_revoked")
cli("client", "delete", "u2")
want("deleted client: refused at once", sign(u2, "ca1"), None, "client_unknown")
# the store's checks of the client CAs' and the registrations' directories
# still decide each request: a group-writable cas/, clients/ replaced by a
# link (to a copy of itself)
want("u3 signs", sign(u3, "ca1"), 201)
warm(u3, "ca1")
cas, clients = T + "/data/cas", T + "/data/clients"
mode = os.stat(cas).st_mode & 0o7777
os.chmod(cas, mode | 0o020)
# (a read of the registration only: the authentication, not a CA load,
# must refuse it)
want("group-writable cas/: refused at once", u3.call("GET", "/v1/clients/u3"), "refused")
os.chmod(cas, mode)
want("cas/ safe again: signs", sign(u3, "ca1"), 201)
warm(u3, "ca1")
os.rename(clients, clients + ".real"); os.symlink("clients.real", clients)
want("clients/ a link: refused at once", sign(u3, "ca1"), "refused")
os.unlink(clients); os.rename(clients + ".real", clients)
want("clients/ back: signs", sign(u3, "ca1"), 201)
if u1.connects > 3 or u2.connects > 2:
    sys.exit("the connections were not kept alive (%d, %d connects)" % (u1.connects, u2.connects))
PY
pass "permission moved, removed, granted; clearance raised, lowered; revocation, deletion, unsafe cas/ and clients/: each decisive at the next request on a warm cache"

serve_stop
hkms audit verify >/dev/null || fail "audit verify"
pass "audit verifies"
