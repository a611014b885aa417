#!/bin/bash
# "Trust this certificate": pin a self-signed peer certificate, and the
# issuing CA of a CA-issued one. A peer that later presents a different
# certificate gets `untrusted` (verify fails with pinned_certificate_changed,
# show reports it); re-pinning a different certificate needs --force; a
# running `trust watch` sees each change. No token needed.
. "$(dirname "$0")/lib.sh"
need openssl python3

T=$(mktemp -d /tmp/hkms-trust.XXXXXX)
trap 'hkms_cleanup' EXIT
unset HKMS_CONFIG HKMS_DATA_DIR
printf '[store]\ndata_dir = %s/data\n' "$T" > "$T/hkms.conf"
# no token needed, so no `hkms init`: only init creates a data dir, make it
mkdir -m 700 "$T/data"
ht() { "$HKMS_BIN" --config "$T/hkms.conf" "$@"; }
cd "$T" || fail "cd"

selfsigned() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1.key" -out "$1.crt" -subj "/CN=nas.example.net" \
		-days "${2:-30}" -addext "subjectAltName=DNS:nas.example.net" \
		-addext "extendedKeyUsage=serverAuth" 2>/dev/null || fail "req $1"
}
selfsigned first
selfsigned second

ht trust list >/dev/null || fail "list on an empty store"
hkms_bg ht trust watch > watch.out 2>watch.err
WATCH=$BG_PID
sleep 0.3

expect_fail self_signed_certificate ht trust verify --chain first.crt --host nas.example.net --purpose server
out=$(ht --json trust pin nas --file first.crt) || fail "pin"
[ "$(echo "$out" | jget pinned)" = "sha256:$(openssl x509 -in first.crt -outform der | sha256sum | cut -d' ' -f1)" ] ||
	fail "pinned thumbprint: $out"
ht trust verify --chain first.crt --host nas.example.net --purpose server >/dev/null ||
	fail "pinned certificate does not verify"
[ "$(ht --json trust show nas | jget status)" = trusted ] || fail "status after pin"
pass "a pinned self-signed certificate is trusted"

# the peer now presents another self-signed certificate for the same name
expect_fail pinned_certificate_changed ht trust verify --chain second.crt --host nas.example.net --purpose server
out=$(ht --json trust show nas)
[ "$(echo "$out" | jget status)" = untrusted ] || fail "status after change: $out"
[ "$(echo "$out" | jget pin.presented.thumbprint)" = \
  "sha256:$(openssl x509 -in second.crt -outform der | sha256sum | cut -d' ' -f1)" ] ||
	fail "presented thumbprint not recorded: $out"
ht trust list | grep -q "nas .*untrusted" || fail "list does not show untrusted: $(ht trust list)"
# without --host the subject identifies the peer
expect_fail pinned_certificate_changed ht trust verify --chain second.crt
pass "a changed certificate reports untrusted"

out=$(ht --json trust pin nas --file first.crt) || fail "re-pin same"
[ "$(echo "$out" | jget unchanged)" = true ] || fail "re-pin same: $out"
expect_fail pin_changed ht trust pin nas --file second.crt
# the peer is back to the pinned certificate: trusted again
ht trust verify --chain first.crt --host nas.example.net >/dev/null || fail "back to pinned"
[ "$(ht --json trust show nas | jget status)" = trusted ] || fail "status after return"
out=$(ht --json trust pin nas --file second.crt --force) || fail "pin --force"
[ "$(echo "$out" | jget replaced)" = true ] || fail "replace: $out"
ht trust verify --chain second.crt --host nas.example.net >/dev/null || fail "new pin"
expect_fail pinned_certificate_changed ht trust verify --chain first.crt --host nas.example.net
pass "re-pinning: same is a no-op, different needs --force"

# a pinned certificate that expired is untrusted
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout short.key -out short.crt -subj "/CN=short.example.net" \
	-days 1 2>/dev/null
ht trust pin short --file short.crt >/dev/null || fail "pin short"
expect_fail certificate_expired ht trust verify --chain short.crt --at $(( $(date +%s) + 3 * 86400 ))
pass "an expired pinned certificate does not verify"

# pin the issuing CA of a CA-issued certificate (peer sent leaf + CA)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout ca.key -out ca.crt -subj "/CN=Peer CA" -days 60 \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout web.key -out web.csr -subj "/CN=web.example.net" 2>/dev/null
printf 'subjectAltName=DNS:web.example.net\nextendedKeyUsage=serverAuth\n' > web.ext
openssl x509 -req -in web.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
	-days 30 -extfile web.ext -out web.crt 2>/dev/null
cat web.crt ca.crt > presented.pem
expect_fail self_signed_in_chain ht trust verify --chain presented.pem --host web.example.net
out=$(ht --json trust pin web --file presented.pem) || fail "pin CA-issued"
[ "$(echo "$out" | jget pinned)" = "sha256:$(openssl x509 -in ca.crt -outform der | sha256sum | cut -d' ' -f1)" ] ||
	fail "the issuing CA was not pinned: $out"
out=$(ht --json trust verify --chain presented.pem --host web.example.net --purpose server) ||
	fail "chain under the pinned CA"
[ "$(echo "$out" | jget trusted_by)" = web ] || fail "trusted_by: $out"
pass "the issuing CA of a CA-issued certificate is pinned"

# the watcher saw every change, in order, each within a second
sleep 1.5
hkms_bg_stop $WATCH
python3 - watch.out <<'PY' || fail "watch output: $(cat watch.out)"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
got = [(e["event"], e["alias"]) for e in ev]
want = [("added", "nas"), ("changed", "nas"), ("changed", "nas"),
        ("changed", "nas"), ("changed", "nas"), ("added", "short"),
        ("added", "web")]
assert got == want, got
seqs = [e["seq"] for e in ev]
assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
lat = max(e["seen_ms"] - e["time_ms"] for e in ev)
assert lat < 1000, lat
print("watch: %d events, max latency %d ms" % (len(ev), lat))
PY
pass "trust watch saw every pin change"
exit 0
