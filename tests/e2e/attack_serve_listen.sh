#!/bin/bash
# Attacks on what hkms serve binds: a second server on the same port (with
# SO_REUSEPORT it would start and take half the connections), a second
# server on the same data dir, things planted at the unseal socket's path
# or as its run directory before start (a file, a symlink, a FIFO, a
# directory of mode 0755, a symlinked run dir), a stale socket left by a
# SIGKILLed server, and a slow, huge or NUL-containing PIN on the socket.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
hkms_setup
cd "$T"
RUN=$T/data/run

serve_start
service_ca
first_fp=$(openssl x509 -in service.pem -noout -fingerprint -sha256)

# a second data dir (its own token and service certificate), same port
D2=$T/data2
"$HKMS_BIN" init --data-dir "$D2" --no-admin-client >/dev/null 2>&1 || fail "init data2"
two() { HKMS_CONFIG=$D2/hkms.conf SOFTHSM2_CONF=$D2/token/softhsm2.conf HKMS_DATA_DIR=$D2 "$@"; }
two timeout 20 "$HKMS_BIN" serve --listen "127.0.0.1:$PORT" > s2.log 2>&1; rc=$?
[ "$rc" = 124 ] && fail "a second server started on the port of a running one (SO_REUSEPORT)"
grep -q '"code":"listen_failed"' s2.log || fail "second server on the same port: $(cat s2.log)"
# every connection still reaches the first server
for i in $(seq 1 20); do
	fp=$(openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256)
	[ "$fp" = "$first_fp" ] || fail "connection $i answered by another certificate: $fp"
done
pass "a second server on the same port refuses to start (listen_failed); every connection reaches the first"

# a second server on the same data dir (another port) is refused too
timeout 20 "$HKMS_BIN" serve --listen "127.0.0.1:$(free_port)" > s3.log 2>&1; rc=$?
[ "$rc" = 124 ] && fail "a second server started on the same data dir"
grep -q '"code":"listen_failed"' s3.log || fail "second server, same data dir: $(cat s3.log)"
[ -S "$RUN/unseal.sock" ] || fail "the refused second server removed the first's unseal socket"
[ "$(code "$URL/v1/health")" = 200 ] || fail "first server after the refused second"
pass "a second server on the same data dir is refused and leaves the first's socket"
serve_stop

# things planted at the socket path or as its directory before start
try_start() {	# try_start LABEL: must exit non-zero with unsafe_path
	timeout 20 "$HKMS_BIN" serve --listen "127.0.0.1:$(free_port)" > p.log 2>&1; rc=$?
	[ "$rc" = 124 ] && fail "$1: the server started"
	[ "$rc" != 0 ] || fail "$1: exit 0"
	grep -q '"code":"unsafe_path"' p.log || fail "$1: $(cat p.log)"
}
rm -f "$RUN/unseal.sock"
echo planted > "$RUN/unseal.sock"; try_start "a file at the socket path"
[ "$(cat "$RUN/unseal.sock")" = planted ] || fail "the planted file was changed"
rm -f "$RUN/unseal.sock"
echo target > target; ln -s "$T/target" "$RUN/unseal.sock"; try_start "a symlink at the socket path"
[ -L "$RUN/unseal.sock" ] && [ "$(cat target)" = target ] || fail "the symlink or its target was changed"
rm -f "$RUN/unseal.sock"
mkfifo "$RUN/unseal.sock"; try_start "a FIFO at the socket path"
rm -f "$RUN/unseal.sock"
chmod 0755 "$RUN"; try_start "a run directory of mode 0755"
chmod 0700 "$RUN"
mv "$RUN" "$T/run.real"; ln -s "$T/run.real" "$RUN"; try_start "a symlinked run directory"
rm "$RUN"; mv "$T/run.real" "$RUN"
if [ "$(id -u)" = 0 ]; then
	chown 65534 "$RUN"; try_start "a run directory of another user"
	chown 0 "$RUN"
fi
pass "a file, symlink or FIFO at the socket path, a 0755, symlinked or foreign run dir: refused (unsafe_path), nothing changed"

# a stale socket of a SIGKILLed server is replaced
serve_start
kill -KILL "$SRV_PID"; wait "$SRV_PID" 2>/dev/null; hkms_bg_stop "$SRV_PID"
[ -S "$RUN/unseal.sock" ] || fail "no stale socket after SIGKILL (test premise)"
serve_start
[ "$(code "$URL/v1/health")" = 200 ] || fail "restart over a stale socket"
pass "restart after SIGKILL: the stale socket is replaced, the same port binds"

# the socket: a huge PIN, a PIN with a NUL, a client that holds the
# socket without sending: each answered, the server keeps serving
cat > u.py <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.settimeout(30); s.connect(sys.argv[1])
what = sys.argv[2]
if what == "huge": 
    try: s.sendall(b"1" * 100000)
    except OSError: pass
elif what == "nul": s.sendall(b"12\x0034\n")
elif what == "hold": time.sleep(12)
try: s.shutdown(socket.SHUT_WR)
except OSError: pass
out = b""
while True:
    try: b = s.recv(4096)
    except ConnectionResetError: out += b"reset"; break
    if not b: break
    out += b
print(out.decode(errors="replace").strip())
PY
out=$(python3 u.py "$RUN/unseal.sock" huge)
# refused after 256 bytes: the answer, or a reset when the rest was unread
case "$out" in *'"code":"invalid_field"'*|reset) ;; *) fail "huge PIN: $out" ;; esac
out=$(python3 u.py "$RUN/unseal.sock" nul)
case "$out" in *'"error"'*|*'"sealed":false'*) ;; *) fail "PIN with a NUL: $out" ;; esac
python3 u.py "$RUN/unseal.sock" hold > hold.out 2>&1 &
hold=$!
sleep 1
t0=$(date +%s)
[ "$(code "$URL/v1/health")" = 200 ] || fail "health while a client holds the unseal socket"
[ $(( $(date +%s) - t0 )) -le 3 ] || fail "health waited for the unseal client"
wait $hold
grep -q '"error"' hold.out || fail "a silent unseal client: $(cat hold.out)"
! grep -q '12.34\|11111111' "$T/serve.log" || fail "a PIN reached the server log"
[ "$(code "$URL/v1/health")" = 200 ] || fail "health after the unseal attacks"
pass "a 100 kB PIN, a PIN with a NUL, a silent client: each answered, HTTP served meanwhile, no PIN in the log"
serve_stop
[ ! -e "$RUN/unseal.sock" ] || fail "the socket stays after SIGTERM"
pass "SIGTERM removes the unseal socket"
