#!/usr/bin/env bash
# tpm-token.sh: a private, self-cleaning TPM 2.0 PKCS#11 token for tests and demos.
#
# A software TPM (swtpm, TCP on free loopback ports), a private D-Bus session bus,
# a tpm2-abrmd resource manager on that bus and a tpm2-pkcs11 store, all under one
# directory. Nothing touches /dev/tpm*, the system bus or the user's session bus.
#
#   tpm-token.sh start DIR [--label L] [--pin-file F] [--so-pin-file F]
#   tpm-token.sh stop DIR                      kill what start recorded in DIR/pids (idempotent)
#   tpm-token.sh restart-tpm DIR [--down S] [--abrupt]   abrmd + swtpm down, S s later up again
#   tpm-token.sh tpm-down DIR [--abrupt] | tpm-up DIR      the two halves of restart-tpm
#   tpm-token.sh status DIR                    exit 0 if every recorded process runs
#   tpm-token.sh check                         exit 0 if every tool and library start needs is here
#
# After start:  . DIR/env.sh  gives a client everything it needs (see write_env).
# DIR/pids has one "NAME PID" line per process started (dbus, swtpm, abrmd).
# PIN files must not be readable by group or others; without --pin-file and
# --so-pin-file, random PINs are written to DIR/user.pin and DIR/so.pin (0600).
# See docs/tpm.md.
set -euo pipefail

prog=${0##*/}

die() { echo "$prog: $*" >&2; exit 1; }
die_log() { # die_log LOGFILE MESSAGE: die, showing the end of the log
	echo "$prog: $2 ($1 ends:)" >&2
	tail -n 5 "$1" 2>/dev/null | sed 's/^/    /' >&2
	exit 1
}
usage() {
	sed -n '7,13s/^#   \{0,1\}//p' "$0" >&2
	exit 2
}

find_module() {
	local m
	if [ -n "${HKMS_TPM_MODULE:-}" ]; then
		[ -f "$HKMS_TPM_MODULE" ] || die "HKMS_TPM_MODULE=$HKMS_TPM_MODULE: no such file"
		echo "$HKMS_TPM_MODULE"
		return
	fi
	for m in /usr/lib/x86_64-linux-gnu/libtpm2_pkcs11.so.1 /usr/lib/*/libtpm2_pkcs11.so.1 \
		/usr/lib/*/pkcs11/libtpm2_pkcs11.so /usr/lib*/libtpm2_pkcs11.so.1 /usr/local/lib/libtpm2_pkcs11.so*; do
		[ -f "$m" ] && { echo "$m"; return; }
	done
	die "libtpm2_pkcs11 not found (install libtpm2-pkcs11-1)"
}

# missing: print what start needs but this host lacks (nothing when all is there).
missing() {
	local t
	for t in swtpm tpm2-abrmd dbus-daemon dbus-send pkcs11-tool tpm2_getcap tpm2_shutdown tpm2_dictionarylockout; do
		command -v "$t" >/dev/null || echo "$t"
	done
	for t in /usr/lib/*/libtss2-tcti-tabrmd.so.0 /usr/lib*/libtss2-tcti-tabrmd.so.0 ""; do
		[ -n "$t" ] && [ -f "$t" ] && break
	done
	[ -n "$t" ] || echo "libtss2-tcti-tabrmd.so.0 (libtss2-tcti-tabrmd0)"
	(find_module >/dev/null 2>&1) || echo "libtpm2_pkcs11.so.1 (libtpm2-pkcs11-1)"
}

need_tools() {
	local m
	m=$(missing)
	[ -z "$m" ] || die "missing: ${m//$'\n'/, } (see scripts/install-deps.sh)"
}

# read_pin FILE: print the PIN (first line) after checking the file's mode.
read_pin() {
	local f=$1 mode pin
	{ [ -f "$f" ] && [ -r "$f" ]; } || die "$f: not a readable file"
	mode=$(stat -c %a "$f")
	[ $((8#$mode & 8#077)) -eq 0 ] || die "$f: mode $mode, want 0600 (no group/other access)"
	IFS= read -r pin <"$f" || [ -n "$pin" ] || die "$f: empty"
	[ -n "$pin" ] || die "$f: empty"
	printf '%s' "$pin"
}

random_pin() {
	od -An -N12 -tx1 /dev/urandom | tr -d ' \n'
}

# Loopback ports that something listens on, from /proc (no ss/netstat needed).
listening_ports() {
	local hex
	awk '$4 == "0A" { n = split($2, a, ":"); print a[n] }' /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		sort -u | while read -r hex; do echo $((16#$hex)); done
}

# Does PID run? A zombie counts as gone: daemons are reparented, and their
# reaper may be slow.
running() {
	local stat
	[ -n "$1" ] || return 1
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# Does PID run, and is it still the program we started (guards against PID reuse)?
alive_as() {
	local c
	c=$(cat "/proc/$1/comm" 2>/dev/null) || return 1
	# comm is truncated to 15 characters ("tpm2-abrmd", "swtpm", "dbus-daemon").
	[ "$c" = "${2:0:15}" ] && running "$1"
}

comm_of() {
	case $1 in
	swtpm) echo swtpm ;;
	abrmd) echo tpm2-abrmd ;;
	dbus) echo dbus-daemon ;;
	*) echo "?" ;;
	esac
}

pid_of() { # pid_of DIR NAME
	[ -f "$1/pids" ] || return 0
	awk -v n="$2" '$1 == n { p = $2 } END { if (p) print p }' "$1/pids"
}

drop_pid() { # drop_pid DIR NAME: remove NAME's line from DIR/pids
	[ -f "$1/pids" ] || return 0
	awk -v n="$2" '$1 != n' "$1/pids" >"$1/pids.tmp"
	mv -f "$1/pids.tmp" "$1/pids"
}

record_pid() { # record_pid DIR NAME PID: replace NAME's line
	drop_pid "$1" "$2"
	echo "$2 $3" >>"$1/pids"
}

wait_gone() { # wait_gone PID COMM: up to 5 s
	local i
	for ((i = 0; i < 50; i++)); do
		alive_as "$1" "$2" || return 0
		sleep 0.1
	done
	return 1
}

# kill_recorded DIR NAME...: SIGTERM, wait up to 5 s, then SIGKILL; drop the line.
kill_recorded() {
	local dir=$1 name pid comm
	shift
	for name in "$@"; do
		pid=$(pid_of "$dir" "$name")
		comm=$(comm_of "$name")
		if [ -n "$pid" ] && alive_as "$pid" "$comm"; then
			kill -TERM "$pid" 2>/dev/null || true
			if ! wait_gone "$pid" "$comm"; then
				echo "$prog: $name ($pid) ignored SIGTERM, sending SIGKILL" >&2
				kill -KILL "$pid" 2>/dev/null || true
				wait_gone "$pid" "$comm" || die "$name ($pid) did not exit"
			fi
		fi
		drop_pid "$dir" "$name"
	done
}

q() { printf '%q' "$1"; }

load_conf() { # the values start chose, kept in DIR/run/conf
	[ -f "$1/run/conf" ] || die "$1: no token here (run '$prog start $1' first)"
	# shellcheck disable=SC1091
	. "$1/run/conf"
}

tcp_ready() { # tcp_ready PORT: something accepts on 127.0.0.1:PORT
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# start_swtpm DIR SERVER_PORT CTRL_PORT: returns 1 if a port was taken.
start_swtpm() {
	local dir=$1 port=$2 ctrl=$3 pid i
	rm -f "$dir/run/swtpm.pid"
	swtpm socket --tpm2 \
		--server "type=tcp,port=$port,bindaddr=127.0.0.1" \
		--ctrl "type=tcp,port=$ctrl,bindaddr=127.0.0.1" \
		--tpmstate "dir=$dir/tpm" --flags not-need-init,startup-clear \
		--daemon --pid "file=$dir/run/swtpm.pid" --log "file=$dir/log/swtpm.log,level=1" \
		2>>"$dir/log/swtpm.log" || return 1
	for ((i = 0; i < 50; i++)); do
		[ -s "$dir/run/swtpm.pid" ] && break
		sleep 0.1
	done
	pid=$(cat "$dir/run/swtpm.pid" 2>/dev/null) || die "swtpm wrote no pid file (see $dir/log/swtpm.log)"
	record_pid "$dir" swtpm "$pid"
	for ((i = 0; i < 50; i++)); do
		tcp_ready "$ctrl" && return 0
		sleep 0.1
	done
	die_log "$dir/log/swtpm.log" "swtpm does not answer on 127.0.0.1:$ctrl"
}

tpm2_rm() { # run a tpm2-tools command through this token's abrmd (conf loaded)
	DBUS_SESSION_BUS_ADDRESS=$DBUS_ADDRESS TPM2TOOLS_TCTI=$TCTI "$@"
}

bus_name_owned() { # is BUS_NAME owned on the token's bus? (conf loaded)
	DBUS_SESSION_BUS_ADDRESS=$DBUS_ADDRESS dbus-send --session --print-reply \
		--dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner \
		"string:$BUS_NAME" 2>/dev/null | grep -q 'boolean true'
}

start_abrmd() { # start_abrmd DIR (conf loaded)
	local dir=$1 pid i rc root=()
	[ "$(id -u)" -eq 0 ] && root=(--allow-root)
	# A killed abrmd's name is released when the bus daemon sees the socket
	# close; a new abrmd that finds it still owned exits at once.
	for ((i = 0; i < 50; i++)); do
		bus_name_owned || break
		sleep 0.1
	done
	DBUS_SESSION_BUS_ADDRESS=$DBUS_ADDRESS setsid tpm2-abrmd "${root[@]}" --session \
		--dbus-name="$BUS_NAME" --tcti="swtpm:host=127.0.0.1,port=$SWTPM_PORT" --flush-all \
		</dev/null >>"$dir/log/abrmd.log" 2>&1 &
	pid=$!
	record_pid "$dir" abrmd "$pid"
	for ((i = 0; i < 100; i++)); do
		# Not alive_as: until the exec, comm is still this script's.
		if ! running "$pid"; then
			wait "$pid" && rc=0 || rc=$?
			die_log "$dir/log/abrmd.log" "tpm2-abrmd exited with status $rc"
		fi
		if tpm2_rm tpm2_getcap properties-fixed >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	die_log "$dir/log/abrmd.log" "tpm2-abrmd not ready after 10 s"
}

start_dbus() { # start_dbus DIR: sets DBUS_ADDRESS
	local dir=$1 out addr=() pid
	# A socket path must fit in sun_path (108 bytes); else let dbus pick one in /tmp.
	if [ ${#dir} -lt 90 ]; then
		addr=(--address="unix:path=$dir/run/bus")
	else
		addr=(--address="unix:tmpdir=/tmp")
	fi
	out=$(dbus-daemon --session "${addr[@]}" --nopidfile --nosyslog --fork \
		--print-address=1 --print-pid=1 </dev/null 2>>"$dir/log/dbus.log") ||
		die "dbus-daemon failed (see $dir/log/dbus.log)"
	DBUS_ADDRESS=$(sed -n 1p <<<"$out")
	pid=$(sed -n 2p <<<"$out")
	{ [ -n "$DBUS_ADDRESS" ] && [ -n "$pid" ]; } || die "dbus-daemon printed no address/pid"
	record_pid "$dir" dbus "$pid"
}

write_env() { # write_env DIR MODULE LABEL PINFILE SOPINFILE
	local dir=$1
	cat >"$dir/env.sh.tmp" <<EOF
# Written by $prog start; source it: . $(q "$dir/env.sh")
export DBUS_SESSION_BUS_ADDRESS=$(q "$DBUS_ADDRESS")
export TPM2_PKCS11_TCTI=$(q "$TCTI")
export TPM2TOOLS_TCTI=$(q "$TCTI")
export TPM2_PKCS11_STORE=$(q "$dir/store")
export TPM2_PKCS11_LOG_LEVEL=0
export HKMS_TPM_MODULE=$(q "$2")
export HKMS_TPM_LABEL=$(q "$3")
export HKMS_TPM_PIN_FILE=$(q "$4")
export HKMS_TPM_SO_PIN_FILE=$(q "$5")
export HKMS_TPM_DIR=$(q "$dir")
export HKMS_TPM_SWTPM_PORT=$SWTPM_PORT
export HKMS_TPM_SWTPM_CTRL_PORT=$CTRL_PORT
EOF
	mv -f "$dir/env.sh.tmp" "$dir/env.sh"
	cat >"$dir/hkms-token.conf" <<EOF
[token]
module = $2
label = $3
pin_file = $4
EOF
}

cmd_start() {
	local dir=$1 label=hkms-tpm pin_file="" so_pin_file="" module port ctrl tries used
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--label) label=${2:?--label needs a value}; shift 2 ;;
		--pin-file) pin_file=${2:?--pin-file needs a value}; shift 2 ;;
		--so-pin-file) so_pin_file=${2:?--so-pin-file needs a value}; shift 2 ;;
		*) usage ;;
		esac
	done
	need_tools
	module=$(find_module)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd -P)
	[ ! -e "$dir/pids" ] || die "$dir already holds a token (pids exists); '$prog stop $dir' first"
	[ ! -e "$dir/store" ] || die "$dir/store exists; use an empty directory"
	umask 077
	mkdir -p "$dir/tpm" "$dir/store" "$dir/run" "$dir/log"

	# PINs: read and check now, before anything runs.
	if [ -z "$pin_file" ]; then
		pin_file=$dir/user.pin
		random_pin >"$pin_file"
	fi
	if [ -z "$so_pin_file" ]; then
		so_pin_file=$dir/so.pin
		random_pin >"$so_pin_file"
	fi
	pin_file=$(realpath "$pin_file")
	so_pin_file=$(realpath "$so_pin_file")
	local HKMS_TT_PIN HKMS_TT_SO_PIN
	HKMS_TT_PIN=$(read_pin "$pin_file")
	HKMS_TT_SO_PIN=$(read_pin "$so_pin_file")
	: >"$dir/pids"

	# From here on, a failure tears down what was started.
	trap 'echo "$prog: start failed, stopping" >&2; cmd_stop "$dir" >/dev/null 2>&1 || true' EXIT

	start_dbus "$dir"
	# Two adjacent free ports below the ephemeral range, so that no client
	# connection (many of them in TIME_WAIT while tests run) sits on them.
	local lo=10000 hi ok=""
	read -r hi _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || hi=32768
	[ "$hi" -gt $((lo + 1000)) ] || { lo=49152 hi=65534; }
	used=$(listening_ports)
	for ((tries = 0; tries < 20; tries++)); do
		port=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo - 1)))
		ctrl=$((port + 1))
		grep -qx -e "$port" -e "$ctrl" <<<"$used" && continue
		start_swtpm "$dir" "$port" "$ctrl" && { ok=1; break; }
	done
	[ -n "$ok" ] || die_log "$dir/log/swtpm.log" "no free loopback port pair for swtpm after $tries tries"
	SWTPM_PORT=$port CTRL_PORT=$ctrl
	BUS_NAME=com.intel.tss2.Tabrmd.hkms_${port}_$$
	TCTI="tabrmd:bus_type=session,bus_name=$BUS_NAME"
	cat >"$dir/run/conf" <<EOF
SWTPM_PORT=$SWTPM_PORT
CTRL_PORT=$CTRL_PORT
BUS_NAME=$BUS_NAME
TCTI=$TCTI
DBUS_ADDRESS=$(printf '%q' "$DBUS_ADDRESS")
EOF
	start_abrmd "$dir"

	# Dictionary-attack lockout: swtpm allows 3 failures, then locks for 1000 s,
	# and every restart without TPM2_Shutdown (restart-tpm --abrupt, a killed
	# swtpm) counts as a failure. A test token forgives each one after 1 s.
	tpm2_rm tpm2_dictionarylockout --setup-parameters --max-tries=32 --recovery-time=1 \
		--lockout-recovery-time=1 >>"$dir/log/provision.log" 2>&1 ||
		die "tpm2_dictionarylockout failed (see $dir/log/provision.log)"

	# Provision through the PKCS#11 module (C_InitToken, C_InitPIN) via abrmd.
	# PINs go to pkcs11-tool as env:VAR, never on the command line.
	export DBUS_SESSION_BUS_ADDRESS=$DBUS_ADDRESS TPM2_PKCS11_TCTI=$TCTI
	export TPM2_PKCS11_STORE=$dir/store TPM2_PKCS11_LOG_LEVEL=0 HKMS_TT_PIN HKMS_TT_SO_PIN
	pkcs11-tool --module "$module" --list-slots >/dev/null 2>&1 # creates the sqlite store
	pkcs11-tool --module "$module" --slot-index 0 --init-token --label "$label" \
		--so-pin env:HKMS_TT_SO_PIN >>"$dir/log/provision.log" 2>&1 ||
		die "C_InitToken failed (see $dir/log/provision.log)"
	pkcs11-tool --module "$module" --token-label "$label" --login --login-type so \
		--so-pin env:HKMS_TT_SO_PIN --init-pin --new-pin env:HKMS_TT_PIN \
		>>"$dir/log/provision.log" 2>&1 || die "C_InitPIN failed (see $dir/log/provision.log)"
	unset HKMS_TT_PIN HKMS_TT_SO_PIN

	write_env "$dir" "$module" "$label" "$pin_file" "$so_pin_file"
	trap - EXIT
	echo "$prog: token '$label' ready; . $dir/env.sh"
}

cmd_stop() {
	local dir=$1
	[ -d "$dir" ] || return 0
	[ -f "$dir/pids" ] || return 0
	kill_recorded "$dir" abrmd swtpm dbus
	rm -f "$dir/pids" "$dir/pids.tmp"
	[ -S "$dir/run/bus" ] && rm -f "$dir/run/bus"
	return 0
}

# tpm-down DIR [--abrupt]: stop abrmd, then swtpm. By default the TPM gets an
# orderly TPM2_Shutdown first (a clean power-off); --abrupt skips it and kills
# swtpm with SIGKILL (power loss: the TPM counts one dictionary-attack failure).
cmd_tpm_down() {
	local dir=$1 abrupt=${2:-} pid
	load_conf "$dir"
	kill_recorded "$dir" abrmd
	pid=$(pid_of "$dir" swtpm)
	alive_as "$pid" swtpm || { kill_recorded "$dir" swtpm; return 0; }
	if [ "$abrupt" = --abrupt ]; then
		kill -KILL "$pid" 2>/dev/null || true
	else
		# No client can be talking to swtpm now: abrmd was its only one.
		TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$SWTPM_PORT" tpm2_shutdown --clear \
			>>"$dir/log/swtpm.log" 2>&1 || echo "$prog: TPM2_Shutdown failed (see $dir/log/swtpm.log)" >&2
	fi
	kill_recorded "$dir" swtpm
}

cmd_tpm_up() {
	local dir=$1 pid i
	load_conf "$dir"
	pid=$(pid_of "$dir" dbus)
	alive_as "$pid" dbus-daemon || die "the token's D-Bus daemon is gone; '$prog stop $dir' and start again"
	pid=$(pid_of "$dir" swtpm)
	if ! alive_as "$pid" swtpm; then
		# The old listener may still be closing; retry briefly on the same ports.
		for ((i = 0; i < 50; i++)); do
			start_swtpm "$dir" "$SWTPM_PORT" "$CTRL_PORT" && break
			sleep 0.1
		done
		[ "$i" -lt 50 ] || die "cannot restart swtpm on 127.0.0.1:$SWTPM_PORT (see $dir/log/swtpm.log)"
	fi
	pid=$(pid_of "$dir" abrmd)
	alive_as "$pid" tpm2-abrmd || start_abrmd "$dir"
}

cmd_restart_tpm() {
	local dir=$1 down=0 abrupt=""
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--down) down=${2:?--down needs seconds}; shift 2 ;;
		--abrupt) abrupt=--abrupt; shift ;;
		*) usage ;;
		esac
	done
	cmd_tpm_down "$dir" ${abrupt:+"$abrupt"}
	sleep "$down"
	cmd_tpm_up "$dir"
}

cmd_status() {
	local dir=$1 name pid rc=0
	[ -f "$dir/pids" ] || { echo "$dir: not running"; return 1; }
	for name in dbus swtpm abrmd; do
		pid=$(pid_of "$dir" "$name")
		if alive_as "$pid" "$(comm_of "$name")"; then
			echo "$name $pid running"
		else
			echo "$name ${pid:--} not running"
			rc=1
		fi
	done
	return $rc
}

if [ "${1:-}" = check ]; then
	m=$(missing)
	[ -z "$m" ] || { echo "$prog: missing: ${m//$'\n'/, }" >&2; exit 1; }
	exit 0
fi
[ $# -ge 2 ] || usage
cmd=$1 dir=$2
shift 2
case $cmd in
start) cmd_start "$dir" "$@" ;;
stop) [ $# -eq 0 ] || usage; cmd_stop "$dir" ;;
restart-tpm) cmd_restart_tpm "$dir" "$@" ;;
tpm-down) [ $# -eq 0 ] || [ "$*" = --abrupt ] || usage; cmd_tpm_down "$dir" "$@" ;;
tpm-up) [ $# -eq 0 ] || usage; cmd_tpm_up "$dir" ;;
status) cmd_status "$dir" ;;
*) usage ;;
esac
