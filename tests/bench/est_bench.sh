#!/bin/bash
# EST enrollment figures (issue 17b; printed, never asserted):
#   bash tests/bench/est_bench.sh            (after ./scripts/build.sh; N=40)
# Against a real hkms serve on 127.0.0.1 with its own token: N one-time
# passwords and CSRs are made first, then N/2 enrollments one after the
# other (curl: TLS handshake signed in the token, PBKDF2 check, claim,
# ca sign with its group commit, the PKCS#7 answer) and N/2 at once.
HKMS_BIN=${HKMS_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/src/cli/hkms}
export HKMS_BIN
. "$(dirname "$0")/../e2e/lib.sh"
. "$(dirname "$0")/../e2e/serve.inc"
hkms_setup
cd "$T"
hkms ca create root --key-type ec:p256 --subject "/CN=B Root" >/dev/null || fail ca
hkms est enable root --profile tls-client >/dev/null
serve_start
service_ca
N=${N:-40}
for i in $(seq 1 $N); do
	hkms --json est token create --ca root --subject "/CN=d$i" | python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["id"], o["password"])' > t$i
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout k$i -subj "/CN=d$i" -outform DER 2>/dev/null | base64 > c$i.b64
done
one() { read -r id pw < t$1; curl -s --cacert service.pem -u "$id:$pw" --data-binary @c$1.b64 -H 'Content-Type: application/pkcs10' -o /dev/null -w '%{http_code} %{time_total}\n' "$URL/.well-known/est/root/simpleenroll"; }
s=$(date +%s.%N)
for i in $(seq 1 $((N/2))); do one $i; done > seq.txt
e=$(date +%s.%N)
echo "sequential $((N/2)): $(python3 -c "print(round(($e-$s),3))") s; per request ms: $(awk '{s+=$2; if($2>m)m=$2} END {printf "mean %.1f max %.1f", s/NR*1000, m*1000}' seq.txt); statuses: $(cut -d' ' -f1 seq.txt | sort | uniq -c | tr '\n' ' ')"
s=$(date +%s.%N)
pids=; for i in $(seq $((N/2+1)) $N); do one $i >> par.txt & pids="$pids $!"; done; wait $pids
e=$(date +%s.%N)
echo "parallel $((N/2)): $(python3 -c "print(round(($e-$s),3))") s wall; statuses: $(cut -d' ' -f1 par.txt | sort | uniq -c | tr '\n' ' ')"
serve_stop
