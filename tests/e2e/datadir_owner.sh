#!/bin/bash
# The data dir is ours or it is refused (docs/store.md): no fallback in a
# shared directory when HOME is unset; a data dir, config file, PKCS#11
# module, SoftHSM2 config or PIN file owned by someone else or writable by
# group/others is refused with code unsafe_path naming the path; `init`
# creates 0700 dirs or refuses a foreign one; no other command creates the
# data dir. The foreign-owner cases need root (chown nobody).
. "$(dirname "$0")/lib.sh"
need python3 stat
hkms_setup
cd "$T"
D=$T/data
MOD=$(grep '^module' "$D/hkms.conf" | sed 's/^module = //')

# refused CODE PATH CMD...: fails with CODE and the message names PATH
refused() {
	local code=$1 path=$2 out rc
	shift 2
	out=$("$@" 2>&1 >/dev/null); rc=$?
	[ $rc -ne 0 ] || fail "expected $code but exit 0: $*"
	echo "$out" | grep -q '"error":{"code":"'"$code"'"' ||
		fail "expected $code from '$*', got: $out"
	echo "$out" | grep -qF -- "$path" ||
		fail "error does not name '$path': $out"
}

# --- no data dir at all: no /tmp fallback ---------------------------------
rm -rf /tmp/.local/state/hkms.e2e-probe 2>/dev/null
pre=$(ls -d /tmp/.local/state/hkms 2>/dev/null)
for cmd in "cert list" "key list" "init" "store check"; do
	# shellcheck disable=SC2086
	expect_fail no_data_dir env -u HOME -u HKMS_DATA_DIR -u HKMS_CONFIG \
		-u XDG_STATE_HOME "$HKMS_BIN" $cmd
done
[ -z "$pre" ] && [ -e /tmp/.local/state/hkms ] &&
	fail "/tmp/.local/state/hkms was created"
pass "HOME unset and no data dir: refused (no_data_dir), nothing made in /tmp"

# --- commands other than init never create the data dir ------------------
expect_fail not_initialized env -u HKMS_CONFIG HKMS_DATA_DIR="$T/none" \
	"$HKMS_BIN" cert list
[ -e "$T/none" ] && fail "cert list created the data dir"
mkdir -m 700 "$T/home"
expect_fail not_initialized env -u HKMS_CONFIG -u HKMS_DATA_DIR \
	-u XDG_STATE_HOME HOME="$T/home" "$HKMS_BIN" key generate x --type ec:p256
[ -e "$T/home/.local" ] && fail "a failing command created ~/.local/state/hkms"
pass "a command before init is not_initialized and creates nothing"

# --- init: 0700 with parents, refuses what is not ours --------------------
hkms init --data-dir "$T/new/sub/dd" >/dev/null || fail "init in a new dir"
for p in "$T/new" "$T/new/sub" "$T/new/sub/dd"; do
	[ "$(stat -c %a "$p")" = 700 ] || fail "$p is $(stat -c %a "$p"), not 700"
done
mkdir -m 777 "$T/ww-init"
refused unsafe_path "$T/ww-init" hkms init --data-dir "$T/ww-init"
[ -e "$T/ww-init/token" ] && fail "init wrote into a world-writable dir"
pass "init creates 0700 (parents too) and refuses a world-writable dir"

# --- a data dir, config, module that are not safe ------------------------
chmod 777 "$D"
refused unsafe_path "$D" hkms cert list
chmod 700 "$D"
chmod 666 "$D/hkms.conf"
refused unsafe_path "$D/hkms.conf" hkms cert list
chmod 644 "$D/hkms.conf"
# a data dir below a group-writable directory (no sticky bit)
mkdir -m 770 "$T/gw"
cp -a "$D" "$T/gw/data"
printf '[store]\ndata_dir = %s\n' "$T/gw/data" >"$T/gw.conf"
refused unsafe_path "$T/gw" hkms --config "$T/gw.conf" cert list
# the module: in a world-writable dir, and the default symlink resolved
mkdir -m 777 "$T/wwmod"
cp "$MOD" "$T/wwmod/libsofthsm2.so"
sed "s#^module = .*#module = $T/wwmod/libsofthsm2.so#" "$D/hkms.conf" >"$T/ww.conf"
refused unsafe_path "$T/wwmod" with_pin hkms --config "$T/ww.conf" key list
chmod 755 "$T/wwmod"
chmod 666 "$T/wwmod/libsofthsm2.so"
refused unsafe_path "$T/wwmod/libsofthsm2.so" with_pin hkms --config "$T/ww.conf" key list
chmod 644 "$T/wwmod/libsofthsm2.so"
with_pin hkms --config "$T/ww.conf" key list >/dev/null ||
	fail "a safe copy of the module is refused"
[ -L "$MOD" ] && echo "note: default module $MOD is a symlink (resolved and checked)"
with_pin hkms key list >/dev/null || fail "the default module is refused"
# the SoftHSM2 config the hkms.conf names
chmod 666 "$D/token/softhsm2.conf"
refused unsafe_path "$D/token/softhsm2.conf" with_pin hkms key list
chmod 600 "$D/token/softhsm2.conf"
pass "group/world-writable data dir, parent, config, module, SoftHSM2 config: refused"

if [ "$(id -u)" != 0 ] || ! id nobody >/dev/null 2>&1; then
	echo "note: not root: foreign-owner cases skipped"
	exit 0
fi
chown nobody "$D"
refused unsafe_path "$D" hkms cert list
refused unsafe_path "$D" hkms store check
chown root "$D"
chown nobody "$D/hkms.conf"
refused unsafe_path "$D/hkms.conf" hkms cert list
chown root "$D/hkms.conf"
chown nobody "$T/wwmod/libsofthsm2.so"
refused unsafe_path "$T/wwmod/libsofthsm2.so" with_pin hkms --config "$T/ww.conf" key list
chown nobody "$D/token/user.pin"
refused unsafe_path "$D/token/user.pin" env -u HKMS_PIN "$HKMS_BIN" key list
chown root "$D/token/user.pin"
env -u HKMS_PIN "$HKMS_BIN" key list >/dev/null || fail "PIN file back to root: refused"
mkdir -m 700 "$T/foreign"
chown nobody "$T/foreign"
refused unsafe_path "$T/foreign" hkms init --data-dir "$T/foreign"
[ -e "$T/foreign/token" ] && fail "init wrote into a foreign dir"
pass "foreign-owned data dir, config, module, PIN file: refused; init refuses a foreign dir"
