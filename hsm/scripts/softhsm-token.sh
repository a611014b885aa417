#!/bin/bash
# Make a fresh SoftHSM2 token in DIR with its own SOFTHSM2_CONF (never the
# system's token dir). Random PINs go to DIR/user.pin and DIR/so.pin (0600);
# no PIN is ever put on a command line.
#
#   softhsm-token.sh DIR [LABEL]      (default label: hkms)
#
# Prints the lines to source: export SOFTHSM2_CONF=… HKMS_PIN_FILE=…
# The token is initialised through `hkms token init` when HKMS_BIN is set,
# else with pkcs11-tool reading the PINs from the environment.
set -euo pipefail
dir=${1:?usage: softhsm-token.sh DIR [LABEL]}
label=${2:-hkms}
module=${HKMS_SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

mkdir -p "$dir/tokens"
chmod 700 "$dir" "$dir/tokens"
dir=$(cd "$dir" && pwd)
umask 077
cat > "$dir/softhsm2.conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
for f in user.pin so.pin; do
	[ -s "$dir/$f" ] || od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$dir/$f"
done
export SOFTHSM2_CONF=$dir/softhsm2.conf
if [ -n "${HKMS_BIN:-}" ]; then
	printf '[token]\nmodule = %s\nlabel = %s\npin_file = %s/user.pin\nso_pin_file = %s/so.pin\nsofthsm2_conf = %s\n[store]\ndata_dir = %s/data\n' \
		"$module" "$label" "$dir" "$dir" "$SOFTHSM2_CONF" "$dir" > "$dir/hkms.conf"
	HKMS_SO_PIN=$(cat "$dir/so.pin") HKMS_PIN=$(cat "$dir/user.pin") \
		"$HKMS_BIN" --config "$dir/hkms.conf" token init --label "$label" >/dev/null
else
	HKMS_SO_PIN=$(cat "$dir/so.pin") pkcs11-tool --module "$module" \
		--init-token --label "$label" --so-pin env:HKMS_SO_PIN >/dev/null
	HKMS_SO_PIN=$(cat "$dir/so.pin") HKMS_PIN=$(cat "$dir/user.pin") \
		pkcs11-tool --module "$module" --token-label "$label" --login \
		--login-type so --so-pin env:HKMS_SO_PIN --init-pin \
		--new-pin env:HKMS_PIN >/dev/null
fi
echo "export SOFTHSM2_CONF=$dir/softhsm2.conf"
echo "export HKMS_PIN_FILE=$dir/user.pin"
[ -f "$dir/hkms.conf" ] && echo "export HKMS_CONFIG=$dir/hkms.conf"
exit 0
