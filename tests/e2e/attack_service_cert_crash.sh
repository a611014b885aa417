#!/bin/bash
# Attacks on the service certificate lifecycle (issue 13a) while a server
# runs and reloads it every second: a kill at every store and audit crash
# point of `service-cert apply`, `apply-self-signed [--rekey]`, `cert
# restore` and `cert import --replace` (HKMS_STORE_CRASH_AT, test builds);
# after each: store check and audit verify pass, the record's certificate
# is for the key it names (in the token), and the running server presents
# that certificate. Then two applies / restores racing each other.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
hkms_setup
cd "$T"
printf '\n[server]\nhostname = appliance.example.test\n' >> "$HKMS_CONFIG"

served_fp() {
	openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//'
}
rec_fp() { hkms cert export hkms-service | openssl x509 -noout -fingerprint -sha256 | sed 's/.*=//'; }
pubsha() { openssl pkey -pubin -outform DER 2>/dev/null | sha256sum | cut -c1-64; }
# consistent WHAT: the store and the audit are whole, the record's
# certificate is for its token key, and the server presents the record
consistent() {
	local k a b i want r
	# a kill while the token makes a rekey's new key leaves its
	# reservation (as for key generate: store check names it and says
	# deleting the key cleans up); the operator's cleanup, then the check
	for r in $(hkms --json store check 2>/dev/null | python3 -c 'import json,sys,re
for e in json.load(sys.stdin).get("errors", []):
    m = re.match(r"keys/(hkms-service-r[0-9-]+): stale reservation", e)
    if m: print(m.group(1))' 2>/dev/null); do
		hkms key delete "$r" --force >/dev/null 2>&1 || fail "$1: cleanup of the reservation $r: $(hkms key delete "$r" --force 2>&1)"
		RSV=$((RSV + 1))
	done
	hkms store check >/dev/null 2>&1 || fail "$1: store check: $(hkms store check 2>&1 | tail -3)"
	hkms audit verify >/dev/null 2>&1 || fail "$1: audit verify: $(hkms audit verify 2>&1 | tail -3)"
	k=$(hkms --json cert show hkms-service | jget key) || fail "$1: no service record"
	a=$(hkms cert export hkms-service | openssl x509 -noout -pubkey | pubsha)
	b=$(hkms --json key show "$k" | jget public_key_pem | pubsha)
	[ -n "$a" ] && [ "$a" = "$b" ] || fail "$1: the service certificate is not for its key $k"
	want=$(rec_fp)
	for i in $(seq 1 50); do
		[ "$(served_fp)" = "$want" ] && return 0
		sleep 0.1
	done
	fail "$1: the server presents $(served_fp), the record is $want"
}

RSV=0
serve_start
hkms_alive "$SRV_PID" || fail "server"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
	-subj '/CN=Crash CA' -days 30 -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null || fail "openssl CA"
printf 'extendedKeyUsage = serverAuth\n' > server.ext
# issue N: a CA-issued certificate for the current service key in N.pem
issue() {
	hkms service-cert create-csr --out-file "$1.csr" >/dev/null || fail "create-csr"
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 20 \
		-copy_extensions copyall -extfile server.ext -out "$1.pem" 2>/dev/null || fail "openssl sign"
}
consistent "start"

POINTS="after_write after_fsync after_rename audit_partial audit_after_write audit_after_sync"
n=0
for op in apply selfsigned rekey restore replace; do
	for p in $POINTS; do
		for k in 1 2 3; do
			case $op in
			apply|replace) issue "c$n" ;;
			esac
			case $op in
			apply) set -- service-cert apply --file "c$n.pem" --ca-file ca.pem ;;
			replace) set -- cert import hkms-service --file "c$n.pem" --ca-file ca.pem --replace ;;
			selfsigned) set -- service-cert apply-self-signed ;;
			rekey) set -- service-cert apply-self-signed --rekey ;;
			restore) set -- cert restore hkms-service ;;
			esac
			HKMS_STORE_CRASH_AT="$p:$k" "$HKMS_BIN" "$@" >/dev/null 2>&1
			rc=$?
			consistent "$op killed at $p:$k (rc $rc)"
			n=$((n + 1))
			# not reached that often: the next point
			[ $rc = 137 ] || break
		done
	done
	# the operation works after its crashes
	case $op in
	apply) issue "ok$op"; hkms service-cert apply --file "ok$op.pem" --ca-file ca.pem >/dev/null || fail "apply after the crashes: $(hkms service-cert apply --file "ok$op.pem" --ca-file ca.pem 2>&1)" ;;
	restore) hkms cert restore hkms-service >/dev/null 2>&1 ;;
	esac
	consistent "$op after its crashes"
done
pass "a kill at every crash point of apply, self-signed, rekey, restore, import --replace ($n runs): store, audit, key and served certificate consistent ($RSV rekey reservations cleaned by key delete)"

# ---- two at once ----
issue r1
issue r2
for round in 1 2 3; do
	hkms service-cert apply --file r1.pem --ca-file ca.pem > ra.out 2>&1 &
	a=$!
	hkms cert import hkms-service --file r2.pem --ca-file ca.pem --replace > rb.out 2>&1 &
	b=$!
	hkms cert restore hkms-service > rc.out 2>&1 &
	c=$!
	wait $a; wait $b; wait $c
	consistent "race round $round"
done
hkms --json cert show hkms-service | python3 -c 'import json,sys
h = json.load(sys.stdin)["history"]
v = [x["version"] for x in h]
assert v == sorted(set(v)), v' || fail "history versions doubled or out of order: $(hkms --json cert show hkms-service)"
pass "apply, import --replace and restore racing (3 rounds): consistent, history versions unique"
hkms_alive "$SRV_PID" || fail "the server died"
