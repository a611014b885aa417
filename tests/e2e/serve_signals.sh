#!/bin/bash
# hkms serve and signals: SIGTERM lets a request in flight finish, refuses
# new connections, exits 0; SIGINT exits 0; SIGHUP reloads the config's
# max_body and timeout_s without a restart. (A replaced service
# certificate is served within a second without any signal: its record's
# stamp is polled; tests/e2e/service_cert.sh shows that.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
hkms_setup

serial() {
	openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
		openssl x509 -noout -serial
}

# ---- SIGHUP ----
serve_start
service_ca
s1=$(serial)
[ -n "$s1" ] || fail "no served certificate"
# a renewed service certificate is served without a signal (bounded wait)
hkms cert renew hkms-service >/dev/null || fail "cert renew"
for i in $(seq 1 100); do s2=$(serial); [ -n "$s2" ] && [ "$s2" != "$s1" ] && break; sleep 0.1; done
[ -n "$s2" ] && [ "$s2" != "$s1" ] || fail "the renewed certificate is not served ($s1 -> $s2)"
service_ca
head -c 3000 /dev/zero > "$T/3k"
[ "$(code "$URL/v1/health" -X POST -H 'Expect:' --data-binary @"$T/3k")" = 405 ] ||
	fail "3 kB body before the reload"
printf '\n[limits]\nmax_body = 2048\n' >> "$HKMS_CONFIG"
kill -HUP "$SRV_PID"
for i in $(seq 1 50); do	# until the reload is seen (bounded)
	[ "$(code "$URL/v1/health" -X POST -H 'Expect:' --data-binary @"$T/3k")" = 413 ] && break
	sleep 0.1
done
hkms_alive "$SRV_PID" || fail "SIGHUP stopped the server"
[ "$(serial)" = "$s2" ] || fail "SIGHUP changed the served certificate"
[ "$(code "$URL/v1/health")" = 200 ] || fail "health after SIGHUP"
[ "$(code "$URL/v1/health" -X POST -H 'Expect:' --data-binary @"$T/3k")" = 413 ] ||
	fail "max_body was not reloaded"
pass "renewed service certificate served without a signal; SIGHUP reloaded max_body, no restart"

# the other limits come with a new listener: a client that stops in its
# headers is cut off at the reloaded timeout_s (2 s), not the old one
slow() {	# seconds until the server closes a half-sent request
	python3 - "$PORT" <<'PY2'
import socket, ssl, sys, time
c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
s = c.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))))
s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
t = time.monotonic(); s.settimeout(60)
try:
    while s.recv(4096): pass
except Exception: pass
print(int(time.monotonic() - t))
PY2
}
sed -i 's/^\[limits\]$/[limits]\ntimeout_s = 2/' "$HKMS_CONFIG"
kill -HUP "$SRV_PID"
for i in $(seq 1 50); do grep -q 'limits changed: new listener' "$T/serve.log" && break; sleep 0.1; done
grep -q 'limits changed: new listener' "$T/serve.log" || fail "no new listener for the new limits"
t=$(slow)
[ "$t" -le 6 ] || fail "a stalled client was cut after ${t} s, not at the reloaded timeout_s = 2"
[ "$(code "$URL/v1/health")" = 200 ] || fail "health after the limits reload"
pass "SIGHUP: timeout_s reloaded (a stalled client cut after ${t} s) by a new listener"

# the client CAs: a new hkms CA is asked for after SIGHUP (a new listener
# on the same socket)
hkms ca create sighup-ca --key-type ec:p256 --subject /CN=sighup-client-ca >/dev/null || fail "ca create"
kill -HUP "$SRV_PID"
# the new listener is up once its log line is (bounded wait, no guess)
for i in $(seq 1 100); do grep -q 'client CA trust changed: new listener' "$T/serve.log" && break; sleep 0.1; done
grep -q 'client CA trust changed: new listener' "$T/serve.log" || fail "no new listener for the new client CA"
openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
	sed -n '/^Acceptable client certificate CA names/,/^---/p' > "$T/canames"
grep -q 'CN *= *sighup-client-ca' "$T/canames" || fail "new client CA not asked for: $(cat "$T/canames")"
[ "$(code "$URL/v1/health")" = 200 ] || fail "health after the trust reload"
pass "SIGHUP: a new client CA is asked for"

# ---- SIGTERM with a request in flight ----
python3 - "$PORT" "$SRV_PID" > "$T/inflight" <<'PY' &
import os, signal, socket, ssl, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
s.sendall(b"POST /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n" + b"x" * 10)
time.sleep(0.5)
os.kill(pid, signal.SIGTERM)		# while the body is half sent
time.sleep(1.5)
# no new connection is accepted any more
try:
    socket.create_connection(("127.0.0.1", port), timeout=2).close(); print("new: accepted")
except OSError:
    print("new: refused")
s.sendall(b"y" * 10)
s.settimeout(10)
print(s.recv(200).split(b"\r\n")[0].decode())
PY
py=$!
wait $py || fail "in-flight client"
for i in $(seq 1 100); do hkms_alive "$SRV_PID" || break; sleep 0.1; done
hkms_alive "$SRV_PID" && fail "SIGTERM did not stop the server"
wait "$SRV_PID"; rc=$?
hkms_bg_stop "$SRV_PID"
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
grep -q 'HTTP/1.1 405' "$T/inflight" || fail "the request in flight was not answered: $(cat "$T/inflight")"
grep -q 'new: refused' "$T/inflight" || fail "new connections accepted while stopping: $(cat "$T/inflight")"
grep -q '"server.stop"' "$T/serve.log" || fail "no stop log line"
pass "SIGTERM: the request in flight is answered, new connections refused, exit 0"

# ---- SIGINT ----
serve_start
kill -INT "$SRV_PID"
for i in $(seq 1 100); do hkms_alive "$SRV_PID" || break; sleep 0.1; done
wait "$SRV_PID"; rc=$?
hkms_bg_stop "$SRV_PID"
[ "$rc" = 0 ] || fail "exit status $rc after SIGINT"
pass "SIGINT: exit 0"
