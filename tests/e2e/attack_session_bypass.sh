#!/bin/bash
# Attacks on the second factor (issue 16a) with a real server, curl,
# parallel TLS clients and oathtool: a client requiring 2FA without a
# session is refused on every route of docs/api.yaml (GET /metrics
# included, which checked its clearance by itself); a session opened
# while the client did not require 2FA is no second factor once it does;
# 40 wrong codes sent at once give exactly 5 totp_invalid (the lockout is
# looked at under the data lock), 20 copies of the right code at once
# open exactly one session; a cookie made up by the client, another
# client's cookie or CSRF token, odd cookie and Origin forms do not pass.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3 oathtool
python3 -c 'import yaml' 2>/dev/null || skip "python3-yaml is not installed"
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
cd "$T"
. "$(dirname "$0")/attack_session.inc"
hkms ca create root --key-type ec:p256 --subject "/CN=2FA Root" --out-file root.pem >/dev/null ||
	fail "ca root"
# a pool of 16 threads: parallel requests really run at once
printf '\n[server]\nthreads = 16\n' >> "$HKMS_CONFIG"
serve_start
service_ca
curlrc admin "$T/data/admin-client.p12" "$T/data/admin-client.pass"
pem() {
	openssl pkcs12 -in "$1.p12" -passin "file:$1.pass" -nokeys -clcerts -out "$1.pem" 2>/dev/null &&
		openssl pkcs12 -in "$1.p12" -passin "file:$1.pass" -nocerts -noenc -out "$1.key" 2>/dev/null ||
		fail "pem of $1"
}

# every route of the API for an admin requiring 2FA, without a session
gen a2 admin true; pem a2
PORT=$PORT python3 "$(dirname "$0")/attack_session_matrix.py" "$HKMS_SRC" "$T" a2 > matrix.out ||
	fail "routes that answered a 2FA client without a session: $(cat matrix.out)"
[ "$(ecode a2 GET /metrics)" = second_factor_required ] || fail "GET /metrics without the second factor"
pass "a 2FA admin without a session: 403 second_factor_required on every route of api.yaml, /metrics too"

# a session opened while 2FA was off is no second factor once it is on
gen c1 operator true
[ "$(status admin PATCH /v1/clients/c1 '{"require_2fa":false}')" = 200 ] || fail "2FA off"
call c1 POST /v1/session '{}' > o1.out
[ "$(tail -1 o1.out)" = 201 ] || fail "a session without a code for a client without 2FA: $(cat o1.out)"
CK1=$(cookie_of)
[ "$(status c1 GET /v1/cas "" -H "Cookie: hkms_session=$CK1")" = 200 ] || fail "c1 without 2FA"
call admin PATCH /v1/clients/c1 '{"require_2fa":true}' | sed '$d' | python3 -c 'import json,sys
o=json.load(sys.stdin); assert o["require_2fa"] is True and "totp" not in o, o' ||
	fail "2FA on again (the seed kept)"
[ "$(ecode c1 GET /v1/cas "" -H "Cookie: hkms_session=$CK1")" = second_factor_required ] ||
	fail "a session opened without a code counts as the second factor after 2FA was turned on"
call c1 GET /v1/session "" -H "Cookie: hkms_session=$CK1" | sed '$d' | python3 -c 'import json,sys
o=json.load(sys.stdin); assert o["session"] is None and o["second_factor"] is False, o' ||
	fail "GET /v1/session shows the code-less session as a second factor"
t0=$(safe_step); login c1 "$(secret_of c1)" "$t0"
[ "$(status c1 GET /v1/cas "" -H "Cookie: hkms_session=$COOKIE")" = 200 ] || fail "c1's session with a code"
pass "a session opened while 2FA was off is ignored once 2FA is on; a code opens a new one"

# 40 wrong codes at once: exactly 5 are checked, the rest are locked out
gen c2 operator true; pem c2
W=$(wrong_code "$(secret_of c2)")
python3 "$(dirname "$0")/attack_session_race.py" "$PORT" "$T" c2 40 '{"code":"'"$W"'"}' > race2.out ||
	fail "race client"
n_inv=$(grep -c '^401 totp_invalid$' race2.out); n_lock=$(grep -c '^429 totp_locked$' race2.out)
[ "$n_inv" = 5 ] && [ "$n_lock" = 35 ] ||
	fail "40 wrong codes at once: $n_inv checked, $n_lock locked (want 5 and 35): $(sort race2.out | uniq -c)"
pass "40 parallel wrong codes: exactly 5 totp_invalid, 35 totp_locked"

# 20 copies of the right code at once: one session
gen c3 operator true; pem c3
t0=$(safe_step); C=$(otp "$(secret_of c3)" "$t0")
python3 "$(dirname "$0")/attack_session_race.py" "$PORT" "$T" c3 20 '{"code":"'"$C"'"}' > race3.out ||
	fail "race client"
[ "$(grep -c '^201 ' race3.out)" = 1 ] || fail "20 copies of the right code: $(sort race3.out | uniq -c)"
grep -v '^201 ' race3.out | grep -qvE '^(401 totp_replayed|429 totp_locked)$' &&
	fail "20 copies of the right code, the losers: $(sort race3.out | uniq -c)"
pass "20 parallel copies of the right code: exactly one session, the others replayed or locked"

# cookies and tokens that are not this session's
gen c4 operator true
t0=$(safe_step); login c4 "$(secret_of c4)" "$t0"; CK4=$COOKIE; CS4=$CSRF
login c1 "$(secret_of c1)" $(( t0 + 30 )); CK1=$COOKIE; CS1=$CSRF
for ck in "hkms_session=$(python3 -c 'print("A"*43)')" "hkms_session=${CK4}x" "hkms_session=${CK4:0:42}" \
    "hkms_session= $CK4" "hkms_session=x; hkms_session=$CK4" "hkms_session=$CK1"; do
	[ "$(ecode c4 GET /v1/cas "" -H "Cookie: $ck")" = second_factor_required ] ||
		fail "cookie '$ck' opened c4's second factor"
done
[ "$(status c4 GET /v1/cas "" -H "Cookie: $(python3 -c 'print("a=" + "b"*100000)'); hkms_session=$CK4")" = 431 ] ||
	fail "a 100 kB Cookie header"
KB='{"name":"kx","type":"ec:p256"}'
for h in "X-CSRF-Token: " "X-CSRF-Token: ${CS4,,}" "X-CSRF-Token: ${CS4}x" "X-CSRF-Token: $CS1" \
    "X-CSRF-Token: ${CS4:0:42}"; do
	[ "$(ecode c4 POST /v1/keys "$KB" -H "Cookie: hkms_session=$CK4" -H "$h")" = csrf_invalid ] ||
		fail "'$h' passed the CSRF check"
done
for o in "null" "https://127.0.0.1:1" "http://127.0.0.1:$PORT" "https://127.0.0.1:$PORT/" \
    "https://127.0.0.1:$PORT.evil.example" "https://evil.example"; do
	[ "$(ecode c4 POST /v1/keys "$KB" -H "Cookie: hkms_session=$CK4" -H "X-CSRF-Token: $CS4" \
		-H "Origin: $o")" = cross_origin ] || fail "Origin '$o' passed"
done
call admin GET /v1/session "" -H "Cookie: hkms_session=$CK4" | sed '$d' | python3 -c 'import json,sys
o=json.load(sys.stdin); assert o["client"] == "admin" and o["session"] is None, o' ||
	fail "c4's cookie was taken as a session of the admin's certificate"
[ "$(status c4 DELETE /v1/session "" -H "Cookie: hkms_session=$CK1" -H "X-CSRF-Token: $CS1")" = 204 ] ||
	fail "DELETE /v1/session with another client's cookie"
[ "$(status c1 GET /v1/cas "" -H "Cookie: hkms_session=$CK1")" = 200 ] ||
	fail "c4 ended c1's session with c1's cookie"
hkms --json key list | grep -q '"kx"' && fail "a refused request made key kx"
pass "made-up, truncated, padded and other clients' cookies, wrong CSRF tokens and foreign Origins are refused"

serve_stop
[ "$SRV_RC" = 0 ] || { tail -40 serve.log; fail "hkms serve exited $SRV_RC"; }
grep -q 'Sanitizer' serve.log && { grep -A20 Sanitizer serve.log | head -40; fail "sanitizer report in serve.log"; }
exit 0
