#!/bin/bash
# The appliance's own certificate over the CLI, against a running server
# (issue 13 items 1 and 2): fresh start self-signed; create-csr with the
# defaults (CN = FQDN; SANs host name, FQDN, the host's addresses) seen by
# `openssl req -text`; signed by an openssl CA (x509 -req -copy_extensions
# copyall); --what-if leaves the served certificate alone; apply (DER)
# reaches new connections within a second or two without a restart while
# a connection opened before keeps working, and verifies against the CA;
# wrong CA, expired, another key, no serverAuth are each refused by name
# and the server keeps its certificate; apply-self-signed brings the first
# self-signed certificate back (same serial); --rekey serves a new public
# key and keeps the old key; status pin / change / expire / trust; the
# history in cert show and cert restore.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
hkms_setup
cd "$T"
printf '\n[server]\nhostname = appliance.example.test\n' >> "$HKMS_CONFIG"

# served: sha256 fingerprint of what a new connection is presented
served() {
	openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//'
}
served_pub() {
	openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
		openssl x509 -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64
}
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//'; }
serial_of() { openssl x509 -in "$1" -noout -serial | sed 's/.*=//'; }
# wait_served FP: until a new connection presents FP (bounded); prints ms
wait_served() {
	local t0 i
	t0=$(date +%s%N)
	for i in $(seq 1 100); do
		[ "$(served)" = "$1" ] && { echo $(( ($(date +%s%N) - t0) / 1000000 )); return 0; }
		sleep 0.1
	done
	fail "the server does not present $1 (it presents $(served))"
}
status_field() { hkms --json service-cert status | jget "$1"; }

serve_start

# ---- fresh start: self-signed ----
hkms service-cert get > s1.pem || fail "service-cert get"
[ "$(served)" = "$(fp s1.pem)" ] || fail "get is not what the server presents"
[ "$(openssl x509 -in s1.pem -noout -issuer | sed 's/issuer=//')" = \
  "$(openssl x509 -in s1.pem -noout -subject | sed 's/subject=//')" ] || fail "first start not self-signed"
openssl x509 -in s1.pem -noout -subject | grep -q 'CN = appliance.example.test' ||
	fail "first start CN: $(openssl x509 -in s1.pem -noout -subject)"
S1_SERIAL=$(serial_of s1.pem)
[ "$(status_field self_signed)" = true ] || fail "status: not self_signed"
pass "fresh start: a self-signed certificate for appliance.example.test is served"

# ---- create-csr: the appliance defaults ----
hkms service-cert create-csr --out-file svc.csr > csr.out || fail "create-csr"
openssl req -in svc.csr -noout -verify 2>&1 | grep -q 'verify OK' || fail "the CSR's signature does not verify"
openssl req -in svc.csr -noout -text > csr.txt
grep -q 'Subject: CN = appliance.example.test$' csr.txt || fail "CSR CN is not the FQDN: $(grep Subject: csr.txt)"
grep -q 'DNS:appliance,' csr.txt && grep -q 'DNS:appliance.example.test' csr.txt ||
	fail "CSR SANs lack host name / FQDN: $(grep -A1 'Alternative Name' csr.txt)"
# openssl prints an IPv6 SAN as 8 upper-case groups without leading zeros
ossl_ip() { python3 -c 'import ipaddress,sys; a=ipaddress.ip_address(sys.argv[1])
print(a if a.version == 4 else ":".join("%X" % int(g, 16) for g in a.exploded.split(":")))' "$1"; }
for a in $(hostname -I 2>/dev/null); do
	grep -q "IP Address:$(ossl_ip "$a")\b" csr.txt || fail "CSR SANs lack the host address $a"
done
grep -q 'IP Address:127.0.0.1' csr.txt && fail "CSR SANs list a loopback address"
# its key is the service key
[ "$(openssl req -in svc.csr -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)" = \
  "$(served_pub)" ] || fail "the CSR is not for the service key"
hkms service-cert create-csr --common-name web.example.test --organization 'Acme/Labs' \
	--organization-unit Ops --country de --state Bavaria --locality Munich \
	--alternative-names 'web.example.test, 10.9.8.7,alias.example.test,2001:db8::1' > custom.csr ||
	fail "create-csr with options"
openssl req -in custom.csr -noout -text > custom.txt
grep -q 'Subject: CN = web.example.test, O = Acme/Labs, OU = Ops, C = DE, ST = Bavaria, L = Munich' custom.txt ||
	fail "custom subject: $(grep Subject: custom.txt)"
grep -q 'DNS:web.example.test, IP Address:10.9.8.7, DNS:alias.example.test, IP Address:2001:DB8:0:0:0:0:0:1' custom.txt ||
	fail "custom SANs: $(grep -A1 'Alternative Name' custom.txt)"
pass "create-csr: CN = FQDN, SANs host name, FQDN and host addresses; options honoured"

# ---- an openssl CA signs it ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
	-subj '/CN=Appliance Test CA' -days 30 -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null || fail "openssl CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca2.key -out ca2.pem \
	-subj '/CN=Other CA' -days 30 -addext basicConstraints=critical,CA:TRUE 2>/dev/null || fail "openssl CA 2"
printf 'extendedKeyUsage = serverAuth\n' > server.ext
printf 'extendedKeyUsage = clientAuth\n' > client.ext
openssl x509 -req -in svc.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 20 \
	-copy_extensions copyall -extfile server.ext -out issued.pem 2>/dev/null || fail "openssl x509 -req"
openssl x509 -in issued.pem -outform DER -out issued.der

# ---- what-if: checks, changes nothing ----
hkms service-cert apply --ca-file ca.pem --file issued.pem --what-if > whatif.out ||
	fail "what-if: $(cat whatif.out)"
grep -q 'what-if: all checks pass' whatif.out || fail "what-if output: $(cat whatif.out)"
[ "$(served)" = "$(fp s1.pem)" ] || fail "what-if changed the served certificate"
sleep 1.5	# one stamp poll later: still the old one
[ "$(served)" = "$(fp s1.pem)" ] || fail "what-if changed the served certificate (after a poll)"
pass "what-if: all checks pass, s_client still shows the self-signed certificate"

# ---- apply (DER) while a connection is open ----
coproc HOLD { openssl s_client -connect "127.0.0.1:$PORT" -quiet 2>/dev/null; }
HP=$HOLD_PID; HKMS_BG_PIDS="$HKMS_BG_PIDS $HP"
printf 'GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n' >&"${HOLD[1]}"
hkms service-cert apply --ca-file ca.pem --file issued.der > apply.out || fail "apply: $(cat apply.out)"
MS=$(wait_served "$(fp issued.pem)")
echo "# applied certificate served to a new connection after ${MS} ms (CLI, stamp poll)"
[ "$MS" -le 3000 ] || fail "the applied certificate took $MS ms to be served"
# the connection opened before still answers
printf 'GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&"${HOLD[1]}"
H=$(timeout 10 cat <&"${HOLD[0]}")
[ "$(echo "$H" | grep -o 'HTTP/1.1 200' | wc -l)" = 2 ] || fail "the connection in flight was dropped: $H"
wait "$HP" 2>/dev/null
openssl s_client -connect "127.0.0.1:$PORT" -CAfile ca.pem -verify_return_error </dev/null 2>&1 |
	grep -q 'Verify return code: 0 (ok)' || fail "the served certificate does not verify against the CA"
[ "$(status_field self_signed)" = false ] || fail "status: still self_signed"
pass "apply: new connections get the CA-issued certificate in ${MS} ms, it verifies, the open connection lives on"

# ---- refusals: each named, nothing changes ----
refused() {	# CODE FILE CAFILE
	local out
	out=$(hkms service-cert apply --ca-file "$3" --file "$2" 2>&1 >/dev/null) &&
		fail "apply of $2 was accepted"
	echo "$out" | grep -q "\"code\":\"$1\"" || fail "apply of $2: expected $1, got $out"
	[ "$(served)" = "$(fp issued.pem)" ] || fail "a refused apply ($1) changed the served certificate"
}
refused check_failed:chains_to_ca issued.pem ca2.pem
# expired: openssl ca with dates in the past
mkdir -p caddb/new; : > caddb/index.txt; echo 1000 > caddb/serial
cat > ca.cnf <<EOF
[ca]
default_ca = d
[d]
database = $T/caddb/index.txt
new_certs_dir = $T/caddb/new
serial = $T/caddb/serial
certificate = $T/ca.pem
private_key = $T/ca.key
default_md = sha256
policy = p
copy_extensions = copyall
unique_subject = no
[p]
commonName = supplied
[srv]
extendedKeyUsage = serverAuth
EOF
openssl ca -batch -config ca.cnf -extensions srv -in svc.csr -out expired.pem -notext \
	-startdate 20200101000000Z -enddate 20200201000000Z 2>/dev/null || fail "openssl ca (expired)"
refused check_failed:validity expired.pem ca.pem
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key \
	-subj '/CN=appliance.example.test' -out other.csr 2>/dev/null
openssl x509 -req -in other.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 20 \
	-extfile server.ext -out other.pem 2>/dev/null
refused check_failed:key_matches other.pem ca.pem
openssl x509 -req -in svc.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 20 \
	-copy_extensions copyall -extfile client.ext -out client.pem 2>/dev/null
refused check_failed:extended_key_usage client.pem ca.pem
expect_fail usage hkms service-cert apply --file issued.pem
sleep 1.5	# a poll later the server still keeps its certificate
[ "$(served)" = "$(fp issued.pem)" ] || fail "the server lost its certificate after refusals"
pass "wrong CA, expired, another key, no serverAuth: refused by name, the server keeps its certificate"

# ---- apply-self-signed: the first self-signed certificate comes back ----
hkms --json service-cert apply-self-signed > ss.json || fail "apply-self-signed"
[ "$(jget action < ss.json)" = restored ] || fail "apply-self-signed: $(cat ss.json)"
wait_served "$(fp s1.pem)" >/dev/null
openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null | openssl x509 -out back.pem
[ "$(serial_of back.pem)" = "$S1_SERIAL" ] || fail "apply-self-signed: serial $(serial_of back.pem), not $S1_SERIAL"
[ "$(hkms --json service-cert apply-self-signed | jget action)" = unchanged ] ||
	fail "apply-self-signed on a self-signed certificate changed it"
pass "apply-self-signed: the previous self-signed certificate is served again, same serial $S1_SERIAL"

# ---- --rekey: a new key ----
OLDPUB=$(served_pub)
hkms --json service-cert apply-self-signed --rekey > rk.json || fail "rekey"
NEWKEY=$(python3 -c 'import json,sys; print(json.load(open("rk.json"))["certificate"]["key"])')
[ "$(jget old_key < rk.json)" = hkms-service ] && [ "$(jget old_key_deleted < rk.json)" = false ] ||
	fail "rekey result: $(cat rk.json)"
for i in $(seq 1 50); do [ "$(served_pub)" != "$OLDPUB" ] && break; sleep 0.1; done
NEWPUB=$(served_pub)
[ "$NEWPUB" != "$OLDPUB" ] || fail "--rekey: s_client still sees the old public key"
hkms --json key show "$NEWKEY" | jget public_key_pem > newkey.pub
[ "$(openssl pkey -pubin -in newkey.pub -outform DER | sha256sum | cut -c1-64)" = "$NEWPUB" ] ||
	fail "--rekey: the served key is not token key $NEWKEY"
hkms key show hkms-service >/dev/null || fail "--rekey deleted the old key (default keep)"
pass "--rekey: s_client sees the new public key of token key $NEWKEY; the old key is kept"

# ---- status: pin, change, expire, trust ----
[ "$(status_field trust)" = untrusted ] && [ "$(status_field trust_reason)" = not_pinned ] ||
	fail "status before any pin: $(hkms --json service-cert status)"
hkms service-cert trust > /dev/null || fail "trust"
[ "$(status_field trust)" = trusted ] || fail "status after trust: $(hkms --json service-cert status)"
hkms service-cert apply --ca-file ca.pem --file issued.pem >/dev/null 2>&1 &&
	fail "the old key's certificate applies onto the rekeyed service"
hkms service-cert create-csr --alternative-names 'appliance.example.test' --out-file rk.csr >/dev/null
openssl x509 -req -in rk.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 20 \
	-copy_extensions copyall -extfile server.ext -out rk-issued.pem 2>/dev/null
hkms service-cert apply --ca-file ca.pem --file rk-issued.pem >/dev/null || fail "apply after rekey"
[ "$(status_field trust)" = untrusted ] && [ "$(status_field trust_reason)" = changed ] ||
	fail "status after a change: $(hkms --json service-cert status)"
hkms service-cert trust > /dev/null
[ "$(status_field trust)" = trusted ] || fail "trust after the change"
# a short-lived certificate: valid for 15 seconds from now (time enough
# to apply and pin it on a loaded machine), then status until it expired
END=$(date -u -d '+15 seconds' +%Y%m%d%H%M%SZ)
openssl ca -batch -config ca.cnf -extensions srv -in rk.csr -out short.pem -notext \
	-startdate "$(date -u -d '-1 minute' +%Y%m%d%H%M%SZ)" -enddate "$END" 2>/dev/null || fail "openssl ca (short)"
hkms service-cert apply --ca-file ca.pem --file short.pem >/dev/null || fail "apply short-lived"
hkms service-cert trust >/dev/null
[ "$(status_field trust)" = trusted ] || fail "short-lived: not trusted while valid"
for i in $(seq 1 300); do [ "$(status_field expired)" = true ] && break; sleep 0.2; done
[ "$(status_field trust)" = untrusted ] && [ "$(status_field trust_reason)" = expired ] ||
	fail "status after expiry: $(hkms --json service-cert status)"
hkms service-cert apply --ca-file ca.pem --file rk-issued.pem >/dev/null || fail "apply after expiry"
hkms service-cert trust >/dev/null
[ "$(status_field trust)" = trusted ] || fail "trust after expiry"
pass "status: untrusted (not pinned) -> trust -> trusted; changed -> untrusted; expired -> untrusted; trust -> trusted"

# ---- history and restore ----
hkms --json cert show hkms-service > show.json
python3 - <<'EOF' || fail "history in cert show: $(cat show.json)"
import json
o = json.load(open("show.json"))
h = o["history"]
assert [v["version"] for v in h] == list(range(1, len(h) + 1)), h
reasons = [v["reason"] for v in h]
assert "apply" in reasons and "rekey" in reasons and "restore" in reasons, reasons
assert h[0]["self_signed"] is True and h[0]["key"] == "hkms-service", h[0]
EOF
IV=$(python3 -c 'import json,sys
h=json.load(open("show.json"))["history"]
print([v["version"] for v in h if v["serial"] and v["issuer"] and "Appliance Test CA" in v["issuer"] and v["key"] == "hkms-service"][0])')
hkms cert restore hkms-service --version "$IV" >/dev/null || fail "cert restore --version $IV"
wait_served "$(fp issued.pem)" >/dev/null
expect_fail history_not_found hkms cert restore hkms-service --version 999
pass "history listed in cert show (apply, rekey, restore); cert restore --version brings the CA certificate back"

serve_stop
[ "$SRV_RC" = 0 ] || fail "serve exit $SRV_RC"
hkms audit verify >/dev/null || fail "audit verify"
for op in service.cert_apply service.cert_self_sign service.cert_trust service.cert_csr cert.restore; do
	grep -q "\"op\":\"$op\"" "$T/data/audit.log" || fail "no audit line for $op"
done
pass "audited: service.cert_apply, _self_sign, _trust, _csr, cert.restore; the audit log verifies"

# [server] rekey_old_key = delete: the old key leaves the token
hkms store check >/dev/null || fail "store check: $(hkms store check 2>&1)"
OLDK=$(hkms --json service-cert get | jget key)
printf '\n[server]\nrekey_old_key = delete\n' >> "$HKMS_CONFIG"
hkms --json service-cert apply-self-signed --rekey > rk2.json || fail "rekey (delete)"
[ "$(jget old_key < rk2.json)" = "$OLDK" ] && [ "$(jget old_key_deleted < rk2.json)" = true ] ||
	fail "rekey with rekey_old_key = delete: $(cat rk2.json)"
expect_fail key_not_found hkms key show "$OLDK"
printf '\n[server]\nrekey_old_key = sometimes\n' >> "$HKMS_CONFIG"
expect_fail config_bad_value hkms service-cert status
pass "[server] rekey_old_key = delete: the rekey removes the old key from the token; store check passes"
