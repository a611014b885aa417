#!/bin/bash
# Issuance benchmark, one run, one SoftHSM2 token (figures are printed,
# never asserted; the durability check below is):
#   bash tests/bench/bench.sh [--json] [--quick] [SECONDS]   (after ./scripts/build.sh)
# The token (made by `hkms init`) holds the CA keys P-256 and RSA-2048; for
# each, in ONE table:
#   raw      the token's own C_Sign rate, 1 and 2 threads, each its own session
#   naive    parse + verify the CSR, build with OpenSSL, X509_sign through
#            libp11's EVP_PKEY, encode (nothing stored, nothing audited)
#   hkms     hkms_ops_ca_sign() from the library: parse, verify once, build
#            under tls-server, CA policy, sign in the token, encode, record +
#            audit line durable (group commit), 1 and 2 threads, with the
#            data dir on the work dir's file system (ext4 here) and on tmpfs;
#            and 8 threads on ext4 (the callers of the c8 HTTP step)
#   https    hkms serve on a free 127.0.0.1 port, POST /v1/cas/{ca}/sign from
#            a `user` client certificate granted sign on both CAs (mTLS,
#            keep-alive), concurrency 1, 8, 32: requests/s, p50/p99/p99.9,
#            errors, the server's RSS and open fds after each step; the
#            audit lines of ca.sign must grow by exactly the 2xx count
#   handshake new connections (no reuse, no session resumption) at c8:
#            full TLS handshakes/s, the service key signing in the token
#   cfssl    `cfssl serve` with a software CA key of the same type, its
#            /api/v1/cfssl/sign over plain HTTP, same CSR, same concurrencies
#   engine   `openssl x509 -req` with the pkcs11 engine, CA key in the same
#            token, one process per certificate (a bounded number)
# then the ratios of issue 15 with their targets. SECONDS (default 10) is
# the length of each HTTP step and of each library cell. --quick: 1 s HTTP
# steps, 0.4 s cells (no tmpfs and 8-thread cells), 3 engine certificates
# (the ctest bench_quick). --json prints one JSON object per figure
# ({"what","key","threads"|"concurrency",...}). cfssl and the engine are
# skipped with a note when not installed, the HTTP steps without
# tests/bench/https_load (libcurl). HKMS_BENCH_DIR: where the disk data
# dir goes (default: the build dir). HKMS_BENCH_ONLY=library,https,cfssl,engine
# (any of them, comma-separated) runs only those sections. HKMS_BENCH_PERF=PREFIX: one more c8
# step per CA under `perf record -g` of the server (not in the figures),
# reports in PREFIX.<ca>.txt (by symbol), PREFIX.<ca>.dso.txt (by library),
# PREFIX.<ca>.children.txt (inclusive), PREFIX.<ca>.data (perf report -i)
# and, with strace, PREFIX.<ca>.strace.txt (system calls of one more step).
set -eu
here=$(cd "$(dirname "$0")" && pwd); src=$(cd "$here/../.." && pwd)
build=${HKMS_BUILD:-$src/build}
bin=${HKMS_BIN:-$build/src/cli/hkms}
ib=${HKMS_ISSUE_BENCH:-$build/tests/issue_bench}
hl=${HKMS_HTTPS_LOAD-$build/tests/https_load}
json=0; secs=10; quick=0
for a in "$@"; do
	case $a in
	--json) json=1 ;;
	--quick) quick=1 ;;
	-h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d'; exit 0 ;;
	*) secs=$a ;;
	esac
done
if [ $quick = 1 ]; then secs=1; csecs=0.4; engine_n=3
else csecs=$secs; engine_n=200; fi
[ -x "$bin" ] && [ -x "$ib" ] || { echo "build first (./scripts/build.sh)" >&2; exit 77; }
[ -e /usr/lib/softhsm/libsofthsm2.so ] || { echo "no SoftHSM2" >&2; exit 77; }
base=${HKMS_BENCH_DIR:-$build}
D=$(mktemp -d "$base/hkms-bench.XXXXXX")
S=""
if [ -d /dev/shm ] && [ -w /dev/shm ]; then S=$(mktemp -d /dev/shm/hkms-bench.XXXXXX); fi
SRV=""; CFS=""
stop_pid() {	# PID: TERM, wait (bounded), KILL; only our own child
	local i
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || return 0
	for i in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	stop_pid "$SRV"; stop_pid "$CFS"
	rm -rf "$D" ${S:+"$S"}
}
trap cleanup EXIT
unset HKMS_PIN HKMS_SO_PIN HKMS_CA_TEST_SERIAL HKMS_STORE_CRASH_AT
export HKMS_DATA_DIR=$D/data HKMS_CONFIG=$D/data/hkms.conf
"$bin" init --data-dir "$D/data" >/dev/null
export SOFTHSM2_CONF=$D/data/token/softhsm2.conf
"$bin" ca create bench-p256 --key-type ec:p256 --subject /CN=Bench-P256 --out-file "$D/ca-bench-p256.pem" >/dev/null
"$bin" ca create bench-rsa --key-type rsa:2048 --subject /CN=Bench-RSA --out-file "$D/ca-bench-rsa.pem" >/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/l.key" \
	-subj /CN=leaf.bench.example -addext subjectAltName=DNS:leaf.bench.example \
	-out "$D/l.csr" 2>/dev/null
# the server's config: the default thread pool, room for c32 and the new-connection step
python3 - "$D/data/hkms.conf" <<'PY'
import re, sys
p = sys.argv[1]; s = open(p).read().rstrip("\n") + "\n"
want = {"server": {"threads": "0"}, "limits": {"max_connections": "256", "per_ip": "256"}}
for sec, kv in want.items():
    if re.search(r"(?m)^\[%s\]$" % sec, s) is None:
        s += "\n[%s]\n" % sec
    for k, v in kv.items():
        s = re.sub(r"(?m)^(\[%s\]\n)" % sec, lambda m: m.group(1) + "%s = %s\n" % (k, v), s, count=1)
open(p, "w").write(s)
PY
fs_disk=$(stat -f -c %T "$D"); [ "$fs_disk" = ext2/ext3 ] && fs_disk=ext4
if [ -n "$S" ]; then
	# a copy of the data dir on tmpfs; the token stays where it is
	cp -a "$D/data" "$S/data"
	sed "s|^data_dir = .*|data_dir = $S/data|" "$D/data/hkms.conf" > "$S/data/hkms.conf"
	chmod 600 "$S/data/hkms.conf"
fi
out=$D/figures.jsonl
: > "$out"
emit() {	# one JSON object (a line) into the figures
	echo "$1" >> "$out"
	[ $json = 1 ] && echo "$1" || true
}
note() { emit "{\"what\":\"note\",\"text\":\"$1\"}"; }	# plain text, no quotes
# jnum JSON KEY: a number member of a flat JSON object (https_load's answer)
jnum() { [[ $1 =~ \"$2\":\ ?([0-9.]+) ]] && echo "${BASH_REMATCH[1]}"; }
# cpu_fields TICKS OK SECONDS: the server's CPU time per ok request and its share
cpu_fields() {
	awk -v t="$1" -v h="$(getconf CLK_TCK)" -v ok="$2" -v s="$3" 'BEGIN {
		c = t / h
		if (ok > 0) m = sprintf("%.3f", 1000 * c / ok); else m = "null"
		printf ",\"server_cpu_ms_per_req\":%s,\"server_cpu_pct\":%.1f", m, 100 * c / s
	}'
}
kt_of() { case $1 in bench-p256) echo ec:p256 ;; bench-rsa) echo rsa:2048 ;; esac; }

# ---- token and library limits --------------------------------------------
run() {	# fs conf mode ca threads
	local fs=$1 conf=$2; shift 2
	emit "$(HKMS_CONFIG=$conf HKMS_DATA_DIR=$(dirname "$conf") "$ib" "$1" "$2" "$D/l.csr" "$csecs" "$3" |
		sed "s/}\$/,\"fs\":\"$fs\"}/")"
}
want() { case ",${HKMS_BENCH_ONLY:-library,https,cfssl,engine}," in *,$1,*) return 0 ;; esac; return 1; }
have_hl() { [ -n "$hl" ] && [ -x "$hl" ]; }
want library && for ca in bench-p256 bench-rsa; do
	run - "$D/data/hkms.conf" raw $ca 1
	run - "$D/data/hkms.conf" raw $ca 2
	run - "$D/data/hkms.conf" naive $ca 1
	for t in 1 2; do
		run "$fs_disk" "$D/data/hkms.conf" hkms $ca $t
		if [ -n "$S" ] && [ $quick = 0 ]; then run tmpfs "$S/data/hkms.conf" hkms $ca $t; fi
	done
	# as many callers as the c8 HTTP step (what group commit can share)
	if [ $quick = 0 ]; then run "$fs_disk" "$D/data/hkms.conf" hkms $ca 8; fi
done
# the issued certificates are durable and audited: the stores check out
for dd in "$D/data" ${S:+"$S/data"}; do
	HKMS_CONFIG=$dd/hkms.conf HKMS_DATA_DIR=$dd "$bin" store check >/dev/null ||
		{ echo "store check failed on $dd" >&2; exit 1; }
done

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_http() {	# URL PID [CURL ARGS]: until it answers (bounded, 20 s)
	local u=$1 p=$2 i; shift 2
	for i in $(seq 1 100); do
		kill -0 "$p" 2>/dev/null || return 1
		curl -s -o /dev/null --max-time 2 "$@" "$u" && return 0
		sleep 0.2
	done
	return 1
}
proc_fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
proc_rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# utime + stime of a process, clock ticks (the comm field may hold blanks)
proc_cpu() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# load WHAT KEY CONC PID ARGS...: one https_load step against the server PID
# (its CPU time per request is added)
load() {
	local what=$1 key=$2 c=$3 pid=$4 r cpu0 cpu; shift 4
	cpu0=$(proc_cpu "$pid")
	r=$("$hl" -c "$c" -d "$secs" "$@") || { echo "https_load failed ($what $key c$c)" >&2; exit 1; }
	cpu=$(( $(proc_cpu "$pid") - cpu0 ))
	r="{\"what\":\"$what\",\"key\":\"$key\",\"concurrency\":$c,${r#\{}"
	emit "${r%\}}$(cpu_fields "$cpu" "$(jnum "$r" ok)" "$(jnum "$r" seconds)")}"
}
# the server's fds once the closed client connections are gone (bounded)
settled_fds() {
	local i n
	for i in $(seq 1 30); do
		n=$(proc_fds "$1"); [ "$n" -le "$2" ] && break; sleep 0.1
	done
	echo "$n"
}

# ---- hkms over HTTPS + mTLS ------------------------------------------------
if ! want https; then
	:
elif ! have_hl; then
	note "https, cfssl: skipped (tests/bench/https_load not built: libcurl missing)"
else
	port=$(free_port)
	"$bin" serve --listen "127.0.0.1:$port" >>"$D/serve.log" 2>&1 &
	SRV=$!
	URL=https://127.0.0.1:$port
	wait_http "$URL/v1/health" "$SRV" -k || { cat "$D/serve.log" >&2; echo "hkms serve did not start" >&2; exit 1; }
	"$bin" cert export hkms-service > "$D/service.pem"
	# a user client, granted sign on both CAs (tls-server)
	(umask 077; head -c 24 /dev/urandom | base64 > "$D/u.pass")
	"$bin" client generate bench-user --ca bench-p256 --clearance user \
		--allow-ca bench-p256:tls-server --allow-ca bench-rsa:tls-server \
		--out-file "$D/u.p12" --passphrase-file "$D/u.pass" >/dev/null
	(umask 077
	openssl pkcs12 -in "$D/u.p12" -passin "file:$D/u.pass" -clcerts -nokeys -out "$D/u.crt" 2>/dev/null
	openssl pkcs12 -in "$D/u.p12" -passin "file:$D/u.pass" -nocerts -noenc -out "$D/u.key" 2>/dev/null)
	python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read(),
		"profile": "tls-server", "san": ["DNS:leaf.bench.example"]}))' "$D/l.csr" > "$D/sign.json"
	tls=(--cert "$D/u.crt" --key "$D/u.key" --cacert "$D/service.pem")
	audit_signs() { grep -c '"op":"ca.sign".*"result":"ok"' "$D/data/audit.log" || true; }
	a0=$(audit_signs); ok_sum=0
	fd0=$(proc_fds "$SRV")
	for ca in bench-p256 bench-rsa; do
		for c in 1 8 32; do
			cpu0=$(proc_cpu "$SRV")
			r=$("$hl" -c "$c" -d "$secs" --url "$URL/v1/cas/$ca/sign" --body "$D/sign.json" \
				--expect "BEGIN CERTIFICATE" "${tls[@]}") || { echo "https_load failed" >&2; exit 1; }
			cpu=$(( $(proc_cpu "$SRV") - cpu0 ))
			fds=$(settled_fds "$SRV" "$fd0"); rss=$(proc_rss "$SRV")
			ok_sum=$((ok_sum + $(jnum "$r" ok)))
			r="{\"what\":\"https\",\"key\":\"$(kt_of $ca)\",\"concurrency\":$c,${r#\{}"
			emit "${r%\}},\"rss_kb\":$rss,\"fds\":$fds$(cpu_fields "$cpu" "$(jnum "$r" ok)" "$(jnum "$r" seconds)")}"
		done
		if [ -n "${HKMS_BENCH_PERF:-}" ]; then
			# an extra c8 step under `perf record -g` (not a figure: perf
			# slows the server); its certificates count for the audit check
			perf record -q -g -o "$D/perf-$ca.data" -p "$SRV" -- sleep "$secs" >/dev/null 2>&1 &
			PERF=$!
			r=$("$hl" -c 8 -d "$secs" --url "$URL/v1/cas/$ca/sign" --body "$D/sign.json" \
				--expect "BEGIN CERTIFICATE" "${tls[@]}") || { echo "https_load failed" >&2; exit 1; }
			ok_sum=$((ok_sum + $(jnum "$r" ok)))
			wait "$PERF" || true
			perf report -i "$D/perf-$ca.data" --stdio --no-children -g none --percent-limit 0.4 2>/dev/null |
				grep -v '^$' | head -"${HKMS_BENCH_PERF_LINES:-70}" > "$HKMS_BENCH_PERF.$ca.txt" || true
			perf report -i "$D/perf-$ca.data" --stdio --no-children -g none --sort dso 2>/dev/null |
				grep -v '^#' | grep -v '^$' | head -20 > "$HKMS_BENCH_PERF.$ca.dso.txt" || true
			perf report -i "$D/perf-$ca.data" --stdio --children --sort sym -g none 2>/dev/null |
				grep -v '^$' | head -150 > "$HKMS_BENCH_PERF.$ca.children.txt" || true
			cp "$D/perf-$ca.data" "$HKMS_BENCH_PERF.$ca.data"
			if command -v strace >/dev/null; then
				# system calls per certificate: strace -c during a c8 step
				timeout -s INT "$secs" strace -c -f -p "$SRV" -o "$D/strace-$ca.txt" 2>/dev/null &
				PERF=$!
				r=$("$hl" -c 8 -d "$secs" --url "$URL/v1/cas/$ca/sign" --body "$D/sign.json" \
					--expect "BEGIN CERTIFICATE" "${tls[@]}") || { echo "https_load failed" >&2; exit 1; }
				wait "$PERF" || true
				ok_sum=$((ok_sum + $(jnum "$r" ok)))
				{ echo "# $(jnum "$r" ok) certificates"; cat "$D/strace-$ca.txt"; } > "$HKMS_BENCH_PERF.$ca.strace.txt"
			fi
		fi
	done
	a1=$(audit_signs)
	emit "{\"what\":\"audit_check\",\"ok_2xx\":$ok_sum,\"audit_ca_sign_lines\":$((a1 - a0)),\"equal\":$([ $((a1 - a0)) = $ok_sum ] && echo true || echo false)}"
	[ $((a1 - a0)) = $ok_sum ] || { echo "FAIL: $ok_sum requests got 2xx but the audit log grew by $((a1 - a0)) ca.sign lines" >&2; exit 1; }
	# full handshakes at c8: a cheap authenticated GET per new connection
	# the service key's type, from its certificate
	skt=$(openssl x509 -in "$D/service.pem" -noout -text | awk '
		/Public-Key: \(/ { gsub(/[^0-9]/, "", $0); bits = $0 }
		/rsaEncryption/ { t = "rsa" } /prime256v1/ { t = "ec:p256" } /secp384r1/ { t = "ec:p384" }
		END { print (t == "rsa" ? "rsa:" bits : t) }')
	r=$("$hl" -c 8 -d "$secs" --new-conn --url "$URL/v1/clients/bench-user" "${tls[@]}") ||
		{ echo "https_load failed (handshakes)" >&2; exit 1; }
	fds=$(settled_fds "$SRV" "$fd0"); rss=$(proc_rss "$SRV")
	r="{\"what\":\"https_handshake\",\"key\":\"$skt\",\"concurrency\":8,${r#\{}"
	emit "${r%\}},\"rss_kb\":$rss,\"fds\":$fds}"
	"$bin" audit verify >/dev/null || { echo "FAIL: audit verify after the HTTPS steps" >&2; exit 1; }
	stop_pid "$SRV"; SRV=""
fi

# ---- cfssl serve (software CA key, plain HTTP) -----------------------------
if ! want cfssl || ! have_hl; then
	:
elif command -v cfssl >/dev/null && command -v cfssljson >/dev/null; then
	python3 -c 'import json,sys; print(json.dumps({"certificate_request": open(sys.argv[1]).read(),
		"hosts": ["leaf.bench.example"]}))' "$D/l.csr" > "$D/cfssl.json"
	for ca in bench-p256 bench-rsa; do
		case $ca in bench-p256) k='{"algo":"ecdsa","size":256}' ;; *) k='{"algo":"rsa","size":2048}' ;; esac
		echo "{\"CN\":\"cfssl $ca\",\"key\":$k}" > "$D/cfssl-csr-$ca.json"
		(cd "$D" && cfssl genkey -initca "cfssl-csr-$ca.json" 2>/dev/null | cfssljson -bare "cfssl-$ca")
		port=$(free_port)
		cfssl serve -address 127.0.0.1 -port "$port" -ca "$D/cfssl-$ca.pem" \
			-ca-key "$D/cfssl-$ca-key.pem" >>"$D/cfssl.log" 2>&1 &
		CFS=$!
		wait_http "http://127.0.0.1:$port/api/v1/cfssl/health" "$CFS" ||
			{ cat "$D/cfssl.log" >&2; echo "cfssl serve did not start" >&2; exit 1; }
		for c in 1 8 32; do
			load cfssl "$(kt_of $ca)" "$c" "$CFS" --url "http://127.0.0.1:$port/api/v1/cfssl/sign" \
				--body "$D/cfssl.json" --expect '"success":true'
		done
		stop_pid "$CFS"; CFS=""
	done
else
	note "cfssl: skipped (cfssl/cfssljson not installed: Debian golang-cfssl)"
fi

# ---- openssl x509 -req with the pkcs11 engine ------------------------------
eng=""
for e in /usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so /usr/lib/*/engines-3/pkcs11.so; do
	[ -e "$e" ] && { eng=$e; break; }
done
if ! want engine; then
	:
elif [ -n "$eng" ]; then
	(umask 077; cat > "$D/engine.cnf" <<EOC
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $eng
MODULE_PATH = /usr/lib/softhsm/libsofthsm2.so
PIN = $(cat "$D/data/token/user.pin")
init = 0
EOC
)
	for ca in bench-p256 bench-rsa; do
		label=$("$bin" --json ca show $ca | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
		# bounded: engine_n certificates or max(SECONDS, 3) s
		n=0; fails=0; t0=$EPOCHREALTIME
		tend=$(( ${t0/./} + $(awk -v s="$secs" 'BEGIN { printf "%d", (s > 3 ? s : 3) * 1e6 }') ))
		while [ $n -lt $engine_n ] && [ ${EPOCHREALTIME/./} -lt $tend ]; do
			n=$((n + 1))
			OPENSSL_CONF=$D/engine.cnf openssl x509 -req -in "$D/l.csr" -CA "$D/ca-$ca.pem" \
				-engine pkcs11 -CAkeyform engine -CAkey "pkcs11:object=$label;type=private" \
				-set_serial $((1000 + n)) -days 30 -copy_extensions copy \
				-out "$D/engine-$ca.pem" 2>>"$D/engine.log" &&
			openssl verify -CAfile "$D/ca-$ca.pem" "$D/engine-$ca.pem" >/dev/null 2>&1 ||
				fails=$((fails + 1))
		done
		t1=$EPOCHREALTIME
		emit "{\"what\":\"openssl_engine\",\"key\":\"$(kt_of $ca)\",\"threads\":1,\"count\":$n,\"failed\":$fails,$(awk -v a="$t0" -v b="$t1" -v n=$((n - fails)) 'BEGIN { printf "\"seconds\":%.3f,\"per_second\":%.1f", b - a, n / (b - a) }')}"
		[ $fails = 0 ] || { tail -5 "$D/engine.log" >&2; echo "FAIL: openssl x509 -req -engine pkcs11 failed $fails times" >&2; exit 1; }
	done
else
	note "openssl engine: skipped (libengine-pkcs11-openssl not installed)"
fi

# ---- ratios and the table --------------------------------------------------
python3 - "$out" "$secs" "$csecs" "$json" "$fs_disk" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
secs, csecs, as_json, fsd = sys.argv[2], sys.argv[3], sys.argv[4] == "1", sys.argv[5]
def find(what, key, **kw):
    for r in rows:
        if r.get("what") == what and r.get("key") == key and all(r.get(k) == v for k, v in kw.items()):
            return r
    return None
ratios = []
def ratio(name, key, num, den, target, ge=True):
    if num is None or den is None or den == 0:
        return
    v = num / den
    ratios.append({"what": "ratio", "name": name, "key": key, "value": round(v, 3),
                   "target": target,
                   "met": None if target is None else (v >= target) if ge else (v <= target)})
for key in ("ec:p256", "rsa:2048"):
    lib2 = find("hkms", key, threads=2, fs=fsd)
    h = {c: find("https", key, concurrency=c) for c in (1, 8, 32)}
    cf = {c: find("cfssl", key, concurrency=c) for c in (1, 8, 32)}
    eng = find("openssl_engine", key)
    raw2 = find("raw", key, threads=2)
    if h[8] and lib2:
        ratio("https_c8/library_2t", key, h[8]["per_second"], lib2["per_second"], 0.9)
    lib8 = find("hkms", key, threads=8, fs=fsd)
    if h[8] and lib8:	# same number of callers: the cost of the HTTPS face alone
        ratio("https_c8/library_8t", key, h[8]["per_second"], lib8["per_second"], None)
    if lib2 and raw2:
        ratio("library_2t/raw_2t", key, lib2["per_second"], raw2["per_second"],
              0.25 if key == "ec:p256" else 0.70)
    hs = [x["per_second"] for x in h.values() if x]
    cs = [x["per_second"] for x in cf.values() if x]
    if hs and cs:
        ratio("https_peak/cfssl_peak", key, max(hs), max(cs), 1.0 if key == "ec:p256" else 2.0)
    if h[8] and eng:
        ratio("https_c8/openssl_engine", key, h[8]["per_second"], eng["per_second"], 100.0)
    if h[32] and h[32]["p50_ms"] > 0:
        ratio("p99/p50_c32", key, h[32]["p99_ms"], h[32]["p50_ms"], 4.0, ge=False)
hr = [r for r in rows if r["what"] in ("https", "https_handshake")]
checks = []
if hr:
    errs = sum(r["errors"] for r in hr)
    checks.append({"what": "check", "name": "no errors (https)", "value": errs, "met": errs == 0})
    last = hr[-1]
    mx = max(r["rss_kb"] for r in hr)
    checks.append({"what": "check", "name": "server RSS <= 20 MB", "value": round(mx / 1024, 1), "met": mx <= 20 * 1024})
    for key in ("ec:p256", "rsa:2048"):
        a, b = find("https", key, concurrency=8), find("https", key, concurrency=32)
        if a and b:
            checks.append({"what": "check", "name": "RSS flat c8->c32 (+<=10%)", "key": key,
                           "value": round((b["rss_kb"] - a["rss_kb"]) / 1024, 2),
                           "met": b["rss_kb"] <= a["rss_kb"] * 1.1})
    fds = [r["fds"] for r in hr]
    checks.append({"what": "check", "name": "no fd growth (after each step)", "value": fds, "met": max(fds) <= fds[0]})
au = [r for r in rows if r["what"] == "audit_check"]
if au:
    checks.append({"what": "check", "name": "audit ca.sign lines == 2xx", "value": [au[0]["audit_ca_sign_lines"], au[0]["ok_2xx"]], "met": au[0]["equal"]})
if as_json:
    for r in ratios + checks:
        print(json.dumps(r, separators=(",", ":")))
    sys.exit(0)
print(f"hkms issuance benchmark, one SoftHSM2 token; {secs} s per HTTP step, {csecs} s per library cell")
print(f"{'what':<16}{'key':<9}{'thr/c':>6}{'fs':>6}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}{'p99.9':>9}{'err':>6}{'RSS MB':>8}{'fds':>5}  note")
raw = {(r["key"], r["threads"]): r["per_second"] for r in rows if r["what"] == "raw"}
names = {"raw": "token C_Sign", "naive": "naive libp11", "hkms": "hkms library", "https": "hkms https",
         "https_handshake": "https new-conn", "cfssl": "cfssl serve", "openssl_engine": "openssl+engine"}
for r in rows:
    w = r["what"]
    if w == "note":
        print(f"  ({r['text']})"); continue
    if w not in names:
        continue
    tc = r.get("threads", r.get("concurrency", ""))
    f = lambda k, fmt: (fmt % r[k]) if k in r else ""
    nt = ""
    if w in ("naive", "hkms"):
        base = raw.get((r["key"], r["threads"]))
        nt = f"{100 * r['per_second'] / base:.1f} % of raw" if base else ""
        if "per_batch" in r: nt += (", " if nt else "") + f"{r['per_batch']:.1f}/batch"
    if w == "openssl_engine":
        nt = f"{r['count']} processes"
    if w == "https_handshake":
        nt = "full TLS handshakes/s (GET, no reuse)"
    if r.get("server_cpu_ms_per_req") is not None:
        nt = f"server CPU {r['server_cpu_ms_per_req']:.2f} ms/req, {r['server_cpu_pct']:.0f} %"
    rss = f"{r['rss_kb'] / 1024:.1f}" if "rss_kb" in r else ""
    print(f"{names[w]:<16}{r['key']:<9}{tc:>6}{r.get('fs', ''):>6}{r['per_second']:>9.0f}"
          f"{f('p50_ms', '%.2f'):>9}{f('p99_ms', '%.2f'):>9}{f('p999_ms', '%.2f'):>9}{f('errors', '%d'):>6}"
          f"{rss:>8}{f('fds', '%d'):>5}  {nt}")
print()
print(f"{'ratio / check':<34}{'key':<10}{'value':>10}{'target':>10}  met")
for r in ratios:
    if r["target"] is None:
        print(f"{r['name']:<34}{r['key']:<10}{r['value']:>10.2f}{'(info)':>10}  -")
        continue
    t = (">= " if r["name"] != "p99/p50_c32" else "<= ") + f"{r['target']:g}"
    print(f"{r['name']:<34}{r['key']:<10}{r['value']:>10.2f}{t:>10}  {'yes' if r['met'] else 'NO'}")
for r in checks:
    print(f"{r['name']:<34}{r.get('key', ''):<10}{str(r['value']):>10}{'':>10}  {'yes' if r['met'] else 'NO'}")
PY
