#!/bin/bash
# The main job on the embedded default: install what is missing, build the
# shipped binary (no test hooks), create the data dir with its private
# SoftHSM2 token under ./state (never the system's token dir) unless it
# exists, then run `hkms serve` in the foreground on the config's listen
# address (127.0.0.1:8443). It prints the URL, the admin client's PKCS#12
# and passphrase file, and a curl command that signs a CSR over the API.
# Stop it with Ctrl-C (SIGINT: requests in flight finish, exit 0).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh -DHKMS_TEST_HOOKS=OFF
export HKMS_DATA_DIR="$PWD/state"
export HKMS_CONFIG="$HKMS_DATA_DIR/hkms.conf"
hkms=$PWD/build/src/cli/hkms
if [ ! -e "$HKMS_CONFIG" ]; then
	# `hkms --json init` names the admin client's files; kept for later runs
	out=$("$hkms" --json init --data-dir "$HKMS_DATA_DIR")
	printf '%s\n' "$out" > "$HKMS_DATA_DIR/init.json"
	chmod 0600 "$HKMS_DATA_DIR/init.json"
fi
field() {	# KEY.SUB from state/init.json, "" when absent
	python3 -c 'import json,sys
try: v = json.load(open(sys.argv[1]))
except Exception: v = {}
for k in sys.argv[2].split("."): v = v.get(k, {}) if isinstance(v, dict) else {}
print(v if isinstance(v, str) else "")' "$HKMS_DATA_DIR/init.json" "$1"
}
# a CA to sign with, made once
ca=demo-ca
"$hkms" cert show "$ca" >/dev/null 2>&1 ||
	"$hkms" ca create "$ca" --key-type ec:p256 --subject "/CN=hkms demo CA" >/dev/null
export_cert="HKMS_CONFIG=$HKMS_CONFIG $hkms cert export hkms-service"
listen=$(sed -n 's/^listen *= *//p' "$HKMS_CONFIG" | head -1)
listen=${listen:-127.0.0.1:8443}
url=https://$listen
p12=$(field admin_client.p12)
pass=$(field admin_client.passphrase_file)
cat <<MSG

hkms serve on $url (Ctrl-C stops it)
  health:       curl --cacert <($export_cert) $url/v1/health
MSG
if [ -n "$p12" ] && [ -n "$pass" ]; then
	cat <<MSG
  admin client: $p12
  passphrase:   $pass
  sign a CSR (bash; the passphrase goes through a curl config on a pipe, never argv):
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \\
      -keyout machine.key -subj /CN=machine.example -out machine.csr
    curl --cacert <($export_cert) \\
      -K <(printf 'cert = "%s:%s"\\ncert-type = "P12"\\n' $p12 "\$(cat $pass)") \\
      -H 'Content-Type: application/json' \\
      --data "\$(python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read(), "profile": "tls-server"}))' machine.csr)" \\
      $url/v1/cas/$ca/sign
MSG
else
	echo "  (this hkms init made no admin client; see docs/operations.md)"
fi
echo
exec "$hkms" serve
