#!/bin/bash
# Non-regular input files are refused at once, never waited on (issue 10,
# item 6): a FIFO given as a CSR, a certificate or key file, a passphrase
# file, the config's pin_file or the config itself makes hkms fail with an
# error naming the path within a second; `timeout 10` turns a regression
# (a blocking open) into a failure instead of a hang. Output files keep
# their device/FIFO behaviour (tests/e2e/cli_output.sh).
. "$(dirname "$0")/lib.sh"
need timeout mkfifo
hkms_setup
cd "$T"
mkfifo "$T/fifo" || fail "mkfifo"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem \
	-subj /CN=f.example -addext subjectAltName=DNS:f.example -out f.csr 2>/dev/null || fail "csr"
hkms ca create r --key-type ec:p256 --subject /CN=Fifo-Root >/dev/null || fail "ca create"

# refused CODE CMD...: fails within 10 s with CODE and the FIFO's path
refused() {
	local code=$1 rc t0; shift
	t0=$(date +%s%N)
	timeout 10 "$@" >/dev/null 2>"$T/err"; rc=$?
	[ $rc -ne 124 ] || fail "still blocked after 10 s: $*"
	[ $rc -ne 0 ] || fail "accepted a FIFO: $*"
	[ -z "$code" ] || grep -q "\"code\":\"$code\"" "$T/err" || fail "$*: $(cat "$T/err")"
	grep -q "$T/fifo" "$T/err" || fail "error does not name the path: $(cat "$T/err")"
	echo "  $(( ($(date +%s%N) - t0) / 1000000 )) ms: $*"
}
refused not_regular_file "$HKMS_BIN" ca sign --ca r --profile tls-server --csr "$T/fifo"
refused not_regular_file "$HKMS_BIN" csr verify --file "$T/fifo"
refused not_regular_file "$HKMS_BIN" trust import t --file "$T/fifo"
refused not_regular_file "$HKMS_BIN" key import k --file "$T/fifo"
refused not_regular_file "$HKMS_BIN" cert import c --file "$T/fifo"
refused secret_file_unreadable "$HKMS_BIN" key import k --file k.pem --passphrase-file "$T/fifo"
refused secret_file_unreadable "$HKMS_BIN" trust import t --file f.csr --password-file "$T/fifo"
# the config's pin_file
sed "s|^pin_file *=.*|pin_file = $T/fifo|" "$HKMS_CONFIG" > fifo.conf
grep -q "pin_file = $T/fifo" fifo.conf || echo "pin_file = $T/fifo" >> fifo.conf
# (refused by the config's path checks, unsafe_path, or by the PIN reader)
refused "" "$HKMS_BIN" --config "$T/fifo.conf" key list
grep -qE '"code":"(unsafe_path|secret_file_unreadable)"' "$T/err" || fail "pin_file FIFO: $(cat "$T/err")"
# the config file itself (its own checks may name another code)
refused "" "$HKMS_BIN" --config "$T/fifo" key list
pass "FIFO inputs refused at once, each naming the path"

hkms csr verify --file f.csr >/dev/null || fail "a regular CSR file no longer reads"
pass "regular files still read"
