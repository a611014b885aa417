#!/bin/bash
# The second factor (issue 16a) over HTTPS with a real server, curl with
# client certificates and codes from oathtool: a client generated with
# require_2fa gets its TOTP seed once (secret, otpauth URI, QR SVG) and is
# refused (403 second_factor_required) on the API without a session, while
# GET /v1/session answers; a wrong code is 401 totp_invalid, the right one
# opens a session (201, Set-Cookie HttpOnly Secure SameSite=Strict), the
# same code again is 401 totp_replayed; with the cookie the API works, with
# another client's certificate it does not; a state-changing request with
# the cookie needs the X-CSRF-Token, a foreign Origin is refused; logout
# ends it; wrong codes in a row lock the client (429); re-enrolment makes
# the old seed useless and ends its sessions; PATCH turning 2FA on
# enrols; the CLI enrols too and writes the QR file; the seed is nowhere
# under the data dir in clear; every login, logout, failed code and
# enrolment is audited; after a restart with [console] session_s = 3 the
# replay guard holds and a session expires.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3 oathtool xmllint
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
cd "$T"

hkms ca create root --key-type ec:p256 --subject "/CN=2FA Root" --out-file root.pem >/dev/null ||
	fail "ca root"
serve_start
service_ca

curlrc() {
	(umask 077; printf 'cert-type = "P12"\ncert = "%s:%s"\ncacert = "%s"\nsilent\nmax-time = 20\n' \
		"$2" "$(cat "$3")" "$T/service.pem" > "$T/$1.curlrc")
}
# call WHO METHOD PATH [BODY [CURL ARGS...]]: the body, then the status on
# the last line; the response headers go to $T/hdr
call() {
	local who=$1 m=$2 p=$3 b=${4:-}
	shift 3; [ $# -gt 0 ] && shift
	if [ -n "$b" ]; then
		curl -K "$T/$who.curlrc" -X "$m" -H 'Content-Type: application/json' \
			--data-binary "$b" -D "$T/hdr" -w '\n%{http_code}' "$@" "$URL$p"
	else
		curl -K "$T/$who.curlrc" -X "$m" -D "$T/hdr" -w '\n%{http_code}' "$@" "$URL$p"
	fi
}
status() { call "$@" | tail -1; }
ecode() { call "$@" | sed '$d' | python3 -c 'import json,sys; print(json.load(sys.stdin)["error"]["code"])'; }
body() { sed '$d' "$1"; }

curlrc admin "$T/data/admin-client.p12" "$T/data/admin-client.pass"

# generate: operator client u2 with require_2fa; the seed comes once
gen() {	# gen NAME: a 2FA operator client over the API; writes NAME.p12, NAME.json
	call admin POST /v1/clients/generate '{"name":"'"$1"'","clearance":"operator","ca":"root",
		"passphrase":"passphrase of '"$1"'","require_2fa":true}' > "$1.out"
	[ "$(tail -1 "$1.out")" = 201 ] || fail "generate $1: $(cat "$1.out")"
	body "$1.out" > "$1.json"
	python3 -c 'import json,sys,base64
o=json.load(open(sys.argv[1]+".json")); open(sys.argv[1]+".p12","wb").write(base64.b64decode(o["p12_base64"]))' "$1"
	printf 'passphrase of %s' "$1" > "$1.pass"; chmod 600 "$1.pass"
	curlrc "$1" "$T/$1.p12" "$T/$1.pass"
}
gen u2
SECRET=$(python3 -c 'import json; print(json.load(open("u2.json"))["totp"]["secret"])')
python3 - "$SECRET" <<'PY' || fail "the enrolment answer"
import json, sys, re, base64
o = json.load(open("u2.json"))
t = o["totp"]; s = sys.argv[1]
assert re.fullmatch(r"[A-Z2-7]{32}", s), s
assert len(base64.b32decode(s)) == 20
assert t["uri"] == "otpauth://totp/hkms:u2?secret=%s&issuer=hkms&algorithm=SHA1&digits=6&period=30" % s, t["uri"]
assert o["registration"]["require_2fa"] is True and o["registration"]["totp_enrolled"] is True
assert "totp_sealed" not in json.dumps(o["registration"]) and "totp" not in o["registration"]
open("u2.svg", "w").write(t["qr_svg"])
PY
# the QR code: well-formed SVG, a viewBox of 17 + 4v + 8 modules, the
# three finder patterns (7 black modules across) in their corners
xmllint --noout u2.svg || fail "the QR SVG is not well-formed XML"
python3 - <<'PY' || fail "the QR SVG's modules"
import re, xml.etree.ElementTree as ET
r = ET.parse("u2.svg").getroot()
assert r.tag == "{http://www.w3.org/2000/svg}svg"
assert not r.findall(".//{http://www.w3.org/2000/svg}script")
w = int(r.get("viewBox").split()[2]); n = w - 8
assert n >= 21 and (n - 17) % 4 == 0, n
d = r.find("{http://www.w3.org/2000/svg}path").get("d")
m = [[0] * w for _ in range(w)]
for x, y, l in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", d):
    for i in range(int(l)): m[int(y)][int(x) + i] = 1
for ox, oy in ((4, 4), (4 + n - 7, 4), (4, 4 + n - 7)):
    assert all(m[oy][ox + i] for i in range(7)) and all(m[oy + 6][ox + i] for i in range(7))
    assert all(m[oy + 2 + j][ox + 2 + i] for i in range(3) for j in range(3))
    assert not any(m[oy + 1][ox + 1 + i] for i in range(5))
# the quiet zone is white
assert not any(m[y][x] for y in range(w) for x in range(w) if x < 4 or y < 4 or x >= w - 4 or y >= w - 4)
PY
pass "generate with require_2fa: secret (base32, 20 bytes), otpauth URI, QR SVG (well-formed, finder patterns, quiet zone 4) once"

# without a session: refused on the API; GET /v1/session answers
[ "$(ecode u2 GET /v1/cas)" = second_factor_required ] || fail "2FA client used the API without a session"
[ "$(ecode u2 POST /v1/keys '{"name":"k0","type":"ec:p256"}')" = second_factor_required ] ||
	fail "2FA client made a key without a session"
call u2 GET /v1/session > s.out
[ "$(tail -1 s.out)" = 200 ] || fail "GET /v1/session: $(cat s.out)"
body s.out | python3 -c 'import json,sys; o=json.load(sys.stdin)
assert o["client"]=="u2" and o["clearance"]=="operator" and o["require_2fa"] is True
assert o["second_factor"] is False and o["session"] is None and o["totp_enrolled"] is True, o' ||
	fail "GET /v1/session without a session: $(cat s.out)"
pass "without a session: 403 second_factor_required on the API, GET /v1/session 200"

# codes: oathtool with the time given, for this and the neighbouring steps
otp() { oathtool --totp -b "$1" -N "@$2"; }
wrong_code() {	# a code that is none of the window's
	local now c p n w
	now=$(date +%s); c=$(otp "$1" "$now"); p=$(otp "$1" $((now - 30))); n=$(otp "$1" $((now + 30)))
	for w in 000000 111111 222222 333333; do
		[ "$w" != "$c" ] && [ "$w" != "$p" ] && [ "$w" != "$n" ] && { echo $w; return; }
	done
}
[ "$(ecode u2 POST /v1/session '{"code":"'"$(wrong_code "$SECRET")"'"}')" = totp_invalid ] ||
	fail "a wrong code was not totp_invalid"
[ "$(status u2 POST /v1/session '{"code":"'"$(wrong_code "$SECRET")"'"}')" = 401 ] || fail "a wrong code was not 401"
[ "$(ecode u2 POST /v1/session '{}')" = totp_invalid ] || fail "no code was not totp_invalid"
CODE=$(oathtool --totp -b "$SECRET")
call u2 POST /v1/session '{"code":"'"$CODE"'"}' > open.out
[ "$(tail -1 open.out)" = 201 ] || fail "the right code: $(cat open.out)"
SC=$(grep -i '^set-cookie:' hdr | tr -d '\r')
for a in 'HttpOnly' 'Secure' 'SameSite=Strict' 'Path=/' 'Max-Age=900'; do
	echo "$SC" | grep -q "; $a" || fail "Set-Cookie lacks $a: $SC"
done
COOKIE=$(echo "$SC" | sed -n 's/^[Ss]et-[Cc]ookie: hkms_session=\([A-Za-z0-9_-]*\);.*/\1/p')
[ ${#COOKIE} = 43 ] || fail "the session id is not 32 bytes base64url: $SC"
CSRF=$(body open.out | python3 -c 'import json,sys; o=json.load(sys.stdin)
assert o["second_factor"] is True and o["session"]["expires"].endswith("Z"); print(o["session"]["csrf_token"])') ||
	fail "the session object: $(cat open.out)"
[ "$(ecode u2 POST /v1/session '{"code":"'"$CODE"'"}')" = totp_replayed ] || fail "the same code twice was not totp_replayed"
# the previous step's code (asserted when no step boundary fell within the
# call: after one, that code may have left the server's window)
t1=$(date +%s); PREV=$(otp "$SECRET" $(( t1 - 30 )))
r=$(ecode u2 POST /v1/session '{"code":"'"$PREV"'"}'); t2=$(date +%s)
if [ "$PREV" != "$CODE" ] && [ $(( t1 / 30 )) = $(( t2 / 30 )) ]; then
	[ "$r" = totp_replayed ] || fail "the previous step's code after this one was not totp_replayed: $r"
fi
pass "wrong or no code 401 totp_invalid; right code 201 with Set-Cookie HttpOnly Secure SameSite=Strict; same or earlier code 401 totp_replayed"

CK=(-H "Cookie: hkms_session=$COOKIE")
[ "$(status u2 GET /v1/cas "" "${CK[@]}")" = 200 ] || fail "the session does not open the API"
call u2 GET /v1/session "" "${CK[@]}" | sed '$d' | python3 -c 'import json,sys; o=json.load(sys.stdin)
assert o["second_factor"] is True and o["session"]["csrf_token"]==sys.argv[1], o' "$CSRF" ||
	fail "GET /v1/session with the cookie"
[ "$(ecode u2 POST /v1/keys '{"name":"k1","type":"ec:p256"}' "${CK[@]}")" = csrf_invalid ] ||
	fail "a POST with the cookie and without X-CSRF-Token was not csrf_invalid"
[ "$(ecode u2 POST /v1/keys '{"name":"k1","type":"ec:p256"}' "${CK[@]}" -H "X-CSRF-Token: ${CSRF}x")" = csrf_invalid ] ||
	fail "a wrong X-CSRF-Token was accepted"
[ "$(ecode u2 POST /v1/keys '{"name":"k1","type":"ec:p256"}' "${CK[@]}" -H "X-CSRF-Token: $CSRF" \
	-H "Origin: https://evil.example")" = cross_origin ] || fail "a foreign Origin was not cross_origin"
[ "$(ecode admin POST /v1/keys '{"name":"k1","type":"ec:p256"}' -H "Origin: https://127.0.0.1:1")" = cross_origin ] ||
	fail "a foreign Origin without a session was not cross_origin"
[ "$(status u2 POST /v1/keys '{"name":"k1","type":"ec:p256"}' "${CK[@]}" -H "X-CSRF-Token: $CSRF" \
	-H "Origin: https://127.0.0.1:$PORT")" = 201 ] || fail "a POST with cookie, CSRF token and own Origin: $(cat hdr)"
hkms --json key list | grep -q '"k1"' || fail "the key of the session's POST is not there"
pass "with the cookie the API works; POST without or with a wrong X-CSRF-Token 403 csrf_invalid; foreign Origin 403 cross_origin"

# another client's certificate with u2's cookie: not its session
gen u3
SECRET3=$(python3 -c 'import json; print(json.load(open("u3.json"))["totp"]["secret"])')
[ "$(ecode u3 GET /v1/cas "" "${CK[@]}")" = second_factor_required ] || fail "u2's cookie worked with u3's certificate"
call u3 GET /v1/session "" "${CK[@]}" | sed '$d' | python3 -c 'import json,sys; o=json.load(sys.stdin)
assert o["client"]=="u3" and o["session"] is None, o' || fail "u3 sees u2's session"
pass "a session cookie with another client's certificate is ignored"

# lockout: 5 wrong codes in a row, then even the right code is 429
for i in 1 2 3 4 5; do
	[ "$(ecode u3 POST /v1/session '{"code":"'"$(wrong_code "$SECRET3")"'"}')" = totp_invalid ] ||
		fail "wrong code $i of u3"
done
call u3 POST /v1/session '{"code":"'"$(oathtool --totp -b "$SECRET3")"'"}' > lock.out
[ "$(tail -1 lock.out)" = 429 ] && grep -q totp_locked lock.out || fail "no lockout after 5 wrong codes: $(cat lock.out)"
ra=$(grep -i '^retry-after:' hdr | tr -dc 0-9)
[ -n "$ra" ] && [ "$ra" -ge 50 ] && [ "$ra" -le 60 ] || fail "Retry-After of the lockout: $(cat hdr)"
[ "$(status u2 GET /v1/cas "" "${CK[@]}")" = 200 ] || fail "u3's lockout touched u2"
pass "5 wrong codes in a row: 429 totp_locked (the right code too), other clients unaffected"

# logout
call u2 DELETE /v1/session "" "${CK[@]}" -H "X-CSRF-Token: $CSRF" > del.out
[ "$(tail -1 del.out)" = 204 ] || fail "logout: $(cat del.out)"
grep -i '^set-cookie:' hdr | grep -q 'hkms_session=;.*Max-Age=0' || fail "logout did not clear the cookie: $(cat hdr)"
[ "$(ecode u2 GET /v1/cas "" "${CK[@]}")" = second_factor_required ] || fail "the cookie works after logout"
pass "DELETE /v1/session 204 clears the cookie; the session is gone"

# a new session (the next step's code), then re-enrolment by the admin
NEXT=$(otp "$SECRET" $(( $(date +%s) + 30 )))
call u2 POST /v1/session '{"code":"'"$NEXT"'"}' > open2.out
[ "$(tail -1 open2.out)" = 201 ] || fail "the next step's code: $(cat open2.out)"
COOKIE2=$(grep -i '^set-cookie:' hdr | sed -n 's/.*hkms_session=\([A-Za-z0-9_-]*\);.*/\1/p')
call admin POST /v1/clients/u2/totp > re.out
[ "$(tail -1 re.out)" = 201 ] || fail "re-enrol: $(cat re.out)"
SECRET_NEW=$(body re.out | python3 -c 'import json,sys; print(json.load(sys.stdin)["totp"]["secret"])')
[ "$SECRET_NEW" != "$SECRET" ] || fail "re-enrolment gave the same seed"
[ "$(ecode u2 GET /v1/cas "" -H "Cookie: hkms_session=$COOKIE2")" = second_factor_required ] ||
	fail "a session of the old seed outlived the re-enrolment"
NOW=$(date +%s)
OLD=$(otp "$SECRET" $((NOW + 30))); NEW=$(otp "$SECRET_NEW" "$NOW")
[ "$OLD" = "$NEW" ] || [ "$(ecode u2 POST /v1/session '{"code":"'"$OLD"'"}')" = totp_invalid ] ||
	fail "the old seed still opens a session"
call u2 POST /v1/session '{"code":"'"$NEW"'"}' > open3.out
[ "$(tail -1 open3.out)" = 201 ] || fail "the new seed: $(cat open3.out)"
C3=$(grep -i '^set-cookie:' hdr | sed -n 's/.*hkms_session=\([A-Za-z0-9_-]*\);.*/\1/p')
[ "$(status u2 GET /v1/cas "" -H "Cookie: hkms_session=$C3")" = 200 ] || fail "the new seed's session"
pass "POST /v1/clients/{name}/totp: a new seed, the old one and its sessions no longer work, the new one does"

# PATCH turning 2FA on for a client without a seed enrols it, once
call admin POST /v1/clients/generate '{"name":"u4","clearance":"user","ca":"root",
	"passphrase":"passphrase of u4"}' > u4.out
[ "$(tail -1 u4.out)" = 201 ] || fail "generate u4"
body u4.out | python3 -c 'import json,sys; o=json.load(sys.stdin)
assert "totp" not in o and o["registration"]["totp_enrolled"] is False, o' || fail "u4 without 2FA got a seed"
call admin PATCH /v1/clients/u4 '{"require_2fa":true}' | sed '$d' | python3 -c 'import json,sys; o=json.load(sys.stdin)
assert o["totp_enrolled"] is True and len(o["totp"]["secret"]) == 32 and o["totp"]["qr_svg"].startswith("<svg"), o' ||
	fail "PATCH require_2fa on did not enrol"
call admin PATCH /v1/clients/u4 '{"require_2fa":true}' | sed '$d' | python3 -c 'import json,sys; o=json.load(sys.stdin)
assert "totp" not in o and o["totp_enrolled"] is True, o' || fail "PATCH again gave a seed again"
call admin GET /v1/clients | sed '$d' | python3 -c 'import json,sys; l={c["name"]: c for c in json.load(sys.stdin)}
assert l["u2"]["totp_enrolled"] is True and l["u4"]["totp_enrolled"] is True and l["admin"]["totp_enrolled"] is False, l
assert "totp_sealed" not in json.dumps(l) and "totp_last_step" not in json.dumps(l)' || fail "GET /v1/clients totp_enrolled"
pass "PATCH require_2fa on enrols once; GET /v1/clients shows totp_enrolled and no sealed seed"

# the CLI: add --2fa --qr-svg, client totp; the listing
hkms --json client totp u3 --qr-svg u3.svg > u3cli.json || fail "hkms client totp"
python3 -c 'import json,sys; o=json.load(open("u3cli.json")); t=o["totp"]
assert len(t["secret"])==32 and t["uri"].startswith("otpauth://totp/hkms:u3?secret="+t["secret"]) and "qr_svg" not in t, o' ||
	fail "client totp output: $(cat u3cli.json)"
xmllint --noout u3.svg || fail "the CLI's QR file"
[ "$(stat -c %a u3.svg)" = 600 ] || fail "the QR file is not 0600"
SECRET3=$(python3 -c 'import json; print(json.load(open("u3cli.json"))["totp"]["secret"])')
hkms client list | grep -E '^u3 ' | grep -q 'true *true' || fail "hkms client list: no totp_enrolled column: $(hkms client list)"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout c5.key -subj /CN=c5 -out c5.csr 2>/dev/null
hkms ca sign --ca root --csr c5.csr --profile tls-client --out-file c5.pem >/dev/null || fail "sign c5"
hkms --json client add c5 --cert c5.pem --clearance user --2fa --qr-svg c5.svg > c5.json || fail "client add --2fa"
python3 -c 'import json; o=json.load(open("c5.json")); assert o["totp_enrolled"] and len(o["totp"]["secret"])==32' ||
	fail "client add --2fa output: $(cat c5.json)"
xmllint --noout c5.svg || fail "client add --qr-svg"
hkms --json client generate u6 --ca root --clearance user --2fa --qr-svg u6.svg --out-file u6.p12 \
	--passphrase-file u2.pass > u6.json || fail "client generate --2fa"
python3 -c 'import json; o=json.load(open("u6.json")); t=o["totp"]
assert len(t["secret"])==32 and t["uri"].startswith("otpauth://totp/hkms:u6?") and t["qr_svg_file"]=="u6.svg"' ||
	fail "client generate --2fa output: $(cat u6.json)"
xmllint --noout u6.svg || fail "client generate --qr-svg"
SECRET6=$(python3 -c 'import json; print(json.load(open("u6.json"))["totp"]["secret"])')
curlrc u6 "$T/u6.p12" "$T/u2.pass"
[ "$(status u6 POST /v1/session '{"code":"'"$(oathtool --totp -b "$SECRET6")"'"}')" = 201 ] ||
	fail "the CLI's seed does not open a session"
pass "CLI: client totp NAME --qr-svg, client add --2fa --qr-svg (0600 SVG, secret and URI once), list shows totp_enrolled"

# the seeds are nowhere in clear under the data dir (or in the log)
for s in "$SECRET" "$SECRET_NEW" "$SECRET3" "$SECRET6"; do
	python3 - "$s" "$T/data" "$T/serve.log" <<'PY' || fail "a TOTP seed is in clear on disk"
import base64, os, sys
s = sys.argv[1]; raw = base64.b32decode(s)
needles = [s.encode(), s.lower().encode(), raw, raw.hex().encode(), raw.hex().upper().encode(),
           base64.b64encode(raw), base64.b64encode(raw).rstrip(b"="), base64.urlsafe_b64encode(raw).rstrip(b"=")]
for top in sys.argv[2:]:
    paths = [top] if os.path.isfile(top) else [os.path.join(d, f) for d, _, fs in os.walk(top) for f in fs]
    for p in paths:
        try: data = open(p, "rb").read()
        except OSError: continue
        for n in needles:
            if n in data: sys.exit("seed %s in %s" % (n[:8], p))
PY
done
hkms --json audit show --limit 1000 > audit.json || fail "audit show"
grep -qF "$SECRET" audit.json && fail "a seed is in the audit"
python3 - <<'PY' || fail "audit of sessions and enrolment"
import json
l = json.load(open("audit.json"))["lines"]
def has(op, res, pred=lambda x: True): return any(x["op"] == op and x["result"] == res and pred(x) for x in l)
assert has("session.open", "ok", lambda x: x["object"] == "u2"), "login"
assert has("session.open", "error", lambda x: x["detail"].get("error") in ("totp_invalid",)), "failed code"
assert has("session.open", "error", lambda x: x["detail"].get("error") == "totp_replayed"), "replay"
assert has("session.open", "error", lambda x: x["detail"].get("error") == "totp_locked"), "locked"
assert has("session.close", "ok"), "logout"
assert has("client.totp", "ok", lambda x: x["object"] == "u2"), "re-enrol"
assert has("client.generate", "ok", lambda x: x["object"] == "u2"), "enrol"
PY
hkms store check >/dev/null 2>&1; hkms --json store check 2>&1 | grep -qF "$SECRET_NEW" && fail "store check shows a seed"
pass "no seed in clear under the data dir, in the log or the audit; logins, failed codes, logout, enrolments audited"

# restart with [console] session_s = 3: sessions are gone, the replay
# guard holds, a session expires. The code used just before the restart
# is tried just after it (well within its window of one step each way).
printf '\n[console]\nsession_s = 3\n' >> "$HKMS_CONFIG"
USED=$(otp "$SECRET_NEW" $(( $(date +%s) + 30 )))
call u2 POST /v1/session '{"code":"'"$USED"'"}' > open4.out
[ "$(tail -1 open4.out)" = 201 ] || fail "login before the restart: $(cat open4.out)"
C4=$(grep -i '^set-cookie:' hdr | sed -n 's/.*hkms_session=\([A-Za-z0-9_-]*\);.*/\1/p')
serve_stop
[ "$SRV_RC" = 0 ] || { tail -40 serve.log; fail "hkms serve exited $SRV_RC"; }
serve_start
[ "$(ecode u2 GET /v1/cas "" -H "Cookie: hkms_session=$C4")" = second_factor_required ] ||
	fail "a session outlived the restart"
[ "$(ecode u2 POST /v1/session '{"code":"'"$USED"'"}')" = totp_replayed ] || fail "the last code replayed after a restart"
# u6 logged in once, in an earlier step: the next step's code is new
t_open=$(date +%s)
call u6 POST /v1/session '{"code":"'"$(otp "$SECRET6" $(( t_open + 30 )))"'"}' > open5.out
[ "$(tail -1 open5.out)" = 201 ] || fail "login after restart: $(cat open5.out)"
grep -i '^set-cookie:' hdr | grep -q 'Max-Age=3' || fail "session_s not in Max-Age: $(cat hdr)"
C5=$(grep -i '^set-cookie:' hdr | sed -n 's/.*hkms_session=\([A-Za-z0-9_-]*\);.*/\1/p')
[ "$(status u6 GET /v1/cas "" -H "Cookie: hkms_session=$C5")" = 200 ] || fail "the short session does not work"
ok=0
while [ $(( $(date +%s) - t_open )) -le 20 ]; do
	[ "$(status u6 GET /v1/cas "" -H "Cookie: hkms_session=$C5")" = 403 ] && { ok=1; break; }
	sleep 0.5
done
t_gone=$(date +%s)
[ $ok = 1 ] || fail "the session did not expire within 20 s of session_s = 3"
[ $(( t_gone - t_open )) -ge 3 ] || fail "the session expired too early ($(( t_gone - t_open )) s)"
pass "after a restart: no sessions, the last code is still replayed; session_s = 3 gives Max-Age=3 and the session expires"
serve_stop
[ "$SRV_RC" = 0 ] || { tail -40 serve.log; fail "hkms serve exited $SRV_RC"; }
grep -q 'Sanitizer' serve.log && { grep -A20 Sanitizer serve.log | head -40; fail "sanitizer report in serve.log"; }
exit 0
