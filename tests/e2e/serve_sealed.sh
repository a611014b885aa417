#!/bin/bash
# Sealed start: with no PIN source hkms serve answers health and every
# route with 503 sealed until `hkms unseal` hands it the PIN over its UNIX
# socket; a wrong PIN leaves it sealed; a user other than the service's
# cannot connect to the socket, and is refused (peer credentials) when
# the socket's permissions would let it in. The PIN is never written.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
hkms_setup
U=$(mktemp -d /tmp/hkms-unseal.XXXXXX)
trap 'rc=$?; rm -rf "$U"; (exit $rc); hkms_cleanup' EXIT
SOCK=$U/run/unseal.sock
printf 'unseal_socket = %s\n' "$SOCK" >> "$HKMS_CONFIG"
mv "$T/data/token/user.pin" "$T/pin.saved"
PIN=$(cat "$T/pin.saved")

body() { curl -sk --max-time 10 -w ' %{http_code}' "$URL$1"; }

serve_start
out=$(body /v1/health)
case "$out" in *'"code":"sealed"'*' 503') ;; *) fail "sealed health: $out" ;; esac
for r in /metrics /v1/keys /v1/cas /ca/any.pem /crl/any.crl; do
	out=$(body "$r")
	case "$out" in *'"code":"sealed"'*' 503') ;; *) fail "sealed $r: $out" ;; esac
done
[ -S "$SOCK" ] || fail "no unseal socket at $SOCK"
[ "$(stat -c %a "$SOCK")" = 600 ] || fail "socket mode $(stat -c %a "$SOCK")"
[ "$(stat -c %a "$U/run")" = 700 ] || fail "socket dir mode $(stat -c %a "$U/run")"
pass "sealed: health and routes 503 sealed; socket 0600 in a 0700 dir"

# a wrong PIN: refused, still sealed
echo 0000-wrong | hkms unseal > "$T/wrong.out" 2> "$T/wrong.err" && fail "a wrong PIN unsealed"
grep -q '"code":"pin' "$T/wrong.err" || fail "wrong PIN error: $(cat "$T/wrong.err")"
out=$(body /v1/health)
case "$out" in *'"code":"sealed"'*' 503') ;; *) fail "health after a wrong PIN: $out" ;; esac
pass "a wrong PIN: refused, still sealed"

# another user: cannot connect; with the permissions opened, refused
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	cat > "$U/try.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect: %s" % e.strerror); sys.exit(0)
s.sendall(b"123456"); s.shutdown(socket.SHUT_WR)
print("reply: " + s.recv(500).decode())
PY
	chmod 0755 "$U"; chmod 0644 "$U/try.py"
	out=$(as_nobody /usr/bin/python3 "$U/try.py" "$SOCK")
	case "$out" in "connect: Permission denied") ;; *) fail "nobody: $out" ;; esac
	chmod 0711 "$U/run"; chmod 0666 "$SOCK"
	out=$(as_nobody /usr/bin/python3 "$U/try.py" "$SOCK")
	chmod 0700 "$U/run"; chmod 0600 "$SOCK"
	case "$out" in *'"code":"unseal_refused"'*) ;; *) fail "nobody with open permissions: $out" ;; esac
	out=$(body /v1/health)
	case "$out" in *'"code":"sealed"'*' 503') ;; *) fail "health after nobody: $out" ;; esac
	pass "another user cannot connect, and is refused by its peer credentials"
else
	echo "# not root: the other-user checks are skipped"
fi

# the right PIN, from stdin
# `hkms unseal` answers once the service certificate is served: the next
# request already meets it (CI once exported it before it was made)
hkms --json unseal < "$T/pin.saved" > "$T/unseal.out" || fail "unseal: $(cat "$T/unseal.out")"
grep -q '"sealed": *false' "$T/unseal.out" && grep -q '"certificate": *true' "$T/unseal.out" ||
	fail "unseal output: $(cat "$T/unseal.out")"
service_ca
[ "$(code "$URL/v1/health")" = 200 ] || fail "health after unseal (with the service CA)"
openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null | openssl x509 -noout -subject |
	grep -q 'hkms temporary' && fail "still serving the sealed start's certificate"
# the routes answer again: a non-public one asks for a client
# certificate, a public one looks its CA up
[ "$(code "$URL/v1/keys")" = 401 ] || fail "/v1/keys after unseal: $(code "$URL/v1/keys")"
[ "$(code "$URL/ca/nosuch.pem")" = 404 ] || fail "/ca/nosuch.pem after unseal"
echo 1234 | hkms unseal 2> "$T/again.err" && fail "unseal of an unsealed server"
grep -q '"code":"not_sealed"' "$T/again.err" || fail "second unseal: $(cat "$T/again.err")"
pass "unseal over the socket: health 200 with the token's certificate"

# the PIN was never written: not in the log, not in the data dir (but the
# token's own files), not in the audit
grep -rqF -- "$PIN" "$T/serve.log" && fail "the PIN is in the server log"
grep -rqF --exclude-dir=token -- "$PIN" "$T/data" && fail "the PIN is in the data dir"
grep -rqF -- "$PIN" "$U" && fail "the PIN is beside the socket"
grep -q '"token.login"' "$T/data/audit/"* 2>/dev/null || grep -rq 'token.login' "$T/data" --exclude-dir=token ||
	fail "the wrong PIN's login was not audited"
serve_stop
[ "$SRV_RC" = 0 ] || fail "exit $SRV_RC"
[ -e "$SOCK" ] && fail "the unseal socket was left behind"
pass "the PIN is written nowhere; the refused login is audited"
