#!/bin/bash
# hkms serve on a TPM 2.0 token (swtpm + tpm2-abrmd + tpm2-pkcs11): the
# service key is made in the TPM, every TLS handshake (1.3 and 1.2, EC and
# RSA) is signed by it, the served public key is the TPM key's, and the
# server is back without a restart after the TPM restarts; a CSR signed
# over the API by a CA key in the TPM verifies.
. "$(dirname "$0")/lib.sh"
tpm_skip_unless_available
: "${HKMS_BIN:?}"
need() { command -v "$1" >/dev/null || { echo "SKIP: $1 missing"; exit 77; }; }
need curl; need python3
fail() { echo "FAIL: $*" >&2; [ -f "${LOG:-}" ] && tail -5 "$LOG" >&2; exit 1; }
pass() { echo "ok - $*"; }
tpm_token_up >/dev/null
W=$TPM_WORK
SRV=""
stop_srv() {
	[ -n "$SRV" ] || return 0
	kill -TERM "$SRV" 2>/dev/null
	for i in $(seq 1 100); do kill -0 "$SRV" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$SRV" 2>/dev/null
	wait "$SRV" 2>/dev/null; SRV_RC=$?
	SRV=""
}
trap 'rc=$?; stop_srv; tpm_token_down; exit $rc' EXIT
mkdir -p -m 700 "$W/data"
export HKMS_CONFIG=$W/hkms.conf
hkms() { "$HKMS_BIN" "$@"; }
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
URL=https://127.0.0.1:$PORT
LOG=$W/serve.log

start() {	# KEY_TYPE
	printf '[token]\nmodule = %s\nlabel = %s\npin_file = %s\n[store]\ndata_dir = %s/data\n[server]\nkey_type = %s\n' \
		"$HKMS_TPM_MODULE" "$HKMS_TPM_LABEL" "$HKMS_TPM_PIN_FILE" "$W" "$1" > "$HKMS_CONFIG"
	"$HKMS_BIN" serve --listen "127.0.0.1:$PORT" >> "$LOG" 2>&1 &
	SRV=$!
	for i in $(seq 1 150); do
		kill -0 "$SRV" 2>/dev/null || fail "serve exited"
		curl -sk -o /dev/null --max-time 3 "$URL/v1/health" && break
		sleep 0.2
	done
	hkms cert export hkms-service > "$W/service.pem" || fail "cert export"
}
code() { curl -s -o /dev/null -w '%{http_code}' --cacert "$W/service.pem" --max-time 15 "$URL/v1/health"; }
proto() {
	openssl s_client -connect "127.0.0.1:$PORT" "$@" </dev/null 2>/dev/null |
		sed -n 's/^New, \(TLSv1\.[0-9]\),.*/\1/p' | head -1
}
check() {	# KIND
	local served token
	[ "$(code)" = 200 ] || fail "$1: health over TLS signed by the TPM"
	[ "$(proto -tls1_3)" = TLSv1.3 ] || fail "$1: TLS 1.3"
	[ "$(proto -tls1_2)" = TLSv1.2 ] || fail "$1: TLS 1.2"
	served=$(openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
		openssl x509 -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)
	hkms --json key show hkms-service > "$W/key.json" || fail "key show"
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["public_key_pem"])' "$W/key.json" > "$W/key.pub"
	token=$(openssl pkey -pubin -in "$W/key.pub" -outform DER | sha256sum)
	[ "$served" = "$token" ] || fail "$1: the served key is not the TPM key"
}

start ec:p256
check ec
pass "EC P-256 service key in the TPM: TLS 1.3 + 1.2, served key is the TPM's"

# a CSR signed over the API by a CA whose key is in the TPM, asked by an
# admin client made from that CA (its PKCS#12 through a curl config on a
# pipe: the passphrase is never in argv)
hkms ca create tpm-ca --key-type ec:p256 --subject "/CN=TPM CA" >/dev/null || fail "ca create"
head -c 18 /dev/urandom | base64 > "$W/pass"; chmod 600 "$W/pass"
hkms client generate tpm-admin --ca tpm-ca --clearance admin \
	--out-file "$W/adm.p12" --passphrase-file "$W/pass" >/dev/null || fail "client generate"
kill -HUP "$SRV"	# the new client CA is asked for from now on
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/m.key" \
	-subj /CN=m.tpm.example -addext subjectAltName=DNS:m.tpm.example -out "$W/m.csr" 2>/dev/null
python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read(), "profile": "tls-server"}))' \
	"$W/m.csr" > "$W/sign.json"
for i in $(seq 1 50); do
	st=$(curl -s -o "$W/signed.json" -w '%{http_code}' --cacert "$W/service.pem" --max-time 15 \
		-K <(printf 'cert = "%s:%s"\ncert-type = "P12"\n' "$W/adm.p12" "$(cat "$W/pass")") \
		-H 'Content-Type: application/json' --data @"$W/sign.json" "$URL/v1/cas/tpm-ca/sign")
	[ "$st" = 201 ] && break
	sleep 0.2
done
[ "$st" = 201 ] || fail "sign over the API: $st $(cat "$W/signed.json")"
python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); print(o.get("pem") or o["certificate"]["pem"])' \
	"$W/signed.json" > "$W/m.pem" || fail "no certificate in $(head -c 300 "$W/signed.json")"
hkms cert export tpm-ca > "$W/tpm-ca.pem" || fail "ca export"
openssl verify -CAfile "$W/tpm-ca.pem" "$W/m.pem" >/dev/null || fail "the signed certificate does not verify"
pass "a CSR signed over HTTPS + mTLS by a CA key in the TPM verifies"

# the TPM restarts under the running server
"$TPM_TOKEN_SH" restart-tpm "$TPM_DIR" --down 2 >/dev/null 2>&1 || fail "restart-tpm"
for i in $(seq 1 60); do [ "$(code)" = 200 ] && break; sleep 0.5; done
[ "$(code)" = 200 ] || fail "not back 30 s after the TPM restart"
kill -0 "$SRV" 2>/dev/null || fail "the server died with the TPM"
pass "back after the TPM restart, same process"
stop_srv
[ "$SRV_RC" = 0 ] || fail "exit $SRV_RC"

hkms cert delete hkms-service --force >/dev/null || fail "cert delete"
hkms key delete hkms-service >/dev/null || fail "key delete"
start rsa:2048
check rsa
sig=$(openssl s_client -connect "127.0.0.1:$PORT" -tls1_3 </dev/null 2>&1 | sed -n 's/^Peer signature type: //p')
[ "$sig" = RSA-PSS ] || fail "rsa: TLS 1.3 signature type '$sig'"
stop_srv
pass "RSA 2048 service key in the TPM: TLS 1.3 (PSS) + 1.2"
