#!/bin/bash
# systemd: hkms serve tells $NOTIFY_SOCKET READY=1 once it listens and
# STOPPING=1 on SIGTERM (sd_notify without libsystemd); dist/hkms.service
# (Type=notify, its own user, hardening that still lets it open
# /dev/tpmrm0) passes `systemd-analyze verify` without a warning.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.inc"
need curl python3
hkms_setup
UNIT=$HKMS_SRC/dist/hkms.service

# ---- sd_notify ----
python3 - "$T/notify.sock" > "$T/notify.out" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); s.settimeout(30)
msgs = []
try:
    while not any("STOPPING=1" in m for m in msgs):
        msgs.append(s.recv(4096).decode())
except socket.timeout:
    pass
print("|".join(m.replace("\n", ";") for m in msgs))
PY
nl=$!
for i in $(seq 1 50); do [ -S "$T/notify.sock" ] && break; sleep 0.1; done
export NOTIFY_SOCKET=$T/notify.sock
serve_start
unset NOTIFY_SOCKET
serve_stop
wait $nl
msgs=$(cat "$T/notify.out")
case "$msgs" in *READY=1*STOPPING=1*) ;; *) fail "notifications: '$msgs'" ;; esac
case "$msgs" in *"STATUS=serving https://127.0.0.1:$PORT"*) ;; *) fail "no STATUS: '$msgs'" ;; esac
[ "$SRV_RC" = 0 ] || fail "exit $SRV_RC"
pass "sd_notify: READY=1 with a STATUS, then STOPPING=1"

# ---- the unit ----
for k in 'Type=notify' 'User=hkms' 'DeviceAllow=/dev/tpmrm0 rw' 'NoNewPrivileges=yes' \
    'ProtectSystem=strict' 'PrivateTmp=yes' 'ReadWritePaths=/var/lib/hkms' 'ExecReload=/bin/kill -HUP $MAINPID'; do
	grep -qxF "$k" "$UNIT" || fail "dist/hkms.service lacks $k"
done
command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed (package systemd)"
mkdir -p "$T/unit"
sed "s|^ExecStart=/usr/local/bin/hkms |ExecStart=$HKMS_BIN |" "$UNIT" > "$T/unit/hkms.service"
out=$(systemd-analyze verify "$T/unit/hkms.service" 2>&1); rc=$?
[ $rc = 0 ] && [ -z "$out" ] || fail "systemd-analyze verify (rc $rc): $out"
# and verify really looks: a broken copy is reported
printf 'Bogus=1\n' >> "$T/unit/hkms.service"
out=$(systemd-analyze verify "$T/unit/hkms.service" 2>&1)
[ -n "$out" ] || fail "systemd-analyze verify does not report an unknown key"
pass "dist/hkms.service passes systemd-analyze verify"
