#!/bin/bash
# Attacks on hkms serve's handler workers with real clients (client:
# attack_serve_workers.py). More connections than workers on one I/O
# thread: keep-alive signers, pipelined requests, slowloris headers and
# bodies, clients resetting while their sign is in a worker, bodies at and
# over max_body — every 201 a client receives is for its own key, every
# 201 the server logs for a sign has its audit line (and no more lines),
# audit verify and store check pass. Then fds and RSS after a load, and a
# burst of signs on one worker with a small queue stopped by SIGINT: each
# client gets its own certificate, a JSON 503 server_busy or a cut
# connection, never another's; the server exits 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
python3 -c 'import cryptography' 2>/dev/null || skip "python3-cryptography is not installed"
hkms_setup
cd "$T"
PY=$HKMS_SRC/tests/e2e/attack_serve_workers.py

workers_client
cp "$HKMS_CONFIG" base.conf

# conf WORKERS: that many workers, one I/O thread, short timeouts
conf() {
	cp base.conf "$HKMS_CONFIG"
	printf '\n[server]\nthreads = %s\nio_threads = 1\n[limits]\ntimeout_s = 3\nmax_body = 65536\n' "$1" >> "$HKMS_CONFIG"
}
export ATT_MAX_BODY=65536

# consistent: every sign the server logged 201 has its audit line, and
# none more; at least the 201s the clients counted; verify and check pass
consistent() {
	local what=$1 got=$2 logged audited
	logged=$(grep -c '"route":"/v1/cas/{name}/sign","status":201' serve.log)
	audited=$(grep -c '"op":"ca.sign".*"result":"ok"' data/audit.log)
	[ "$logged" = "$audited" ] || fail "$what: $logged signs logged 201, $audited audited ok"
	[ "$got" -le "$logged" ] || fail "$what: clients got $got certificates, the server logged $logged"
	hkms audit verify >verify.out 2>&1 || fail "$what: audit verify: $(cat verify.out)"
	hkms store check >check.out 2>&1 || fail "$what: store check: $(cat check.out)"
	grep -qi 'AddressSanitizer\|LeakSanitizer\|runtime error\|panic' serve.log &&
		fail "$what: sanitizer or MHD panic: $(grep -i -m3 'sanitizer\|runtime error\|panic' serve.log)"
	return 0
}

# ---- a sign queued behind a held one, its client resets ----
# libmicrohttpd closes that connection at its resume without calling
# back: the sign is done (audited, stored) and must still have its
# request line and count (it had none)
if [ "${HKMS_TEST_HOOKS:-0}" = 1 ]; then
	conf 1
	HKMS_TEST_HANDLER_LATCH=$T/latch HKMS_TEST_HANDLER_LATCH_ROUTE='/v1/cas/{name}/sign' serve_start
	service_ca
	HKMS_TEST_HANDLER_LATCH=$T/latch python3 "$PY" resets "$PORT" > resets.out 2>&1 ||
		fail "resets: $(cat resets.out)"
	# the queued sign ran after the held one: wait for its audit line
	n0=$(grep -c '"op":"ca.sign".*"result":"ok"' data/audit.log)
	curl -s -o /dev/null --cacert service.pem "$URL/v1/health"
	serve_stop
	[ "$SRV_RC" = 0 ] || fail "exit status $SRV_RC after the resets"
	consistent resets 1
	pass "a queued sign whose client reset: done and logged ($n0 audited, as many request lines)"
fi

# ---- the mix: 3 workers, 1 I/O thread, ~25 connections ----
conf 3
serve_start
[ -s service.pem ] || service_ca
python3 "$PY" mix "$PORT" > mix.out 2>&1 || fail "mix: $(cat mix.out)"
got=$(sed -n 's/^signed //p' mix.out)
serve_stop
[ "$SRV_RC" = 0 ] || fail "exit status $SRV_RC after the mix"
consistent mix "$got"
pass "mix (keep-alive, pipelined, slowloris, resets, max_body): $got certificates each for its own key; log = audit; verify, check"

# ---- fds and RSS: a second load of the same size leaves neither grown ----
conf 4
serve_start
fds() { ls /proc/"$SRV_PID"/fd | wc -l; }
rss() { awk '/^VmRSS/ {print $2}' /proc/"$SRV_PID"/status; }
N=${ATT_LOAD:-2000}
python3 "$PY" load "$PORT" "$N" > load1.out 2>&1 || fail "load 1: $(cat load1.out)"
sleep 0.5
fd1=$(fds); rss1=$(rss)
python3 "$PY" load "$PORT" "$N" > load2.out 2>&1 || fail "load 2: $(cat load2.out)"
python3 "$PY" load "$PORT" "$N" > load3.out 2>&1 || fail "load 3: $(cat load3.out)"
# the closed connections' fds are gone once the I/O thread saw the close
for i in $(seq 1 50); do [ "$(fds)" -le "$fd1" ] && break; sleep 0.1; done
fd2=$(fds); rss2=$(rss)
[ "$fd2" -le "$fd1" ] || fail "fds grew from $fd1 to $fd2 over 2 x $N requests: $(ls -l /proc/$SRV_PID/fd | tail -5)"
# (under ASan its quarantine grows the RSS: leaks are LeakSanitizer's
# there, at the exit)
ldd "$HKMS_BIN" | grep -q libasan ||
	[ $((rss2 - rss1)) -lt 8192 ] || fail "RSS grew from $rss1 to $rss2 KiB over 2 x $N requests"
serve_stop
[ "$SRV_RC" = 0 ] || fail "exit status $SRV_RC after the load"
consistent load 0
pass "2 x $N requests after a warm-up: fds $fd1 -> $fd2, RSS $rss1 -> $rss2 KiB"

# ---- a burst on one worker (held in its sign) and a queue of 2, SIGINT ----
# 24 signs at once: 1 held by the latch, 2 queued, 21 refused 503 at
# once; SIGINT: the queued two are answered 503 after timeout_s, the held
# one is finished once released (201, its own key), exit 0
if [ "${HKMS_TEST_HOOKS:-0}" = 1 ]; then
	conf 1
	rm -f latch latch.held
	HKMS_TEST_HANDLER_LATCH=$T/latch HKMS_TEST_HANDLER_LATCH_ROUTE='/v1/cas/{name}/sign' \
		HKMS_TEST_QUEUE_MAX=2 serve_start
	busy() { grep -c '"status":503,.*"error":"server_busy"' serve.log; }
	python3 "$PY" burst "$PORT" 24 > burst.out 2>&1 &
	BP=$!
	for i in $(seq 1 400); do [ "$(busy)" -ge 21 ] && break; sleep 0.05; done
	[ "$(busy)" = 21 ] || fail "burst: $(busy) refused at once, not 21 (1 held, 2 queued)"
	kill -INT "$SRV_PID"
	for i in $(seq 1 400); do [ "$(busy)" -ge 23 ] && break; sleep 0.05; done
	[ "$(busy)" = 23 ] || fail "SIGINT: the 2 queued not answered 503 ($(busy))"
	touch latch
	wait "$BP" || fail "burst: $(cat burst.out)"
	for i in $(seq 1 300); do hkms_alive "$SRV_PID" || break; sleep 0.1; done
	hkms_alive "$SRV_PID" && fail "the server did not stop after SIGINT"
	wait "$SRV_PID"; rc=$?
	hkms_bg_stop "$SRV_PID"
	[ "$rc" = 0 ] || fail "exit status $rc after SIGINT mid-burst: $(tail -5 serve.log)"
	got=$(sed -n 's/^signed //p' burst.out)
	[ "$got" = 1 ] || fail "burst: $got certificates, not the held one alone"
	consistent burst "$got"
	pass "24 signs on 1 held worker, queue 2, SIGINT: 21 + 2 answered 503 server_busy JSON, the held one 201 for its key; exit 0"
fi
