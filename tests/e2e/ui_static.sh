#!/bin/bash
# The web console's static files (issue 16b): GET /ui/ and its modules are
# served from the binary with their content types to a registered client
# certificate (a browser without one gets an HTML page naming the error);
# every answer carries the CSP and X-Frame-Options; an unknown file and
# every traversal attempt is 404; GET / redirects to /ui/; [console]
# enabled = false switches it off; GET /v1/audit/verify reports the chain.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3 cmp
HKMS_SETUP_ADMIN_CLIENT=1 hkms_setup
cd "$T"
serve_start
service_ca
(umask 077; printf 'cert-type = "P12"\ncert = "%s:%s"\ncacert = "%s"\nsilent\nmax-time = 20\n' \
	"$T/data/admin-client.p12" "$(cat "$T/data/admin-client.pass")" "$T/service.pem" > admin.curlrc)
(umask 077; printf 'cacert = "%s"\nsilent\nmax-time = 20\n' "$T/service.pem" > anon.curlrc)

# get WHO PATH: body in out.body, headers in out.hdr, prints the status
get() {
	curl -K "$T/$1.curlrc" --path-as-is -D out.hdr -o out.body -w '%{http_code}' "$URL$2"
}
hdr() { tr -d '\r' < out.hdr | sed -n "s/^$1: //Ip" | head -1; }
CSP="default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

[ "$(get admin /ui/)" = 200 ] || fail "GET /ui/: $(cat out.body)"
cmp -s out.body "$HKMS_SRC/ui/index.html" || fail "GET /ui/ is not ui/index.html"
[ "$(hdr content-type)" = "text/html; charset=utf-8" ] || fail "index content type: $(hdr content-type)"
[ "$(hdr content-security-policy)" = "$CSP" ] || fail "CSP: $(hdr content-security-policy)"
[ "$(hdr x-frame-options)" = DENY ] || fail "X-Frame-Options: $(hdr x-frame-options)"
grep -q '<script type="module" src="/ui/app.js">' out.body || fail "index loads no app.js"
if grep -Eiq '<script>|<script [^>]*>[^<]|on(click|load|error)=|style=|https?://' out.body; then
	fail "index.html has inline script, a handler, a style attribute or a URL"
fi
pass "GET /ui/ is ui/index.html, text/html, with the CSP and X-Frame-Options DENY"

# every file of ui/ with the type of its extension, byte for byte
n=0
while IFS= read -r f; do
	rel=${f#"$HKMS_SRC/ui/"}
	case $rel in
	*.html) want="text/html; charset=utf-8" ;;
	*.js) want="text/javascript; charset=utf-8" ;;
	*.css) want="text/css; charset=utf-8" ;;
	*.svg) want="image/svg+xml" ;;
	*.png) want="image/png" ;;
	*.ico) want="image/x-icon" ;;
	*) continue ;;
	esac
	[ "$(get admin "/ui/$rel")" = 200 ] || fail "GET /ui/$rel: $(cat out.body)"
	cmp -s out.body "$f" || fail "/ui/$rel differs from ui/$rel"
	[ "$(hdr content-type)" = "$want" ] || fail "/ui/$rel: type $(hdr content-type), want $want"
	[ "$(hdr content-security-policy)" = "$CSP" ] || fail "/ui/$rel: no CSP"
	n=$((n + 1))
done < <(find "$HKMS_SRC/ui" -type f | sort)
[ "$n" -ge 7 ] || fail "only $n console files checked"
[ "$(get admin /ui/screens/audit.js)" = 200 ] || fail "a screen module"
grep -q 'export async function render' out.body || fail "audit.js is not the module"
pass "all $n files of ui/ served as built, each with its content type"

# the API's answers carry the headers too (send_resp: every response)
[ "$(get admin /v1/health)" = 200 ] || fail "health"
[ "$(hdr content-security-policy)" = "$CSP" ] && [ "$(hdr x-frame-options)" = DENY ] ||
	fail "the API's answers lack the CSP or X-Frame-Options"
get anon /v1/clients >/dev/null
[ "$(hdr x-frame-options)" = DENY ] || fail "an error answer lacks X-Frame-Options"
pass "API answers and errors carry the CSP and X-Frame-Options"

# unknown and traversal: 404 ui_not_found (JSON), never a file
ecode() { python3 -c 'import json,sys; print(json.load(open("out.body"))["error"]["code"])'; }
[ "$(get admin /ui/nope.js)" = 404 ] || fail "unknown file: not 404"
[ "$(ecode)" = ui_not_found ] || fail "unknown file: $(cat out.body)"
[ "$(hdr content-type)" = application/json ] || fail "404 is not JSON"
for p in '/ui/../CMakeLists.txt' '/ui/screens/../index.html' '/ui/%2e%2e/CMakeLists.txt' \
    '/ui/%2E%2E/%2e%2e/etc/passwd' '/ui/screens/%2e%2e%2findex.html' '/ui/index.html%00.js' \
    '/ui/.%2e/index.html' '/ui//index.html' '/ui/./index.html' '/ui/index.html/' \
    '/ui/%69ndex.html' '/ui/.hidden' '/ui/screens/' '/ui/..%2f..%2fetc%2fpasswd' \
    '/ui/..\\index.html'; do
	st=$(get admin "$p")
	[ "$st" = 404 ] || [ "$st" = 400 ] || fail "$p: status $st: $(head -c 200 out.body)"
	grep -q 'export\|<html\|root:' out.body && fail "$p served a file"
done
pass "unknown names and traversal attempts (.., %2e, %00, //, ./) are refused"

# no certificate: no console; a browser (Accept: text/html) gets an HTML
# page saying why, anything else the JSON error; an unregistered one too
[ "$(get anon /ui/)" = 401 ] || fail "no certificate: not 401"
[ "$(ecode)" = client_certificate_required ] || fail "no certificate, no Accept: $(cat out.body)"
printf 'header = "Accept: text/html,application/xhtml+xml,*/*;q=0.8"\n' >> anon.curlrc
[ "$(get anon /ui/)" = 401 ] || fail "no certificate (browser): not 401"
[ "$(hdr content-type)" = "text/html; charset=utf-8" ] || fail "refusal is not a page"
grep -q 'data-test="refused-message"' out.body || fail "refusal page: $(cat out.body)"
grep -q '<script' out.body && fail "the refusal page has a script"
[ "$(hdr content-security-policy)" = "$CSP" ] || fail "refusal page: no CSP"
[ "$(get anon /ui/app.js)" = 401 ] || fail "no certificate: a module was served"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout stranger.key \
	-out stranger.pem -subj /CN=stranger -days 2 2>/dev/null || fail "stranger cert"
[ "$(get anon /v1/clients)" = 401 ] && [ "$(ecode)" = client_certificate_required ] ||
	fail "the API's refusal is not JSON for a browser's Accept"
st=$(curl -K anon.curlrc --cert stranger.pem --key stranger.key -o out.body -w '%{http_code}' "$URL/ui/")
[ "$st" = 401 ] || [ "$st" = 403 ] || fail "unregistered certificate: $st"
grep -q 'data-test="refused-message"' out.body || fail "unregistered: no refusal page"
pass "no or an unregistered certificate: 401, an HTML page for a browser, never the console"

# GET / → 302 /ui/ (public: it tells nothing)
[ "$(get anon /)" = 302 ] || fail "GET /: not 302"
[ "$(hdr location)" = /ui/ ] || fail "GET /: Location $(hdr location)"
[ "$(hdr x-frame-options)" = DENY ] || fail "redirect: no X-Frame-Options"
[ "$(curl -K admin.curlrc -L -o out.body -w '%{http_code} %{url_effective}' "$URL/")" = "200 $URL/ui/" ] ||
	fail "following / does not land on /ui/"
[ "$(curl -K admin.curlrc -X POST -o /dev/null -w '%{http_code}' "$URL/ui/")" = 405 ] || fail "POST /ui/: not 405"
pass "GET / redirects to /ui/; POST /ui/ is 405"

# the audit chain status of the console's audit screen
[ "$(get admin /v1/audit/verify)" = 200 ] || fail "audit verify: $(cat out.body)"
python3 -c 'import json; r=json.load(open("out.body")); assert r["ok"] is True and r["records"] > 0, r' ||
	fail "audit verify report: $(cat out.body)"
[ "$(get anon /v1/audit/verify)" = 401 ] || fail "audit verify without a certificate"
pass "GET /v1/audit/verify reports an intact chain"

# [console] enabled = false: no console, the API as before
serve_stop
printf '\n[console]\nenabled = false\n' >> "$HKMS_CONFIG"
serve_start
[ "$(get admin /ui/)" = 404 ] && [ "$(ecode)" = ui_not_found ] || fail "disabled console served /ui/"
[ "$(get admin /ui/app.js)" = 404 ] || fail "disabled console served app.js"
[ "$(get anon /)" = 404 ] || fail "disabled console still redirects"
[ "$(get admin /v1/health)" = 200 ] || fail "the API is down with the console off"
pass "[console] enabled = false: /ui/ and / are 404, the API answers"
