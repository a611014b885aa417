#!/bin/bash
# --out-file: a regular file is replaced atomically (mode 0644); anything
# else (a FIFO here; /dev/null or /dev/stdout in real use) is written in
# place and never renamed over. Without --out-file the object goes to stdout.
. "$(dirname "$0")/lib.sh"
hkms_setup
hkms key generate k --type ec:p256 >/dev/null || fail "generate"

hkms csr create c1 --key k --subject /CN=out.example --out-file "$T/c1.csr" >/dev/null ||
	fail "csr to file"
[ "$(stat -c %a "$T/c1.csr")" = 644 ] || fail "mode $(stat -c %a "$T/c1.csr")"
openssl req -in "$T/c1.csr" -noout 2>/dev/null || fail "file holds no CSR"
ls "$T" | grep -q '\.tmp\.' && fail "temp file left beside the output"

mkfifo "$T/fifo"
hkms_bg timeout 20 cat "$T/fifo" > "$T/from-fifo"
reader=$BG_PID
hkms csr create c2 --key k --subject /CN=out.example --out-file "$T/fifo" >/dev/null ||
	fail "csr to a FIFO"
wait $reader
[ -p "$T/fifo" ] || fail "the FIFO was replaced by a regular file"
grep -q "BEGIN CERTIFICATE REQUEST" "$T/from-fifo" || fail "nothing came through the FIFO"
pass "a FIFO (like /dev/null) is written in place, not replaced"

hkms csr create c3 --key k --subject /CN=out.example > "$T/stdout.csr" || fail "stdout"
grep -q "BEGIN CERTIFICATE REQUEST" "$T/stdout.csr" || fail "no CSR on stdout"
pass "stdout"
